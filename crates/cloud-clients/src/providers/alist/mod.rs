//! OpenList / AList (MoviePilot's `alist` storage): a server of the user's own, logged in
//! with a user name and password or a permanent token.
//!
//! Protocol facts: every `/api` answer is HTTP 200 with `{code, message, data}` (`code`
//! 200 for success, 401 for a token the server does not accept); the token goes in
//! `Authorization` as it is, without `Bearer`; a login (`/api/auth/login/hash`, the
//! password as `sha256(password + "-https://github.com/alist-org/alist")`) yields a JWT
//! that lives 48 hours by default and that every server restart invalidates.
//!
//! # How the session maps onto the token core
//!
//! The config keeps MoviePilot's fields — `url`, `username`, `password`, `token` (a
//! permanent token) — and this client never writes `token` or `url`. The session is
//! stored beside them in the token core's fields, which MoviePilot's `alist` storage does
//! not read: `access_token` (the session JWT), `expires_in` (from the JWT's `exp - iat`,
//! else 48 h), `refresh_time`, and `refresh_token`, which here is no secret: a *login
//! marker* `login:<username>:<fingerprint>` naming the stored credentials. "Refreshing" is
//! logging in again with the stored `username` and `password`, so a due or rejected
//! session is renewed once for every process and host, through the same lease, and a
//! refused login ("wrong password") is recorded for every process against that marker
//! until the credentials change. A permanent `token` in the config is served as a fixed
//! token: no login, no refresh.

use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::http::HttpClient;
use crate::provider::{Config, Grant, RefreshFailure, Refreshed, TokenProvider};
use crate::secret::{AccessToken, Password, RefreshToken};
use crate::transport::{self, Failure};

mod api;
mod client;
mod error;
mod files;
mod upload;

pub(crate) use client::REGISTRATION;
pub use client::{AlistClient, AlistOptions};
pub(crate) use error::AlistProtocol;

/// The salt of `/api/auth/login/hash` (OpenList kept AList's).
pub const HASH_SALT: &str = "https://github.com/alist-org/alist";

/// The session lifetime when the JWT does not say (the server's default, 48 hours).
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(48 * 3600);

/// The config field of the server URL (MoviePilot's name).
pub const URL_FIELD: &str = "url";
/// The config field of the user name (MoviePilot's name).
pub const USERNAME_FIELD: &str = "username";
/// The config field of the password (MoviePilot's name).
pub const PASSWORD_FIELD: &str = "password";
/// The config field of a permanent token (MoviePilot's name); never written here.
pub const TOKEN_FIELD: &str = "token";

/// `hex(sha256(password + "-" + HASH_SALT))`, what `/api/auth/login/hash` takes.
fn password_hash(password: &str) -> String {
    hex(&Sha256::digest(
        format!("{password}-{HASH_SALT}").as_bytes(),
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The login marker stored as the "refresh token": the user name and a short fingerprint
/// of the credentials (not enough to log in with), so that changed credentials make a
/// new marker and lift a "needs login" recorded for the old ones.
pub fn session_marker(username: &str, password: &str) -> String {
    let digest = Sha256::digest(format!(
        "drivekeep-alist-marker:{}",
        password_hash(password)
    ));
    format!("login:{username}:{}", hex(&digest[..6]))
}

/// A non-empty text field of a config.
fn field<'a>(config: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    config
        .get(name)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The stored `username` and `password`, when both are set.
pub(crate) fn credentials(config: &Map<String, Value>) -> Option<(String, Password)> {
    let username = field(config, USERNAME_FIELD)?;
    let password = config
        .get(PASSWORD_FIELD)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())?;
    Some((username.to_owned(), Password::new(password)))
}

/// The permanent token of a config, when set.
pub(crate) fn permanent_token(config: &Map<String, Value>) -> Option<AccessToken> {
    field(config, TOKEN_FIELD).map(AccessToken::new)
}

/// The server's base URL: the override, else the config's `url` (with `http://` added
/// when it has no scheme, as MoviePilot does), without a trailing `/`. A sub-path is kept.
pub(crate) fn server_url(endpoint: Option<&str>, config: &Map<String, Value>) -> Option<String> {
    let url = endpoint
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or_else(|| field(config, URL_FIELD))?;
    let url = url.trim_end_matches('/');
    Some(if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    })
}

/// The lifetime of a session JWT from its `exp - iat` (the signature is the server's
/// business); the default when it cannot be read.
fn session_lifetime(jwt: &str) -> u64 {
    let claims = jwt
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<api::Claims>(&json).ok())
        .unwrap_or_default();
    match (claims.exp, claims.iat) {
        (Some(exp), Some(iat)) if exp > iat => u64::try_from(exp - iat).unwrap_or(0),
        _ => DEFAULT_SESSION_LIFETIME.as_secs(),
    }
}

/// Logs `username` in at `server`; the session as a grant whose "refresh token" is the
/// login marker. A refused login is [`RefreshFailure::NeedsLogin`] with the server's words.
pub(crate) async fn log_in(
    http: &HttpClient,
    server: &str,
    username: &str,
    password: &Password,
) -> Refreshed {
    let hash = password_hash(password.secret());
    let request = http
        .client()
        .post(format!("{server}/api/auth/login/hash"))
        .json(&api::LoginRequest {
            username,
            password: &hash,
            otp_code: "",
        });
    let data = transport::send(&AlistProtocol, request)
        .await
        .map_err(|failure| login_failure(failure, username))?;
    let answer: api::LoginAnswer = crate::json::parse(data).unwrap_or_default();
    if answer.token.is_empty() {
        return Err(RefreshFailure::Transient {
            reason: "the login answer carried no token".into(),
        });
    }
    Ok(Grant {
        expires_in: session_lifetime(&answer.token),
        access_token: AccessToken::new(answer.token),
        refresh_token: Some(RefreshToken::new(session_marker(
            username,
            password.secret(),
        ))),
        extra: Map::new(),
    })
}

/// What a refused login means. Every refusal of the login endpoint is about the
/// credentials (OpenList ≥ 4.2: `401 Invalid username or password`; AList 3:
/// `400 password is incorrect`, `failed find user`; `402 Invalid 2FA code`).
fn login_failure(failure: Failure, username: &str) -> RefreshFailure {
    match failure {
        Failure::RateLimited(retry_after) => RefreshFailure::RateLimited { retry_after },
        Failure::Transient { reason, .. } => RefreshFailure::Transient {
            reason: format!("logging in: {reason}"),
        },
        other => {
            let (code, message) = other
                .refusal()
                .map(|r| (r.code.clone(), r.message.clone()))
                .unwrap_or_default();
            let what = if code == "402" {
                "a two-factor code is required, which this client cannot give"
            } else {
                "wrong user name or password"
            };
            RefreshFailure::NeedsLogin {
                reason: format!(
                    "OpenList refused the login of `{username}`: {what} ({message}, code {code})"
                ),
            }
        }
    }
}

/// The OpenList half of the token lifecycle: "refresh" is a new login with the stored
/// credentials.
#[derive(Debug, Clone, Default)]
pub struct AlistProvider {
    endpoint: Option<String>,
}

impl AlistProvider {
    /// A provider for the server in each storage's `url`, or at `endpoint` when given.
    pub fn new(endpoint: Option<String>) -> Self {
        Self { endpoint }
    }
}

#[async_trait::async_trait]
impl TokenProvider for AlistProvider {
    fn storage_type(&self) -> &str {
        "alist"
    }

    async fn refresh(
        &self,
        http: &HttpClient,
        _marker: &RefreshToken,
        config: &Config,
    ) -> Refreshed {
        let Some(server) = server_url(self.endpoint.as_deref(), config) else {
            return Err(RefreshFailure::NeedsLogin {
                reason: "no OpenList server `url` is configured".into(),
            });
        };
        let Some((username, password)) = credentials(config) else {
            return Err(RefreshFailure::NeedsLogin {
                reason: "no user name and password are stored to log in again with".into(),
            });
        };
        log_in(http, &server, &username, &password).await
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn hash_marker_url_and_lifetime() {
        // sha256("123456-https://github.com/alist-org/alist"), as the server computes it.
        assert_eq!(
            password_hash("123456"),
            "e166b45e39301021e897e3a6713e11171893217ad2901cf28c2c09c8d54e55d9"
        );
        let marker = session_marker("mp", "secret");
        assert!(marker.starts_with("login:mp:") && !marker.contains("secret"));
        assert_ne!(marker, session_marker("mp", "other"));
        let conf = json!({"url": "nas:5244/"});
        let conf = conf.as_object().cloned().unwrap_or_default();
        assert_eq!(server_url(None, &conf).as_deref(), Some("http://nas:5244"));
        assert_eq!(
            server_url(Some("https://h/alist/"), &conf).as_deref(),
            Some("https://h/alist")
        );
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"username":"mp","exp":1000,"iat":400}"#);
        assert_eq!(session_lifetime(&format!("h.{payload}.s")), 600);
        assert_eq!(session_lifetime("garbage"), 48 * 3600);
    }
}
