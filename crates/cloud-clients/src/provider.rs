//! What a provider contributes to the token lifecycle: the refresh call and the
//! classification of its failures.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::http::HttpClient;
use crate::json::{Num, Text};
use crate::secret::{AccessToken, RefreshToken};

/// Tokens a provider handed out (by login or refresh).
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The new access token (never empty).
    pub access_token: AccessToken,
    /// The new refresh token; `None` when the provider sent none (the old one is kept).
    pub refresh_token: Option<RefreshToken>,
    /// Lifetime of the access token in seconds (0: unknown).
    pub expires_in: u64,
    /// Other fields the provider sent that belong in the stored config (`token_type`, …).
    pub extra: Map<String, Value>,
}

/// The OAuth token answer both 115 (in `data`) and alipan send for a login or refresh.
/// No `Debug`: it holds tokens.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(crate) struct TokenAnswer {
    token_type: Text,
    access_token: Text,
    refresh_token: Text,
    expires_in: Num,
}

impl TokenAnswer {
    /// The tokens in `answer` as a grant; `token_type` is kept in `extra` when asked for.
    /// `None` without an access token.
    pub(crate) fn grant(answer: Value, keep_token_type: bool) -> Option<Grant> {
        let answer: TokenAnswer = crate::json::parse(answer)?;
        let mut extra = Map::new();
        if let Some(kind) = answer.token_type.0.filter(|_| keep_token_type) {
            extra.insert("token_type".into(), kind.into());
        }
        Some(Grant {
            access_token: AccessToken::new(answer.access_token.0?),
            refresh_token: answer.refresh_token.0.map(RefreshToken::new),
            expires_in: answer.expires_in.0.unwrap_or(0),
            extra,
        })
    }
}

/// Why a refresh failed, in the classes that decide what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshFailure {
    /// The refresh token is revoked or expired: only a new login helps.
    NeedsLogin {
        /// The provider's reason, for the user.
        reason: String,
    },
    /// The refresh token was already used (rotated by another refresher). The store is
    /// re-read; if it holds nothing newer, a new login is needed.
    Reused {
        /// The provider's reason.
        reason: String,
    },
    /// Slow down. A still-valid access token keeps being served meanwhile.
    RateLimited {
        /// The provider's reset hint; `None` uses
        /// [`AccessorOptions::rate_limit_backoff`](crate::AccessorOptions::rate_limit_backoff).
        retry_after: Option<Duration>,
    },
    /// Timeouts, 5xx, resets, malformed answers: retried with back-off, tokens untouched.
    Transient {
        /// What went wrong (no secrets).
        reason: String,
    },
}

/// A storage's stored config, as [`TokenProvider::refresh`] gets it.
pub(crate) type Config = Map<String, Value>;

/// What [`TokenProvider::refresh`] returns.
pub(crate) type Refreshed = Result<Grant, RefreshFailure>;

/// The provider half of the token lifecycle. One implementation per provider.
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync + std::fmt::Debug + 'static {
    /// The storage type this provider serves (`u115`, `alipan`).
    fn storage_type(&self) -> &str;

    /// Exchanges `refresh_token` for new tokens. `config` is the storage's stored config
    /// (client ids and the like). Implementations classify every failure.
    async fn refresh(
        &self,
        http: &HttpClient,
        refresh_token: &RefreshToken,
        config: &Map<String, Value>,
    ) -> Result<Grant, RefreshFailure>;

    /// How long a refresh token left unused stays valid, when refreshing renews it (alipan:
    /// about 90 days). The keep-alive refreshes logins without a known access-token
    /// lifetime well within it. Default `None`: unused refresh tokens do not die, or
    /// refreshing does not extend them (115).
    fn refresh_token_idle_limit(&self) -> Option<std::time::Duration> {
        None
    }
}
