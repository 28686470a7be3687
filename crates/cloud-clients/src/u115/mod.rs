//! The 115 Open Platform: endpoints, answer envelope, refresh.
//!
//! Protocol facts: three hosts (`passportapi` for authorisation, `qrcodeapi` for the QR
//! long-poll, `proapi` for resources), answers `{"state", "code", "message", "data"}` with
//! `code` 0 for success and errors usually under HTTP 200, form-encoded request bodies, and
//! single-use rotating refresh tokens.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::http::{HttpClient, describe, reset_hint};
use crate::json::{number, number_i64};
use crate::provider::{Grant, RefreshFailure, TokenProvider};
use crate::secret::{AccessToken, RefreshToken};

/// 115's error codes that drive behaviour.
pub mod code {
    /// Refresh token invalid (authorisation revoked): a new QR login is needed.
    pub const REFRESH_INVALID: i64 = 40_140_116;
    /// Refreshed too often: back off, keep using a still-valid token.
    pub const REFRESH_TOO_FREQUENT: i64 = 40_140_117;
    /// Refresh token expired: a new QR login is needed.
    pub const REFRESH_EXPIRED: i64 = 40_140_119;
    /// Refresh token verification failed — usually an already rotated token.
    pub const REFRESH_REUSED: i64 = 40_140_120;
    /// Refresh failed: retry with back-off.
    pub const REFRESH_FAILED: i64 = 40_140_121;
    /// Access token invalid (expired or revoked): refresh, then retry once.
    pub const ACCESS_INVALID: i64 = 40_140_125;
    /// Access token check failed: as [`ACCESS_INVALID`].
    pub const ACCESS_CHECK_FAILED: i64 = 40_140_126;
    /// Business-level quota answer ("request rate too high").
    pub const QUOTA: i64 = 770_004;
    /// Business-level quota answer seen in the field.
    pub const QUOTA_406: i64 = 406;
    /// `folder/add`: a folder of that name exists already.
    pub const EXISTS: i64 = 20_004;
}

/// The "access limit reached" message of 115's quota answers.
pub const QUOTA_MESSAGE: &str = "已达到当前访问上限";

/// Base URLs of the 115 hosts; each is overridable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct U115Endpoints {
    /// Authorisation host (`https://passportapi.115.com`).
    pub passport: String,
    /// QR status long-poll host (`https://qrcodeapi.115.com`).
    pub qrcode: String,
    /// Resource host (`https://proapi.115.com`).
    pub proapi: String,
}

impl Default for U115Endpoints {
    fn default() -> Self {
        Self {
            passport: "https://passportapi.115.com".into(),
            qrcode: "https://qrcodeapi.115.com".into(),
            proapi: "https://proapi.115.com".into(),
        }
    }
}

impl U115Endpoints {
    /// Every host at one base URL (a simulator, a proxy).
    pub fn all_at(base: &str) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            passport: base.clone(),
            qrcode: base.clone(),
            proapi: base,
        }
    }
}

/// A 115 answer that is not a success.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// HTTP 429 or a quota answer; the reset hint when there was one.
    RateLimited(Option<Duration>),
    /// Transport error, 5xx, malformed body.
    Transient(String),
    /// The envelope's non-zero code, message and `data`.
    Code(i64, String, Value),
}

fn code_of(envelope: &Value) -> Option<i64> {
    envelope.get("code").and_then(number_i64)
}

/// Sends a request and unwraps 115's envelope into its `data` (which may be anything, or
/// `Null`, on success).
pub(crate) async fn call(request: reqwest::RequestBuilder) -> Result<Value, Failure> {
    call_envelope(request).await.map(|mut envelope| {
        envelope
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null)
    })
}

/// Sends a request and checks 115's envelope; returns the whole envelope on success.
pub(crate) async fn call_envelope(request: reqwest::RequestBuilder) -> Result<Value, Failure> {
    let response = request
        .send()
        .await
        .map_err(|e| Failure::Transient(describe(e)))?;
    let status = response.status();
    if status.as_u16() == 429 {
        return Err(Failure::RateLimited(reset_hint(response.headers())));
    }
    if status.is_server_error() {
        return Err(Failure::Transient(format!(
            "the server answered HTTP {status}"
        )));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::Transient(describe(e)))?;
    let envelope: Value = serde_json::from_slice(&body).map_err(|_| {
        Failure::Transient(format!(
            "malformed answer (HTTP {status}, {} bytes, not the 115 JSON envelope)",
            body.len()
        ))
    })?;
    let Some(code) = code_of(&envelope) else {
        return Err(Failure::Transient(format!(
            "malformed answer (HTTP {status}): no `code` in the envelope"
        )));
    };
    let message = envelope
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if code == 0 {
        return Ok(envelope);
    }
    if code == code::QUOTA || code == code::QUOTA_406 || message.contains(QUOTA_MESSAGE) {
        return Err(Failure::RateLimited(None));
    }
    let data = envelope.get("data").cloned().unwrap_or(Value::Null);
    Err(Failure::Code(code, message, data))
}

/// Tokens in a 115 `data` object.
pub(crate) fn grant_from(data: &Value) -> Option<Grant> {
    let access = data
        .get("access_token")?
        .as_str()
        .filter(|s| !s.is_empty())?;
    let refresh = data
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let expires_in = data.get("expires_in").and_then(number).unwrap_or(0);
    Some(Grant {
        access_token: AccessToken::new(access),
        refresh_token: refresh.map(RefreshToken::new),
        expires_in,
        extra: Map::new(),
    })
}

mod client;
mod files;
pub use client::{U115Client, U115Options};

/// The 115 half of the token lifecycle.
#[derive(Debug, Clone, Default)]
pub struct U115Provider {
    endpoints: U115Endpoints,
}

impl U115Provider {
    /// A provider talking to `endpoints`.
    pub fn new(endpoints: U115Endpoints) -> Self {
        Self { endpoints }
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &U115Endpoints {
        &self.endpoints
    }
}

#[async_trait::async_trait]
impl TokenProvider for U115Provider {
    fn storage_type(&self) -> &str {
        "u115"
    }

    async fn refresh(
        &self,
        http: &HttpClient,
        refresh_token: &RefreshToken,
        _config: &Map<String, Value>,
    ) -> Result<Grant, RefreshFailure> {
        let request = http
            .client()
            .post(format!("{}/open/refreshToken", self.endpoints.passport))
            .form(&[("refresh_token", refresh_token.secret())]);
        match call(request).await {
            Ok(data) => grant_from(&data).ok_or_else(|| RefreshFailure::Transient {
                reason: "the refresh answer carried no access token".into(),
            }),
            Err(Failure::RateLimited(retry_after)) => {
                Err(RefreshFailure::RateLimited { retry_after })
            }
            Err(Failure::Transient(reason)) => Err(RefreshFailure::Transient { reason }),
            Err(Failure::Code(code, message, _)) => Err(match code {
                code::REFRESH_INVALID | code::REFRESH_EXPIRED => RefreshFailure::NeedsLogin {
                    reason: format!("115 refused the refresh token: {message} ({code})"),
                },
                code::REFRESH_REUSED => RefreshFailure::Reused {
                    reason: format!("{message} ({code})"),
                },
                code::REFRESH_TOO_FREQUENT => RefreshFailure::RateLimited { retry_after: None },
                code::REFRESH_FAILED => RefreshFailure::Transient {
                    reason: format!("{message} ({code})"),
                },
                _ => RefreshFailure::NeedsLogin {
                    reason: format!("115 rejected the refresh request: {message} ({code})"),
                },
            }),
        }
    }
}
