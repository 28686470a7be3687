//! One element of the `Storages` list, and redaction of its secrets for display.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// One storage (drive) as MoviePilot stores it:
/// `{"type": "u115", "name": "115网盘", "config": {…}}`.
///
/// `type` and `name` may be null in real data and a missing `config` means `{}`; members
/// this crate does not know are kept in [`extra`](Self::extra) and written back unchanged.
/// `Debug` redacts every secret-looking config value (see [`redact_config`]).
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StorageConf {
    /// The storage type (`u115`, `alipan`, `local`, …), MoviePilot's `type`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The provider configuration: tokens, client ids, drive ids, …
    #[serde(default, deserialize_with = "null_as_empty")]
    pub config: Map<String, Value>,
    /// Members of the entry this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(d)?.unwrap_or_default())
}

impl StorageConf {
    /// A new entry with an empty config.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: Some(kind.into()),
            name: Some(name.into()),
            ..Self::default()
        }
    }
}

impl fmt::Debug for StorageConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageConf")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("config", &Value::Object(redact_config(&self.config)))
            .field("extra", &Value::Object(redact_config(&self.extra)))
            .finish()
    }
}

/// Whether a config member's name says it holds a secret.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    const PARTS: [&str; 10] = [
        "token",
        "password",
        "passwd",
        "secret",
        "cookie",
        "credential",
        "authorization",
        "session",
        "signature",
        "private",
    ];
    PARTS.iter().any(|p| name.contains(p))
        || name == "key"
        || name.ends_with("_key")
        || name.ends_with("apikey")
        || name == "sign"
        // rclone keeps a whole rclone.conf, tokens included, under `content`.
        || name == "content"
}

/// A copy of `config` fit to show: values of secret-looking members (`*token*`,
/// `*password*`, `*secret*`, `*cookie*`, `*_key`, rclone's `content`, …) become
/// `"[redacted]"`, and passwords inside URLs become `***`, at any depth.
///
/// ```
/// use serde_json::json;
/// let conf = json!({"access_token": "abc", "expires_in": 7200, "url": "http://u:pw@host"});
/// let shown = storage_helper::redact_config(conf.as_object().unwrap());
/// assert_eq!(shown["access_token"], "[redacted]");
/// assert_eq!(shown["expires_in"], 7200);
/// assert_eq!(shown["url"], "http://u:***@host/");
/// ```
pub fn redact_config(config: &Map<String, Value>) -> Map<String, Value> {
    config
        .iter()
        .map(|(k, v)| {
            let shown = if is_secret_name(k) && !v.is_null() {
                Value::String("[redacted]".into())
            } else {
                redact_value(v)
            };
            (k.clone(), shown)
        })
        .collect()
}

fn redact_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(redact_config(map)),
        Value::Array(items) => Value::Array(items.iter().map(redact_value).collect()),
        Value::String(s) if s.contains("://") && s.contains('@') => {
            Value::String(system_config::redact_url(s))
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_moviepilot_shape_with_unknown_members() {
        let raw = json!({"type": "u115", "name": "115网盘", "config": {"a": 1}, "extra": [1]});
        let conf: StorageConf = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(conf.kind.as_deref(), Some("u115"));
        assert_eq!(conf.extra["extra"], json!([1]));
        assert_eq!(serde_json::to_value(&conf).unwrap(), raw);
        // Serialised key order is MoviePilot's.
        let text = serde_json::to_string(&conf).unwrap();
        assert!(
            text.starts_with(r#"{"type":"u115","name":"115网盘","config""#),
            "{text}"
        );
    }

    #[test]
    fn accepts_nulls_and_missing_config() {
        let conf: StorageConf =
            serde_json::from_value(json!({"type": null, "name": null})).unwrap();
        assert_eq!((conf.kind, conf.name), (None, None));
        assert!(conf.config.is_empty());
        let conf: StorageConf =
            serde_json::from_value(json!({"type": "x", "config": null})).unwrap();
        assert!(conf.config.is_empty());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let conf: StorageConf = serde_json::from_value(json!({
            "type": "alipan", "name": "a",
            "config": {
                "access_token": "AT-SECRET", "refresh_token": "RT-SECRET", "expires_in": 7200,
                "password": "PW-SECRET", "nested": {"client_secret": "CS-SECRET"},
                "content": "[remote]\ntoken = {\"access_token\":\"RC-SECRET\"}",
                "url": "https://user:URL-SECRET@alist.local/"
            },
            "cookie": "CK-SECRET"
        }))
        .unwrap();
        let shown = format!("{conf:?} {conf:#?}");
        for secret in [
            "AT-SECRET",
            "RT-SECRET",
            "PW-SECRET",
            "CS-SECRET",
            "RC-SECRET",
            "URL-SECRET",
            "CK-SECRET",
        ] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("7200"));
    }
}
