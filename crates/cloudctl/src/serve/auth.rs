//! Who is asking: a program with an API key (`Authorization: Bearer …`) or the console
//! with a session cookie (`dk_session`, `HttpOnly; SameSite=Strict`), opened with an API
//! key or the one-time link printed at start.
//!
//! Cookie-authenticated POST/DELETE requests must also carry `X-Drivekeep-Console: 1`
//! (a cross-site form cannot set a custom header; SameSite=Strict already keeps the cookie
//! off cross-site requests). Failed authentications are rate-limited per client address
//! (429 with `Retry-After` once the bucket is empty).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use super::keys;
use super::state::AppState;

/// The console's session cookie.
pub const COOKIE: &str = "dk_session";
/// The header cookie-authenticated state-changing requests carry.
pub const CSRF_HEADER: &str = "x-drivekeep-console";
/// How long a console session lasts.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How long the one-time link printed at start works (once).
const ONE_TIME_LIFETIME: Duration = Duration::from_secs(24 * 3600);

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug)]
struct Session {
    expires: Instant,
    /// The API key the session was opened with (the session ends when it is revoked).
    key: Option<String>,
}

/// Console sessions and the one-time link, in memory (a restart signs the console out).
#[derive(Debug)]
pub struct Sessions {
    sessions: Mutex<HashMap<[u8; 32], Session>>,
    one_time: Mutex<Option<([u8; 32], Instant)>>,
}

impl Sessions {
    pub fn new(one_time: String) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            one_time: Mutex::new(Some((
                digest(&one_time),
                Instant::now() + ONE_TIME_LIFETIME,
            ))),
        }
    }

    fn open(&self, key: Option<String>) -> String {
        let token = keys::random_token();
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            digest(&token),
            Session {
                expires: now + SESSION_LIFETIME,
                key,
            },
        );
        token
    }

    /// Uses up the one-time token if `presented` is it.
    fn redeem(&self, presented: &str) -> bool {
        let mut one_time = self.one_time.lock().unwrap_or_else(|e| e.into_inner());
        let wanted = digest(presented);
        let ok = one_time.as_ref().is_some_and(|(stored, until)| {
            bool::from(subtle::ConstantTimeEq::ct_eq(&stored[..], &wanted[..]))
                && *until > Instant::now()
        });
        if ok {
            *one_time = None;
        }
        ok
    }

    fn check(&self, state: &AppState, token: &str) -> bool {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let id = digest(token);
        let alive = sessions.get(&id).is_some_and(|s| {
            s.expires > Instant::now()
                && s.key
                    .as_deref()
                    .is_none_or(|name| keys::exists(state.storages.store(), name))
        });
        if !alive {
            sessions.remove(&id);
        }
        alive
    }

    fn close(&self, token: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&digest(token));
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// A program, with the API key of this name.
    Key(String),
    /// The console (session cookie).
    Console,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

fn client_ip(parts: &Parts) -> std::net::IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.0.ip())
}

/// A failed authentication: 401, or 429 once this address failed too often.
pub fn failed(state: &AppState, ip: std::net::IpAddr) -> ApiError {
    match state.auth_failures.take(ip) {
        Ok(()) => ApiError::unauthorized(),
        Err(wait) => ApiError::rate_limited(wait),
    }
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Self> {
        let ip = client_ip(parts);
        if let Some(key) = bearer(&parts.headers) {
            return match keys::check(state.storages.store(), key) {
                Some(name) => Ok(Auth::Key(name)),
                None => Err(failed(state, ip)),
            };
        }
        let Some(token) = cookie(&parts.headers) else {
            return Err(failed(state, ip));
        };
        if !state.sessions.check(state, token) {
            return Err(failed(state, ip));
        }
        let changes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes && parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1") {
            return Err(ApiError::forbidden(
                "console requests that change something must carry `X-Drivekeep-Console: 1`",
            ));
        }
        Ok(Auth::Console)
    }
}

/// `POST /api/v1/session` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    api_key: Option<String>,
    one_time: Option<String>,
}

fn session_cookie(state: &AppState, value: &str, max_age: Option<u64>) -> ApiResult<HeaderValue> {
    let mut text = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if state.secure_cookies {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).map_err(|_| ApiError::internal("cannot build the session cookie"))
}

/// `POST /api/v1/session`: opens a console session (204 + cookie).
pub async fn create_session(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: axum::body::Bytes,
) -> ApiResult<Response> {
    let request: SessionRequest = super::error::body(&request)?;
    if let Some(wait) = state.auth_failures.exhausted(peer.ip()) {
        return Err(ApiError::rate_limited(wait));
    }
    let key = match (&request.api_key, &request.one_time) {
        (Some(key), None) => keys::check(state.storages.store(), key).map(Some),
        (None, Some(token)) => state.sessions.redeem(token).then_some(None),
        _ => return Err(ApiError::bad_request("send `api_key` or `one_time`")),
    };
    let Some(key) = key else {
        return Err(failed(&state, peer.ip()));
    };
    let token = state.sessions.open(key);
    let cookie = session_cookie(&state, &token, Some(SESSION_LIFETIME.as_secs()))?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `GET /api/v1/session`.
pub async fn get_session(auth: Auth) -> Json<serde_json::Value> {
    let via = match auth {
        Auth::Key(_) => "api_key",
        Auth::Console => "session",
    };
    Json(json!({"authenticated": true, "via": via}))
}

/// `DELETE /api/v1/session`: ends the console session (the cookie is cleared).
pub async fn delete_session(
    State(state): State<Arc<AppState>>,
    _auth: Auth,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = cookie(&headers) {
        state.sessions.close(token);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, "", Some(0))?);
    Ok(response)
}
