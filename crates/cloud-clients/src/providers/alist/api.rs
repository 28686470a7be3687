//! OpenList's request and answer types (serde), as the spec and the server source give
//! them. Answers are read leniently: a missing field takes its default.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The envelope of every `/api` answer: `{code, message, data}`, HTTP 200 throughout.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    /// The real status (200: success).
    pub code: i64,
    /// `success`, or the error text.
    #[serde(default)]
    pub message: String,
    /// The payload (`null` on errors and for many writes).
    #[serde(default)]
    pub data: Value,
}

/// `POST /api/auth/login/hash`. No `Debug`: it carries the password hash.
#[derive(Serialize)]
pub(crate) struct LoginRequest<'a> {
    pub username: &'a str,
    /// `hex(sha256(password + "-https://github.com/alist-org/alist"))`.
    pub password: &'a str,
    pub otp_code: &'a str,
}

/// The `data` of a successful login. No `Debug`: it carries the session token.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct LoginAnswer {
    pub token: String,
}

/// The claims of the session JWT this client reads (its lifetime).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Claims {
    pub exp: Option<i64>,
    pub iat: Option<i64>,
}

/// `POST /api/fs/list`.
#[derive(Debug, Serialize)]
pub(crate) struct ListRequest<'a> {
    pub path: &'a str,
    pub password: &'a str,
    pub page: u64,
    pub per_page: u64,
    pub refresh: bool,
}

/// `POST /api/fs/get`.
#[derive(Debug, Serialize)]
pub(crate) struct GetRequest<'a> {
    pub path: &'a str,
    pub password: &'a str,
}

/// One file or folder of a listing or a `get`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct Obj {
    pub name: String,
    pub size: u64,
    pub is_dir: bool,
    /// RFC 3339 with up to nine fractional digits.
    pub modified: String,
    /// The download sign (empty for folders or when none is needed). Not shown in `Debug`.
    pub sign: String,
    /// Only in `get`: the download URL (signed).
    pub raw_url: String,
}

/// The `data` of `/api/fs/list`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ListAnswer {
    /// `null` when the page is empty.
    pub content: Option<Vec<Obj>>,
    /// Items in the folder, counted before paging.
    pub total: u64,
}

/// `POST /api/fs/mkdir`.
#[derive(Debug, Serialize)]
pub(crate) struct MkdirRequest<'a> {
    pub path: &'a str,
}

/// `POST /api/fs/rename`.
#[derive(Debug, Serialize)]
pub(crate) struct RenameRequest<'a> {
    pub path: &'a str,
    pub name: &'a str,
}

/// `POST /api/fs/move` and `/api/fs/copy`.
#[derive(Debug, Serialize)]
pub(crate) struct TransferRequest<'a> {
    pub src_dir: &'a str,
    pub dst_dir: &'a str,
    pub names: [&'a str; 1],
}

/// `POST /api/fs/remove`.
#[derive(Debug, Serialize)]
pub(crate) struct RemoveRequest<'a> {
    pub dir: &'a str,
    pub names: [&'a str; 1],
}
