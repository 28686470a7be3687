//! 115 file operations: [`CloudStorage`] for [`U115Client`] (its QR login is in `qr.rs`).

use std::path::Path;
use std::time::SystemTime;

use futures::stream::BoxStream;
use serde_json::{Map, Value};

use super::api::{self, Info, ListEntry, ListPage, UserInfo};
use super::client::U115Client;
use crate::error::{ProviderErrorKind, Result};
use crate::json::parse;
use crate::login::QrLoginFlow;
use crate::storage::{
    CloudStorage, DownloadLink, FileItem, FileKind, Progress, Usage, existing_folder, extension,
    join, normalize,
};
use crate::token::TokenAccessor;
use crate::transport::paged;

impl U115Client {
    pub(super) fn item(
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
    fn list_entry(&self, folder: &FileItem, entry: ListEntry) -> Option<FileItem> {
        let name = entry.name.0?;
        let kind = folder_or_file(entry.category.0.as_deref());
        let mut item = self.item(
            kind,
            join(&folder.path, &name),
            name,
            entry.id.0?,
            entry.parent.0.or_else(|| Some(folder.file_id.clone())),
        );
        if kind == FileKind::File {
            item.size = entry.size.0;
            if let Some(ext) = entry.extension.0 {
                item.extension = Some(ext.to_ascii_lowercase());
            }
        }
        item.modified = entry.modified.0.and_then(|t| i64::try_from(t).ok());
        extra(&mut item, entry.pick_code.0, entry.sha1.0);
        Some(item)
    }

    fn pick_code(&self, item: &FileItem) -> Result<String> {
        item.extra
            .get("pick_code")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                self.transport().refused(
                    "downloading",
                    ProviderErrorKind::Other,
                    "no-pick-code",
                    "the item carries no 115 pick code",
                )
            })
    }
}

#[async_trait::async_trait]
impl CloudStorage for U115Client {
    fn accessor(&self) -> &TokenAccessor {
        U115Client::accessor(self)
    }

    async fn usage(&self) -> Result<Usage> {
        let data = self
            .get("reading space usage", "/open/user/info", &[])
            .await?;
        let info: UserInfo = parse(data).unwrap_or_default();
        Ok(Usage {
            total: info.rt_space_info.all_total.size.0.unwrap_or(0),
            used: info.rt_space_info.all_use.size.0.unwrap_or(0),
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
        let page_size = self.page_size();
        paged(move |offset: Option<u64>| async move {
            let offset = offset.unwrap_or(0);
            let query = [
                ("cid", folder.file_id.clone()),
                ("limit", page_size.to_string()),
                ("offset", offset.to_string()),
                ("show_dir", "1".into()),
                ("cur", "1".into()),
            ];
            let answer: ListPage = self
                .get_envelope("listing a folder", "/open/ufile/files", &query)
                .await?;
            let count = answer.count.0.unwrap_or(0);
            let received = answer.data.len() as u64;
            let items = answer
                .data
                .into_iter()
                .filter_map(|e| self.list_entry(folder, e))
                .collect();
            let next = offset + received;
            Ok((items, (received > 0 && next < count).then_some(next)))
        })
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
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };
        // A missing path answers with empty data.
        if data.as_object().is_none_or(Map::is_empty) {
            return Ok(None);
        }
        let Some(info) = parse::<Info>(data) else {
            return Ok(None);
        };
        let Some(id) = info.file_id.0 else {
            return Ok(None);
        };
        let kind = folder_or_file(info.file_category.0.as_deref());
        let parent = info
            .paths
            .last()
            .and_then(|p| p.file_id.0.clone())
            .or_else(|| Some("0".into()));
        let name = info.file_name.0.unwrap_or_default();
        let mut item = self.item(kind, path, name, id, parent);
        if kind == FileKind::File {
            item.size = info.size_byte.0;
        }
        item.modified = info.utime.0.and_then(|t| i64::try_from(t).ok());
        extra(&mut item, info.pick_code.0, info.sha1.0);
        Ok(Some(item))
    }

    async fn make_folder(&self, parent: &FileItem, name: &str) -> Result<FileItem> {
        let operation = "making a folder";
        let result = self
            .post_data(
                operation,
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
                let id = parse::<api::Added>(data)
                    .and_then(|added| added.file_id.0)
                    .ok_or_else(|| {
                        self.transport()
                            .malformed(operation, "no file_id in the answer")
                    })?;
                Ok(self.item(
                    FileKind::Folder,
                    path,
                    name.to_owned(),
                    id,
                    Some(parent.file_id.clone()),
                ))
            }
            // The folder exists already — return it.
            Err(err) if err.is_already_exists() => existing_folder(self, &path, err).await,
            Err(err) => Err(err),
        }
    }

    async fn rename(&self, item: &FileItem, new_name: &str) -> Result<()> {
        let form = [
            ("file_id", item.file_id.clone()),
            ("file_name", new_name.to_owned()),
        ];
        self.post_data("renaming", "/open/ufile/update", &form)
            .await
            .map(drop)
    }

    async fn move_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        let form = [
            ("file_ids", item.file_id.clone()),
            ("to_cid", folder.file_id.clone()),
        ];
        self.post_data("moving", "/open/ufile/move", &form)
            .await
            .map(drop)
    }

    async fn copy_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        let form = [
            ("file_id", item.file_id.clone()),
            ("pid", folder.file_id.clone()),
        ];
        self.post_data("copying", "/open/ufile/copy", &form)
            .await
            .map(drop)
    }

    async fn delete(&self, item: &FileItem) -> Result<()> {
        let form = [("file_ids", item.file_id.clone())];
        self.post_data("deleting", "/open/ufile/delete", &form)
            .await
            .map(drop)
    }

    async fn download_url(&self, item: &FileItem) -> Result<DownloadLink> {
        let operation = "getting a download link";
        let pick_code = self.pick_code(item)?;
        let data = self
            .post_data(
                operation,
                "/open/ufile/downurl",
                &[("pick_code", pick_code)],
            )
            .await?;
        // Keyed by file id; the first entry when the id is not there.
        let mut links: Map<String, Value> = parse(data).unwrap_or_default();
        let entry = links
            .remove(&item.file_id)
            .or_else(|| links.into_iter().next().map(|(_, v)| v))
            .and_then(parse::<api::DownUrl>);
        let url = entry.and_then(|e| e.url.url.0).ok_or_else(|| {
            self.transport()
                .malformed(operation, "no url in the answer")
        })?;
        Ok(DownloadLink {
            url,
            // The link is bound to the User-Agent that asked for it.
            user_agent: Some(self.transport().http().options().user_agent.clone()),
            expires_at: None::<SystemTime>,
        })
    }

    async fn download(&self, item: &FileItem, dest: &Path, progress: Progress<'_>) -> Result<u64> {
        self.transport()
            .download(item, dest, || self.download_url(item), progress)
            .await
    }

    async fn upload(
        &self,
        local: &Path,
        folder: &FileItem,
        name: &str,
        options: &crate::transfer::UploadOptions,
        progress: crate::transfer::UploadProgress<'_>,
    ) -> Result<FileItem> {
        self.upload_file(local, folder, name, options, progress)
            .await
    }

    /// 115 logs in by QR code only.
    fn qr_login(&self) -> Option<&dyn QrLoginFlow> {
        Some(self)
    }
}

/// `"0"` is a folder, anything else a file.
fn folder_or_file(category: Option<&str>) -> FileKind {
    if category == Some("0") {
        FileKind::Folder
    } else {
        FileKind::File
    }
}

/// Puts 115's `pick_code` and `sha1` into the item's provider fields.
pub(super) fn extra(item: &mut FileItem, pick_code: Option<String>, sha1: Option<String>) {
    for (key, value) in [("pick_code", pick_code), ("sha1", sha1)] {
        if let Some(value) = value {
            item.extra.insert(key.into(), value.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::storage::normalize;

    #[test]
    fn paths() {
        assert_eq!(normalize("a//b/"), "/a/b");
    }
}
