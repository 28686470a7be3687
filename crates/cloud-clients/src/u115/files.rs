//! 115 QR login and file operations: [`CloudStorage`] for [`U115Client`].

use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use super::client::U115Client;
use super::{Failure, call_envelope, code, grant_from};
use crate::error::{Error, Result};
use crate::json::{number, number_i64, text};
use crate::pkce::{self, verifier};
use crate::storage::{
    CloudStorage, DownloadLink, FileItem, FileKind, LoginStatus, Progress, QrLogin, Usage,
    extension, join, normalize,
};
use crate::token::TokenAccessor;

/// base64(SHA-256(verifier)), as 115 expects for `code_challenge_method=sha256`.
pub(crate) fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pkce::sha256(verifier))
}

impl U115Client {
    fn item(
        &self,
        kind: FileKind,
        path: String,
        name: String,
        id: String,
        parent: Option<String>,
    ) -> FileItem {
        FileItem {
            storage: self.accessor().storage().to_owned(),
            extension: (kind == FileKind::File).then(|| extension(&name)).flatten(),
            kind,
            path,
            name,
            size: None,
            modified: None,
            file_id: id,
            parent_id: parent,
            extra: Map::new(),
        }
    }

    /// An entry of `/open/ufile/files` in `folder`.
    fn list_entry(&self, folder: &FileItem, entry: &Value) -> Option<FileItem> {
        let name = text(&entry["fn"])?;
        let kind = if text(&entry["fc"]).as_deref() == Some("0") {
            FileKind::Folder
        } else {
            FileKind::File
        };
        let mut item = self.item(
            kind,
            join(&folder.path, &name),
            name,
            text(&entry["fid"])?,
            text(&entry["pid"]).or_else(|| Some(folder.file_id.clone())),
        );
        if kind == FileKind::File {
            item.size = number(&entry["fs"]);
            if let Some(ext) = text(&entry["ico"]) {
                item.extension = Some(ext.to_ascii_lowercase());
            }
        }
        item.modified = number(&entry["upt"]).and_then(|t| i64::try_from(t).ok());
        for (from, to) in [("pc", "pick_code"), ("sha1", "sha1")] {
            if let Some(v) = text(&entry[from]) {
                item.extra.insert(to.into(), v.into());
            }
        }
        Some(item)
    }

    fn pick_code(&self, item: &FileItem) -> Result<String> {
        item.extra
            .get("pick_code")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                self.provider_error(
                    "downloading",
                    "no-pick-code",
                    "the item carries no 115 pick code",
                )
            })
    }

    pub(crate) fn provider_error(&self, operation: &str, code: &str, message: &str) -> Error {
        Error::Provider {
            storage: self.accessor().storage().to_owned(),
            operation: operation.to_owned(),
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    async fn client_id(&self) -> Result<String> {
        if let Some(id) = self.options_client_id() {
            return Ok(id);
        }
        let config = self.storage_handle().get_conf()?;
        config
            .get("client_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::Configuration {
                storage: self.accessor().storage().to_owned(),
                message: "115 needs your application's APP ID from the 115 Open Platform: set \
                          `client_id` in the storage's config or in U115Options"
                    .into(),
            })
    }
}

#[async_trait::async_trait]
impl CloudStorage for U115Client {
    fn storage_type(&self) -> &str {
        self.accessor().storage()
    }

    fn accessor(&self) -> &TokenAccessor {
        U115Client::accessor(self)
    }

    async fn start_qr_login(&self) -> Result<QrLogin> {
        let client_id = self.client_id().await?;
        let verifier = verifier(64);
        let request = self
            .http()
            .client()
            .post(format!("{}/open/authDeviceCode", self.endpoints().passport))
            .form(&[
                ("client_id", client_id.as_str()),
                ("code_challenge", challenge(&verifier).as_str()),
                ("code_challenge_method", "sha256"),
            ]);
        let data = self.unauthenticated("starting a QR login", request).await?;
        let field = |name: &str| text(&data[name]);
        let (Some(uid), Some(time), Some(qrcode), Some(sign)) =
            (field("uid"), field("time"), field("qrcode"), field("sign"))
        else {
            return Err(self.provider_error(
                "starting a QR login",
                "malformed",
                "the answer lacks uid, time, qrcode or sign",
            ));
        };
        let mut session = Map::new();
        session.insert("uid".into(), uid.into());
        session.insert("time".into(), time.into());
        session.insert("sign".into(), sign.into());
        session.insert("verifier".into(), verifier.into());
        Ok(QrLogin {
            qr_payload: qrcode,
            session,
        })
    }

    async fn poll_qr_login(&self, login: &QrLogin, timeout: Duration) -> Result<LoginStatus> {
        let get = |k: &str| {
            login
                .session
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let request = self
            .http()
            .client()
            .get(format!("{}/get/status/", self.endpoints().qrcode))
            .query(&[
                ("uid", get("uid")),
                ("time", get("time")),
                ("sign", get("sign")),
            ])
            .timeout(timeout);
        let envelope = match call_envelope(request).await {
            Ok(envelope) => envelope,
            // The client-side timeout: nothing changed meanwhile.
            Err(Failure::Transient(reason)) if reason.starts_with("timed out") => {
                return Ok(LoginStatus::Waiting);
            }
            Err(Failure::Code(_, _, data)) => {
                return Ok(if number_i64(&data["status"]) == Some(-2) {
                    LoginStatus::Cancelled
                } else {
                    LoginStatus::Expired
                });
            }
            Err(other) => return Err(self.failure("polling the QR login", other)),
        };
        if matches!(envelope.get("state"), Some(Value::Number(n)) if n.as_i64() == Some(0))
            || matches!(envelope.get("state"), Some(Value::Bool(false)))
        {
            return Ok(LoginStatus::Expired);
        }
        let status = match number_i64(&envelope["data"]["status"]) {
            Some(1) => LoginStatus::Scanned,
            Some(2) => LoginStatus::Confirmed,
            Some(-2) => LoginStatus::Cancelled,
            Some(n) if n < 0 => LoginStatus::Expired,
            _ => LoginStatus::Waiting,
        };
        if status != LoginStatus::Confirmed {
            return Ok(status);
        }
        let request = self
            .http()
            .client()
            .post(format!(
                "{}/open/deviceCodeToToken",
                self.endpoints().passport
            ))
            .form(&[("uid", get("uid")), ("code_verifier", get("verifier"))]);
        let data = self
            .unauthenticated("exchanging the QR login for tokens", request)
            .await?;
        let grant = grant_from(&data).ok_or_else(|| {
            self.provider_error(
                "exchanging the QR login for tokens",
                "malformed",
                "the answer carried no access token",
            )
        })?;
        self.accessor().save_login(grant).await?;
        tracing::info!(storage = %self.accessor().storage(), "QR login confirmed; tokens saved");
        Ok(LoginStatus::Confirmed)
    }

    async fn usage(&self) -> Result<Usage> {
        let data = self
            .get("reading space usage", "/open/user/info", &[])
            .await?;
        let space = &data["rt_space_info"];
        Ok(Usage {
            total: number(&space["all_total"]["size"]).unwrap_or(0),
            used: number(&space["all_use"]["size"]).unwrap_or(0),
        })
    }

    fn root(&self) -> FileItem {
        self.item(
            FileKind::Folder,
            "/".into(),
            String::new(),
            "0".into(),
            None,
        )
    }

    fn list<'a>(&'a self, folder: &'a FileItem) -> BoxStream<'a, Result<FileItem>> {
        struct Page {
            offset: u64,
            done: bool,
        }
        let page_size = self.page_size();
        stream::try_unfold(
            Page {
                offset: 0,
                done: false,
            },
            move |page| async move {
                if page.done {
                    return Ok::<_, Error>(None);
                }
                let envelope = self
                    .get_envelope(
                        "listing a folder",
                        "/open/ufile/files",
                        &[
                            ("cid", folder.file_id.clone()),
                            ("limit", page_size.to_string()),
                            ("offset", page.offset.to_string()),
                            ("show_dir", "1".into()),
                            ("cur", "1".into()),
                        ],
                    )
                    .await?;
                let entries = envelope["data"].as_array().cloned().unwrap_or_default();
                let count = number(&envelope["count"]).unwrap_or(0);
                let items: Vec<Result<FileItem>> = entries
                    .iter()
                    .filter_map(|e| self.list_entry(folder, e))
                    .map(Ok)
                    .collect();
                let offset = page.offset + entries.len() as u64;
                let done = entries.is_empty() || offset >= count;
                Ok(Some((stream::iter(items), Page { offset, done })))
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
        let data = match self
            .post_data(
                "reading file information",
                "/open/folder/get_info",
                &[("path", path.clone())],
            )
            .await
        {
            Ok(data) => data,
            Err(Error::Provider { code, .. }) if code == "20018" || code == "404" => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // A missing path answers with empty data.
        if !data.is_object() || data.as_object().is_some_and(Map::is_empty) {
            return Ok(None);
        }
        let name = text(&data["file_name"]).unwrap_or_default();
        let kind = if text(&data["file_category"]).as_deref() == Some("0") {
            FileKind::Folder
        } else {
            FileKind::File
        };
        let parent = data["paths"]
            .as_array()
            .and_then(|p| p.last())
            .and_then(|p| text(&p["file_id"]))
            .or_else(|| Some("0".into()));
        let Some(id) = text(&data["file_id"]) else {
            return Ok(None);
        };
        let mut item = self.item(kind, path, name, id, parent);
        if kind == FileKind::File {
            item.size = number(&data["size_byte"]);
        }
        item.modified = number(&data["utime"]).and_then(|t| i64::try_from(t).ok());
        for key in ["pick_code", "sha1"] {
            if let Some(v) = text(&data[key]) {
                item.extra.insert(key.into(), v.into());
            }
        }
        Ok(Some(item))
    }

    async fn make_folder(&self, parent: &FileItem, name: &str) -> Result<FileItem> {
        let result = self
            .post_data(
                "making a folder",
                "/open/folder/add",
                &[
                    ("pid", parent.file_id.clone()),
                    ("file_name", name.to_owned()),
                ],
            )
            .await;
        let path = join(&parent.path, name);
        match result {
            Ok(data) => {
                let id = text(&data["file_id"]).ok_or_else(|| {
                    self.provider_error("making a folder", "malformed", "no file_id in the answer")
                })?;
                Ok(self.item(
                    FileKind::Folder,
                    path,
                    name.to_owned(),
                    id,
                    Some(parent.file_id.clone()),
                ))
            }
            // 20004: the folder exists already — return it.
            Err(Error::Provider { code, .. }) if code == code::EXISTS.to_string() => self
                .stat(&path)
                .await?
                .filter(FileItem::is_folder)
                .ok_or_else(|| {
                    self.provider_error("making a folder", "20004", "a file of that name exists")
                }),
            Err(e) => Err(e),
        }
    }

    async fn rename(&self, item: &FileItem, new_name: &str) -> Result<()> {
        self.post_data(
            "renaming",
            "/open/ufile/update",
            &[
                ("file_id", item.file_id.clone()),
                ("file_name", new_name.to_owned()),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn move_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        self.post_data(
            "moving",
            "/open/ufile/move",
            &[
                ("file_ids", item.file_id.clone()),
                ("to_cid", folder.file_id.clone()),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn copy_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        self.post_data(
            "copying",
            "/open/ufile/copy",
            &[
                ("file_id", item.file_id.clone()),
                ("pid", folder.file_id.clone()),
            ],
        )
        .await
        .map(|_| ())
    }

    async fn delete(&self, item: &FileItem) -> Result<()> {
        self.post_data(
            "deleting",
            "/open/ufile/delete",
            &[("file_ids", item.file_id.clone())],
        )
        .await
        .map(|_| ())
    }

    async fn download_url(&self, item: &FileItem) -> Result<DownloadLink> {
        let pick_code = self.pick_code(item)?;
        let data = self
            .post_data(
                "getting a download link",
                "/open/ufile/downurl",
                &[("pick_code", pick_code)],
            )
            .await?;
        let entry = data
            .get(&item.file_id)
            .or_else(|| data.as_object().and_then(|m| m.values().next()))
            .cloned()
            .unwrap_or(Value::Null);
        let url = text(&entry["url"]["url"]).ok_or_else(|| {
            self.provider_error(
                "getting a download link",
                "malformed",
                "no url in the answer",
            )
        })?;
        Ok(DownloadLink {
            url,
            // The link is bound to the User-Agent that asked for it.
            user_agent: Some(self.http().options().user_agent.clone()),
            expires_at: None::<SystemTime>,
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
        // RFC 7636 appendix B, in standard (padded) base64 as 115 takes it.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="
                .replace('-', "+")
                .replace('_', "/")
        );
        assert_eq!(normalize("a//b/"), "/a/b");
    }
}
