//! Sending a 115 upload's data: the parts OSS lacks (the next one read while one is
//! sent, each with its CRC-64 checked against OSS's), then CompleteMultipartUpload with
//! 115's callback, whose JSON answer is the new file.

use std::path::Path;

use serde::Deserialize;

use super::client::U115Client;
use super::files::extra;
use super::oss::Failure;
use super::upload::{OPERATION, Open, Stamp, stamp};
use crate::error::{Error, ProviderErrorKind, Result};
use crate::json::{Num, Text};
use crate::storage::{CloudStorage, FileItem, FileKind, join};
use crate::transfer::TransferPhase;
use crate::transfer::UploadProgress;
use crate::transfer::local::local_error;
use crate::transfer::parts::{PartPlan, PartSlots, read_part, slotted};

/// CRC-64/XZ (ECMA-182, reflected), as OSS's `x-oss-hash-crc64ecma`.
static CRC64: crc::Crc<u64, crc::Table<16>> = crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_XZ);

/// The callback's answer (spec §2.7), relayed by OSS as Complete's body.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Callback {
    state: Option<bool>,
    code: Num,
    message: Text,
    data: Registered,
}

/// `data` of the callback's answer: the new file.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct Registered {
    file_id: Text,
    file_name: Text,
    file_size: Num,
    pick_code: Text,
    sha1: Text,
    cid: Text,
}

impl U115Client {
    /// Sends the parts OSS lacks (the next one read while one is sent) and completes with
    /// the callback. On failure: the error, and whether the session is still worth keeping.
    pub(super) async fn send(
        &self,
        local: &Path,
        plan: &PartPlan,
        open: Open<'_>,
        (path, started): (&str, Stamp),
        progress: UploadProgress<'_>,
    ) -> std::result::Result<FileItem, (Error, bool)> {
        let Open {
            mut oss,
            kept,
            dest,
            mut done,
        } = open;
        let storage = self.accessor().storage().to_owned();
        let local_failed = |e: std::io::Error| (local_error(local)(e), true);
        // Only the parts OSS lacks are read, each with its CRC-64, on a blocking thread
        // while the one before it is sent: two parts in memory. (The content is not hashed
        // again: the callback makes 115 check the object's SHA-1 against `init`'s, and a
        // file that changed is caught below by its size and modification time.)
        let slots = PartSlots::new(2);
        let read = |number: u64| {
            let path = local.to_owned();
            let plan = *plan;
            let slots = slots.clone();
            tokio::spawn(async move {
                let slot = slots.acquire().await?;
                tokio::task::spawn_blocking(move || {
                    let bytes = read_part(&path, &plan, number)?;
                    let crc = CRC64.checksum(&bytes);
                    Ok::<_, std::io::Error>((slotted(bytes, slot), crc))
                })
                .await
                .map_err(std::io::Error::other)?
            })
        };
        let missing: Vec<u64> = (1..=plan.count).filter(|n| !done.contains_key(n)).collect();
        let mut sent: u64 = done
            .keys()
            .map(|n| {
                let (start, end) = plan.range(*n);
                end - start
            })
            .sum();
        progress(TransferPhase::Sending, sent, plan.size);
        let mut next = missing.first().map(|n| read(*n));
        for (i, number) in missing.iter().enumerate() {
            let Some(reading) = next.take() else { break };
            let (bytes, crc) = reading
                .await
                .map_err(|e| local_failed(std::io::Error::other(e)))?
                .map_err(local_failed)?;
            next = missing.get(i + 1).map(|n| read(*n));
            let len = bytes.len() as u64;
            let etag = oss
                .upload_part(&kept.upload_id, *number, bytes, crc)
                .await
                .map_err(|f| {
                    let keep = !matches!(&f, Failure::Refused(e) if e.code == "NoSuchUpload");
                    (f.into_error(&storage, OPERATION), keep)
                })?;
            done.insert(*number, etag);
            sent += len;
            progress(TransferPhase::Sending, sent, plan.size);
        }
        if stamp(local) != Some(started) {
            return Err((
                local_error(local)(std::io::Error::other(
                    "the file changed during the upload (its size or modification time); \
                     it was not completed",
                )),
                false,
            ));
        }
        let parts: Vec<(u64, String)> = done.into_iter().collect();
        let answer = oss
            .complete(&kept.upload_id, &parts, &dest.callback, &dest.callback_var)
            .await;
        let body = match answer {
            Ok(body) => body,
            // A Complete that was retried after its answer was lost: 115 may have the file.
            Err(Failure::Refused(err)) if err.code == "NoSuchUpload" => {
                return match self.stat(path).await {
                    Ok(Some(item)) if same_sha1(&item, &kept.sha1) => Ok(item),
                    _ => Err((
                        Failure::Refused(err).into_error(&storage, "completing an upload"),
                        false,
                    )),
                };
            }
            Err(failure) => {
                let keep = matches!(failure, Failure::Exhausted(_) | Failure::Api(_));
                return Err((failure.into_error(&storage, "completing an upload"), keep));
            }
        };
        self.registered(&body, path, plan.size, &kept.sha1)
            .map_err(|err| (err, false))
    }

    /// The new file from the callback's answer, checked against our SHA-1.
    fn registered(&self, body: &str, path: &str, size: u64, sha1: &str) -> Result<FileItem> {
        let operation = "completing an upload";
        let answer: Callback = serde_json::from_str(body).map_err(|_| {
            self.transport()
                .malformed(operation, "the callback's answer is not JSON")
        })?;
        if answer.state == Some(false) || answer.code.0.is_some_and(|c| c != 0) {
            return Err(self.transport().refused(
                operation,
                ProviderErrorKind::Other,
                &answer.code.0.unwrap_or(0).to_string(),
                &answer
                    .message
                    .0
                    .unwrap_or_else(|| "115 refused the file".into()),
            ));
        }
        let data = answer.data;
        let file_id = data.file_id.0.ok_or_else(|| {
            self.transport()
                .malformed(operation, "no file_id in the callback's answer")
        })?;
        if let Some(theirs) = &data.sha1.0
            && !theirs.eq_ignore_ascii_case(sha1)
        {
            return Err(self.transport().refused(
                operation,
                ProviderErrorKind::Other,
                "checksum",
                &format!("the uploaded file's SHA-1 is {theirs}, the local file's {sha1}"),
            ));
        }
        let (folder, requested) = path.rsplit_once('/').unwrap_or(("", path));
        let name = data.file_name.0.unwrap_or_else(|| requested.to_owned());
        let parent = if folder.is_empty() { "/" } else { folder };
        let mut item = self.item(
            FileKind::File,
            join(parent, &name),
            name,
            file_id,
            data.cid.0,
        );
        item.size = Some(data.file_size.0.unwrap_or(size));
        extra(
            &mut item,
            data.pick_code.0,
            Some(data.sha1.0.unwrap_or_else(|| sha1.to_owned())),
        );
        Ok(item)
    }
}

fn same_sha1(item: &FileItem, sha1: &str) -> bool {
    item.extra
        .get("sha1")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|s| s.eq_ignore_ascii_case(sha1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_the_xz_variant_oss_uses() {
        // Spec §3.4: the check value for "123456789".
        assert_eq!(CRC64.checksum(b"123456789"), 11_051_210_869_376_104_954);
    }
}
