//! alipan QR login and file operations: [`CloudStorage`] for [`AlipanClient`].
//!
//! The QR payload handed to the caller is the authorisation page for the session,
//! `https://www.alipan.com/o/oauth/authorize?sid=<sid>` (configurable through
//! [`AlipanEndpoints::authorize_page`](super::AlipanEndpoints::authorize_page)); the
//! platform's `qrCodeUrl` is only a rendered image of it. alipan has no long-poll, so
//! [`poll_qr_login`](CloudStorage::poll_qr_login) asks for the status every
//! [`qr_poll_interval`](super::AlipanOptions::qr_poll_interval) until it moves on from the
//! status last reported for that session, or the timeout passes. A cancelled login is
//! reported by alipan as `QRCodeExpired`, so it ends as [`LoginStatus::Expired`].

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::client::{AlipanClient, PkceMethod};
use super::{Failure, call, code, grant_from, parse_timestamp};
use crate::error::{Error, Result};
use crate::json::{number, text};
use crate::pkce::{self, verifier};
use crate::storage::{
    CloudStorage, DownloadLink, FileItem, FileKind, LoginStatus, Progress, QrLogin, Usage,
    extension, join, normalize,
};
use crate::token::TokenAccessor;

/// At most this many QR sessions are remembered between polls.
const QR_MEMORY: usize = 64;

/// The `code_challenge` for `verifier`: `S256` is base64url without padding of SHA-256,
/// `plain` the verifier itself.
pub(crate) fn challenge(method: PkceMethod, verifier: &str) -> String {
    match method {
        PkceMethod::S256 => {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pkce::sha256(verifier))
        }
        PkceMethod::Plain => verifier.to_owned(),
    }
}

impl AlipanClient {
    /// A [`FileItem`] from an alipan file object, at `path`.
    fn item_at(&self, path: String, entry: &Value, drive: &str) -> Option<FileItem> {
        let name = text(&entry["name"]).or_else(|| text(&entry["file_name"]))?;
        let kind = if entry["type"].as_str() == Some("folder") {
            FileKind::Folder
        } else {
            FileKind::File
        };
        let mut extra = Map::new();
        extra.insert(
            "drive_id".into(),
            text(&entry["drive_id"])
                .unwrap_or_else(|| drive.to_owned())
                .into(),
        );
        for key in ["content_hash", "content_hash_name", "category"] {
            if let Some(v) = text(&entry[key]) {
                extra.insert(key.into(), v.into());
            }
        }
        let file = kind == FileKind::File;
        Some(FileItem {
            storage: self.accessor().storage().to_owned(),
            extension: if file {
                text(&entry["file_extension"])
                    .map(|e| e.to_ascii_lowercase())
                    .or_else(|| extension(&name))
            } else {
                None
            },
            kind,
            path,
            name,
            size: if file { number(&entry["size"]) } else { None },
            modified: entry["updated_at"].as_str().and_then(parse_timestamp),
            file_id: text(&entry["file_id"])?,
            parent_id: text(&entry["parent_file_id"]),
            extra,
        })
    }

    /// The drive an item lives on (its own `drive_id`, else the configured drive).
    async fn drive_of(&self, item: &FileItem) -> Result<String> {
        match item.extra.get("drive_id").and_then(Value::as_str) {
            Some(drive) if !drive.is_empty() => Ok(drive.to_owned()),
            _ => self.drive_id().await,
        }
    }

    pub(crate) fn provider_error(&self, operation: &str, code: &str, message: &str) -> Error {
        Error::Provider {
            storage: self.accessor().storage().to_owned(),
            operation: operation.to_owned(),
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    fn remember_qr(&self, sid: &str, status: LoginStatus) {
        let mut seen = self.qr_seen().lock();
        if status.is_final() {
            seen.remove(sid);
            return;
        }
        if seen.len() >= QR_MEMORY && !seen.contains_key(sid) {
            seen.clear();
        }
        seen.insert(sid.to_owned(), status);
    }

    /// Exchanges a confirmed login's code for tokens and saves them with the drive info.
    async fn finish_login(&self, login: &QrLogin, auth_code: &str) -> Result<()> {
        let operation = "exchanging the QR login for tokens";
        let get = |k: &str| login.session.get(k).and_then(Value::as_str);
        let (options_id, secret) = self.credentials()?;
        let client_id = get("client_id").map_or(options_id, str::to_owned);
        let mut body = json!({
            "client_id": client_id,
            "grant_type": "authorization_code",
            "code": auth_code,
        });
        if let Some(map) = body.as_object_mut() {
            match (get("verifier"), &secret) {
                (Some(verifier), _) => {
                    map.insert("code_verifier".into(), verifier.into());
                }
                (None, Some(secret)) => {
                    map.insert("client_secret".into(), secret.secret().into());
                }
                (None, None) => {
                    return Err(Error::Configuration {
                        storage: self.accessor().storage().to_owned(),
                        message: "the QR login was started with a client secret that is no \
                                  longer configured"
                            .into(),
                    });
                }
            }
        }
        let request = self
            .http()
            .client()
            .post(self.endpoints().url("/oauth/access_token"))
            .json(&body);
        let answer = self.unauthenticated(operation, request).await?;
        let grant = grant_from(&answer).ok_or_else(|| {
            self.provider_error(operation, "malformed", "the answer carried no access token")
        })?;
        self.complete_login(grant).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl CloudStorage for AlipanClient {
    fn storage_type(&self) -> &str {
        self.accessor().storage()
    }

    fn accessor(&self) -> &TokenAccessor {
        AlipanClient::accessor(self)
    }

    async fn start_qr_login(&self) -> Result<QrLogin> {
        let (client_id, secret) = self.credentials()?;
        let mut body = json!({
            "client_id": client_id,
            "scopes": self.options().scopes,
        });
        let mut session = Map::new();
        session.insert("client_id".into(), client_id.into());
        if let Some(map) = body.as_object_mut() {
            if let Some(secret) = &secret {
                map.insert("client_secret".into(), secret.secret().into());
            } else {
                let method = self.options().pkce_method;
                let verifier = verifier(64);
                map.insert("code_challenge".into(), challenge(method, &verifier).into());
                map.insert("code_challenge_method".into(), method.as_str().into());
                session.insert("verifier".into(), verifier.into());
            }
        }
        let request = self
            .http()
            .client()
            .post(self.endpoints().url("/oauth/authorize/qrcode"))
            .json(&body);
        let answer = self.unauthenticated("starting a QR login", request).await?;
        let Some(sid) = text(&answer["sid"]) else {
            return Err(self.provider_error(
                "starting a QR login",
                "malformed",
                "the answer lacks sid",
            ));
        };
        if let Some(image) = text(&answer["qrCodeUrl"]) {
            session.insert("qr_code_url".into(), image.into());
        }
        session.insert("sid".into(), sid.clone().into());
        self.remember_qr(&sid, LoginStatus::Waiting);
        Ok(QrLogin {
            qr_payload: format!("{}?sid={sid}", self.endpoints().authorize_page),
            session,
        })
    }

    async fn poll_qr_login(&self, login: &QrLogin, timeout: Duration) -> Result<LoginStatus> {
        let operation = "polling the QR login";
        let sid = login
            .session
            .get("sid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if sid.is_empty() {
            return Err(self.provider_error(operation, "malformed", "the QR login has no sid"));
        }
        let last = self
            .qr_seen()
            .lock()
            .get(&sid)
            .copied()
            .unwrap_or(LoginStatus::Waiting);
        let deadline = Instant::now() + timeout;
        let url = self.endpoints().url(&format!("/oauth/qrcode/{sid}/status"));
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(last);
            }
            let request = self.http().client().get(&url).timeout(remaining);
            let answer = match call(request).await {
                Ok(answer) => answer,
                // The client-side timeout: nothing changed meanwhile.
                Err(Failure::Transient(reason)) if reason.starts_with("timed out") => {
                    return Ok(last);
                }
                Err(other) => return Err(self.failure(operation, other, None)),
            };
            let status = match answer["status"].as_str() {
                Some("LoginSuccess") => {
                    let Some(auth_code) = text(&answer["authCode"]) else {
                        return Err(self.provider_error(
                            operation,
                            "malformed",
                            "LoginSuccess without authCode",
                        ));
                    };
                    self.finish_login(login, &auth_code).await?;
                    LoginStatus::Confirmed
                }
                Some("ScanSuccess") => LoginStatus::Scanned,
                Some("QRCodeExpired") => LoginStatus::Expired,
                _ => LoginStatus::Waiting,
            };
            if status != last || status.is_final() {
                self.remember_qr(&sid, status);
                if status == LoginStatus::Confirmed {
                    tracing::info!(storage = %self.accessor().storage(), "QR login confirmed; tokens saved");
                }
                return Ok(status);
            }
            let pause = self
                .options()
                .qr_poll_interval
                .max(Duration::from_millis(10))
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(pause).await;
        }
    }

    async fn usage(&self) -> Result<Usage> {
        let answer = self
            .post(
                "reading space usage",
                "/adrive/v1.0/user/getSpaceInfo",
                json!({}),
            )
            .await?;
        let space = &answer["personal_space_info"];
        Ok(Usage {
            total: number(&space["total_size"]).unwrap_or(0),
            used: number(&space["used_size"]).unwrap_or(0),
        })
    }

    fn root(&self) -> FileItem {
        let mut extra = Map::new();
        if let Some(drive) = self
            .storage_handle()
            .get_conf()
            .ok()
            .and_then(|config| self.pick_drive(&config))
        {
            extra.insert("drive_id".into(), drive.into());
        }
        FileItem {
            storage: self.accessor().storage().to_owned(),
            kind: FileKind::Folder,
            path: "/".into(),
            name: String::new(),
            extension: None,
            size: None,
            modified: None,
            file_id: "root".into(),
            parent_id: None,
            extra,
        }
    }

    fn list<'a>(&'a self, folder: &'a FileItem) -> BoxStream<'a, Result<FileItem>> {
        struct Page {
            marker: Option<String>,
            done: bool,
        }
        let limit = self.page_size();
        stream::try_unfold(
            Page {
                marker: None,
                done: false,
            },
            move |page| async move {
                if page.done {
                    return Ok::<_, Error>(None);
                }
                let drive = self.drive_of(folder).await?;
                let mut body = json!({
                    "drive_id": drive,
                    "parent_file_id": folder.file_id,
                    "limit": limit,
                });
                if let (Some(marker), Some(map)) = (&page.marker, body.as_object_mut()) {
                    map.insert("marker".into(), marker.clone().into());
                }
                let answer = self
                    .post("listing a folder", "/adrive/v1.0/openFile/list", body)
                    .await?;
                let entries = answer["items"].as_array().cloned().unwrap_or_default();
                let items: Vec<Result<FileItem>> = entries
                    .iter()
                    .filter_map(|entry| {
                        let name = text(&entry["name"])?;
                        self.item_at(join(&folder.path, &name), entry, &drive)
                    })
                    .map(Ok)
                    .collect();
                let marker = text(&answer["next_marker"]);
                // Guard against a server that repeats its marker.
                let done = marker.is_none() || marker == page.marker || entries.is_empty();
                Ok(Some((stream::iter(items), Page { marker, done })))
            },
        )
        .try_flatten()
        .boxed()
    }

    async fn stat(&self, path: &str) -> Result<Option<FileItem>> {
        let path = normalize(path);
        if path == "/" {
            return Ok(Some(self.root()));
        }
        let drive = self.drive_id().await?;
        let answer = match self
            .post(
                "reading file information",
                "/adrive/v1.0/openFile/get_by_path",
                json!({"drive_id": drive, "file_path": path}),
            )
            .await
        {
            Ok(answer) => answer,
            Err(Error::Provider { code, .. }) if code.starts_with("NotFound") => return Ok(None),
            Err(e) => return Err(e),
        };
        if !answer.is_object() {
            return Ok(None);
        }
        Ok(self.item_at(path, &answer, &drive))
    }

    async fn make_folder(&self, parent: &FileItem, name: &str) -> Result<FileItem> {
        let operation = "making a folder";
        let drive = self.drive_of(parent).await?;
        let answer = self
            .post(
                operation,
                "/adrive/v1.0/openFile/create",
                json!({
                    "drive_id": drive,
                    "parent_file_id": parent.file_id,
                    "name": name,
                    "type": "folder",
                    "check_name_mode": "refuse",
                }),
            )
            .await?;
        let path = join(&parent.path, name);
        if answer["exist"].as_bool() == Some(true) {
            // The name is taken: an existing folder is returned, a file is an error.
            return self
                .stat(&path)
                .await?
                .filter(FileItem::is_folder)
                .ok_or_else(|| {
                    self.provider_error(
                        operation,
                        code::ALREADY_EXIST_FILE,
                        "a file of that name exists",
                    )
                });
        }
        let id = text(&answer["file_id"]).ok_or_else(|| {
            self.provider_error(operation, "malformed", "no file_id in the answer")
        })?;
        let mut extra = Map::new();
        extra.insert("drive_id".into(), drive.into());
        Ok(FileItem {
            storage: self.accessor().storage().to_owned(),
            kind: FileKind::Folder,
            path,
            name: text(&answer["file_name"]).unwrap_or_else(|| name.to_owned()),
            extension: None,
            size: None,
            modified: None,
            file_id: id,
            parent_id: Some(parent.file_id.clone()),
            extra,
        })
    }

    async fn rename(&self, item: &FileItem, new_name: &str) -> Result<()> {
        let drive = self.drive_of(item).await?;
        self.post(
            "renaming",
            "/adrive/v1.0/openFile/update",
            json!({
                "drive_id": drive,
                "file_id": item.file_id,
                "name": new_name,
                "check_name_mode": "refuse",
            }),
        )
        .await
        .map(|_| ())
    }

    async fn move_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        let drive = self.drive_of(item).await?;
        let answer = self
            .post(
                "moving",
                "/adrive/v1.0/openFile/move",
                json!({
                    "drive_id": drive,
                    "file_id": item.file_id,
                    "to_parent_file_id": folder.file_id,
                    "check_name_mode": "refuse",
                }),
            )
            .await?;
        if answer["exist"].as_bool() == Some(true) {
            return Err(self.provider_error(
                "moving",
                code::ALREADY_EXIST_FILE,
                &format!(
                    "{} already holds an item named {}; nothing was moved",
                    folder.path, item.name
                ),
            ));
        }
        Ok(())
    }

    async fn copy_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        let drive = self.drive_of(item).await?;
        self.post(
            "copying",
            "/adrive/v1.0/openFile/copy",
            json!({
                "drive_id": drive,
                "file_id": item.file_id,
                "to_drive_id": drive,
                "to_parent_file_id": folder.file_id,
            }),
        )
        .await
        .map(|_| ())
    }

    async fn delete(&self, item: &FileItem) -> Result<()> {
        let drive = self.drive_of(item).await?;
        self.post(
            "deleting",
            "/adrive/v1.0/openFile/recyclebin/trash",
            json!({"drive_id": drive, "file_id": item.file_id}),
        )
        .await
        .map(|_| ())
    }

    async fn download_url(&self, item: &FileItem) -> Result<DownloadLink> {
        let operation = "getting a download link";
        let drive = self.drive_of(item).await?;
        let answer = self
            .post(
                operation,
                "/adrive/v1.0/openFile/getDownloadUrl",
                json!({"drive_id": drive, "file_id": item.file_id}),
            )
            .await?;
        let url = text(&answer["url"])
            .ok_or_else(|| self.provider_error(operation, "malformed", "no url in the answer"))?;
        let expires_at = answer["expiration"]
            .as_str()
            .and_then(parse_timestamp)
            .and_then(|secs| u64::try_from(secs).ok())
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
        Ok(DownloadLink {
            url,
            user_agent: None,
            expires_at,
        })
    }

    async fn download(&self, item: &FileItem, dest: &Path, progress: Progress<'_>) -> Result<u64> {
        let link = self.download_url(item).await?;
        crate::download::fetch_to_file(
            self.accessor().storage(),
            self.http(),
            &link,
            dest,
            progress,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_and_paths() {
        // RFC 7636 appendix B.
        assert_eq!(
            challenge(
                PkceMethod::S256,
                "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
            ),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(challenge(PkceMethod::Plain, "abc"), "abc");
        assert_eq!(normalize("a//b/"), "/a/b");
    }
}
