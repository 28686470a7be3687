//! The 115 Open Platform endpoints: QR device-code login, token refresh, the file
//! resources media managers use, and uploads (`upload.rs`: init / get_token / resume;
//! `callback.rs`: the callback the simulated OSS service posts once the bytes are stored).
//!
//! Answers use 115's envelope `{"state", "code", "message", "data"}` with HTTP 200 for
//! business errors. As on the real hosts, the passport / QR endpoints report `state` as an
//! integer (1 / 0) and the `proapi` resource endpoints as a boolean; on errors `data` is
//! left out (auth endpoints), `null` (resources), `[]` (missing path in `folder/get_info`)
//! or `{}` (quota answers), so clients have to key on `code`.

// Handlers short-circuit with the provider-shaped error `Response`; boxing it would only
// add noise, and these paths are not hot.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::config::RateLimitStyle115;
use crate::core::{AuthError, Core, ExchangeError, QrRequest, RefreshError};
use crate::fault::RateLimitAnswer;
use crate::input::Input;
use crate::pkce::{self, Method};
use crate::token::{QrState, random_hex, random_string};
use crate::tree::{Node, ROOT, SimFile, Tree};
use crate::util::extension;

mod callback;
mod form;
mod resources;
mod upload;
pub(crate) use callback::setup_uploads;
use resources::{
    copy_files, delete_files, downurl, files, folder_add, get_info, move_files, update, user_info,
};
pub(crate) use upload::UploadStore;
use upload::{upload_init, upload_resume, upload_token};

/// Error codes the simulator answers with (the 4014xxxx auth codes are the provider's; the
/// others are the simulator's choice where the documentation gives none).
pub(crate) mod code {
    /// A required parameter is missing or malformed.
    pub const MISSING_PARAM: i64 = 40140100;
    /// `client_id` is not the configured APP ID.
    pub const CLIENT_ID: i64 = 40140101;
    /// Unsupported `code_challenge_method`.
    pub const CHALLENGE_METHOD: i64 = 40140102;
    /// `code_challenge` is not base64 of a digest of the method's size.
    pub const CHALLENGE: i64 = 40140103;
    /// `sign` or `time` of a status poll do not match the device code.
    pub const SIGN: i64 = 40140104;
    /// Unknown device code (`uid`).
    pub const UID: i64 = 40140105;
    /// `code_verifier` is not 43–128 unreserved characters.
    pub const VERIFIER_FORMAT: i64 = 40140106;
    /// `code_verifier` does not match the challenge.
    pub const VERIFIER: i64 = 40140107;
    /// The QR code has not been confirmed yet.
    pub const NOT_CONFIRMED: i64 = 40140108;
    /// The QR code expired, was cancelled or already exchanged.
    pub const QR_GONE: i64 = 40140109;
    /// Refresh token invalid (unknown or authorisation revoked).
    pub const REFRESH_INVALID: i64 = 40140116;
    /// Refreshed too frequently.
    pub const TOO_FREQUENT: i64 = 40140117;
    /// Refresh token expired.
    pub const REFRESH_EXPIRED: i64 = 40140119;
    /// Refresh token verification failed (already rotated).
    pub const REFRESH_ROTATED: i64 = 40140120;
    /// Access token invalid (expired or revoked).
    pub const ACCESS_INVALID: i64 = 40140125;
    /// Access token check failed (missing or unknown).
    pub const ACCESS_CHECK: i64 = 40140126;
    /// Folder name already exists.
    pub const EXISTS: i64 = 20004;
    /// File or folder not found (simulator's choice).
    pub const NOT_FOUND: i64 = 20018;
    /// Invalid move / copy target (simulator's choice).
    pub const BAD_TARGET: i64 = 20009;
    /// Quota: request rate too high.
    pub const QUOTA_RATE: i64 = 770004;
    /// Quota: access limit reached.
    pub const QUOTA_LIMIT: i64 = 406;
}

pub(super) const QUOTA_MESSAGE: &str = "已达到当前访问上限，请稍后再试";
pub(super) const TOTAL_SPACE: u64 = 2 * 1024 * 1024 * 1024 * 1024;

pub(super) fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Passport / QR success: `state` 1.
pub(super) fn auth_ok(data: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({"state": 1, "code": 0, "message": "", "data": data}),
    )
}

/// Passport / QR error: `state` 0, no `data`.
pub(super) fn auth_err(code: i64, message: &str) -> Response {
    json_response(
        StatusCode::OK,
        json!({"state": 0, "code": code, "message": message}),
    )
}

/// Resource success: `state` true.
pub(super) fn res_ok(data: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({"state": true, "code": 0, "message": "", "data": data}),
    )
}

/// Resource error: `state` false, `data` null.
pub(super) fn res_err(code: i64, message: &str) -> Response {
    json_response(
        StatusCode::OK,
        json!({"state": false, "code": code, "message": message, "data": null}),
    )
}

/// The answer to an injected HTTP error status.
pub(crate) fn server_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(
        status,
        json!({"state": false, "code": status.as_u16(), "message": "simulated server error", "data": null}),
    )
}

/// The answer to a request over a rate limit.
pub(crate) fn rate_limited(answer: RateLimitAnswer) -> Response {
    match answer {
        RateLimitAnswer::Http429 { reset_secs } => {
            let mut resp = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"state": false, "code": 429, "message": "Too Many Requests", "data": null}),
            );
            resp.headers_mut()
                .insert("x-ratelimit-reset", HeaderValue::from(reset_secs));
            resp
        }
        RateLimitAnswer::Quota770004 => json_response(
            StatusCode::OK,
            json!({"state": false, "code": code::QUOTA_RATE, "message": QUOTA_MESSAGE, "data": {}}),
        ),
        RateLimitAnswer::Quota406 => json_response(
            StatusCode::OK,
            json!({"state": false, "code": code::QUOTA_LIMIT, "message": QUOTA_MESSAGE, "data": {}}),
        ),
    }
}

pub(super) fn style_answer(core: &Core, reset_secs: u64) -> Response {
    let style = core.state.lock().settings.rate_limit_style;
    rate_limited(match style {
        RateLimitStyle115::Http429 => RateLimitAnswer::Http429 { reset_secs },
        RateLimitStyle115::Quota770004 => RateLimitAnswer::Quota770004,
        RateLimitStyle115::Quota406 => RateLimitAnswer::Quota406,
    })
}

/// The 115 router (all three hosts).
pub(crate) fn router() -> Router<Arc<Core>> {
    Router::new()
        .route("/open/authDeviceCode", post(auth_device_code))
        .route("/get/status/", get(status))
        .route("/get/status", get(status))
        .route("/open/deviceCodeToToken", post(device_code_to_token))
        .route("/open/refreshToken", post(refresh_token))
        .route("/open/user/info", get(user_info))
        .route("/open/ufile/files", get(files))
        .route("/open/folder/get_info", get(get_info).post(get_info))
        .route("/open/folder/add", post(folder_add))
        .route("/open/ufile/update", post(update))
        .route("/open/ufile/move", post(move_files))
        .route("/open/ufile/copy", post(copy_files))
        .route("/open/ufile/delete", post(delete_files))
        .route("/open/ufile/downurl", post(downurl))
        .route("/open/upload/init", post(upload_init))
        .route("/open/upload/get_token", get(upload_token))
        .route("/open/upload/resume", post(upload_resume))
        .merge(crate::control::router())
        .merge(crate::oss::control::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

pub(crate) async fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        json!({"state": false, "code": 404, "message": "not found", "data": null}),
    )
}

async fn method_not_allowed() -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"state": false, "code": 405, "message": "method not allowed", "data": null}),
    )
}

// ----- login ---------------------------------------------------------------------------

async fn auth_device_code(State(core): State<Arc<Core>>, input: Input) -> Response {
    let Some(client_id) = input.get("client_id") else {
        return auth_err(code::MISSING_PARAM, "client_id is required");
    };
    if core
        .settings()
        .client_id
        .is_some_and(|expected| expected != client_id)
    {
        return auth_err(code::CLIENT_ID, "client_id is invalid");
    }
    let (Some(challenge), Some(method)) = (
        input.get("code_challenge"),
        input.get("code_challenge_method"),
    ) else {
        return auth_err(
            code::MISSING_PARAM,
            "code_challenge and code_challenge_method are required",
        );
    };
    let Some(method) = Method::parse_115(&method) else {
        return auth_err(
            code::CHALLENGE_METHOD,
            "code_challenge_method is not supported",
        );
    };
    if !pkce::challenge_well_formed(method, &challenge) {
        return auth_err(code::CHALLENGE, "code_challenge is invalid");
    }
    let session = core.create_qr(QrRequest {
        client_id,
        method: Some(method),
        challenge: Some(challenge),
        secret: None,
    });
    auth_ok(json!({
        "uid": session.id,
        "time": session.time,
        "qrcode": format!("https://115.com/scan/dg-{}", session.id),
        "sign": session.sign,
    }))
}

async fn status(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (Some(uid), Some(time), Some(sign)) =
        (input.get("uid"), input.get("time"), input.get("sign"))
    else {
        return auth_err(code::MISSING_PARAM, "uid, time and sign are required");
    };
    let Some(session) = core.qr_session(&uid) else {
        return auth_err(code::UID, "uid is invalid");
    };
    if session.sign != sign || session.time.to_string() != time {
        return auth_err(code::SIGN, "sign is invalid");
    }
    let Some(state) = core.long_poll(&uid).await else {
        return auth_err(code::UID, "uid is invalid");
    };
    let (status, msg) = match state {
        QrState::Waiting => (0, ""),
        QrState::Scanned => (1, "扫码成功，等待确认"),
        QrState::Confirmed => (2, "已确认"),
        QrState::Cancelled => {
            return json_response(
                StatusCode::OK,
                json!({"state": 0, "code": code::QR_GONE, "message": "二维码已取消",
                       "data": {"status": -2, "msg": "已取消"}}),
            );
        }
        QrState::Expired | QrState::Consumed => {
            return json_response(
                StatusCode::OK,
                json!({"state": 0, "code": code::QR_GONE, "message": "二维码已过期",
                       "data": {"status": -1, "msg": "已过期"}}),
            );
        }
    };
    auth_ok(json!({"msg": msg, "status": status, "version": ""}))
}

async fn device_code_to_token(State(core): State<Arc<Core>>, input: Input) -> Response {
    let Some(uid) = input.get("uid") else {
        return auth_err(code::MISSING_PARAM, "uid is required");
    };
    let verifier = input.get("code_verifier");
    match core.exchange_device_code(&uid, verifier.as_deref()) {
        Ok(pair) => auth_ok(json!({
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_in": pair.expires_in,
        })),
        Err(e) => {
            let (c, m) = match e {
                ExchangeError::UnknownSession => (code::UID, "uid is invalid"),
                ExchangeError::VerifierMissing => {
                    (code::MISSING_PARAM, "code_verifier is required")
                }
                ExchangeError::VerifierMalformed => (
                    code::VERIFIER_FORMAT,
                    "code_verifier must be 43-128 characters",
                ),
                ExchangeError::VerifierMismatch => (code::VERIFIER, "code_verifier is invalid"),
                ExchangeError::NotConfirmed => {
                    (code::NOT_CONFIRMED, "the QR code is not confirmed")
                }
                _ => (code::QR_GONE, "the QR code has expired"),
            };
            auth_err(c, m)
        }
    }
}

async fn refresh_token(State(core): State<Arc<Core>>, input: Input) -> Response {
    let Some(token) = input.get("refresh_token") else {
        return auth_err(code::MISSING_PARAM, "refresh_token is required");
    };
    match core.refresh(&token, None) {
        Ok((_, pair)) => auth_ok(json!({
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_in": pair.expires_in,
        })),
        Err(RefreshError::RateLimited(reset)) => style_answer(&core, reset),
        Err(e) => {
            let (c, m) = match e {
                RefreshError::Rotated => {
                    (code::REFRESH_ROTATED, "refresh token verification failed")
                }
                RefreshError::Expired => (code::REFRESH_EXPIRED, "refresh token has expired"),
                RefreshError::TooFrequent => {
                    (code::TOO_FREQUENT, "access token refreshed too frequently")
                }
                _ => (code::REFRESH_INVALID, "refresh token is invalid"),
            };
            auth_err(c, m)
        }
    }
}
