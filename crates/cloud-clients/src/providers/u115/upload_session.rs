//! The 115 side of an upload (`../shared/spec/upload.md` §2): `init` (with the second
//! verification's fields), `resume`, `get_token`, and the upload session kept for resuming
//! after a restart. The flow that uses them is in `upload.rs`.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::client::U115Client;
use super::oss::Credentials;
use super::oss::sign::OssSecret;
use crate::error::Result;
use crate::json::{Int, Text, parse};

/// `data` of `/open/upload/init` and `/open/upload/resume`.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct InitData {
    pub pick_code: Text,
    /// 1 upload needed, 2 instant upload done, 6/7/8 second verification.
    pub status: Int,
    /// 700/701/702 with the second verification (MoviePilot reads it).
    pub code: Int,
    pub sign_key: Text,
    /// `"S-E"`: the inclusive byte range to hash.
    pub sign_check: Text,
    /// The new file's id after an instant upload.
    pub file_id: Text,
    pub target: Text,
    pub bucket: Text,
    pub object: Text,
    /// `{"callback": "<JSON text>", "callback_var": "<JSON text>"}`, or `[]` when absent.
    pub callback: Value,
}

impl InitData {
    /// A second-verification challenge: status 6/7 or code 700/701, with a range.
    pub fn challenge(&self) -> Option<(String, u64, u64)> {
        let asks = matches!(self.status.0, Some(6 | 7)) || matches!(self.code.0, Some(700 | 701));
        let key = self.sign_key.0.clone()?;
        let (start, end) = self.sign_check.0.as_deref()?.trim().split_once('-')?;
        let (start, end) = (start.trim().parse().ok()?, end.trim().parse().ok()?);
        (asks && start <= end).then_some((key, start, end))
    }

    /// Whether 115 refused the second verification (status 8 / code 702).
    pub fn verification_failed(&self) -> bool {
        self.status.0 == Some(8) || self.code.0 == Some(702)
    }

    /// The callback strings, exactly as issued.
    pub fn callback(&self) -> Option<(String, String)> {
        let text = |v: Option<&Value>| match v? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Object(o) => Some(Value::Object(o.clone()).to_string()),
            _ => None,
        };
        Some((
            text(self.callback.get("callback"))?,
            text(self.callback.get("callback_var"))?,
        ))
    }

    /// Where the data goes, when the answer says (status 1, resume).
    pub fn destination(&self) -> Option<Destination> {
        let (callback, callback_var) = self.callback()?;
        Some(Destination {
            pick_code: self.pick_code.0.clone()?,
            bucket: self.bucket.0.clone()?,
            object: self.object.0.clone()?,
            callback,
            callback_var,
        })
    }
}

impl InitData {
    /// The answer to a second verification (`self`), with the first answer's destination
    /// where it lacks one (as MoviePilot; OpenList uses the second's).
    pub fn or_first(mut self, first: InitData) -> InitData {
        if self.destination().is_none() && self.status.0 != Some(2) {
            self.bucket = first.bucket;
            self.object = first.object;
            self.callback = first.callback;
            if self.pick_code.0.is_none() {
                self.pick_code = first.pick_code;
            }
        }
        self
    }
}

/// Where an upload's data goes and how OSS tells 115 about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Destination {
    pub pick_code: String,
    pub bucket: String,
    pub object: String,
    pub callback: String,
    pub callback_var: String,
}

/// What a resumable upload session keeps (no secret: the STS credentials are fetched
/// again, the callback comes again from `resume`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Kept {
    pub pick_code: String,
    pub target: String,
    pub bucket: String,
    pub object: String,
    pub upload_id: String,
    /// The file's SHA-1 (upper case), as sent to `init`.
    pub sha1: String,
}

impl Kept {
    pub fn ids(&self) -> Map<String, Value> {
        let mut ids = Map::new();
        for (key, value) in [
            ("pick_code", &self.pick_code),
            ("target", &self.target),
            ("bucket", &self.bucket),
            ("object", &self.object),
            ("upload_id", &self.upload_id),
            ("sha1", &self.sha1),
        ] {
            ids.insert(key.into(), value.clone().into());
        }
        ids
    }

    pub fn from_ids(ids: &Map<String, Value>) -> Option<Kept> {
        let text = |k: &str| {
            ids.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        Some(Kept {
            pick_code: text("pick_code")?,
            target: text("target")?,
            bucket: text("bucket")?,
            object: text("object")?,
            upload_id: text("upload_id")?,
            sha1: text("sha1")?,
        })
    }
}

/// A field of `get_token`'s answer, whatever the case of its name (`Expiration` and
/// `expiration` are both seen; the docs misspell `AccessKeySecrett`).
fn field(data: &Value, names: &[&str]) -> Option<String> {
    let object = data.as_object()?;
    names.iter().find_map(|name| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| crate::json::text(v))
    })
}

/// `Expiration`: ISO-8601 UTC (`2025-01-01T01:00:00Z`), or Unix seconds.
fn expiration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(secs.saturating_mul(1000));
    }
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

impl U115Client {
    /// `POST /open/upload/init`.
    pub(super) async fn upload_init(&self, form: &[(&str, String)]) -> Result<InitData> {
        let data = self
            .post_data("starting an upload", "/open/upload/init", form)
            .await?;
        Ok(parse(data).unwrap_or_default())
    }

    /// `POST /open/upload/resume`: the destination of an upload 115 still knows.
    pub(super) async fn upload_resume(&self, kept: &Kept, size: u64) -> Result<InitData> {
        let form = [
            ("file_size", size.to_string()),
            ("target", kept.target.clone()),
            ("fileid", kept.sha1.clone()),
            ("pick_code", kept.pick_code.clone()),
        ];
        let data = self
            .post_data("resuming an upload", "/open/upload/resume", &form)
            .await?;
        Ok(parse(data).unwrap_or_default())
    }

    /// `GET /open/upload/get_token`: fresh STS credentials for OSS.
    pub(crate) async fn sts_credentials(&self) -> Result<Credentials> {
        let operation = "getting upload credentials";
        let data = self.get(operation, "/open/upload/get_token", &[]).await?;
        let received_ms = self.accessor().now_ms();
        let text = |names: &[&str]| field(&data, names);
        let (Some(endpoint), Some(id), Some(secret), Some(token)) = (
            text(&["endpoint"]),
            text(&["AccessKeyId"]),
            text(&["AccessKeySecret", "AccessKeySecrett"]),
            text(&["SecurityToken"]),
        ) else {
            return Err(self.transport().malformed(
                operation,
                "the answer lacks endpoint, AccessKeyId, AccessKeySecret or SecurityToken",
            ));
        };
        Ok(Credentials {
            endpoint,
            access_key_id: id,
            access_key_secret: OssSecret::new(secret),
            security_token: OssSecret::new(token),
            expires_ms: text(&["Expiration"]).and_then(|e| expiration_ms(&e)),
            received_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn init_answers() {
        let challenge: InitData = parse(json!({
            "status": 7, "code": 701, "sign_key": "k1", "sign_check": "1-3", "pick_code": "pc",
            "bucket": "b", "object": "o",
            "callback": {"callback": "{\"callbackUrl\":\"u\"}", "callback_var": "{\"x:a\":\"1\"}"}
        }))
        .expect("parsed");
        assert_eq!(challenge.challenge(), Some(("k1".into(), 1, 3)));
        assert_eq!(
            challenge.destination().map(|d| d.callback),
            Some("{\"callbackUrl\":\"u\"}".into())
        );
        let failed: InitData = parse(json!({"status": 8, "code": 702})).expect("parsed");
        assert!(failed.verification_failed() && failed.challenge().is_none());
        // MoviePilot's trigger (`data.code`) alone is enough; a reversed range is not.
        let by_code: InitData =
            parse(json!({"code": "700", "sign_key": "k", "sign_check": "0-0"})).expect("parsed");
        assert_eq!(by_code.challenge(), Some(("k".into(), 0, 0)));
        let reversed: InitData =
            parse(json!({"status": 7, "sign_key": "k", "sign_check": "5-4"})).expect("parsed");
        assert_eq!(reversed.challenge(), None);
        // `callback: []` (absent): no destination.
        let instant: InitData =
            parse(json!({"status": 2, "file_id": 42, "pick_code": "p", "callback": []}))
                .expect("parsed");
        assert_eq!(instant.destination(), None);
        assert_eq!(instant.file_id.0.as_deref(), Some("42"));
    }

    #[test]
    fn sessions_keep_ids_only() {
        let kept = Kept {
            pick_code: "pc".into(),
            target: "U_1_0".into(),
            bucket: "b".into(),
            object: "o".into(),
            upload_id: "u".into(),
            sha1: "S".into(),
        };
        assert_eq!(Kept::from_ids(&kept.ids()), Some(kept.clone()));
        let mut partial = kept.ids();
        partial.remove("upload_id");
        assert_eq!(Kept::from_ids(&partial), None);
    }

    #[test]
    fn token_fields_and_expiry() {
        let data = json!({"endpoint": "http://127.0.0.1:1", "accesskeyid": "STS.a",
                          "AccessKeySecrett": "s", "SecurityToken": "t",
                          "expiration": "2025-01-01T01:00:00Z"});
        assert_eq!(field(&data, &["AccessKeyId"]).as_deref(), Some("STS.a"));
        assert_eq!(
            field(&data, &["AccessKeySecret", "AccessKeySecrett"]).as_deref(),
            Some("s")
        );
        assert_eq!(
            field(&data, &["Expiration"]).and_then(|e| expiration_ms(&e)),
            Some(1_735_693_200_000)
        );
        assert_eq!(
            expiration_ms("2025-01-01T01:00:00.500Z"),
            Some(1_735_693_200_500)
        );
        assert_eq!(expiration_ms("1735693200"), Some(1_735_693_200_000));
        assert_eq!(expiration_ms("soon"), None);
    }
}
