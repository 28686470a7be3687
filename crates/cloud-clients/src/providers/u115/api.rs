//! 115's answers as types. Ids and numbers arrive as JSON numbers or strings, so every
//! field is read leniently; a field that is missing or of another type is `None`.

use serde::Deserialize;
use serde_json::Value;

use crate::json::{Int, Num, Text};

/// `data` of `/open/authDeviceCode`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct DeviceCode {
    pub uid: Text,
    pub time: Text,
    pub qrcode: Text,
    pub sign: Text,
}

/// `data` of the QR status long-poll (also sent with a failed poll).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct QrStatus {
    /// 0 waiting, 1 scanned, 2 confirmed, -1 expired, -2 cancelled.
    pub status: Int,
}

/// The QR status envelope's `state`: 0 / `false` means the code is gone.
pub(super) fn qr_gone(state: Option<&Value>) -> bool {
    matches!(state, Some(Value::Number(n)) if n.as_i64() == Some(0))
        || matches!(state, Some(Value::Bool(false)))
}

/// One page of `/open/ufile/files` (the whole envelope: `count` is beside `data`).
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct ListPage {
    pub data: Vec<ListEntry>,
    pub count: Num,
}

/// An entry of `/open/ufile/files`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct ListEntry {
    #[serde(rename = "fn")]
    pub name: Text,
    /// `"0"` folder, `"1"` file.
    #[serde(rename = "fc")]
    pub category: Text,
    #[serde(rename = "fid")]
    pub id: Text,
    #[serde(rename = "pid")]
    pub parent: Text,
    #[serde(rename = "fs")]
    pub size: Num,
    #[serde(rename = "ico")]
    pub extension: Text,
    #[serde(rename = "upt")]
    pub modified: Num,
    #[serde(rename = "pc")]
    pub pick_code: Text,
    pub sha1: Text,
}

/// `data` of `/open/folder/get_info`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct Info {
    pub file_name: Text,
    /// `"0"` folder, `"1"` file.
    pub file_category: Text,
    /// The ancestors, root first.
    pub paths: Vec<Ancestor>,
    pub file_id: Text,
    pub size_byte: Num,
    pub utime: Num,
    pub pick_code: Text,
    pub sha1: Text,
}

/// An ancestor in [`Info::paths`].
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct Ancestor {
    pub file_id: Text,
}

/// `data` of `/open/folder/add`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct Added {
    pub file_id: Text,
}

/// An entry of `/open/ufile/downurl`'s `data` (keyed by file id).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DownUrl {
    pub url: LinkUrl,
}

/// `url` of a [`DownUrl`].
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct LinkUrl {
    pub url: Text,
}

/// `data` of `/open/user/info`, the space part.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct UserInfo {
    pub rt_space_info: SpaceInfo,
}

/// `rt_space_info`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct SpaceInfo {
    pub all_total: Size,
    pub all_use: Size,
}

/// `{"size": …}`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct Size {
    pub size: Num,
}
