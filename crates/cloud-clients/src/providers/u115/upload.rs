//! 115 upload (`../shared/spec/upload.md` §2–§3): `init` with the file's SHA-1 and the
//! SHA-1 of its first 128 KiB; the second verification (the SHA-1 of a byte range, once);
//! instant upload (status 2: no byte is sent); otherwise `resume`, `get_token` and an
//! Aliyun OSS multipart upload ([`super::oss`]) completed with 115's callback, whose answer
//! is the new file. Sessions are kept for resuming after a restart (`ListParts`).

use std::collections::BTreeMap;
use std::path::Path;

use sha1::{Digest as _, Sha1};

use super::client::U115Client;
use super::files::extra;
use super::oss::{Failure, Oss, xml::ListedPart};
use super::upload_session::{Destination, Kept};
use crate::error::{Error, ProviderErrorKind, Result};
use crate::storage::{CloudStorage, FileItem, FileKind, join};
use crate::transfer::conflict::{self, Target};
use crate::transfer::hash::{sha1_file, sha1_prefix};
use crate::transfer::local::{finished, local_error, source_file};
use crate::transfer::parts::{PartLimits, PartPlan, read_range};
use crate::transfer::resume::SessionStore;
use crate::transfer::{TransferPhase, UploadOptions, UploadProgress};

/// OSS part limits: 100 KB to 5 GB, at most 10,000 parts; 16 MiB preferred (few requests;
/// with the next part read while one is sent, memory stays at about two parts).
const LIMITS: PartLimits = PartLimits {
    min: 100 * 1024,
    max: 5 << 30,
    max_count: 10_000,
    preferred: 16 << 20,
};

/// `preid` covers the first 128 KiB (spec §2.2; MoviePilot's 128 MiB is its own mistake).
const PREID_LEN: u64 = 128 * 1024;

pub(super) const OPERATION: &str = "uploading";

/// Upper-case SHA-1 of bytes `start..=end` of `path`, read 1 MiB at a time (blocking).
fn sha1_range(path: &Path, start: u64, end: u64) -> std::io::Result<String> {
    let mut hasher = Sha1::new();
    let mut at = start;
    while at <= end {
        let to = end.saturating_add(1).min(at + (1 << 20));
        hasher.update(read_range(path, at, to)?);
        at = to;
    }
    Ok(hex::encode_upper(hasher.finalize()))
}

/// What identifies a local file's version: its size and modification time.
pub(super) type Stamp = (u64, Option<std::time::SystemTime>);

/// The [`Stamp`] of `path` now; `None` when it cannot be read.
pub(super) fn stamp(path: &Path) -> Option<Stamp> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

/// Where an upload stands once its OSS session is open.
pub(super) struct Open<'a> {
    pub oss: Oss<'a>,
    pub kept: Kept,
    pub dest: Destination,
    /// Parts OSS holds already: number → ETag.
    pub done: BTreeMap<u64, String>,
}

impl U115Client {
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

        // 115 has no name-conflict mode: the policy is applied here, before any byte goes.
        // (Overwrite uploads under `name`: 115 itself names the new file `name(1).ext` while
        // the old one exists; `finish` puts it in place.)
        let Target {
            name: chosen,
            replaced,
        } = conflict::resolve(self, folder, name, options.conflict, || {
            conflict::taken(self.transport(), "exists", &join(&folder.path, name))
        })
        .await?;

        let sessions = SessionStore::new(options.session_dir.clone());
        let key = SessionStore::key(
            self.accessor().storage(),
            &folder.file_id,
            name,
            local,
            size,
        );
        let plan = PartPlan::new(size, &LIMITS);

        // A session an earlier run left, when 115 and OSS still have it.
        let mut open = None;
        if let Some(session) = sessions.load_for(&key, &plan)
            && let Some(kept) = Kept::from_ids(&session.ids)
        {
            match self.reopen(kept, size, &plan).await {
                Ok(Some(reopened)) => open = Some(reopened),
                Ok(None) => {
                    tracing::info!(storage = %self.accessor().storage(), "upload session gone; starting over");
                    sessions.remove(&key);
                }
                Err(err) => return Err(err),
            }
        }
        let open = match open {
            Some(open) => open,
            None => {
                let started = self
                    .start(
                        local,
                        folder,
                        &chosen,
                        (size, meta.modified().ok()),
                        progress,
                    )
                    .await?;
                let open = match started {
                    Started::Instant(item) => {
                        return self.finish(*item, replaced, name, progress, size).await;
                    }
                    Started::Open(open) => *open,
                };
                let session = SessionStore::session(open.kept.ids(), plan.part_size, plan.count);
                if let Err(err) = sessions.save(&key, &session) {
                    tracing::warn!(%err, "could not keep the upload session; an interruption will start over");
                }
                open
            }
        };
        let path = join(&folder.path, &chosen);
        match self
            .send(
                local,
                &plan,
                open,
                (&path, (size, meta.modified().ok())),
                progress,
            )
            .await
        {
            Ok(item) => {
                sessions.remove(&key);
                self.finish(item, replaced, name, progress, size).await
            }
            Err((err, keep)) => {
                if !keep {
                    sessions.remove(&key);
                }
                Err(err)
            }
        }
    }

    /// After success: the replaced file goes (only now), the new one takes its name if
    /// 115 gave it another, and the caller hears "done".
    async fn finish(
        &self,
        mut item: FileItem,
        replaced: Option<FileItem>,
        name: &str,
        progress: UploadProgress<'_>,
        size: u64,
    ) -> Result<FileItem> {
        if let Some(old) = replaced
            && old.file_id != item.file_id
        {
            self.delete(&old).await?;
            if item.name != name {
                self.rename(&item, name).await?;
                item.path = join(item.path.rsplit_once('/').map_or("/", |(p, _)| p), name);
                name.clone_into(&mut item.name);
            }
        }
        progress(TransferPhase::Done, size, size);
        Ok(item)
    }

    /// A new upload: hashes, `init` (and the second verification), then — unless 115 has
    /// the content — `resume`, `get_token` and InitiateMultipartUpload.
    async fn start(
        &self,
        local: &Path,
        folder: &FileItem,
        name: &str,
        (size, modified): Stamp,
        progress: UploadProgress<'_>,
    ) -> Result<Started<'_>> {
        // Both hashes on a blocking thread: the first 128 KiB (`sha1_file` in `transfer/`
        // has no hook for a prefix; these 128 KiB come from the page cache the second
        // time), then the whole file with progress.
        let path = local.to_owned();
        let (send, mut receive) = tokio::sync::mpsc::unbounded_channel();
        let hashing = tokio::task::spawn_blocking(move || {
            let preid = sha1_prefix(&path, PREID_LEN)?;
            let (sha1, _) = sha1_file(&path, &mut |done| {
                let _ = send.send(done);
            })?;
            Ok::<_, std::io::Error>((preid, sha1))
        });
        while let Some(done) = receive.recv().await {
            progress(TransferPhase::Hashing, done, size);
        }
        let (preid, sha1) = finished(local, hashing).await?;

        let target = format!("U_1_{}", folder.file_id);
        let mut form = vec![
            ("file_name", name.to_owned()),
            ("file_size", size.to_string()),
            ("target", target.clone()),
            ("fileid", sha1.clone()),
            ("preid", preid),
        ];
        let first = self.upload_init(&form).await?;
        let init = if let Some((sign_key, start, end)) = first.challenge() {
            let path = local.to_owned();
            let sign_val = finished(
                local,
                tokio::task::spawn_blocking(move || sha1_range(&path, start, end)),
            )
            .await?;
            if let Some(pick_code) = first.pick_code.0.clone() {
                form.push(("pick_code", pick_code));
            }
            form.push(("sign_key", sign_key));
            form.push(("sign_val", sign_val));
            let second = self.upload_init(&form).await?;
            let refused = |why: &str| {
                self.transport().refused(
                    OPERATION,
                    ProviderErrorKind::Other,
                    "702",
                    &format!(
                        "115 did not accept the second verification (the SHA-1 of bytes \
                         {start}-{end}): {why}"
                    ),
                )
            };
            if second.verification_failed() {
                // A wrong range hash from an unchanged file cannot be fixed by hashing
                // again; a changed file must not be sent under the old SHA-1.
                if std::fs::metadata(local)
                    .ok()
                    .map(|m| (m.len(), m.modified().ok()))
                    != Some((size, modified))
                {
                    return Err(local_error(local)(std::io::Error::other(
                        "the file changed during the upload (115 refused the SHA-1 of a \
                         range of it); nothing was sent",
                    )));
                }
                // Spec §2.4: after the one verification, anything but status 2 means
                // "send the bytes" — when 115 says where to.
                if second.destination().is_none() && first.destination().is_none() {
                    return Err(refused("and it gave no upload destination"));
                }
                tracing::info!(storage = %self.accessor().storage(), "second verification refused; sending the bytes instead");
            } else if second.challenge().is_some() {
                return Err(refused("it asked again"));
            }
            second.or_first(first)
        } else if first.verification_failed() {
            return Err(self.transport().refused(
                OPERATION,
                ProviderErrorKind::Other,
                "702",
                "115 refused the upload's verification",
            ));
        } else {
            first
        };

        if init.status.0 == Some(2) {
            tracing::info!(storage = %self.accessor().storage(), size, "instant upload: 115 had the content");
            let file_id = init.file_id.0.clone().ok_or_else(|| {
                self.transport()
                    .malformed(OPERATION, "an instant upload without file_id")
            })?;
            let mut item = self.item(
                FileKind::File,
                join(&folder.path, name),
                name.to_owned(),
                file_id,
                Some(folder.file_id.clone()),
            );
            item.size = Some(size);
            extra(&mut item, init.pick_code.0.clone(), Some(sha1));
            return Ok(Started::Instant(Box::new(item)));
        }
        let Some(issued) = init.destination() else {
            return Err(self.transport().malformed(
                OPERATION,
                "init answered neither an instant upload nor bucket, object and callback",
            ));
        };
        let mut kept = Kept {
            pick_code: issued.pick_code.clone(),
            target: init.target.0.clone().unwrap_or(target),
            bucket: issued.bucket.clone(),
            object: issued.object.clone(),
            upload_id: String::new(),
            sha1,
        };
        // As MoviePilot: `resume` right before OSS, and its callback when it gives one.
        let dest = self
            .upload_resume(&kept, size)
            .await?
            .destination()
            .filter(|d| d.bucket == issued.bucket && d.object == issued.object)
            .unwrap_or(issued);
        let mut oss = Oss::new(
            self,
            &dest.bucket,
            &dest.object,
            self.sts_credentials().await?,
        );
        kept.upload_id = oss
            .initiate()
            .await
            .map_err(|f| f.into_error(self.accessor().storage(), OPERATION))?;
        Ok(Started::Open(Box::new(Open {
            oss,
            kept,
            dest,
            done: BTreeMap::new(),
        })))
    }

    /// An upload an earlier run left: `resume`, `get_token`, `ListParts`. `None` when 115
    /// or OSS no longer know it.
    async fn reopen(&self, kept: Kept, size: u64, plan: &PartPlan) -> Result<Option<Open<'_>>> {
        let dest = match self.upload_resume(&kept, size).await {
            Ok(data) => data.destination(),
            Err(err @ Error::Provider { .. }) => {
                tracing::info!(%err, "115 no longer knows the upload");
                None
            }
            Err(err) => return Err(err),
        };
        let Some(dest) = dest.filter(|d| d.bucket == kept.bucket && d.object == kept.object) else {
            return Ok(None);
        };
        let mut oss = Oss::new(
            self,
            &dest.bucket,
            &dest.object,
            self.sts_credentials().await?,
        );
        let listed = match oss.list_parts(&kept.upload_id).await {
            Ok(listed) => listed,
            Err(Failure::Refused(err)) if err.code == "NoSuchUpload" => return Ok(None),
            Err(failure) => {
                return Err(failure.into_error(self.accessor().storage(), "resuming an upload"));
            }
        };
        // Only parts of the size this plan gives them count as done.
        let done = listed
            .into_iter()
            .filter(|ListedPart { number, size, .. }| {
                (1..=plan.count).contains(number) && {
                    let (start, end) = plan.range(*number);
                    *size == end - start
                }
            })
            .map(|part| (part.number, part.etag))
            .collect();
        Ok(Some(Open {
            oss,
            kept,
            dest,
            done,
        }))
    }
}

/// What `start` ended with.
enum Started<'a> {
    /// 115 had the content: the new file, no byte sent.
    Instant(Box<FileItem>),
    /// Bytes to send.
    Open(Box<Open<'a>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_hashes_are_inclusive_and_upper_case() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("f");
        std::fs::write(&path, b"abcdef")?;
        // Spec §2.4: `abcdef`, "1-3" → SHA1("bcd").
        assert_eq!(
            sha1_range(&path, 1, 3)?,
            "924F61661A3472DA74307A35F2C8D22E07E84A4D"
        );
        assert_eq!(
            sha1_range(&path, 0, 5)?,
            hex::encode_upper(Sha1::digest(b"abcdef"))
        );
        assert!(sha1_range(&path, 4, 9).is_err(), "past the end");
        // Ranges over 1 MiB are read in pieces.
        let big: Vec<u8> = (0..(3u32 << 20) / 2).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &big)?;
        assert_eq!(
            sha1_range(&path, 7, big.len() as u64 - 2)?,
            hex::encode_upper(Sha1::digest(&big[7..big.len() - 1]))
        );
        Ok(())
    }

    #[test]
    fn part_plans_fit_oss() {
        let plan = PartPlan::new(256 << 20, &LIMITS);
        assert_eq!((plan.part_size, plan.count), (16 << 20, 16));
        let huge = PartPlan::new(1 << 40, &LIMITS);
        assert!(
            huge.count <= 10_000 && huge.part_size >= 100 * 1024,
            "{huge:?}"
        );
    }
}
