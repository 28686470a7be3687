//! API keys of `cloudctl serve`, stored in the configuration database.
//!
//! A key is `dk_` followed by 64 hex digits (256 random bits from the operating system's
//! CSPRNG through `rand`), printed once by `--new-key NAME`. Only its SHA-256 digest is
//! stored, with its name and creation time, as one JSON list under the `systemconfig` key
//! [`KEYS_KEY`] (`drivekeep.serve.api_keys`; MoviePilot's keys are CamelCase words and its
//! plugins use `plugin.<id>`, so it cannot collide):
//!
//! ```json
//! [{"name": "moviepilot", "sha256": "9f86d0…", "created": "2026-11-30T12:00:00Z"}]
//! ```
//!
//! A running server reads the list from the store's cache on every check, and the cache
//! follows other processes' writes (PostgreSQL `NOTIFY`, SQLite's change counter), so a key
//! created or revoked by another `cloudctl` process counts without a restart.
//!
//! Checking a key hashes it and compares the digest with every stored digest in constant
//! time (`subtle`), visiting every entry. Comparing digests rather than keys already
//! denies a timing oracle on the key itself (learning a digest prefix does not help find
//! a preimage); the constant-time compare is belt and braces.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use system_config::{SystemConfig, Write};

/// The `systemconfig` key holding the API key list.
pub const KEYS_KEY: &str = "drivekeep.serve.api_keys";

/// One stored key: never the key itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub name: String,
    /// Hex SHA-256 digest of the key.
    pub sha256: String,
    /// RFC 3339.
    pub created: String,
}

/// Errors of the key store commands.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("an API key named `{0}` exists already; revoke it first or pick another name")]
    Exists(String),
    #[error("no API key named `{0}`")]
    Missing(String),
    #[error("an API key name must be 1-64 letters, digits, `-`, `_` or `.`, got `{0}`")]
    BadName(String),
    #[error("the API key list under `{KEYS_KEY}` is not a list of keys: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] system_config::Error),
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

fn parse(value: Option<&Value>) -> Result<Vec<StoredKey>, KeyError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(value) => {
            serde_json::from_value(value.clone()).map_err(|e| KeyError::Malformed(e.to_string()))
        }
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A new random key.
pub fn generate() -> String {
    format!("dk_{}", hex::encode(rand::random::<[u8; 32]>()))
}

/// A random token for sessions and one-time links (256 bits, hex).
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Creates key `name`, stores its digest and returns the key (to be shown once).
pub async fn create(store: &SystemConfig, name: &str, created: String) -> Result<String, KeyError> {
    if !valid_name(name) {
        return Err(KeyError::BadName(name.to_owned()));
    }
    let key = generate();
    let entry = StoredKey {
        name: name.to_owned(),
        sha256: hex::encode(digest(&key)),
        created,
    };
    store
        .try_update(KEYS_KEY, |current| {
            let mut keys = parse(current)?;
            if keys.iter().any(|k| k.name == entry.name) {
                return Err(KeyError::Exists(entry.name.clone()));
            }
            keys.push(entry.clone());
            let value =
                serde_json::to_value(&keys).map_err(|e| KeyError::Malformed(e.to_string()))?;
            Ok((Write::Set(value), ()))
        })
        .await?;
    Ok(key)
}

/// Removes key `name`.
pub async fn revoke(store: &SystemConfig, name: &str) -> Result<(), KeyError> {
    store
        .try_update(KEYS_KEY, |current| {
            let mut keys = parse(current)?;
            let before = keys.len();
            keys.retain(|k| k.name != name);
            if keys.len() == before {
                return Err(KeyError::Missing(name.to_owned()));
            }
            let value =
                serde_json::to_value(&keys).map_err(|e| KeyError::Malformed(e.to_string()))?;
            Ok((Write::Set(value), ()))
        })
        .await?;
    Ok(())
}

/// The stored keys (names, digests, creation times), freshly read.
pub async fn list(store: &SystemConfig) -> Result<Vec<StoredKey>, KeyError> {
    parse(store.get_fresh(KEYS_KEY).await?.as_ref())
}

/// The name of the stored key matching `presented`, if any (from the store's cache).
pub fn check(store: &SystemConfig, presented: &str) -> Option<String> {
    let value = store.get_arc(KEYS_KEY).ok().flatten()?;
    let wanted = digest(presented);
    let mut found = None;
    for entry in value.as_array()?.iter() {
        let Some(stored) = entry
            .get("sha256")
            .and_then(Value::as_str)
            .and_then(|h| hex::decode(h).ok())
        else {
            continue;
        };
        if bool::from(stored.as_slice().ct_eq(&wanted[..])) && found.is_none() {
            found = entry.get("name").and_then(Value::as_str).map(str::to_owned);
        }
    }
    found
}

/// Whether key `name` is still stored (for sessions opened with it).
pub fn exists(store: &SystemConfig, name: &str) -> bool {
    store
        .get_arc(KEYS_KEY)
        .ok()
        .flatten()
        .and_then(|v| {
            v.as_array().map(|keys| {
                keys.iter()
                    .any(|k| k.get("name").and_then(Value::as_str) == Some(name))
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_and_distinct_and_names_checked() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 67);
        assert_ne!(a, b);
        assert!(valid_name("moviepilot-1.x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
    }
}
