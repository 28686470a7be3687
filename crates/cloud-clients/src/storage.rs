//! The provider-neutral drive interface applications program against (MoviePilot's storage
//! base is the model), and the types it speaks in.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use futures::stream::BoxStream;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::login::{LoginKind, PasswordLogin, QrLoginFlow, describe_all};
use crate::state::TokenState;
use crate::token::TokenAccessor;

/// File or folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A regular file.
    File,
    /// A folder.
    Folder,
}

/// One file or folder on a drive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileItem {
    /// The storage type (`u115`, `alipan`).
    pub storage: String,
    /// File or folder.
    pub kind: FileKind,
    /// Absolute path; `/` is the root.
    pub path: String,
    /// The last path component (empty for the root).
    pub name: String,
    /// The extension without the dot (files only).
    pub extension: Option<String>,
    /// Size in bytes (files only).
    pub size: Option<u64>,
    /// Modification time, Unix seconds (serialized as RFC 3339, like every time in this
    /// library's serialized types).
    #[serde(serialize_with = "rfc3339_secs")]
    pub modified: Option<i64>,
    /// The provider's id of the item.
    pub file_id: String,
    /// The provider's id of the parent folder.
    pub parent_id: Option<String>,
    /// Provider-specific fields (115: `pick_code`, `sha1`; alipan: `drive_id`).
    pub extra: Map<String, Value>,
}

fn rfc3339_secs<S: serde::Serializer>(secs: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match secs {
        Some(secs) => s.serialize_str(&crate::util::format_timestamp_ms(
            u64::try_from(*secs).unwrap_or(0).saturating_mul(1000),
        )),
        None => s.serialize_none(),
    }
}

impl FileItem {
    /// Whether this is a folder.
    pub fn is_folder(&self) -> bool {
        self.kind == FileKind::Folder
    }
}

/// Space on a drive, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Total space.
    pub total: u64,
    /// Space in use.
    pub used: u64,
}

impl Usage {
    /// Space left.
    pub fn available(&self) -> u64 {
        self.total.saturating_sub(self.used)
    }
}

/// A QR login in progress: render [`qr_payload`](Self::qr_payload) as a QR code and poll.
#[derive(Clone, PartialEq, Eq)]
pub struct QrLogin {
    /// The text to encode in the QR code.
    pub qr_payload: String,
    /// Provider data needed to poll and finish the login (includes the PKCE verifier).
    pub(crate) session: Map<String, Value>,
}

impl fmt::Debug for QrLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrLogin")
            .field("qr_payload", &self.qr_payload)
            .finish_non_exhaustive()
    }
}

/// Where a QR login stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoginStatus {
    /// Not scanned yet.
    Waiting,
    /// Scanned; waiting for confirmation on the phone.
    Scanned,
    /// Confirmed: the tokens are saved.
    Confirmed,
    /// The QR code is no longer valid: start again.
    Expired,
    /// The user cancelled on the phone.
    Cancelled,
}

impl LoginStatus {
    /// Whether polling should stop.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            LoginStatus::Confirmed | LoginStatus::Expired | LoginStatus::Cancelled
        )
    }
}

/// A download link. Such links carry credentials, so `Debug` hides the URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DownloadLink {
    /// The URL to fetch.
    pub url: String,
    /// The `User-Agent` the link is bound to, when the provider binds it (115).
    pub user_agent: Option<String>,
    /// When the link stops working, if the provider says.
    pub expires_at: Option<SystemTime>,
}

impl fmt::Debug for DownloadLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadLink")
            .field("url", &"[redacted]")
            .field("user_agent", &self.user_agent)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Progress of a download: bytes so far, and the total when known.
pub type Progress<'a> = &'a mut (dyn FnMut(u64, Option<u64>) + Send);

/// A cloud drive whose login keeps itself alive. Every provider implements it.
#[async_trait::async_trait]
pub trait CloudStorage: Send + Sync + fmt::Debug {
    /// The storage type (`u115`, `alipan`, `u115-work`).
    fn storage_type(&self) -> &str {
        self.accessor().storage()
    }

    /// The provider's name for people (`115`, `Aliyun Drive (alipan)`), e.g. to say which
    /// phone app scans a QR code. By default the name the provider registered.
    fn display_name(&self) -> &str {
        crate::registry::display_name(self.storage_type())
    }

    /// The token accessor (state, watch, access token).
    fn accessor(&self) -> &TokenAccessor;

    /// The login state.
    fn login_state(&self) -> TokenState {
        self.accessor().state()
    }

    /// The logins this storage offers. By default: [`LoginKind::Qr`] when
    /// [`qr_login`](Self::qr_login) is offered, [`LoginKind::Password`] when
    /// [`password_login`](Self::password_login) is; a storage that takes a fixed token
    /// says so here.
    fn logins(&self) -> Vec<LoginKind> {
        let mut kinds = Vec::new();
        if self.qr_login().is_some() {
            kinds.push(LoginKind::Qr);
        }
        if self.password_login().is_some() {
            kinds.push(LoginKind::Password);
        }
        kinds
    }

    /// The QR login, when the provider has one (115, alipan).
    fn qr_login(&self) -> Option<&dyn QrLoginFlow> {
        None
    }

    /// The password login, when the provider has one (OpenList).
    fn password_login(&self) -> Option<&dyn PasswordLogin> {
        None
    }

    /// The QR login, or [`Error::LoginNotSupported`] naming the logins there are.
    fn require_qr_login(&self) -> Result<&dyn QrLoginFlow> {
        self.qr_login()
            .ok_or_else(|| self.login_not_supported(LoginKind::Qr))
    }

    /// The password login, or [`Error::LoginNotSupported`] naming the logins there are.
    fn require_password_login(&self) -> Result<&dyn PasswordLogin> {
        self.password_login()
            .ok_or_else(|| self.login_not_supported(LoginKind::Password))
    }

    /// The error for a login this storage does not offer.
    fn login_not_supported(&self, login: LoginKind) -> Error {
        Error::LoginNotSupported {
            storage: self.storage_type().to_owned(),
            login,
            supported: describe_all(&self.logins()),
        }
    }

    /// Starts a QR login ([`QrLoginFlow::start_qr_login`]);
    /// [`Error::LoginNotSupported`] when the storage has none.
    async fn start_qr_login(&self) -> Result<QrLogin> {
        self.require_qr_login()?.start_qr_login().await
    }

    /// Polls a QR login ([`QrLoginFlow::poll_qr_login`]);
    /// [`Error::LoginNotSupported`] when the storage has none.
    async fn poll_qr_login(&self, login: &QrLogin, timeout: Duration) -> Result<LoginStatus> {
        self.require_qr_login()?.poll_qr_login(login, timeout).await
    }

    /// Total and used space.
    async fn usage(&self) -> Result<Usage>;

    /// The root folder.
    fn root(&self) -> FileItem;

    /// Every item of `folder`, across all pages.
    fn list<'a>(&'a self, folder: &'a FileItem) -> BoxStream<'a, Result<FileItem>>;

    /// The item at `path`; `None` when nothing is there.
    async fn stat(&self, path: &str) -> Result<Option<FileItem>>;

    /// Makes folder `name` in `parent`; an existing folder of that name is returned.
    async fn make_folder(&self, parent: &FileItem, name: &str) -> Result<FileItem>;

    /// Makes every missing folder of `path` and returns the last.
    async fn make_path(&self, path: &str) -> Result<FileItem> {
        let mut folder = self.root();
        for name in path.split('/').filter(|p| !p.is_empty()) {
            let child = join(&folder.path, name);
            folder = match self.stat(&child).await? {
                Some(item) if item.is_folder() => item,
                _ => self.make_folder(&folder, name).await?,
            };
        }
        Ok(folder)
    }

    /// Renames `item`.
    async fn rename(&self, item: &FileItem, new_name: &str) -> Result<()>;

    /// Moves `item` into `folder`.
    async fn move_to(&self, item: &FileItem, folder: &FileItem) -> Result<()>;

    /// Copies `item` into `folder`.
    async fn copy_to(&self, item: &FileItem, folder: &FileItem) -> Result<()>;

    /// Deletes `item` (alipan: to the recycle bin).
    async fn delete(&self, item: &FileItem) -> Result<()>;

    /// A download link for a file.
    async fn download_url(&self, item: &FileItem) -> Result<DownloadLink>;

    /// Downloads a file to `dest`, reporting progress; returns the file's size.
    ///
    /// Bytes go to `DEST.part` first. A download that is interrupted (connection cut, link
    /// expired, a stall longer than the read timeout) continues from where it stopped, with a
    /// new link when needed; a `.part` left by an earlier run of the same remote file is
    /// continued with a `Range` request. The result is checked against the provider's size
    /// and SHA-1 (when it gives one) before it is renamed to `dest`, which is replaced if it
    /// exists (refuse that in the caller when it matters). See `docs/transfers.md`.
    async fn download(&self, item: &FileItem, dest: &Path, progress: Progress<'_>) -> Result<u64>;

    /// Uploads the local file `local` into `folder` as `name`; returns the new item.
    ///
    /// The file is streamed (part by part where the provider takes parts: memory stays at
    /// about two parts), every request takes a current token (an upload that outlives its
    /// access token refreshes once, in the middle), and a body that stops moving is given
    /// up and sent again (uploads have no deadline; `HttpOptions::read_timeout` is the idle
    /// limit). Where the provider's API allows it (115, alipan; not OpenList), content the
    /// provider already has is not sent again (instant upload), and an interrupted upload
    /// started again with the same file and destination sends only the parts the provider
    /// lacks. A missing or unreadable local file fails before anything is created
    /// remotely. Providers that cannot upload return [`Error::Unsupported`].
    async fn upload(
        &self,
        local: &Path,
        folder: &FileItem,
        name: &str,
        options: &crate::transfer::UploadOptions,
        progress: crate::transfer::UploadProgress<'_>,
    ) -> Result<FileItem> {
        let _ = (local, folder, name, options, progress);
        Err(Error::Unsupported {
            storage: self.storage_type().to_owned(),
            operation: "uploading".into(),
        })
    }
}

/// The folder at `path`, for a "make folder" whose name is taken: an existing folder is
/// returned, anything else is `taken`.
pub(crate) async fn existing_folder<S>(drive: &S, path: &str, taken: Error) -> Result<FileItem>
where
    S: CloudStorage + ?Sized,
{
    match drive.stat(path).await? {
        Some(item) if item.is_folder() => Ok(item),
        _ => Err(taken),
    }
}

/// `parent` + `/` + `name`.
pub fn join(parent: &str, name: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// `/a/b` for `a/b/`, `/a//b`, …
pub(crate) fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// The extension of a file name, without the dot.
pub(crate) fn extension(name: &str) -> Option<String> {
    name.rsplit_once('.')
        .map(|(stem, ext)| (stem, ext.to_ascii_lowercase()))
        .filter(|(stem, ext)| !stem.is_empty() && !ext.is_empty())
        .map(|(_, ext)| ext)
}
