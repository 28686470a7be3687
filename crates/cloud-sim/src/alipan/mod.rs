//! The alipan (Aliyun Drive) Open Platform endpoints: QR login with PKCE or client secret,
//! token refresh and the `/adrive/v1.0/` file resources.
//!
//! Success answers carry the payload directly; errors are
//! `{"code", "message", "requestId"}` with a 4xx/5xx status, as the platform sends them.

// Handlers short-circuit with the provider-shaped error `Response`; boxing it would only
// add noise, and these paths are not hot.
#![allow(clippy::result_large_err)]

mod files;
mod parts;
mod upload;
mod upload_state;

pub(crate) use upload_state::UploadStore;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::core::{AuthError, Core, ExchangeError, QrRequest, RefreshError};
use crate::fault::RateLimitAnswer;
use crate::input::Input;
use crate::pkce::{self, Method};
use crate::token::{QrState, random_hex};
use crate::tree::{Content, Node, ROOT, SimFile, Tree};
use crate::util::{extension, iso8601};

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message, "requestId": request_id()})),
    )
        .into_response()
}

fn request_id() -> String {
    let h = random_hex(32).to_ascii_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn bad(code: &str, message: &str) -> Response {
    err(StatusCode::BAD_REQUEST, code, message)
}

/// What a handler answers: the error side is the provider-shaped error response.
type Answer = Result<Response, Response>;

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The answer to an injected HTTP error status.
pub(crate) fn server_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let code = match status {
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        StatusCode::BAD_GATEWAY => "BadGateway",
        StatusCode::GATEWAY_TIMEOUT => "GatewayTimeout",
        _ => "InternalError",
    };
    err(status, code, "simulated server error")
}

/// The answer to a request over a rate limit.
pub(crate) fn rate_limited(answer: RateLimitAnswer) -> Response {
    let reset = match answer {
        RateLimitAnswer::Http429 { reset_secs } => reset_secs,
        RateLimitAnswer::Quota770004 | RateLimitAnswer::Quota406 => 1,
    };
    let mut resp = err(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many requests, please try again later.",
    );
    resp.headers_mut()
        .insert("x-ratelimit-reset", HeaderValue::from(reset));
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(reset));
    resp
}

/// The alipan router.
pub(crate) fn router() -> Router<Arc<Core>> {
    Router::new()
        .route("/oauth/authorize/qrcode", post(authorize_qrcode))
        .route("/oauth/qrcode/{sid}/status", get(qr_status))
        .route("/oauth/qrcode/{sid}", get(qr_image))
        .route("/oauth/access_token", post(access_token))
        .route("/adrive/v1.0/user/getDriveInfo", post(files::drive_info))
        .route("/adrive/v1.0/user/getSpaceInfo", post(files::space_info))
        .route("/adrive/v1.0/openFile/list", post(files::list))
        .route("/adrive/v1.0/openFile/get", post(files::get_file))
        .route(
            "/adrive/v1.0/openFile/get_by_path",
            post(files::get_by_path),
        )
        .route("/adrive/v1.0/openFile/create", post(upload::create))
        .route(
            "/adrive/v1.0/openFile/getUploadUrl",
            post(upload::get_upload_url),
        )
        .route(
            "/adrive/v1.0/openFile/listUploadedParts",
            post(upload::list_uploaded_parts),
        )
        .route("/adrive/v1.0/openFile/complete", post(upload::complete))
        .merge(parts::router())
        .route("/adrive/v1.0/openFile/update", post(files::update))
        .route("/adrive/v1.0/openFile/move", post(files::move_file))
        .route("/adrive/v1.0/openFile/copy", post(files::copy_file))
        .route("/adrive/v1.0/openFile/recyclebin/trash", post(files::trash))
        .route(
            "/adrive/v1.0/openFile/getDownloadUrl",
            post(files::download_url),
        )
        .merge(crate::control::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

pub(crate) async fn not_found() -> Response {
    err(
        StatusCode::NOT_FOUND,
        "NotFound",
        "The resource you requested is not found",
    )
}

async fn method_not_allowed() -> Response {
    err(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The method is not allowed for this resource",
    )
}

// ----- login ---------------------------------------------------------------------------

fn check_client(core: &Core, input: &Input) -> Result<String, Response> {
    let Some(client_id) = input.get("client_id") else {
        return Err(bad(
            "InvalidParameterMissing.ClientId",
            "client_id is required",
        ));
    };
    if core
        .settings()
        .client_id
        .is_some_and(|expected| expected != client_id)
    {
        return Err(bad("InvalidParameter.ClientId", "client_id is invalid"));
    }
    Ok(client_id)
}

fn check_secret(core: &Core, secret: &str) -> Result<(), Response> {
    match core.settings().client_secret {
        Some(expected) if expected != secret => Err(bad(
            "InvalidParameter.ClientSecret",
            "client_secret is invalid",
        )),
        _ => Ok(()),
    }
}

/// Refuses a body that is not JSON, then checks `client_id` (see [`check_client`]).
fn login_client(core: &Core, input: &Input) -> Result<String, Response> {
    if input.body_invalid {
        return Err(bad(
            "InvalidParameter",
            "the request body is not valid JSON",
        ));
    }
    check_client(core, input)
}

async fn authorize_qrcode(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let client_id = login_client(&core, &input)?;
    let request = if let Some(secret) = input.get("client_secret") {
        check_secret(&core, &secret)?;
        QrRequest {
            client_id,
            method: None,
            challenge: None,
            secret: Some(secret),
        }
    } else if let Some(challenge) = input.get("code_challenge") {
        let method_name = input
            .get("code_challenge_method")
            .unwrap_or_else(|| "plain".to_owned());
        let Some(method) = Method::parse_alipan(&method_name) else {
            return Err(bad(
                "InvalidParameter.CodeChallengeMethod",
                "code_challenge_method must be plain or S256",
            ));
        };
        if !pkce::challenge_well_formed(method, &challenge) {
            return Err(bad(
                "InvalidParameter.CodeChallenge",
                "code_challenge is invalid",
            ));
        }
        QrRequest {
            client_id,
            method: Some(method),
            challenge: Some(challenge),
            secret: None,
        }
    } else {
        return Err(bad(
            "InvalidParameterMissing.ClientSecret",
            "client_secret or code_challenge is required",
        ));
    };
    let session = core.create_qr(request);
    Ok(ok(json!({
        "qrCodeUrl": format!("{}/oauth/qrcode/{}", core.base_url, session.id),
        "sid": session.id,
    })))
}

async fn qr_status(State(core): State<Arc<Core>>, Path(sid): Path<String>) -> Response {
    let Some(session) = core.qr_session(&sid) else {
        return ok(json!({"status": "QRCodeExpired"}));
    };
    let state = core
        .qr_info(&sid)
        .map(|i| i.state)
        .unwrap_or(QrState::Expired);
    match state {
        QrState::Waiting => ok(json!({"status": "WaitLogin"})),
        QrState::Scanned => ok(json!({"status": "ScanSuccess"})),
        QrState::Confirmed | QrState::Consumed if session.auth_code.is_some() => {
            ok(json!({"status": "LoginSuccess", "authCode": session.auth_code}))
        }
        _ => ok(json!({"status": "QRCodeExpired"})),
    }
}

async fn qr_image(State(core): State<Arc<Core>>, Path(sid): Path<String>) -> Response {
    if core.qr_session(&sid).is_none() {
        return not_found().await;
    }
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"200\">\
         <rect width=\"200\" height=\"200\" fill=\"white\"/><text x=\"10\" y=\"100\" \
         font-size=\"8\">https://www.alipan.com/o/oauth/authorize?sid={sid}</text></svg>"
    );
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

fn token_body(pair: &crate::token::TokenPair) -> Value {
    let mut body = json!({
        "token_type": "Bearer",
        "access_token": pair.access_token,
        "expires_in": pair.expires_in,
    });
    if let (Some(rt), Some(obj)) = (&pair.refresh_token, body.as_object_mut()) {
        obj.insert("refresh_token".to_owned(), json!(rt));
    }
    body
}

async fn access_token(State(core): State<Arc<Core>>, input: Input) -> Answer {
    let client_id = login_client(&core, &input)?;
    let secret = input.get("client_secret");
    if let Some(s) = &secret {
        check_secret(&core, s)?;
    }
    Ok(token_answer(&core, &input, &client_id, secret.as_deref()))
}

/// The `grant_type` part of `access_token`, once the client is checked.
fn token_answer(core: &Core, input: &Input, client_id: &str, secret: Option<&str>) -> Response {
    match input.get("grant_type").as_deref() {
        None => bad(
            "InvalidParameterMissing.GrantType",
            "grant_type is required",
        ),
        Some("authorization_code") => {
            let Some(code) = input.get("code") else {
                return bad("InvalidParameterMissing.Code", "code is required");
            };
            let verifier = input.get("code_verifier");
            match core.exchange_auth_code(client_id, &code, verifier.as_deref(), secret) {
                Ok(pair) => ok(token_body(&pair)),
                Err(e) => match e {
                    ExchangeError::VerifierMissing => bad(
                        "InvalidParameterMissing.CodeVerifier",
                        "code_verifier is required",
                    ),
                    ExchangeError::VerifierMalformed | ExchangeError::VerifierMismatch => {
                        bad("InvalidParameter.CodeVerifier", "code_verifier is invalid")
                    }
                    ExchangeError::SecretMissing => bad(
                        "InvalidParameterMissing.ClientSecret",
                        "client_secret is required",
                    ),
                    ExchangeError::SecretMismatch => {
                        bad("InvalidParameter.ClientSecret", "client_secret is invalid")
                    }
                    ExchangeError::ClientMismatch => bad(
                        "InvalidParameter.ClientId",
                        "client_id does not match the code",
                    ),
                    _ => bad("InvalidParameter.Code", "code is invalid or expired"),
                },
            }
        }
        Some("refresh_token") => {
            let Some(token) = input.get("refresh_token") else {
                return bad(
                    "InvalidParameterMissing.RefreshToken",
                    "refresh_token is required",
                );
            };
            match core.refresh(&token, secret) {
                Ok((_, pair)) => ok(token_body(&pair)),
                Err(RefreshError::Expired) => {
                    bad("RefreshTokenExpired", "refresh token has expired")
                }
                Err(RefreshError::TooFrequent) => {
                    rate_limited(RateLimitAnswer::Http429 { reset_secs: 1 })
                }
                Err(RefreshError::RateLimited(reset)) => {
                    rate_limited(RateLimitAnswer::Http429 { reset_secs: reset })
                }
                Err(RefreshError::SecretMissing) => bad(
                    "InvalidParameterMissing.ClientSecret",
                    "client_secret is required",
                ),
                Err(RefreshError::SecretMismatch) => {
                    bad("InvalidParameter.ClientSecret", "client_secret is invalid")
                }
                Err(_) => bad("InvalidParameter.RefreshToken", "refresh_token is invalid"),
            }
        }
        Some(_) => bad("InvalidParameter.GrantType", "grant_type is invalid"),
    }
}

// ----- resources -----------------------------------------------------------------------

fn authed(core: &Core, input: &Input) -> Result<String, Response> {
    let account = match core.authenticate(input.bearer()) {
        Ok(a) => a,
        Err(AuthError::RateLimited(reset)) => {
            return Err(rate_limited(RateLimitAnswer::Http429 { reset_secs: reset }));
        }
        Err(AuthError::Expired) => {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                "AccessTokenExpired",
                "AccessToken is expired",
            ));
        }
        Err(_) => {
            return Err(err(
                StatusCode::UNAUTHORIZED,
                "AccessTokenInvalid",
                "AccessToken is invalid",
            ));
        }
    };
    if input.body_invalid {
        return Err(bad(
            "InvalidParameter",
            "the request body is not valid JSON",
        ));
    }
    Ok(account)
}

/// Authenticates and resolves the request's `drive_id` to one of the account's drives.
fn authed_drive(core: &Core, input: &Input) -> Result<String, Response> {
    let account = authed(core, input)?;
    let Some(drive) = input.get("drive_id") else {
        return Err(bad(
            "InvalidParameterMissing.DriveId",
            "drive_id is required",
        ));
    };
    if !core.owns_drive(&account, &drive) {
        return Err(err(
            StatusCode::FORBIDDEN,
            "ForbiddenDriveNotValid",
            "drive_id is not valid for this user",
        ));
    }
    Ok(drive)
}

pub(crate) fn ext_id(id: u64) -> String {
    if id == ROOT {
        "root".to_owned()
    } else {
        format!("64{id:038x}")
    }
}

fn parse_id(s: &str) -> Option<u64> {
    if s == "root" {
        return Some(ROOT);
    }
    let hex = s.strip_prefix("64")?;
    u64::from_str_radix(hex, 16).ok().filter(|id| *id != ROOT)
}
