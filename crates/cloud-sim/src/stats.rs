//! Request counters, readable from the handle and from `GET /__sim/stats`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters for one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccountStats {
    /// Authenticated resource requests and refresh attempts attributed to the account.
    pub requests: u64,
    /// Refresh attempts with one of the account's refresh tokens (successful or not).
    pub refresh_calls: u64,
    /// Successful refreshes (each rotated the refresh token).
    pub refreshes_ok: u64,
    /// Refreshes rejected because the token had already been rotated away
    /// (115 code 40140120, alipan `InvalidParameter.RefreshToken`).
    pub rejected_reuses: u64,
    /// Refreshes rejected because the token was expired or revoked.
    pub refresh_rejected_other: u64,
    /// Refreshes rejected by the minimum refresh interval (115 code 40140117).
    pub too_frequent: u64,
    /// Requests answered with a rate-limit answer (limit or injected).
    pub rate_limited: u64,
    /// Successful exchanges of a QR login (device code / authorisation code) for tokens,
    /// and tokens issued directly through the control API.
    pub token_exchanges: u64,
    /// Requests rejected because the access token was expired or revoked.
    pub expired_access: u64,
}

/// All counters of a simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Provider requests (control paths excluded).
    pub total_requests: u64,
    /// Provider requests per path (route template for paths with parameters, e.g.
    /// `/oauth/qrcode/{sid}/status`; download links count as `/__sim/dl`).
    pub paths: BTreeMap<String, u64>,
    /// Per-account counters, keyed by account name.
    pub accounts: BTreeMap<String, AccountStats>,
    /// Requests that a fault rule acted on.
    pub faults_injected: u64,
    /// Requests answered with a rate-limit answer.
    pub rate_limited: u64,
    /// Token refresh attempts with an unknown (never issued) refresh token.
    pub unknown_refresh_tokens: u64,
    /// Long-poll requests that were held (waited for a change or the timeout).
    pub long_polls_held: u64,
    /// Long-poll requests being held right now (a test can wait for this to reach the
    /// number of pollers before it changes their sessions).
    pub long_polls_waiting: u64,
    /// QR login sessions created.
    pub qr_sessions: u64,
}

impl Stats {
    /// Requests counted for `path` (zero when none).
    pub fn path(&self, path: &str) -> u64 {
        self.paths.get(path).copied().unwrap_or(0)
    }

    /// Counters of `account` (all zero when none).
    pub fn account(&self, account: &str) -> AccountStats {
        self.accounts.get(account).cloned().unwrap_or_default()
    }

    pub(crate) fn account_mut(&mut self, account: &str) -> &mut AccountStats {
        self.accounts.entry(account.to_owned()).or_default()
    }
}
