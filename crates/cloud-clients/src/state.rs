//! The login state of one storage, for applications to show and watch.

use std::time::SystemTime;

/// Where a storage's login stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    /// No token is stored: a QR login is needed.
    LoggedOut,
    /// A usable access token is held.
    Valid {
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
