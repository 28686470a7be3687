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
use std::io::{IoSlice, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

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

/// The `.part` being written, its hash so far and its length, between two attempts.
struct PartFile {
    file: Arc<std::fs::File>,
    hasher: Sha1,
    len: u64,
}

/// How many bytes are written between two early write-backs: a thread `fdatasync`s the
/// `.part` while the download goes on, so the final fsync (a finished download survives a
/// power cut) finds little left to write.
const WRITE_BACK_EVERY: u64 = 8 << 20;

/// Received chunks are handed to the writer in batches of about this many bytes (one
/// `writev` and one wake-up per batch).
const BATCH: usize = 1 << 20;

/// Batches queued for the writer at most: bounds the memory a slow disk can make the
/// download hold.
const QUEUE: usize = 8;

/// The body of one attempt on its way to disk: the runtime receives; a blocking thread
/// writes each batch and hashes it while it is still in the CPU cache, and every
/// [`WRITE_BACK_EVERY`] bytes has a third start the write-back — so neither the SHA-1 nor
/// the disk holds up the network.
struct Pipeline {
    send: mpsc::Sender<Vec<Bytes>>,
    writer: JoinHandle<std::io::Result<Sha1>>,
    batch: Vec<Bytes>,
    batched: usize,
}

/// Writes all of `batch` (a `writev` loop).
fn write_all_vectored(mut out: &std::fs::File, batch: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = batch.iter().map(|b| IoSlice::new(b)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Pipeline {
    fn start(file: &Arc<std::fs::File>, mut sha1: Sha1) -> Pipeline {
        let (send, mut receive) = mpsc::channel::<Vec<Bytes>>(QUEUE);
        let out = Arc::clone(file);
        let writer = tokio::task::spawn_blocking(move || {
            // At most one write-back pending: a request while one runs joins it.
            let (sync, syncs) = std::sync::mpsc::sync_channel::<()>(1);
            let synced = Arc::clone(&out);
            let syncer = std::thread::spawn(move || {
                while syncs.recv().is_ok() {
                    // Errors are left to the final, awaited fsync.
                    let _ = synced.sync_data();
                }
            });
            let mut since = 0u64;
            let mut result = Ok(());
            while let Some(batch) = receive.blocking_recv() {
                if let Err(e) = write_all_vectored(&out, &batch) {
                    result = Err(e);
                    break;
                }
                for bytes in &batch {
                    sha1.update(bytes);
                    since += bytes.len() as u64;
                }
                if since >= WRITE_BACK_EVERY {
                    since = 0;
                    let _ = sync.try_send(());
                }
            }
            drop(sync);
            let _ = syncer.join();
            result.map(|()| sha1)
        });
        Pipeline {
            send,
            writer,
            batch: Vec::new(),
            batched: 0,
        }
    }

    /// Takes one received chunk; false when the writer stopped (its error comes from
    /// [`Pipeline::finish`]).
    async fn push(&mut self, chunk: Bytes) -> bool {
        self.batched += chunk.len();
        self.batch.push(chunk);
        self.batched < BATCH || self.flush().await
    }

    async fn flush(&mut self) -> bool {
        self.batched = 0;
        let batch = std::mem::take(&mut self.batch);
        batch.is_empty() || self.send.send(batch).await.is_ok()
    }

    /// Waits until every byte taken is written and hashed; the hash, or why writing failed.
    async fn finish(mut self) -> std::io::Result<Sha1> {
        self.flush().await;
        drop(self.send);
        self.writer.await.map_err(std::io::Error::other)?
    }
}

impl PartFile {
    /// Opens `part` to continue it when `meta` says it holds `wanted`; otherwise starts it
    /// over. The kept prefix is hashed. Blocking.
    fn open(part: &Path, meta: &Path, wanted: &PartOf) -> Result<PartFile> {
        let recorded = std::fs::read(meta)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<PartOf>(&bytes).ok());
        let keep = recorded.as_ref() == Some(wanted);
        if !keep {
            let json = serde_json::to_vec(wanted).unwrap_or_default();
            std::fs::write(meta, json).map_err(local(meta))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(!keep)
            .read(true)
            .write(true)
            .open(part)
            .map_err(local(part))?;
        let mut hasher = Sha1::new();
        let mut len = 0u64;
        if keep {
            let mut buf = vec![0u8; super::hash::READ_CHUNK];
            loop {
                let n = file.read(&mut buf).map_err(local(part))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                len += n as u64;
            }
        }
        let mut this = PartFile {
            file: Arc::new(file),
            hasher,
            len,
        };
        // A part longer than the file is garbage: start over.
        if wanted.size.is_some_and(|size| len > size) {
            start_over(&this.file).map_err(local(part))?;
            this.hasher = Sha1::new();
            this.len = 0;
        }
        Ok(this)
    }

    /// Starts the `.part` over.
    async fn truncate(&mut self, part: &Path) -> Result<()> {
        let file = Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || start_over(&file))
            .await
            .map_err(|e| local(part)(std::io::Error::other(e)))?
            .map_err(local(part))?;
        self.hasher = Sha1::new();
        self.len = 0;
        Ok(())
    }
}

/// Empties `file` and writes from its start again.
fn start_over(file: &std::fs::File) -> std::io::Result<()> {
    file.set_len(0)?;
    let mut file = file;
    file.seek(std::io::SeekFrom::Start(0)).map(drop)
}

/// Runs blocking file work off the runtime; `path` names the file in errors.
async fn blocking<T: Send + 'static>(
    path: &Path,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| local(path)(std::io::Error::other(e)))?
}

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
    let opened = (part.clone(), meta.clone(), wanted.clone());
    let mut file = blocking(&part, move || {
        PartFile::open(&opened.0, &opened.1, &opened.2)
    })
    .await?;
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
    // Durable before it gets its name: a crash never leaves a short file under `dest`.
    let (synced, path) = (Arc::clone(&file.file), part.clone());
    blocking(&part, move || synced.sync_data().map_err(local(&path))).await?;
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
    let mut pipeline = Pipeline::start(&file.file, std::mem::take(&mut file.hasher));
    let mut received = file.len;
    let mut cut = None;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                received += chunk.len() as u64;
                if !pipeline.push(chunk).await {
                    break;
                }
                progress(received, wanted.size);
            }
            Ok(None) => break,
            Err(err) => {
                cut = Some(describe(err));
                break;
            }
        }
    }
    // Every byte taken is written and hashed before the next attempt or the end.
    file.hasher = pipeline.finish().await.map_err(local(part))?;
    file.len = received;
    if let Some(reason) = cut {
        return Ok(Attempt::Retry {
            reason,
            renew: false,
        });
    }
    match wanted.size {
        Some(size) if file.len < size => Ok(Attempt::Retry {
            reason: format!("the body ended at byte {} of {size}", file.len),
            renew: false,
        }),
        _ => Ok(Attempt::Complete),
    }
}
