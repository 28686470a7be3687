//! OpenList upload: `PUT /api/fs/put` with the file streamed as the body
//! (`../shared/spec/provider-openlist.md` §4). OpenList has no multipart and no resumable
//! upload, so a file goes in one request: read from disk 1 MiB at a time (memory stays
//! flat whatever the size), with `Content-Length`, `Last-Modified` (Unix milliseconds, as
//! OpenList reads it), `As-Task: false` (the answer comes once the file is stored) and
//! `Overwrite: false` (the server refuses a name that is taken, so nothing is replaced
//! by accident). The request has no deadline: it is given up when its body stops moving
//! for the idle time (`transfer::sending`). A broken or stalled connection or a server
//! failure sends the file again (3 attempts in all); a session the server no longer
//! accepts logs in again once.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use super::client::AlistClient;
use super::files::escape_path;
use crate::error::{Error, ProviderErrorKind, Result};
use crate::storage::{CloudStorage, FileItem, join};
use crate::transfer::conflict::{self, Target};
use crate::transfer::local::source_file;
use crate::transfer::sending::{Sent, answer_wait, file_body, watch};
use crate::transfer::{TransferPhase, UploadOptions, UploadProgress};

const OPERATION: &str = "uploading";
/// Sends of the body before a broken connection or a server failure is the answer.
const ATTEMPTS: u32 = 3;
/// Bytes per second at which the server is assumed to store what it received before it
/// answers (with `As-Task: false` it passes the file on to its storage first): the wait
/// for the answer after the last byte grows by the file's size at this rate.
const STORE_RATE: u64 = 1 << 20;

impl AlistClient {
    /// The upload behind [`CloudStorage::upload`].
    pub(super) async fn upload_file(
        &self,
        local: &Path,
        folder: &FileItem,
        name: &str,
        options: &UploadOptions,
        progress: UploadProgress<'_>,
    ) -> Result<FileItem> {
        // The local file first: a missing or unreadable one creates nothing remotely.
        let meta = source_file(local)?;
        let size = meta.len();
        let modified_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_millis());
        let wanted = join(&folder.path, name);
        let Target {
            name: chosen,
            replaced,
        } = conflict::resolve(self, folder, name, options.conflict, || {
            conflict::taken(self.transport(), "file exists", &wanted)
        })
        .await?;
        // Overwrite: the new file goes in beside the old one, which is removed only once
        // the new one is complete (a failed upload loses nothing).
        let chosen = match &replaced {
            Some(_) => conflict::free_name(self, folder, name)
                .await?
                .ok_or_else(|| conflict::taken(self.transport(), "file exists", &wanted))?,
            None => chosen,
        };
        let path = join(&folder.path, &chosen);
        self.put_file(local, &path, size, modified_ms, progress)
            .await?;
        let mut item = self.uploaded(&path, size).await?;
        if let Some(old) = replaced {
            self.delete(&old).await?;
            self.rename(&item, name).await?;
            item = self.uploaded(&wanted, size).await?;
        }
        progress(TransferPhase::Done, size, size);
        Ok(item)
    }

    /// The file just uploaded to `path`, which must have `size` bytes.
    async fn uploaded(&self, path: &str, size: u64) -> Result<FileItem> {
        match self.stat(path).await? {
            Some(item) if item.size == Some(size) && !item.is_folder() => Ok(item),
            other => Err(self.transport().refused(
                OPERATION,
                ProviderErrorKind::Other,
                "not stored",
                &format!(
                    "the server accepted the upload of {path} ({size} bytes) but lists {}",
                    other.map_or("nothing there".to_owned(), |i| format!(
                        "{} bytes",
                        i.size.unwrap_or(0)
                    ))
                ),
            )),
        }
    }

    /// `PUT /api/fs/put` of `local` to `path`, sent again after a broken connection or a
    /// server failure.
    async fn put_file(
        &self,
        local: &Path,
        path: &str,
        size: u64,
        modified_ms: Option<u128>,
        progress: UploadProgress<'_>,
    ) -> Result<()> {
        let url = format!("{}/api/fs/put", self.server()?);
        let file_path = escape_path(path);
        let http = self.transport().http();
        let sent = Sent::default();
        // On the upload client (no deadline), whatever client the call hands in.
        let build = |_: &reqwest::Client| {
            let mut request = http
                .upload()
                .put(&url)
                .header("File-Path", &file_path)
                .header("As-Task", "false")
                .header("Overwrite", "false")
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::CONTENT_LENGTH, size);
            if let Some(ms) = modified_ms {
                request = request.header("Last-Modified", ms.to_string());
            }
            request.body(file_body(local, &sent))
        };
        let idle = http.options().read_timeout;
        // The server passes the file on to its storage before it answers.
        let answer_wait = answer_wait(idle, size) + Duration::from_secs(size / STORE_RATE);
        let mut failures = 0;
        loop {
            progress(TransferPhase::Sending, 0, size);
            let report = |done| progress(TransferPhase::Sending, done, size);
            // Boxed: the call's future nests deep enough (token core, retries, transport)
            // to overflow the compiler's layout depth in release builds inside `watch`.
            let answer = match watch(
                Box::pin(self.call(OPERATION, build)),
                &sent,
                size,
                idle,
                answer_wait,
                report,
            )
            .await
            {
                Ok(answer) => answer,
                Err(stalled) => Err(Error::Transient {
                    storage: self.accessor().storage().to_owned(),
                    reason: stalled,
                }),
            };
            match answer {
                Ok(_) => return Ok(()),
                Err(err) if err.is_transient() && failures + 1 < ATTEMPTS => {
                    failures += 1;
                    tracing::info!(storage = %self.accessor().storage(), %err, failures, "upload failed; sending it again");
                    tokio::time::sleep(Duration::from_millis(500 << failures)).await;
                }
                // The name was free when this upload began: a file of our size there now
                // is the one an earlier attempt stored before its answer was lost.
                Err(err) if err.is_already_exists() && failures > 0 => {
                    return match self.stat(path).await? {
                        Some(item) if item.size == Some(size) => Ok(()),
                        _ => Err(err),
                    };
                }
                Err(err) => return Err(err),
            }
        }
    }
}
