//! Public views of accounts, tokens and QR sessions, and random token generation.
//!
//! Token values are secrets even in a simulator: the `Debug` output of every type here
//! that carries one prints `[redacted]`, so a `{:?}` in a test log never leaks a token
//! that a downstream application might copy into its own fixtures.

use std::fmt;

use rand::RngExt as _;
use rand::distr::Alphanumeric;
use serde::Serialize;

/// A random alphanumeric string of `len` characters (tokens, codes, ids).
pub(crate) fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A random lower-case hex string of `len` characters.
pub(crate) fn random_hex(len: usize) -> String {
    const HEX: &[u8] = b"0123456789abcdef";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(HEX[rng.random_range(0..HEX.len())]))
        .collect()
}

/// Tokens issued to an account, as the provider would return them.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct TokenPair {
    /// The access token (`Authorization: Bearer …`).
    pub access_token: String,
    /// The refresh token; `None` for an alipan PKCE login without client secret.
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Which of an alipan account's drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriveKind {
    /// The default drive (`default_drive_id`, also reported as `backup_drive_id`). The only
    /// drive of a 115 account.
    Default,
    /// The resource drive (`resource_drive_id`), alipan only.
    Resource,
}

/// A simulated account and its live credentials.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    /// The name tests use to refer to the account.
    pub name: String,
    /// The provider user id (`user_id`).
    pub user_id: String,
    /// The display name (`user_name` / `name`).
    pub display_name: String,
    /// The default drive id (alipan; 115 has one implicit drive).
    pub default_drive_id: String,
    /// The resource drive id (alipan, when granted).
    pub resource_drive_id: Option<String>,
    /// The refresh token that is live now; every other one issued to the account is dead.
    pub live_refresh_token: Option<String>,
    /// When the live refresh token expires (Unix seconds, simulated clock).
    pub refresh_expires_at: Option<u64>,
    /// The most recently issued access token.
    pub latest_access_token: Option<String>,
    /// When the most recently issued access token expires (Unix seconds, simulated clock).
    pub access_expires_at: Option<u64>,
    /// Whether the account's authorisation was revoked through the control API.
    pub revoked: bool,
}

impl fmt::Debug for AccountInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountInfo")
            .field("name", &self.name)
            .field("user_id", &self.user_id)
            .field("display_name", &self.display_name)
            .field("default_drive_id", &self.default_drive_id)
            .field("resource_drive_id", &self.resource_drive_id)
            .field(
                "live_refresh_token",
                &self.live_refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("refresh_expires_at", &self.refresh_expires_at)
            .field(
                "latest_access_token",
                &self.latest_access_token.as_ref().map(|_| "[redacted]"),
            )
            .field("access_expires_at", &self.access_expires_at)
            .field("revoked", &self.revoked)
            .finish()
    }
}

/// The state of a QR login session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QrState {
    /// Shown, not scanned yet (115 status 0, alipan `WaitLogin`).
    Waiting,
    /// Scanned, waiting for confirmation on the phone (115 status 1, alipan `ScanSuccess`).
    Scanned,
    /// Confirmed (115 status 2, alipan `LoginSuccess`); can be exchanged for tokens.
    Confirmed,
    /// Cancelled on the phone.
    Cancelled,
    /// Ran past its lifetime or expired through the control API.
    Expired,
    /// Already exchanged for tokens.
    Consumed,
}

impl QrState {
    /// Whether the session can still change (waiting or scanned).
    pub fn is_pending(self) -> bool {
        matches!(self, QrState::Waiting | QrState::Scanned)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            QrState::Waiting => "waiting",
            QrState::Scanned => "scanned",
            QrState::Confirmed => "confirmed",
            QrState::Cancelled => "cancelled",
            QrState::Expired => "expired",
            QrState::Consumed => "consumed",
        }
    }
}

/// A QR login session as the control API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QrInfo {
    /// The session id: 115 `uid`, alipan `sid`.
    pub id: String,
    /// Its state now.
    pub state: QrState,
    /// The account it was confirmed as, once confirmed.
    pub account: Option<String>,
    /// The `client_id` that asked for it.
    pub client_id: String,
    /// When it expires (Unix seconds, simulated clock).
    pub expires_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_tokens() {
        let pair = TokenPair {
            access_token: "secret-access".into(),
            refresh_token: Some("secret-refresh".into()),
            expires_in: 7200,
        };
        let shown = format!("{pair:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn random_strings_differ_and_have_length() {
        let a = random_string(48);
        let b = random_string(48);
        assert_eq!(a.len(), 48);
        assert_ne!(a, b);
        assert_eq!(random_hex(40).len(), 40);
    }
}
