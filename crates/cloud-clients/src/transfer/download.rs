//! Downloads that survive hours and interruptions, for every provider.
//!
//! * **No deadline on the body**: the transfer client has a connect timeout and an idle
//!   read timeout ([`HttpOptions::read_timeout`](crate::HttpOptions::read_timeout)), so a
//!   movie at any speed downloads as long as bytes keep coming.
//! * **Resume**: bytes go to `DEST.part`, beside which `DEST.part.json` records what they
//!   belong to (the remote file's id, size and SHA-1). A later download of the same remote
//!   file continues the `.part` with `Range: bytes=N-`; a `.part` of another or changed
//!   file is started over.
//! * **Interruptions**: a connection cut mid-body, a stalled read, a 5xx or an expired or
//!   refused link (403/404/410: 115 links expire and are bound to a User-Agent, alipan
//!   links live about 15 minutes) continues from the offset, with a new link when the old
//!   one was refused. Attempts that bring no byte are bounded ([`MAX_STALLED_ATTEMPTS`]).
//! * **Integrity**: the SHA-1 is computed while writing (the kept prefix of a resumed
//!   `.part` is hashed first) and checked against the provider's when it gives one (115
//!   `sha1`, alipan `content_hash`); the size always. Only then is `.part` renamed into
//!   place. A mismatch removes the `.part` and is an error, never a silent retry.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::error::{Error, ProviderErrorKind, Result};
use crate::http::{HttpClient, describe};
use crate::storage::{DownloadLink, FileItem, Progress};

/// Consecutive attempts that bring no byte before the download gives up.
pub const MAX_STALLED_ATTEMPTS: u32 = 5;

/// What a `.part` file holds, recorded beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PartOf {
    storage: String,
    file_id: String,
    size: Option<u64>,
    sha1: Option<String>,
}

/// `DEST.part` and `DEST.part.json`.
pub(crate) fn part_paths(dest: &Path) -> (PathBuf, PathBuf) {
    let mut part = dest.as_os_str().to_owned();
    part.push(".part");
    let mut meta = part.clone();
    meta.push(".json");
    (PathBuf::from(part), PathBuf::from(meta))
}

/// The provider's SHA-1 of an item, when it gives one (115 `sha1`, alipan `content_hash`).
pub(crate) fn item_sha1(item: &FileItem) -> Option<String> {
    ["sha1", "content_hash"]
        .iter()
        .find_map(|key| item.extra.get(*key).and_then(|v| v.as_str()))
        .filter(|s| s.len() == 40)
        .map(str::to_ascii_uppercase)
}

fn local(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::LocalIo {
        path: path.to_owned(),
        source: source.into(),
    }
}

/// What one attempt ended with.
enum Attempt {
    /// Every byte is there.
    Complete,
    /// Try again (with a new link when `renew`).
    Retry { reason: String, renew: bool },
}

/// The `.part` being written, its hash so far and its length.
struct PartFile {
    file: tokio::fs::File,
    hasher: Sha1,
    len: u64,
    /// Write-back started early: every [`WRITE_BACK_EVERY`] bytes a blocking thread
    /// `fdatasync`s the file through a second handle while the download goes on, so the
    /// final fsync (a finished download survives a power cut) finds little left to write.
    write_back: WriteBack,
}

/// How many bytes are written between two early write-backs.
const WRITE_BACK_EVERY: u64 = 8 << 20;

#[derive(Default)]
struct WriteBack {
    since: u64,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl WriteBack {
    /// Starts an `fdatasync` of `part` in the background when enough was written and none
    /// is running. Errors are left to the final, awaited fsync.
    fn written(&mut self, part: &Path, bytes: u64) {
        self.since += bytes;
        if self.since < WRITE_BACK_EVERY || self.running.as_ref().is_some_and(|r| !r.is_finished())
        {
            return;
        }
        self.since = 0;
        let part = part.to_owned();
        self.running = Some(tokio::task::spawn_blocking(move || {
            if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&part) {
                let _ = file.sync_data();
            }
        }));
    }

    async fn finish(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.await;
        }
    }
}

impl PartFile {
    /// Opens `part` to continue it when `meta` says it holds `wanted`; otherwise starts it
    /// over. The kept prefix is hashed.
    async fn open(part: &Path, meta: &Path, wanted: &PartOf) -> Result<PartFile> {
        let recorded = tokio::fs::read(meta)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice::<PartOf>(&bytes).ok());
        let keep = recorded.as_ref() == Some(wanted);
        if !keep {
            let json = serde_json::to_vec(wanted).unwrap_or_default();
            tokio::fs::write(meta, json).await.map_err(local(meta))?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .truncate(!keep)
            .read(true)
            .write(true)
            .open(part)
            .await
            .map_err(local(part))?;
        let mut hasher = Sha1::new();
        let mut len = 0u64;
        if keep {
            let mut buf = vec![0u8; super::hash::READ_CHUNK];
            loop {
                let n = file.read(&mut buf).await.map_err(local(part))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                len += n as u64;
            }
            // A part longer than the file is garbage: start over.
            if wanted.size.is_some_and(|size| len > size) {
                return Self::restart(file, part).await;
            }
        }
        Ok(PartFile {
            file,
            hasher,
            len,
            write_back: WriteBack::default(),
        })
    }

    async fn restart(file: tokio::fs::File, part: &Path) -> Result<PartFile> {
        let mut this = PartFile {
            file,
            hasher: Sha1::new(),
            len: 0,
            write_back: WriteBack::default(),
        };
        this.truncate(part).await?;
        Ok(this)
    }

    async fn truncate(&mut self, part: &Path) -> Result<()> {
        self.file.set_len(0).await.map_err(local(part))?;
        self.file
            .seek(std::io::SeekFrom::Start(0))
            .await
            .map_err(local(part))?;
        self.hasher = Sha1::new();
        self.len = 0;
        Ok(())
    }

    async fn write(&mut self, part: &Path, chunk: &[u8]) -> Result<()> {
        self.file.write_all(chunk).await.map_err(local(part))?;
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        self.write_back.written(part, chunk.len() as u64);
        Ok(())
    }
}

use tokio::io::AsyncSeekExt as _;

/// Downloads `item` into `dest` through links from `new_link`, resuming a `.part` left by an
/// earlier run and riding out cut connections and expired links. Returns the file's size.
pub(crate) async fn download<F, Fut>(
    storage: &str,
    http: &HttpClient,
    item: &FileItem,
    dest: &Path,
    mut new_link: F,
    progress: Progress<'_>,
) -> Result<u64>
where
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<DownloadLink>> + Send,
{
    let (part, meta) = part_paths(dest);
    let wanted = PartOf {
        storage: storage.to_owned(),
        file_id: item.file_id.clone(),
        size: item.size,
        sha1: item_sha1(item),
    };
    let mut file = PartFile::open(&part, &meta, &wanted).await?;
    if file.len > 0 {
        tracing::info!(%storage, offset = file.len, "resuming a partial download");
    }
    progress(file.len, wanted.size);
    let mut link: Option<DownloadLink> = None;
    let mut stalled = 0;
    loop {
        if wanted.size.is_some_and(|size| file.len >= size) {
            break;
        }
        let current = match link.take() {
            Some(link) => link,
            None => new_link().await?,
        };
        let before = file.len;
        let outcome = attempt(storage, http, &current, &part, &mut file, &wanted, progress).await?;
        match outcome {
            Attempt::Complete => break,
            Attempt::Retry { reason, renew } => {
                if file.len > before {
                    stalled = 0;
                } else {
                    stalled += 1;
                }
                if stalled >= MAX_STALLED_ATTEMPTS {
                    file.file.flush().await.map_err(local(&part))?;
                    return Err(Error::Transient {
                        storage: storage.to_owned(),
                        reason: format!(
                            "downloading {} stopped at byte {} after {stalled} attempts without progress (kept in {} for the next run): {reason}",
                            item.path,
                            file.len,
                            part.display()
                        ),
                    });
                }
                tracing::debug!(%storage, offset = file.len, %reason, renew, "download interrupted; continuing");
                if !renew {
                    link = Some(current);
                }
                if stalled > 0 {
                    let pause =
                        Duration::from_millis(200 << stalled.min(5)).min(Duration::from_secs(5));
                    tokio::time::sleep(pause).await;
                }
            }
        }
    }
    file.file.flush().await.map_err(local(&part))?;
    file.write_back.finish().await;
    file.file.sync_all().await.map_err(local(&part))?;
    let size = file.len;
    let sha1 = hex::encode_upper(file.hasher.clone().finalize());
    drop(file);
    let mismatch = |what: &str, expected: &str, got: &str| Error::Provider {
        storage: storage.to_owned(),
        operation: "downloading".into(),
        kind: ProviderErrorKind::Other,
        code: "checksum".into(),
        message: format!(
            "{}: the downloaded {what} is {got}, the provider says {expected}; the partial file was removed",
            item.path
        ),
    };
    let failed = if let Some(expected) = wanted.size.filter(|s| *s != size) {
        Some(mismatch("size", &expected.to_string(), &size.to_string()))
    } else {
        wanted
            .sha1
            .as_deref()
            .filter(|expected| *expected != sha1)
            .map(|expected| mismatch("SHA-1", expected, &sha1))
    };
    if let Some(err) = failed {
        let _ = tokio::fs::remove_file(&part).await;
        let _ = tokio::fs::remove_file(&meta).await;
        return Err(err);
    }
    tokio::fs::rename(&part, dest).await.map_err(local(dest))?;
    let _ = tokio::fs::remove_file(&meta).await;
    Ok(size)
}

/// One request from the current offset; appends what arrives.
async fn attempt(
    storage: &str,
    http: &HttpClient,
    link: &DownloadLink,
    part: &Path,
    file: &mut PartFile,
    wanted: &PartOf,
    progress: Progress<'_>,
) -> Result<Attempt> {
    let mut request = http.transfer().get(&link.url);
    if let Some(agent) = &link.user_agent {
        request = request.header(reqwest::header::USER_AGENT, agent);
    }
    if file.len > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={}-", file.len));
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(err) => {
            return Ok(Attempt::Retry {
                reason: describe(err),
                renew: false,
            });
        }
    };
    let status = response.status();
    match status.as_u16() {
        206 => {
            let start = response
                .headers()
                .get(reqwest::header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes "))
                .and_then(|v| v.split('-').next())
                .and_then(|v| v.trim().parse::<u64>().ok());
            if start != Some(file.len) {
                file.truncate(part).await?;
                return Ok(Attempt::Retry {
                    reason: "the server answered another range".into(),
                    renew: false,
                });
            }
        }
        200 => {
            if file.len > 0 {
                // The server ignored the range: take the whole body from the start.
                file.truncate(part).await?;
                progress(0, wanted.size);
            }
        }
        416 => {
            if wanted.size.is_some_and(|size| file.len >= size) {
                return Ok(Attempt::Complete);
            }
            file.truncate(part).await?;
            return Ok(Attempt::Retry {
                reason: "the server refused the range".into(),
                renew: false,
            });
        }
        401 | 403 | 404 | 410 => {
            return Ok(Attempt::Retry {
                reason: format!("the download link answered HTTP {status} (expired or refused)"),
                renew: true,
            });
        }
        _ if status.is_server_error() || status.as_u16() == 429 => {
            return Ok(Attempt::Retry {
                reason: format!("the download link answered HTTP {status}"),
                renew: false,
            });
        }
        _ => {
            return Err(Error::Provider {
                storage: storage.to_owned(),
                operation: "downloading".into(),
                kind: ProviderErrorKind::Other,
                code: status.as_u16().to_string(),
                message: format!("the download link answered HTTP {status}"),
            });
        }
    }
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                file.write(part, &chunk).await?;
                progress(file.len, wanted.size);
            }
            Ok(None) => break,
            Err(err) => {
                return Ok(Attempt::Retry {
                    reason: describe(err),
                    renew: false,
                });
            }
        }
    }
    match wanted.size {
        Some(size) if file.len < size => Ok(Attempt::Retry {
            reason: format!("the body ended at byte {} of {size}", file.len),
            renew: false,
        }),
        _ => Ok(Attempt::Complete),
    }
}
