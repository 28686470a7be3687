//! OpenList file operations: [`CloudStorage`] for [`AlistClient`]. Items are addressed
//! by path (OpenList has no stable ids): `file_id` is the path, `parent_id` the parent's.

use std::path::Path;

use futures::stream::BoxStream;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Map;

use super::api::{
    GetRequest, ListAnswer, ListRequest, MkdirRequest, Obj, RemoveRequest, RenameRequest,
    TransferRequest,
};
use super::client::AlistClient;
use crate::error::{Error, ProviderErrorKind, Result};
use crate::json::parse;
use crate::login::{LoginKind, PasswordLogin};
use crate::storage::{
    CloudStorage, DownloadLink, FileItem, FileKind, Progress, Usage, existing_folder, extension,
    join, normalize,
};
use crate::token::TokenAccessor;
use crate::transport::paged;
use crate::util::parse_timestamp;

/// The folder of `path` (`/` for top-level items).
fn parent_of(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_owned(),
        Some((parent, _)) => parent.to_owned(),
    }
}

/// Bytes kept as they are in a `/d` link path: RFC 3986's unreserved characters and `/`
/// (every segment percent-encoded, as OpenList's `utils.EncodePath` does).
const PATH_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// `path` with every segment percent-encoded, for a `/d` link or a `File-Path` header.
pub(super) fn escape_path(path: &str) -> String {
    utf8_percent_encode(path, PATH_KEEP).to_string()
}

impl AlistClient {
    /// A [`FileItem`] from an OpenList object in folder `parent`.
    fn item_in(&self, parent: &str, obj: Obj) -> FileItem {
        let path = join(parent, &obj.name);
        let file = !obj.is_dir;
        FileItem {
            storage: self.accessor().storage().to_owned(),
            kind: if file {
                FileKind::File
            } else {
                FileKind::Folder
            },
            extension: if file { extension(&obj.name) } else { None },
            size: file.then_some(obj.size),
            modified: parse_timestamp(&obj.modified),
            file_id: path.clone(),
            parent_id: Some(parent.to_owned()),
            name: obj.name,
            path,
            extra: Map::new(),
        }
    }

    /// The object at `path` as `/api/fs/get` gives it; `None` when nothing is there.
    async fn get(&self, path: &str) -> Result<Option<Obj>> {
        let request = GetRequest { path, password: "" };
        match self.post("reading an item", "/api/fs/get", &request).await {
            Ok(data) => Ok(Some(parse(data).unwrap_or_default())),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn transfer(
        &self,
        route: &str,
        operation: &str,
        item: &FileItem,
        folder: &FileItem,
    ) -> Result<()> {
        let src_dir = parent_of(&item.path);
        let request = TransferRequest {
            src_dir: &src_dir,
            dst_dir: &folder.path,
            names: [item.name.as_str()],
        };
        self.post(operation, route, &request).await.map(drop)
    }
}

#[async_trait::async_trait]
impl CloudStorage for AlistClient {
    fn logins(&self) -> Vec<LoginKind> {
        vec![LoginKind::Password, LoginKind::FixedToken]
    }

    fn password_login(&self) -> Option<&dyn PasswordLogin> {
        Some(self)
    }

    fn accessor(&self) -> &TokenAccessor {
        AlistClient::accessor(self)
    }

    /// OpenList reports no space usage (MoviePilot's `alist` storage has none either).
    async fn usage(&self) -> Result<Usage> {
        Err(self.transport().refused(
            "reading the space usage",
            ProviderErrorKind::Other,
            "unsupported",
            "OpenList reports no space usage",
        ))
    }

    /// `/`, addressed by its path like every item.
    fn root(&self) -> FileItem {
        let folder = Obj {
            is_dir: true,
            ..Obj::default()
        };
        let mut root = self.item_in("", folder);
        root.parent_id = None;
        root
    }

    fn list<'a>(&'a self, folder: &'a FileItem) -> BoxStream<'a, Result<FileItem>> {
        let per_page = self.page_size();
        paged(move |page: Option<u64>| async move {
            let page = page.unwrap_or(1);
            let request = ListRequest {
                path: &folder.path,
                password: "",
                page,
                per_page,
                refresh: false,
            };
            let data = self
                .post("listing a folder", "/api/fs/list", &request)
                .await?;
            let answer: ListAnswer = parse(data).unwrap_or_default();
            let objs = answer.content.unwrap_or_default();
            let more = !objs.is_empty() && page.saturating_mul(per_page) < answer.total;
            let items = objs
                .into_iter()
                .map(|o| self.item_in(&folder.path, o))
                .collect();
            Ok((items, more.then_some(page + 1)))
        })
    }

    async fn stat(&self, path: &str) -> Result<Option<FileItem>> {
        let path = normalize(path);
        if path == "/" {
            return Ok(Some(self.root()));
        }
        Ok(self
            .get(&path)
            .await?
            .map(|obj| self.item_in(&parent_of(&path), obj)))
    }

    async fn make_folder(&self, parent: &FileItem, name: &str) -> Result<FileItem> {
        let path = join(&parent.path, name);
        match self
            .post(
                "making a folder",
                "/api/fs/mkdir",
                &MkdirRequest { path: &path },
            )
            .await
        {
            Ok(_) => {}
            Err(err) if err.is_already_exists() => return existing_folder(self, &path, err).await,
            Err(err) => return Err(err),
        }
        match self.stat(&path).await? {
            Some(item) if item.is_folder() => Ok(item),
            _ => Err(self
                .transport()
                .malformed("making a folder", "the new folder cannot be found")),
        }
    }

    async fn rename(&self, item: &FileItem, new_name: &str) -> Result<()> {
        let request = RenameRequest {
            path: &item.path,
            name: new_name,
        };
        self.post("renaming", "/api/fs/rename", &request)
            .await
            .map(drop)
    }

    async fn move_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        self.transfer("/api/fs/move", "moving", item, folder).await
    }

    async fn copy_to(&self, item: &FileItem, folder: &FileItem) -> Result<()> {
        self.transfer("/api/fs/copy", "copying", item, folder).await
    }

    async fn delete(&self, item: &FileItem) -> Result<()> {
        let dir = parent_of(&item.path);
        let request = RemoveRequest {
            dir: &dir,
            names: [item.name.as_str()],
        };
        self.post("deleting", "/api/fs/remove", &request)
            .await
            .map(drop)
    }

    /// Fetches the link without the API token: it may point at a third-party host.
    /// One `PUT /api/fs/put` with the file streamed (see `upload.rs`): no instant upload and
    /// no resume across restarts, which OpenList's API does not offer.
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

    async fn download_url(&self, item: &FileItem) -> Result<DownloadLink> {
        let not_found = || Error::Provider {
            storage: self.accessor().storage().to_owned(),
            operation: "getting a download link".into(),
            kind: ProviderErrorKind::NotFound,
            code: "object not found".into(),
            message: format!("nothing at {}", item.path),
        };
        let obj = self.get(&item.path).await?.ok_or_else(not_found)?;
        let url = if obj.raw_url.is_empty() {
            let sign = if obj.sign.is_empty() {
                String::new()
            } else {
                format!("?sign={}", obj.sign)
            };
            format!("{}/d{}{sign}", self.server()?, escape_path(&item.path))
        } else {
            obj.raw_url
        };
        Ok(DownloadLink {
            url,
            user_agent: None,
            expires_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_paths_and_escapes() {
        // OpenList's times (Go's RFC 3339 with nanoseconds).
        assert_eq!(
            parse_timestamp("2024-05-17T13:47:55.4174917+08:00"),
            Some(1_715_924_875)
        );
        assert_eq!(parse_timestamp("2024-05-17T05:47:55Z"), Some(1_715_924_875));
        assert_eq!(parent_of("/a/b.mkv"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(escape_path("/a b/#1?.mkv"), "/a%20b/%231%3F.mkv");
    }
}
