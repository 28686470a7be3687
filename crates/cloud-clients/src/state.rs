//! The login state of one storage, for applications to show and watch.

use std::time::SystemTime;

use serde::Serialize;

/// A time as RFC 3339 UTC (`2026-11-30T10:00:00Z`).
fn rfc3339<S: serde::Serializer>(time: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::util::format_timestamp_ms(crate::clock::to_unix_ms(
        *time,
    )))
}

fn rfc3339_opt<S: serde::Serializer>(time: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => rfc3339(time, s),
        None => s.serialize_none(),
    }
}

/// Where a storage's login stands.
///
/// Serialized (for APIs and `--json`) as an object tagged by its [`label`](Self::label),
/// times in RFC 3339: `{"state": "valid", "expires_at": "2026-11-30T12:00:00Z"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TokenState {
    /// No token is stored: a QR login is needed.
    LoggedOut,
    /// A usable access token is held.
    Valid {
        #[serde(serialize_with = "rfc3339_opt")]
        /// When the access token expires (`None`: the provider gave no lifetime).
        expires_at: Option<SystemTime>,
    },
    /// A refresh is under way.
    Refreshing,
    /// The provider refused the refresh token (revoked, expired, or already used with
    /// nothing newer stored), or a login without refresh token ran out. No refresh is
    /// attempted again until a new login or a change of the stored tokens.
    NeedsLogin {
        /// Why, in words for the user.
        reason: String,
    },
    /// The provider asked us to slow down; a still-valid token keeps being served.
    RateLimited {
        #[serde(serialize_with = "rfc3339")]
        /// When the next refresh may be attempted.
        until: SystemTime,
    },
}

impl TokenState {
    /// A short word for the state: `logged-out`, `valid`, `refreshing`, `needs-login`,
    /// `rate-limited`.
    pub fn label(&self) -> &'static str {
        match self {
            TokenState::LoggedOut => "logged-out",
            TokenState::Valid { .. } => "valid",
            TokenState::Refreshing => "refreshing",
            TokenState::NeedsLogin { .. } => "needs-login",
            TokenState::RateLimited { .. } => "rate-limited",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn states_serialize_tagged_with_rfc3339_times() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_500_400);
        let json = |s: &TokenState| serde_json::to_value(s).unwrap_or_default();
        assert_eq!(
            json(&TokenState::Valid {
                expires_at: Some(at)
            }),
            serde_json::json!({"state": "valid", "expires_at": "2025-11-30T11:00:00Z"})
        );
        assert_eq!(
            json(&TokenState::Valid { expires_at: None }),
            serde_json::json!({"state": "valid", "expires_at": null})
        );
        assert_eq!(
            json(&TokenState::RateLimited { until: at }),
            serde_json::json!({"state": "rate-limited", "until": "2025-11-30T11:00:00Z"})
        );
        assert_eq!(
            json(&TokenState::NeedsLogin {
                reason: "revoked".into()
            }),
            serde_json::json!({"state": "needs-login", "reason": "revoked"})
        );
        for state in [TokenState::LoggedOut, TokenState::Refreshing] {
            assert_eq!(json(&state)["state"], state.label());
        }
    }
}
