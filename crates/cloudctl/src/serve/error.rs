//! The API's error answer: `{"error": {"kind": "…", "message": "…"}}` with a fitting status.
//! Messages come from typed library errors, which never carry a token, a password or a
//! credential-bearing URL; a 401 says nothing beyond "unauthorized".

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Missing, wrong or revoked credentials: nothing else is said.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key or console session is required",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many attempts; retry later",
            )
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<cloud_clients::Error> for ApiError {
    fn from(err: cloud_clients::Error) -> Self {
        use cloud_clients::Error as E;
        let message = err.to_string();
        match &err {
            E::LoggedOut { .. } => Self::new(StatusCode::CONFLICT, "logged_out", message),
            E::NeedsLogin { .. } | E::FixedTokenRejected { .. } => {
                Self::new(StatusCode::CONFLICT, "needs_login", message)
            }
            E::RateLimited { until, .. } => {
                let secs = until
                    .duration_since(std::time::SystemTime::now())
                    .map(|d| d.as_secs() + 1)
                    .unwrap_or(1);
                Self {
                    message,
                    ..Self::rate_limited(secs)
                }
            }
            E::LoginNotSupported { .. } | E::Unsupported { .. } | E::Configuration { .. } => {
                Self::new(StatusCode::BAD_REQUEST, "unsupported", message)
            }
            E::UnknownStorageType { .. } => Self::not_found(message),
            E::Storage(_) | E::SaveFailed { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "database", message)
            }
            e if e.is_not_found() => Self::not_found(message),
            _ => Self::new(StatusCode::BAD_GATEWAY, "provider", message),
        }
    }
}

impl From<storage_helper::Error> for ApiError {
    fn from(err: storage_helper::Error) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "database", err.to_string())
    }
}

impl From<system_config::Error> for ApiError {
    fn from(err: system_config::Error) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "database", err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"kind": self.kind, "message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

/// Parses a JSON request body into `T` (an empty body as `null`), answering 400 with the
/// usual error object (axum's own rejections are plain text). The message names the
/// problem, never the body's values.
pub fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "fields of the wrong name or type",
            _ => "not JSON",
        };
        ApiError::bad_request(format!(
            "the request body: {what} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}
