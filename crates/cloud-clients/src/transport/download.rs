//! Fetching a download link into a local file, with progress: the download plumbing every
//! provider shares.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::error::{Error, ProviderErrorKind, Result};
use crate::http::{HttpClient, describe};
use crate::storage::{DownloadLink, Progress};

/// Fetches `link` into `dest` (written to `dest.part`, renamed when complete), calling
/// `progress` after every chunk. Returns the bytes written. A failure to write locally is
/// [`Error::LocalIo`], never a provider error; the partial file is removed on every
/// failure.
pub(crate) async fn fetch_to_file(
    storage: &str,
    http: &HttpClient,
    link: &DownloadLink,
    dest: &Path,
    progress: Progress<'_>,
) -> Result<u64> {
    let transient = |reason: String| Error::Transient {
        storage: storage.to_owned(),
        reason,
    };
    let mut request = http.client().get(&link.url);
    if let Some(agent) = &link.user_agent {
        request = request.header(reqwest::header::USER_AGENT, agent);
    }
    let mut response = request.send().await.map_err(|e| transient(describe(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::Provider {
            storage: storage.to_owned(),
            operation: "downloading".into(),
            kind: ProviderErrorKind::Other,
            code: status.as_u16().to_string(),
            message: format!("the download link answered HTTP {status}"),
        });
    }
    let total = response.content_length();
    let part = dest.with_extension(match dest.extension() {
        Some(ext) => format!("{}.part", ext.to_string_lossy()),
        None => "part".to_owned(),
    });
    let local = |path: &Path| {
        let path: PathBuf = path.to_owned();
        move |source: std::io::Error| Error::LocalIo {
            path,
            source: source.into(),
        }
    };
    let mut file = tokio::fs::File::create(&part).await.map_err(local(&part))?;
    let result = async {
        let mut written = 0u64;
        progress(0, total);
        while let Some(chunk) = response.chunk().await.map_err(|e| transient(describe(e)))? {
            file.write_all(&chunk).await.map_err(local(&part))?;
            written += chunk.len() as u64;
            progress(written, total);
        }
        file.flush().await.map_err(local(&part))?;
        file.sync_all().await.map_err(local(&part))?;
        if let Some(total) = total
            && total != written
        {
            return Err(transient(format!(
                "the download stopped after {written} of {total} bytes"
            )));
        }
        Ok(written)
    }
    .await;
    drop(file);
    let renamed = match result {
        Ok(written) => tokio::fs::rename(&part, dest)
            .await
            .map(|()| written)
            .map_err(local(dest)),
        Err(err) => Err(err),
    };
    if renamed.is_err() {
        let _ = tokio::fs::remove_file(&part).await;
    }
    renamed
}
