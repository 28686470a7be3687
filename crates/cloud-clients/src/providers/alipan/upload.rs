//! alipan upload (`../shared/spec/upload.md` §1): the pre-hash probe, instant upload with
//! the proof of possession, parts `PUT` to presigned URLs (no `Content-Type`), renewal of
//! expired URLs, `409 PartAlreadyExist` as done, resume through `listUploadedParts`, and
//! `complete`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_json::Value;
use sha1::{Digest as _, Sha1};

use super::api::{self, Created};
use super::client::AlipanClient;
use super::upload_session::{Upload, part_numbers, urls_of};
use crate::error::{Error, ProviderErrorKind, Result};
use crate::json::parse;
use crate::storage::{CloudStorage, FileItem, join};
use crate::transfer::conflict;
use crate::transfer::hash::{proof_code, sha1_file, sha1_prefix};
use crate::transfer::local::{finished, local_error, source_file};
use crate::transfer::parts::{PartLimits, PartPlan, PartSlots, read_part, slotted};
use crate::transfer::resume::SessionStore;
use crate::transfer::{Conflict, TransferPhase, UploadOptions, UploadProgress};

/// alipan's part limits: 100 KB to 5 GB, at most 10,000 parts; 16 MiB preferred (few
/// requests, and memory stays at about one part).
const LIMITS: PartLimits = PartLimits {
    min: 100 * 1024,
    max: 5 << 30,
    max_count: 10_000,
    preferred: 16 << 20,
};

const CREATE: &str = "/adrive/v1.0/openFile/create";

impl AlipanClient {
    fn check_name_mode(conflict: Conflict) -> &'static str {
        match conflict {
            Conflict::Rename => "auto_rename",
            Conflict::Overwrite => "ignore",
            _ => "refuse",
        }
    }

    /// The upload behind [`CloudStorage::upload`].
    pub(crate) async fn upload_file(
        &self,
        local: &Path,
        folder: &FileItem,
        name: &str,
        options: &UploadOptions,
        progress: UploadProgress<'_>,
    ) -> Result<FileItem> {
        let operation = "uploading";
        // The local file first: a missing or unreadable one creates nothing remotely.
        let meta = source_file(local)?;
        let size = meta.len();
        let target = join(&folder.path, name);
        let replaced = match options.conflict {
            Conflict::Overwrite => match self.stat(&target).await? {
                Some(old) if old.is_folder() => {
                    return Err(conflict::taken(
                        self.transport(),
                        super::code::ALREADY_EXIST_FILE,
                        &target,
                    ));
                }
                other => other,
            },
            _ => None,
        };
        let drive = self.drive_of(folder).await?;
        let sessions = SessionStore::new(options.session_dir.clone());
        let key = SessionStore::key(
            self.accessor().storage(),
            &folder.file_id,
            name,
            local,
            size,
        );
        let plan = PartPlan::new(size, &LIMITS);

        // Resume a session an earlier run left, when the provider still has it.
        let mut resumed = None;
        if let Some(session) = sessions.load_for(&key, &plan)
            && let Some(upload) = Upload::from_ids(&session.ids)
        {
            match self.uploaded_parts(&upload).await {
                Ok(done) => resumed = Some((upload, done)),
                Err(err) => {
                    tracing::info!(storage = %self.accessor().storage(), %err, "upload session gone; starting over");
                    sessions.remove(&key);
                }
            }
        }
        let (upload, done, mut urls) = match resumed {
            Some((upload, done)) => (upload, done, HashMap::new()),
            None => {
                let created = self
                    .create_file(local, folder, &drive, name, size, &plan, options, progress)
                    .await?;
                if created.exist == Some(true) {
                    return Err(conflict::taken(
                        self.transport(),
                        super::code::ALREADY_EXIST_FILE,
                        &target,
                    ));
                }
                let file_id = created.file_id.0.clone().unwrap_or_default();
                let upload = Upload {
                    drive: drive.clone(),
                    file_id,
                    upload_id: created.upload_id.0.clone().unwrap_or_default(),
                };
                if upload.file_id.is_empty() {
                    return Err(self
                        .transport()
                        .malformed(operation, "no file_id in the answer"));
                }
                if created.rapid_upload == Some(true) {
                    tracing::info!(storage = %self.accessor().storage(), size, "instant upload: the provider had the content");
                    let item = self.complete(&upload, &folder.path, None).await?;
                    return self.finish(item, replaced, progress, size).await;
                }
                let session = SessionStore::session(upload.ids(), plan.part_size, plan.count);
                if let Err(err) = sessions.save(&key, &session) {
                    tracing::warn!(%err, "could not keep the upload session; an interruption will start over");
                }
                (upload, BTreeSet::new(), urls_of(&created))
            }
        };

        // Every part in order: the SHA-1 covers the whole file (parts already there are
        // read but not sent), so the provider's hash can be checked at the end. Part n+1 is
        // read and hashed on a blocking thread while part n is sent: at most two parts in
        // memory (two slots, each freed when the part's last byte reference goes), and the
        // disk and the network work at the same time.
        let slots = PartSlots::new(2);
        let read = |number: u64, mut hasher: Sha1| {
            let path = local.to_owned();
            let slots = slots.clone();
            tokio::spawn(async move {
                let slot = slots.acquire().await?;
                tokio::task::spawn_blocking(move || {
                    let bytes = read_part(&path, &plan, number)?;
                    hasher.update(&bytes);
                    Ok::<_, std::io::Error>((slotted(bytes, slot), hasher))
                })
                .await
                .map_err(std::io::Error::other)?
            })
        };
        let mut next = Some(read(1, Sha1::new()));
        let mut hasher = None;
        let mut sent = 0u64;
        progress(TransferPhase::Sending, 0, size);
        for number in 1..=plan.count {
            let reading = next
                .take()
                .ok_or_else(|| local_error(local)(std::io::Error::other("part reader missing")))?;
            let (bytes, hashed) = finished(local, reading).await?;
            if number < plan.count {
                next = Some(read(number + 1, hashed));
            } else {
                hasher = Some(hashed);
            }
            let len = bytes.len() as u64;
            if !done.contains(&number) {
                self.put_part(&upload, number, bytes, &mut urls).await?;
            }
            sent += len;
            progress(TransferPhase::Sending, sent, size);
        }
        let sha1 = hex::encode_upper(hasher.unwrap_or_default().finalize());
        let item = self.complete(&upload, &folder.path, Some(&sha1)).await?;
        sessions.remove(&key);
        self.finish(item, replaced, progress, size).await
    }

    /// After success: the replaced file goes, and the caller hears "done".
    async fn finish(
        &self,
        item: FileItem,
        replaced: Option<FileItem>,
        progress: UploadProgress<'_>,
        size: u64,
    ) -> Result<FileItem> {
        if let Some(old) = replaced
            && old.file_id != item.file_id
        {
            self.delete(&old).await?;
        }
        progress(TransferPhase::Done, size, size);
        Ok(item)
    }

    /// `create`: the pre-hash probe, then — when the provider may have the content — the
    /// whole-file hash and the proof of possession.
    #[allow(clippy::too_many_arguments)]
    async fn create_file(
        &self,
        local: &Path,
        folder: &FileItem,
        drive: &str,
        name: &str,
        size: u64,
        plan: &PartPlan,
        options: &UploadOptions,
        progress: UploadProgress<'_>,
    ) -> Result<Created> {
        let operation = "uploading";
        let url = self.endpoints().url(CREATE);
        let body = |pre_hash: Option<String>| api::CreateFile {
            target: api::CreateFolder {
                drive_id: drive,
                parent_file_id: &folder.file_id,
                name,
                kind: "file",
                check_name_mode: Self::check_name_mode(options.conflict),
            },
            size,
            part_info_list: part_numbers(1..=plan.count),
            pre_hash,
            content_hash: None,
            content_hash_name: None,
            proof_code: None,
            proof_version: None,
        };
        let pre_hash = sha1_prefix(local, 1024).map_err(local_error(local))?;
        let probe = body(Some(pre_hash.to_ascii_lowercase()));
        match self.post(operation, CREATE, Some(drive), &probe).await {
            Ok(answer) => return Ok(parse(answer).unwrap_or_default()),
            Err(Error::Provider { code, .. }) if code == super::code::PRE_HASH_MATCHED => {}
            Err(err) => return Err(err),
        }
        // The first KiB is known: hash the whole file and prove possession.
        let path = local.to_owned();
        let (sha1, _) = {
            let progress_total = size;
            let (send, mut receive) = tokio::sync::mpsc::unbounded_channel();
            let hashing = tokio::task::spawn_blocking(move || {
                sha1_file(&path, &mut |done| {
                    let _ = send.send(done);
                })
            });
            while let Some(done) = receive.recv().await {
                progress(TransferPhase::Hashing, done, progress_total);
            }
            finished(local, hashing).await?
        };
        let answer = self
            .transport()
            .call_seeing_token(operation, |client, token| {
                let mut proof = body(None);
                proof.content_hash = Some(sha1.clone());
                proof.content_hash_name = Some("sha1");
                proof.proof_version = Some("v1");
                // The proof depends on the token this very request carries. A read error
                // sends an empty proof: the provider then answers with a normal task.
                proof.proof_code =
                    Some(proof_code(token.secret(), local, size).unwrap_or_default());
                client.post(&url).json(&proof)
            })
            .await
            .map_err(|err| super::error::name_drive(err, Some(drive)))?;
        Ok(parse(answer).unwrap_or_default())
    }

    /// `complete`: the file object, checked against our SHA-1 when the provider gives one.
    async fn complete(
        &self,
        upload: &Upload,
        folder: &str,
        sha1: Option<&str>,
    ) -> Result<FileItem> {
        let operation = "completing an upload";
        let body = upload.request(Vec::new(), None);
        let answer = self
            .post(
                operation,
                "/adrive/v1.0/openFile/complete",
                Some(&upload.drive),
                &body,
            )
            .await?;
        let file: api::File = parse(answer).unwrap_or_default();
        let name = file
            .name
            .0
            .clone()
            .or(file.file_name.0.clone())
            .unwrap_or_default();
        let item = self
            .item_at(join(folder, &name), file, &upload.drive)
            .ok_or_else(|| {
                self.transport()
                    .malformed(operation, "no file in the answer")
            })?;
        if let (Some(ours), Some(theirs)) =
            (sha1, item.extra.get("content_hash").and_then(Value::as_str))
            && !theirs.eq_ignore_ascii_case(ours)
        {
            return Err(self.transport().refused(
                operation,
                ProviderErrorKind::Other,
                "checksum",
                &format!("the uploaded file's SHA-1 is {theirs}, the local file's {ours}"),
            ));
        }
        Ok(item)
    }
}
