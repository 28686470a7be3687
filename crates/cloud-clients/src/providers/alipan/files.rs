//! alipan file operations: [`CloudStorage`] for [`AlipanClient`] (its QR login is in
//! `qr.rs`).

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use futures::stream::BoxStream;
use serde_json::{Map, Value};

use super::api::{self, DownloadUrl, ListPage, SpaceInfo};
use super::client::AlipanClient;
use super::{code, parse_timestamp};
use crate::error::{ProviderErrorKind, Result};
use crate::json::parse;
use crate::login::QrLoginFlow;
use crate::storage::{
    CloudStorage, DownloadLink, FileItem, FileKind, Progress, Usage, existing_folder, extension,
    join, normalize,
};
use crate::token::TokenAccessor;
use crate::transport::paged;

impl AlipanClient {
    /// A [`FileItem`] from an alipan file object, at `path`.
    pub(super) fn item_at(&self, path: String, entry: api::File, drive: &str) -> Option<FileItem> {
        let name = entry.name.0.or(entry.file_name.0)?;
        let kind = if entry.kind.0.as_deref() == Some("folder") {
            FileKind::Folder
        } else {
            FileKind::File
        };
        let mut extra = Map::new();
        extra.insert(
            "drive_id".into(),
            entry.drive_id.0.unwrap_or_else(|| drive.to_owned()).into(),
        );
        for (key, value) in [
            ("content_hash", entry.content_hash.0),
            ("content_hash_name", entry.content_hash_name.0),
            ("category", entry.category.0),
        ] {
            if let Some(value) = value {
                extra.insert(key.into(), value.into());
            }
        }
        let file = kind == FileKind::File;
        Some(FileItem {
            storage: self.accessor().storage().to_owned(),
            extension: if file {
                entry
                    .file_extension
                    .0
                    .map(|e| e.to_ascii_lowercase())
                    .or_else(|| extension(&name))
            } else {
                None
            },
            kind,
            path,
            name,
            size: if file { entry.size.0 } else { None },
            modified: entry.updated_at.0.as_deref().and_then(parse_timestamp),
            file_id: entry.file_id.0?,
            parent_id: entry.parent_file_id.0,
            extra,
        })
    }

    /// The drive an item lives on (its own `drive_id`, else the configured drive).
    pub(super) async fn drive_of(&self, item: &FileItem) -> Result<String> {
        match item.extra.get("drive_id").and_then(Value::as_str) {
            Some(drive) if !drive.is_empty() => Ok(drive.to_owned()),
            _ => self.drive_id().await,
        }
    }
}

#[async_trait::async_trait]
impl CloudStorage for AlipanClient {
    fn qr_login(&self) -> Option<&dyn QrLoginFlow> {
        Some(self)
    }

    fn accessor(&self) -> &TokenAccessor {
        AlipanClient::accessor(self)
    }

    async fn usage(&self) -> Result<Usage> {
        let path = "/adrive/v1.0/user/getSpaceInfo";
        let answer = self
            .post("reading space usage", path, None, &api::Empty {})
            .await?;
        let space = parse::<SpaceInfo>(answer)
            .unwrap_or_default()
            .personal_space_info;
        Ok(Usage {
            total: space.total_size.0.unwrap_or(0),
            used: space.used_size.0.unwrap_or(0),
        })
    }

    fn root(&self) -> FileItem {
        let mut extra = Map::new();
        if let Some(drive) = self
            .transport()
            .handle()
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
        let limit = self.page_size();
        paged(move |marker: Option<String>| async move {
            let drive = self.drive_of(folder).await?;
            let body = api::ListRequest {
                drive_id: &drive,
                parent_file_id: &folder.file_id,
                limit,
                marker: marker.as_deref(),
            };
            let path = "/adrive/v1.0/openFile/list";
            let answer = self
                .post("listing a folder", path, Some(&drive), &body)
                .await?;
            let answer: ListPage = parse(answer).unwrap_or_default();
            let received = answer.items.len();
            let items = answer
                .items
                .into_iter()
                .filter_map(|entry| {
                    let entry: api::File = parse(entry)?;
                    let name = entry.name.0.clone()?;
                    self.item_at(join(&folder.path, &name), entry, &drive)
                })
                .collect();
            // Guard against a server that repeats its marker.
            let next = answer
                .next_marker
                .0
                .filter(|next| Some(next) != marker.as_ref());
            Ok((items, next.filter(|_| received > 0)))
        })
    }

    async fn stat(&self, path: &str) -> Result<Option<FileItem>> {
        let path = normalize(path);
        if path == "/" {
            return Ok(Some(self.root()));
        }
        let drive = self.drive_id().await?;
        let body = api::ByPath {
            drive_id: &drive,
            file_path: &path,
        };
        let answer = match self
            .post(
                "reading file information",
                "/adrive/v1.0/openFile/get_by_path",
                Some(&drive),
                &body,
            )
            .await
        {
            Ok(answer) => answer,
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };
        if !answer.is_object() {
            return Ok(None);
        }
        Ok(parse(answer).and_then(|file| self.item_at(path, file, &drive)))
    }

    async fn make_folder(&self, parent: &FileItem, name: &str) -> Result<FileItem> {
        let operation = "making a folder";
        let drive = self.drive_of(parent).await?;
        let body = api::CreateFolder {
            drive_id: &drive,
            parent_file_id: &parent.file_id,
            name,
            kind: "folder",
            check_name_mode: "refuse",
        };
        let path = "/adrive/v1.0/openFile/create";
        let answer = self.post(operation, path, Some(&drive), &body).await?;
        let path = join(&parent.path, name);
        let created: api::File = parse(answer).unwrap_or_default();
        if created.exist == Some(true) {
            // The name is taken: an existing folder is returned, a file is an error.
            let taken = self.transport().refused(
                operation,
                ProviderErrorKind::AlreadyExists,
                code::ALREADY_EXIST_FILE,
                "a file of that name exists",
            );
            return existing_folder(self, &path, taken).await;
        }
        let id = created.file_id.0.ok_or_else(|| {
            self.transport()
                .malformed(operation, "no file_id in the answer")
        })?;
        let mut extra = Map::new();
        extra.insert("drive_id".into(), drive.into());
        Ok(FileItem {
            storage: self.accessor().storage().to_owned(),
            kind: FileKind::Folder,
            path,
            name: created.file_name.0.unwrap_or_else(|| name.to_owned()),
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
        let body = api::ItemRequest {
            name: Some(new_name),
            check_name_mode: Some("refuse"),
            ..api::ItemRequest::new(&drive, &item.file_id)
        };
        let path = "/adrive/v1.0/openFile/update";
        self.post("renaming", path, Some(&drive), &body)
            .await
            .map(drop)
    }

    async fn move_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        let drive = self.drive_of(item).await?;
        let body = api::ItemRequest {
            to_parent_file_id: Some(&folder.file_id),
            check_name_mode: Some("refuse"),
            ..api::ItemRequest::new(&drive, &item.file_id)
        };
        let path = "/adrive/v1.0/openFile/move";
        let answer = self.post("moving", path, Some(&drive), &body).await?;
        if parse::<api::File>(answer).is_some_and(|moved| moved.exist == Some(true)) {
            return Err(self.transport().refused(
                "moving",
                ProviderErrorKind::AlreadyExists,
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
        let body = api::ItemRequest {
            to_drive_id: Some(&drive),
            to_parent_file_id: Some(&folder.file_id),
            ..api::ItemRequest::new(&drive, &item.file_id)
        };
        let path = "/adrive/v1.0/openFile/copy";
        self.post("copying", path, Some(&drive), &body)
            .await
            .map(drop)
    }

    async fn delete(&self, item: &FileItem) -> Result<()> {
        let drive = self.drive_of(item).await?;
        let body = api::ItemRequest::new(&drive, &item.file_id);
        let path = "/adrive/v1.0/openFile/recyclebin/trash";
        self.post("deleting", path, Some(&drive), &body)
            .await
            .map(drop)
    }

    async fn download_url(&self, item: &FileItem) -> Result<DownloadLink> {
        let operation = "getting a download link";
        let drive = self.drive_of(item).await?;
        let body = api::ItemRequest::new(&drive, &item.file_id);
        let path = "/adrive/v1.0/openFile/getDownloadUrl";
        let answer = self.post(operation, path, Some(&drive), &body).await?;
        let link: DownloadUrl = parse(answer).unwrap_or_default();
        let url = link.url.0.ok_or_else(|| {
            self.transport()
                .malformed(operation, "no url in the answer")
        })?;
        let expires_at = link
            .expiration
            .0
            .as_deref()
            .and_then(parse_timestamp)
            .and_then(|secs| u64::try_from(secs).ok())
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs));
        Ok(DownloadLink {
            url,
            user_agent: None,
            expires_at,
        })
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

    async fn download(&self, item: &FileItem, dest: &Path, progress: Progress<'_>) -> Result<u64> {
        self.transport()
            .download(item, dest, || self.download_url(item), progress)
            .await
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
