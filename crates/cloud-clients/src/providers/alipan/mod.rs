//! The alipan (Aliyun Drive) Open Platform: endpoints, answer envelope, refresh.
//!
//! Protocol facts: one host (`https://openapi.alipan.com`, overridable), JSON request
//! bodies, successful answers carry the payload directly, errors are
//! `{"code", "message", "requestId"}` with an HTTP 4xx/5xx status, resource calls carry
//! `Authorization: Bearer <access_token>`, and refresh tokens are single-use and rotate.
//!
//! A login is a QR login with PKCE (`S256` or `plain`) or, when the application has one,
//! with its client secret. **PKCE without client secret gets no refresh token**: the access
//! token lasts 30 days and afterwards only a new QR login helps. The token core serves
//! such a token to the end of its life, shows when it runs out in
//! [`TokenState::Valid`](crate::TokenState::Valid) and then reports
//! [`Error::NeedsLogin`](crate::Error::NeedsLogin) ("the login expired at …, scan a new QR
//! code") without ever sending a refresh request.
//!
//! The stored config is MoviePilot's: the token payload (`token_type`, `access_token`,
//! `refresh_token`, `expires_in`) plus `refresh_time`, merged with the drive information
//! fetched right after login (`user_id`, `name`, `avatar`, `default_drive_id`,
//! `resource_drive_id`, `backup_drive_id`). Refreshes never touch the drive fields.
//!
//! # Example
//!
//! An application's own test, with the alipan simulator standing in for the service:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cloud_clients::alipan::{AlipanClient, AlipanOptions};
//! use cloud_clients::{AccessToken, CloudStorage, Grant, RefreshToken, TokenState};
//! use cloud_sim::{DriveKind, SimAlipan};
//! use futures::TryStreamExt;
//! use storage_helper::StorageHelper;
//! use system_config::SystemConfig;
//!
//! let sim = SimAlipan::start(Default::default()).await?;
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
//! let storages = StorageHelper::new(SystemConfig::open(&url).await?);
//! // Your application's client id from the alipan Open Platform (none is built in).
//! let drive = AlipanClient::new(
//!     &storages,
//!     AlipanOptions::at(sim.base_url()).client_id("my-alipan-app"),
//! )?;
//!
//! // Tokens from a login (here issued by the simulator directly; in an application they
//! // come from `start_qr_login` / `poll_qr_login`). `complete_login` fetches the drive
//! // ids with the new token and saves everything in one go.
//! let pair = sim.login("alice");
//! drive
//!     .complete_login(Grant {
//!         access_token: AccessToken::new(pair.access_token.as_str()),
//!         refresh_token: pair.refresh_token.as_deref().map(RefreshToken::new),
//!         expires_in: pair.expires_in,
//!         extra: Default::default(),
//!     })
//!     .await?;
//! assert!(matches!(drive.login_state(), TokenState::Valid { .. }));
//!
//! // MoviePilot's choice of drive: the resource drive when the account has one.
//! sim.add_file_in_drive("alice", DriveKind::Resource, "/movies/Dune.mkv", b"bytes".to_vec())?;
//! let movies = drive.stat("/movies").await?.expect("seeded");
//! let names: Vec<String> = drive
//!     .list(&movies)
//!     .map_ok(|item| item.name)
//!     .try_collect()
//!     .await?;
//! assert_eq!(names, ["Dune.mkv"]);
//! # Ok(()) }
//! ```

use serde_json::{Map, Value};

use crate::http::HttpClient;
use crate::provider::{Config, Grant, RefreshFailure, Refreshed, TokenAnswer, TokenProvider};
use crate::secret::{ClientSecret, RefreshToken};
use crate::transport;

mod api;
mod client;
mod error;
mod files;
mod qr;
mod upload;
mod upload_session;
pub(crate) use client::REGISTRATION;
pub use client::{AlipanClient, AlipanDrive, AlipanOptions, PkceMethod};
pub(crate) use error::AlipanProtocol;

/// alipan's error codes that drive behaviour.
pub mod code {
    /// The access token is invalid: refresh, then retry once.
    pub const ACCESS_TOKEN_INVALID: &str = "AccessTokenInvalid";
    /// The access token expired: refresh, then retry once.
    pub const ACCESS_TOKEN_EXPIRED: &str = "AccessTokenExpired";
    /// Seen in the field for a stale access token: as [`ACCESS_TOKEN_INVALID`].
    pub const I400JD: &str = "I400JD";
    /// The refresh token is invalid — usually one that was already rotated.
    pub const REFRESH_TOKEN_INVALID: &str = "InvalidParameter.RefreshToken";
    /// No (usable) refresh token was sent: treated like a reused one.
    pub const REFRESH_TOKEN_MISSING: &str = "InvalidParameterMissing.RefreshToken";
    /// The refresh token expired: a new QR login is needed.
    pub const REFRESH_TOKEN_EXPIRED: &str = "RefreshTokenExpired";
    /// Slow down (also sent as HTTP 429).
    pub const TOO_MANY_REQUESTS: &str = "TooManyRequests";
    /// The user may not access the drive asked for.
    pub const USER_NOT_ALLOWED_ACCESS_DRIVE: &str = "UserNotAllowedAccessDrive";
    /// The drive id is not valid for this user.
    pub const FORBIDDEN_DRIVE_NOT_VALID: &str = "ForbiddenDriveNotValid";
    /// No file at that id or path.
    pub const NOT_FOUND_FILE: &str = "NotFound.File";
    /// A file or folder of that name exists already.
    pub const ALREADY_EXIST_FILE: &str = "AlreadyExist.File";
    /// Upload: the content may be known — not an error, try instant upload with a proof.
    pub const PRE_HASH_MATCHED: &str = "PreHashMatched";
}

/// The drive fields of `user/getDriveInfo` stored beside the tokens.
pub const DRIVE_FIELDS: [&str; 6] = [
    "user_id",
    "name",
    "avatar",
    "default_drive_id",
    "resource_drive_id",
    "backup_drive_id",
];

/// Where the alipan Open Platform is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlipanEndpoints {
    /// The Open Platform host (`https://openapi.alipan.com`; older clients used
    /// `https://openapi.aliyundrive.com`). Every API call goes here.
    pub base: String,
    /// The authorisation page a QR code points to; the QR payload is
    /// `<authorize_page>?sid=<sid>` (`https://www.alipan.com/o/oauth/authorize`). The
    /// platform's `qrCodeUrl` is an image of the same content.
    pub authorize_page: String,
}

impl Default for AlipanEndpoints {
    fn default() -> Self {
        Self {
            base: "https://openapi.alipan.com".into(),
            authorize_page: "https://www.alipan.com/o/oauth/authorize".into(),
        }
    }
}

impl AlipanEndpoints {
    /// The API at `base` (a simulator, a proxy); the authorisation page stays alipan's.
    pub fn at(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            ..Self::default()
        }
    }

    /// `base` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// A non-empty string member of a config.
pub(crate) fn config_text(config: &Map<String, Value>, key: &str) -> Option<String> {
    config
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The application's credentials: the given ones, else the storage config's
/// `client_id` / `client_secret`.
pub(crate) fn credentials(
    client_id: Option<&str>,
    client_secret: Option<&ClientSecret>,
    config: &Map<String, Value>,
) -> (Option<String>, Option<ClientSecret>) {
    let id = client_id
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(|| config_text(config, "client_id"));
    let secret = client_secret
        .filter(|s| !s.is_empty())
        .cloned()
        .or_else(|| config_text(config, "client_secret").map(ClientSecret::new));
    (id, secret)
}

/// The alipan half of the token lifecycle (storage type `alipan`).
///
/// Refreshes with `POST /oauth/access_token` (`grant_type: refresh_token`) and classifies
/// failures: `InvalidParameter.RefreshToken` / `InvalidParameterMissing.RefreshToken` →
/// [`RefreshFailure::Reused`] (the core re-reads the store and adopts a newer token, else
/// needs a login), `RefreshTokenExpired` → [`RefreshFailure::NeedsLogin`],
/// `TooManyRequests` / HTTP 429 → [`RefreshFailure::RateLimited`], 5xx, timeouts and
/// malformed answers → [`RefreshFailure::Transient`].
#[derive(Debug, Clone, Default)]
pub struct AlipanProvider {
    endpoints: AlipanEndpoints,
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
}

impl AlipanProvider {
    /// A provider talking to `endpoints`, taking the application's `client_id` (and
    /// `client_secret`, if any) from the storage config.
    pub fn new(endpoints: AlipanEndpoints) -> Self {
        Self {
            endpoints,
            client_id: None,
            client_secret: None,
        }
    }

    /// Uses these credentials instead of the storage config's (each `None` falls back to
    /// the config).
    pub fn with_credentials(
        mut self,
        client_id: Option<String>,
        client_secret: Option<ClientSecret>,
    ) -> Self {
        self.client_id = client_id;
        self.client_secret = client_secret;
        self
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &AlipanEndpoints {
        &self.endpoints
    }
}

#[async_trait::async_trait]
impl TokenProvider for AlipanProvider {
    /// Refresh tokens live about 90 days and each refresh issues a new one
    /// (`../shared/spec/provider-alipan.md`, "Refresh").
    fn refresh_token_idle_limit(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_secs(90 * 86_400))
    }

    async fn refresh(&self, http: &HttpClient, token: &RefreshToken, conf: &Config) -> Refreshed {
        let (client_id, secret) =
            credentials(self.client_id.as_deref(), self.client_secret.as_ref(), conf);
        let Some(client_id) = client_id else {
            // A configuration gap, not a verdict on the token: once the client id is
            // configured, the next attempt succeeds.
            return Err(RefreshFailure::Transient {
                reason: "no alipan client_id is configured (set `client_id` in the storage's \
                         config or in AlipanOptions)"
                    .into(),
            });
        };
        let body = api::TokenRequest {
            client_id: &client_id,
            grant_type: "refresh_token",
            refresh_token: Some(token.secret()),
            code: None,
            code_verifier: None,
            client_secret: secret.as_ref().map(ClientSecret::secret),
        };
        let request = http
            .client()
            .post(self.endpoints.url("/oauth/access_token"))
            .json(&body);
        let answer = transport::send(&AlipanProtocol, request)
            .await
            .map_err(|failure| failure.into_refresh_failure("alipan"))?;
        grant_from(answer).ok_or_else(|| RefreshFailure::Transient {
            reason: "the refresh answer carried no access token".into(),
        })
    }

    fn storage_type(&self) -> &str {
        "alipan"
    }
}

/// Tokens in an `/oauth/access_token` answer; `token_type` goes into `extra`.
pub(crate) fn grant_from(answer: Value) -> Option<Grant> {
    TokenAnswer::grant(answer, true)
}

pub(crate) use crate::util::parse_timestamp;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grant_keeps_token_type_and_reads_string_lifetimes() {
        let grant = grant_from(json!({"token_type": "Bearer", "access_token": "a",
            "refresh_token": "", "expires_in": "7200"}))
        .expect("grant");
        assert_eq!(grant.expires_in, 7200);
        assert_eq!(grant.refresh_token, None);
        assert_eq!(grant.extra["token_type"], "Bearer");
        assert!(grant_from(json!({"access_token": ""})).is_none());
    }

    #[test]
    fn credentials_fall_back_to_the_config() {
        let config = json!({"client_id": "cfg", "client_secret": "s"});
        let config = config.as_object().cloned().unwrap_or_default();
        let (id, secret) = credentials(None, None, &config);
        assert_eq!(id.as_deref(), Some("cfg"));
        assert_eq!(secret.as_ref().map(ClientSecret::secret), Some("s"));
        let own = ClientSecret::new("own");
        let (id, secret) = credentials(Some("opt"), Some(&own), &config);
        assert_eq!(id.as_deref(), Some("opt"));
        assert_eq!(secret, Some(own));
        assert_eq!(credentials(None, None, &Map::new()), (None, None));
    }
}
