//! One alipan upload session on the wire: its ids, the parts the provider holds
//! (`listUploadedParts`), fresh part URLs (`getUploadUrl`) and the part `PUT`s with their
//! retries. The flow that uses them is in `upload.rs`.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{Map, Value};

use super::api::{Created, PartNumber, UploadRequest, UploadedParts};
use super::client::AlipanClient;
use crate::error::{Error, Result};
use crate::json::parse;
use crate::transfer::sending::{Sent, answer_wait, bytes_body, watch};

/// Attempts per part on a 5xx, a reset or a timeout.
const PART_ATTEMPTS: u32 = 4;

/// The ids of one upload session.
#[derive(Debug, Clone)]
pub(super) struct Upload {
    pub drive: String,
    pub file_id: String,
    pub upload_id: String,
}

impl Upload {
    pub fn ids(&self) -> Map<String, Value> {
        let mut ids = Map::new();
        ids.insert("drive_id".into(), self.drive.clone().into());
        ids.insert("file_id".into(), self.file_id.clone().into());
        ids.insert("upload_id".into(), self.upload_id.clone().into());
        ids
    }

    pub fn from_ids(ids: &Map<String, Value>) -> Option<Upload> {
        let text = |k: &str| ids.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Upload {
            drive: text("drive_id")?,
            file_id: text("file_id")?,
            upload_id: text("upload_id")?,
        })
    }

    pub fn request(&self, parts: Vec<PartNumber>, marker: Option<String>) -> UploadRequest<'_> {
        UploadRequest {
            drive_id: &self.drive,
            file_id: &self.file_id,
            upload_id: &self.upload_id,
            part_info_list: parts,
            part_number_marker: marker,
        }
    }
}

/// How one part `PUT` ended.
enum Put {
    Stored,
    Expired,
    Retry(String),
}

pub(super) fn part_numbers(range: impl Iterator<Item = u64>) -> Vec<PartNumber> {
    range
        .map(|part_number| PartNumber { part_number })
        .collect()
}

pub(super) fn urls_of(created: &Created) -> HashMap<u64, String> {
    created
        .part_info_list
        .iter()
        .filter_map(|p| Some((p.part_number.0?, p.upload_url.0.clone()?)))
        .collect()
}

impl AlipanClient {
    /// The part numbers the provider holds for `upload`, across pages.
    pub(super) async fn uploaded_parts(&self, upload: &Upload) -> Result<BTreeSet<u64>> {
        let mut done = BTreeSet::new();
        let mut marker = None;
        for _ in 0..10_001 {
            let body = upload.request(Vec::new(), marker.take());
            let answer = self
                .post(
                    "resuming an upload",
                    "/adrive/v1.0/openFile/listUploadedParts",
                    Some(&upload.drive),
                    &body,
                )
                .await?;
            let page: UploadedParts = parse(answer).unwrap_or_default();
            done.extend(page.uploaded_parts.iter().filter_map(|p| p.part_number.0));
            match page.next_part_number_marker.0 {
                Some(next) if !next.is_empty() => marker = Some(next),
                _ => break,
            }
        }
        Ok(done)
    }

    /// Fresh upload URLs for `parts`.
    pub(super) async fn renew_urls(
        &self,
        upload: &Upload,
        parts: &[u64],
    ) -> Result<HashMap<u64, String>> {
        let body = upload.request(part_numbers(parts.iter().copied()), None);
        let answer = self
            .post(
                "renewing upload links",
                "/adrive/v1.0/openFile/getUploadUrl",
                Some(&upload.drive),
                &body,
            )
            .await?;
        Ok(urls_of(&parse(answer).unwrap_or_default()))
    }

    /// `PUT`s one part: an expired URL is renewed, a 5xx or a cut connection retried a few
    /// times; `409 PartAlreadyExist` means the provider has it.
    pub(super) async fn put_part(
        &self,
        upload: &Upload,
        number: u64,
        bytes: bytes::Bytes,
        urls: &mut HashMap<u64, String>,
    ) -> Result<()> {
        let mut failures = 0;
        let mut renewals = 0;
        loop {
            let url = match urls.get(&number) {
                Some(url) => url.clone(),
                None => {
                    let fresh = self.renew_urls(upload, &[number]).await?;
                    urls.extend(fresh);
                    urls.get(&number).cloned().ok_or_else(|| {
                        self.transport()
                            .malformed("uploading", "no upload_url for a part")
                    })?
                }
            };
            match self.send_part(&url, bytes.clone()).await {
                Put::Stored => return Ok(()),
                Put::Expired if renewals < 3 => {
                    renewals += 1;
                    urls.remove(&number);
                }
                Put::Expired => {
                    return Err(Error::Transient {
                        storage: self.accessor().storage().to_owned(),
                        reason: format!("part {number}: fresh upload links kept being refused"),
                    });
                }
                Put::Retry(reason) => {
                    failures += 1;
                    if failures >= PART_ATTEMPTS {
                        return Err(Error::Transient {
                            storage: self.accessor().storage().to_owned(),
                            reason: format!(
                                "part {number} failed {failures} times (the parts before it are kept; running the upload again resumes): {reason}"
                            ),
                        });
                    }
                    tracing::debug!(part = number, %reason, "part upload failed; retrying");
                    tokio::time::sleep(Duration::from_millis(250 << failures)).await;
                }
            }
        }
    }

    async fn send_part(&self, url: &str, bytes: bytes::Bytes) -> Put {
        // No Content-Type: the URL's signature does not cover one. On the upload client,
        // watched: a part slower to send than the idle time is fine while it moves.
        let http = self.transport().http();
        let sent = Sent::default();
        let len = bytes.len() as u64;
        let put = async {
            let response = http
                .upload()
                .put(url)
                .header(reqwest::header::CONTENT_LENGTH, len)
                .body(bytes_body(bytes, &sent))
                .send()
                .await?;
            let status = response.status();
            let body = if status.is_success() {
                String::new()
            } else {
                response.text().await.unwrap_or_default()
            };
            Ok::<_, reqwest::Error>((status, body))
        };
        let idle = http.options().read_timeout;
        let (status, body) =
            match watch(put, &sent, len, idle, answer_wait(idle, len), |_| {}).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(err)) => return Put::Retry(crate::http::describe(err)),
                Err(stalled) => return Put::Retry(stalled),
            };
        if status.is_success() {
            return Put::Stored;
        }
        match status.as_u16() {
            409 if body.contains("PartAlreadyExist") => Put::Stored,
            403 if body.contains("expired") || body.contains("Expired") => Put::Expired,
            _ => Put::Retry(format!(
                "HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            )),
        }
    }
}
