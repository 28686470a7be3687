//! [`LoginSummary`]: where a storage's login stands, read from its stored entry by the same
//! rules the accessor uses — for status commands and UIs that do not hold an accessor.

use serde::Serialize;
use serde_json::{Map, Value};

use super::entry::{Marks, lease_of};
use crate::tokens::{ExpiryMargin, Stored};

/// The state of a stored login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SummaryState {
    /// No token is stored.
    LoggedOut,
    /// The access token is valid and not due.
    Valid,
    /// The access token is due or expired; the next use refreshes it.
    Due,
    /// The access token expired and there is no refresh token: a new login is needed.
    Expired,
    /// The provider refused the stored refresh token (recorded by some process).
    NeedsLogin,
    /// The provider asked every process to wait before refreshing.
    RateLimited,
}

impl SummaryState {
    /// The state as one word (`logged-out`, `valid`, `due`, `expired`, `needs-login`,
    /// `rate-limited`).
    pub fn label(self) -> &'static str {
        match self {
            SummaryState::LoggedOut => "logged-out",
            SummaryState::Valid => "valid",
            SummaryState::Due => "due",
            SummaryState::Expired => "expired",
            SummaryState::NeedsLogin => "needs-login",
            SummaryState::RateLimited => "rate-limited",
        }
    }
}

/// A storage's login as stored: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LoginSummary {
    /// The state.
    pub state: SummaryState,
    /// When the access token expires (Unix ms), when known.
    pub expires_at_ms: Option<u64>,
    /// Whether a refresh can renew the login (a refresh token is stored and not refused).
    pub refreshable: bool,
    /// Why a new login is needed, when it is.
    pub reason: Option<String>,
    /// Until when refreshes wait (Unix ms), when rate limited.
    pub rate_limited_until_ms: Option<u64>,
    /// Whether a live refresh lease is held (a refresh is under way somewhere).
    pub refreshing: bool,
}

impl LoginSummary {
    /// Reads a storage entry (the object in the `Storages` list) at `now_ms`.
    pub fn of_entry(entry: &Map<String, Value>, now_ms: u64, margin: &ExpiryMargin) -> Self {
        let stored = entry
            .get("config")
            .and_then(Value::as_object)
            .and_then(Stored::parse);
        let marks = Marks::read(entry);
        let refreshing = lease_of(entry).is_some_and(|lease| lease.expires_at_ms > now_ms);
        let Some(stored) = stored else {
            return Self {
                state: SummaryState::LoggedOut,
                expires_at_ms: None,
                refreshable: false,
                reason: None,
                rate_limited_until_ms: None,
                refreshing,
            };
        };
        let expires_at_ms = stored.expires_at_ms();
        let refused = marks.needs_login_for(stored.refresh.as_ref());
        let rate_limited = marks.rate_limited_at(now_ms);
        let refreshable = stored.refresh.is_some() && refused.is_none();
        let state = if refused.is_some() {
            SummaryState::NeedsLogin
        } else if stored.is_fresh(now_ms, margin) {
            SummaryState::Valid
        } else if rate_limited.is_some() {
            SummaryState::RateLimited
        } else if stored.refresh.is_some() {
            SummaryState::Due
        } else if stored.is_unexpired(now_ms) {
            SummaryState::Valid
        } else {
            SummaryState::Expired
        };
        Self {
            state,
            expires_at_ms,
            refreshable,
            reason: refused.map(str::to_owned),
            rate_limited_until_ms: rate_limited,
            refreshing,
        }
    }

    /// Reads an entry with the default expiry margin at the current time.
    pub fn now(entry: &Map<String, Value>) -> Self {
        let now = crate::clock::Clock::now_ms(&crate::clock::SystemClock);
        Self::of_entry(entry, now, &ExpiryMargin::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::rescue::fingerprint;
    use serde_json::json;

    fn entry(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn states_from_the_stored_entry() {
        let margin = ExpiryMargin::default();
        let t0 = 1_700_000_000_000;
        let login = json!({"type": "u115", "config": {"access_token": "a", "refresh_token": "r",
                           "expires_in": 7200, "refresh_time": 1_700_000_000.5}});
        let s = LoginSummary::of_entry(&entry(login.clone()), t0, &margin);
        assert_eq!(s.state, SummaryState::Valid);
        assert_eq!(s.expires_at_ms, Some(1_700_007_200_500));
        assert!(s.refreshable);
        // Due inside the margin, like the accessor (fractional refresh_time honoured).
        let s = LoginSummary::of_entry(&entry(login.clone()), t0 + 6_500_000, &margin);
        assert_eq!(s.state, SummaryState::Due);

        let mut refused = login.clone();
        refused["login_state"] = json!({"needs_login": {"reason": "revoked",
            "refresh_token": fingerprint("r"), "since_ms": t0}});
        let s = LoginSummary::of_entry(&entry(refused.clone()), t0, &margin);
        assert_eq!(s.state, SummaryState::NeedsLogin);
        assert!(!s.refreshable);
        assert_eq!(s.reason.as_deref(), Some("revoked"));
        // A new login (another refresh token) makes the mark moot.
        refused["config"]["refresh_token"] = json!("r2");
        let s = LoginSummary::of_entry(&entry(refused), t0, &margin);
        assert_eq!(s.state, SummaryState::Valid);

        let mut limited = login;
        limited["login_state"] = json!({"rate_limited_until_ms": t0 + 7_000_000});
        let s = LoginSummary::of_entry(&entry(limited), t0 + 6_500_000, &margin);
        assert_eq!(s.state, SummaryState::RateLimited);
        assert_eq!(s.rate_limited_until_ms, Some(t0 + 7_000_000));

        let s = LoginSummary::of_entry(&entry(json!({"type": "u115", "config": {}})), t0, &margin);
        assert_eq!(s.state, SummaryState::LoggedOut);
        let s = LoginSummary::of_entry(
            &entry(json!({"config": {"access_token": "a", "expires_in": 10, "refresh_time": 1}})),
            t0,
            &margin,
        );
        assert_eq!(s.state, SummaryState::Expired);
    }
}
