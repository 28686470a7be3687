//! What a PostgreSQL change notification says, on the wire.
//!
//! Channel [`CHANNEL`], payload a JSON object:
//!
//! * `{"origin": "<store id>", "key": "<key>"}` — the row of `key` changed (or was deleted);
//! * `{"origin": "<store id>", "all": true}` — reload everything (sent when the key is too
//!   long for PostgreSQL's payload limit of 8000 bytes).
//!
//! `origin` identifies the store that wrote, so a store can skip its own notifications; it
//! is optional, so other programs (a trigger, a script) can announce changes with just
//! `{"key": "…"}`. Unknown members are ignored. Anything else on the channel is not a
//! configuration change: the listener logs a warning and ignores it.

// Only the PostgreSQL listener reads notifications.
#![cfg_attr(not(feature = "postgres"), allow(dead_code))]

use serde::Deserialize;

/// The PostgreSQL channel on which every store announces its committed writes and listens
/// for the others' (channels are per database). Payload: `{"origin": "<store id>", "key":
/// "<key>"}`, or `{"origin": "<store id>", "all": true}` to ask for a full reload; `origin`
/// is optional, so another program can announce its own change of a key with
/// `SELECT pg_notify('systemconfig', json_build_object('key', 'Storages')::text)`.
pub const CHANNEL: &str = "systemconfig";

/// Largest payload sent. PostgreSQL refuses payloads of 8000 bytes or more (default build).
const MAX_PAYLOAD: usize = 7900;

/// What a notification asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Re-read this key.
    Key(String),
    /// Reload the whole table.
    All,
}

/// A parsed notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    /// The store that wrote, when it said.
    pub(crate) origin: Option<String>,
    pub(crate) target: Target,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    all: bool,
}

/// The payload announcing a committed change of `key` by the store `origin`.
pub(crate) fn for_key(origin: &str, key: &str) -> String {
    let payload = serde_json::json!({ "origin": origin, "key": key }).to_string();
    if payload.len() <= MAX_PAYLOAD {
        payload
    } else {
        serde_json::json!({ "origin": origin, "all": true }).to_string()
    }
}

/// Reads a payload; `Err` says why it is not a configuration notification.
pub(crate) fn parse(payload: &str) -> Result<Notice, String> {
    let wire: Wire =
        serde_json::from_str(payload).map_err(|e| format!("not the JSON expected: {e}"))?;
    let target = match (wire.key, wire.all) {
        (Some(key), false) => Target::Key(key),
        (None, true) => Target::All,
        (Some(_), true) => return Err("names a key and asks for everything".to_owned()),
        (None, false) => return Err("names no key".to_owned()),
    };
    Ok(Notice {
        origin: wire.origin,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_keys_of_every_kind() {
        for key in [
            "Storages",
            "plugin.X",
            "",
            "with \"quotes\" and \\ and\nnewline ✓",
            "*",
        ] {
            let payload = for_key("abc", key);
            assert_eq!(
                parse(&payload),
                Ok(Notice {
                    origin: Some("abc".to_owned()),
                    target: Target::Key(key.to_owned())
                })
            );
        }
    }

    #[test]
    fn huge_keys_fall_back_to_a_full_reload_under_the_limit() {
        let key = "k".repeat(8000);
        let payload = for_key("abc", &key);
        assert!(payload.len() < 8000);
        assert_eq!(parse(&payload).map(|n| n.target), Ok(Target::All));
        // Escaping grows a key: control characters take six bytes each.
        let key = "\u{1}".repeat(1500);
        assert!(for_key("abc", &key).len() < 8000);
    }

    #[test]
    fn foreign_and_malformed_payloads() {
        assert_eq!(
            parse(r#"{"key": "Storages", "extra": 1}"#),
            Ok(Notice {
                origin: None,
                target: Target::Key("Storages".to_owned())
            })
        );
        for bad in [
            "garbage",
            "",
            "null",
            "[]",
            "{}",
            r#"{"key": 5}"#,
            r#"{"key": "a", "all": true}"#,
            r#"{"all": false}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
