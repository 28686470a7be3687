//! alipan's requests and answers as types. Numbers and ids are read leniently (JSON
//! numbers or strings); a missing field is `None`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json::{Num, Text};

/// `POST /oauth/access_token`: a refresh or a code exchange. No `Debug`: it holds secrets.
#[derive(Serialize)]
pub(super) struct TokenRequest<'a> {
    pub client_id: &'a str,
    /// `refresh_token` or `authorization_code`.
    pub grant_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'a str>,
}

/// `POST /oauth/authorize/qrcode`. No `Debug`: it may hold the client secret.
#[derive(Serialize)]
pub(super) struct QrRequest<'a> {
    pub client_id: &'a str,
    pub scopes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<&'a str>,
}

/// The answer of `/oauth/authorize/qrcode`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct QrSession {
    pub sid: Text,
    #[serde(rename = "qrCodeUrl")]
    pub qr_code_url: Text,
}

/// The answer of `/oauth/qrcode/{sid}/status`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct QrStatus {
    /// `WaitLogin`, `ScanSuccess`, `LoginSuccess`, `QRCodeExpired`.
    pub status: Text,
    #[serde(rename = "authCode")]
    pub auth_code: Text,
}

/// A file object (list entries, `get_by_path`).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct File {
    pub name: Text,
    pub file_name: Text,
    /// `file` or `folder`.
    #[serde(rename = "type")]
    pub kind: Text,
    pub drive_id: Text,
    pub file_id: Text,
    pub parent_file_id: Text,
    pub file_extension: Text,
    pub size: Num,
    pub updated_at: Text,
    pub content_hash: Text,
    pub content_hash_name: Text,
    pub category: Text,
    /// `create` / `move` with `check_name_mode: refuse`: the name is taken.
    pub exist: Option<bool>,
}

/// One page of `openFile/list`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct ListPage {
    pub items: Vec<Value>,
    pub next_marker: Text,
}

/// The answer of `openFile/getDownloadUrl`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DownloadUrl {
    pub url: Text,
    pub expiration: Text,
}

/// The answer of `user/getSpaceInfo`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct SpaceInfo {
    pub personal_space_info: Space,
}

/// `personal_space_info`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct Space {
    pub total_size: Num,
    pub used_size: Num,
}

/// `user/getSpaceInfo`, `user/getDriveInfo`: an empty object.
#[derive(Debug, Serialize)]
pub(super) struct Empty {}

/// `openFile/list`.
#[derive(Debug, Serialize)]
pub(super) struct ListRequest<'a> {
    pub drive_id: &'a str,
    pub parent_file_id: &'a str,
    pub limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<&'a str>,
}

/// `openFile/get_by_path`.
#[derive(Debug, Serialize)]
pub(super) struct ByPath<'a> {
    pub drive_id: &'a str,
    pub file_path: &'a str,
}

/// `openFile/create` of a folder (`type: folder`, `check_name_mode: refuse`), and the
/// common part of a file's `create`.
#[derive(Debug, Serialize)]
pub(super) struct CreateFolder<'a> {
    pub drive_id: &'a str,
    pub parent_file_id: &'a str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub check_name_mode: &'static str,
}

/// `openFile/update` (rename), `openFile/move`, `openFile/copy`, `recyclebin/trash`,
/// `getDownloadUrl`: the item, and where it goes when it goes somewhere.
#[derive(Debug, Serialize)]
pub(super) struct ItemRequest<'a> {
    pub drive_id: &'a str,
    pub file_id: &'a str,
    /// Rename: the new name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    /// Copy: the target drive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_drive_id: Option<&'a str>,
    /// Move, copy: the target folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_parent_file_id: Option<&'a str>,
    /// Rename, move: `refuse` (never overwrite, never auto-rename).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_name_mode: Option<&'static str>,
}

impl<'a> ItemRequest<'a> {
    /// The item `file_id` on `drive_id`, nothing else.
    pub(super) fn new(drive_id: &'a str, file_id: &'a str) -> Self {
        Self {
            drive_id,
            file_id,
            name: None,
            to_drive_id: None,
            to_parent_file_id: None,
            check_name_mode: None,
        }
    }
}

/// One part number, as `create`, `getUploadUrl` and answers list them.
#[derive(Debug, Serialize)]
pub(super) struct PartNumber {
    pub part_number: u64,
}

/// `openFile/create` of a file: the pre-hash probe, the proof call, or a plain task.
#[derive(Debug, Serialize)]
pub(super) struct CreateFile<'a> {
    /// Where, under which name, `type: file`, and the conflict mode (`refuse`,
    /// `auto_rename` or `ignore`).
    #[serde(flatten)]
    pub target: CreateFolder<'a>,
    pub size: u64,
    pub part_info_list: Vec<PartNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof_version: Option<&'static str>,
}

/// A part and where to `PUT` it.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct PartUrl {
    pub part_number: Num,
    pub upload_url: Text,
}

/// The answer of a file `create` (and of `getUploadUrl`).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct Created {
    pub file_id: Text,
    pub file_name: Text,
    pub upload_id: Text,
    pub rapid_upload: Option<bool>,
    pub exist: Option<bool>,
    pub part_info_list: Vec<PartUrl>,
}

/// `getUploadUrl`, `listUploadedParts`, `complete`: one upload session.
#[derive(Debug, Serialize)]
pub(super) struct UploadRequest<'a> {
    pub drive_id: &'a str,
    pub file_id: &'a str,
    pub upload_id: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub part_info_list: Vec<PartNumber>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part_number_marker: Option<String>,
}

/// A part the provider holds.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct UploadedPart {
    pub part_number: Num,
}

/// One page of `listUploadedParts`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct UploadedParts {
    pub uploaded_parts: Vec<UploadedPart>,
    pub next_part_number_marker: Text,
}
