//! The 115 Open Platform: endpoints, answer envelope, refresh.
//!
//! Protocol facts: three hosts (`passportapi` for authorisation, `qrcodeapi` for the QR
//! long-poll, `proapi` for resources), answers `{"state", "code", "message", "data"}` with
//! `code` 0 for success and errors usually under HTTP 200, form-encoded request bodies, and
//! single-use rotating refresh tokens.

use serde_json::Value;

use crate::http::HttpClient;
use crate::provider::{Config, RefreshFailure, Refreshed, TokenAnswer, TokenProvider};
use crate::secret::RefreshToken;
use crate::transport;

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

pub use error::QUOTA_MESSAGE;

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

mod api;
mod client;
mod error;
mod files;
mod oss;
mod qr;
mod upload;
mod upload_parts;
mod upload_session;
pub(crate) use client::REGISTRATION;
pub use client::{U115Client, U115Options};
pub(crate) use error::U115Protocol;

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

    async fn refresh(&self, http: &HttpClient, token: &RefreshToken, _: &Config) -> Refreshed {
        let request = http
            .client()
            .post(format!("{}/open/refreshToken", self.endpoints.passport))
            .form(&[("refresh_token", token.secret())]);
        let data = transport::send(&U115Protocol, request)
            .await
            .map_err(|failure| failure.into_refresh_failure("115"))?;
        data_of(data)
            .and_then(|data| TokenAnswer::grant(data, false))
            .ok_or_else(|| RefreshFailure::Transient {
                reason: "the refresh answer carried no access token".into(),
            })
    }
}

/// The `data` of a 115 envelope (`None` when it has none).
pub(crate) fn data_of(mut envelope: Value) -> Option<Value> {
    envelope.get_mut("data").map(Value::take)
}
