//! Logins through the API: a QR login (the code rendered to SVG here, progress on the
//! event stream, cancel with DELETE) and OpenList's password login. Both are rate-limited
//! per client address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use cloud_clients::{CloudStorage, LoginStatus, Password};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Auth;
use super::error::{ApiError, ApiResult};
use super::events::login_event;
use super::state::{AppState, RunningLogin};

/// How long a QR login is polled before it is given up.
const QR_TIMEOUT: Duration = Duration::from_secs(300);

/// Renders `payload` as an SVG QR code.
pub fn qr_svg(payload: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(payload.as_bytes())
        .map_err(|e| ApiError::internal(format!("rendering the QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

fn status_word(status: LoginStatus) -> &'static str {
    match status {
        LoginStatus::Waiting => "waiting",
        LoginStatus::Scanned => "scanned",
        LoginStatus::Confirmed => "confirmed",
        LoginStatus::Expired => "expired",
        LoginStatus::Cancelled => "cancelled",
    }
}

fn limit(state: &AppState, peer: SocketAddr) -> ApiResult<()> {
    state
        .login_attempts
        .take(peer.ip())
        .map_err(ApiError::rate_limited)
}

/// `POST /storages/{name}/login/qr` body (optional).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct QrRequest {
    /// The application's APP ID / client id, saved in the storage's config.
    client_id: Option<String>,
}

/// `POST /api/v1/storages/{name}/login/qr`.
pub async fn start_qr(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    _auth: Auth,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let body: Option<QrRequest> = super::error::body(&body)?;
    limit(&state, peer)?;
    let drive = state.drive(&name, false)?;
    drive.require_qr_login()?;
    if state
        .logins
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(&name)
    {
        return Err(ApiError::conflict(format!(
            "a QR login of {name} is under way; cancel it first"
        )));
    }
    if let Some(QrRequest {
        client_id: Some(id),
    }) = body
    {
        state
            .storages
            .patch(&name, &json!({"client_id": id}))
            .await?;
    }
    let login = drive.start_qr_login().await?;
    let svg = qr_svg(&login.qr_payload)?;
    let login_id = super::keys::random_token()[..16].to_owned();
    let expires_at = SystemTime::now() + QR_TIMEOUT;
    let task = {
        let state = Arc::clone(&state);
        let drive = Arc::clone(&drive);
        let (name, login_id) = (name.clone(), login_id.clone());
        tokio::spawn(async move {
            poll(&state, drive.as_ref(), &name, &login_id, login).await;
            let mut logins = state.logins.lock().unwrap_or_else(|e| e.into_inner());
            if logins.get(&name).is_some_and(|l| l.login_id == login_id) {
                logins.remove(&name);
            }
        })
    };
    {
        let mut logins = state.logins.lock().unwrap_or_else(|e| e.into_inner());
        if logins.contains_key(&name) {
            task.abort();
            return Err(ApiError::conflict(format!(
                "a QR login of {name} is under way; cancel it first"
            )));
        }
        logins.insert(
            name.clone(),
            RunningLogin {
                login_id: login_id.clone(),
                task: task.abort_handle(),
            },
        );
    }
    let _ = state
        .events
        .send(login_event(&name, &login_id, "waiting", None));
    Ok(Json(json!({
        "login_id": login_id,
        "qr_svg": svg,
        "expires_at": super::api_time(expires_at),
    })))
}

/// Polls a QR login to its end, sending each status change to the event stream.
async fn poll(
    state: &AppState,
    drive: &dyn CloudStorage,
    name: &str,
    login_id: &str,
    login: cloud_clients::QrLogin,
) {
    let deadline = tokio::time::Instant::now() + QR_TIMEOUT;
    let mut last = LoginStatus::Waiting;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            let _ = state
                .events
                .send(login_event(name, login_id, "expired", None));
            return;
        }
        match drive
            .poll_qr_login(&login, left.min(Duration::from_secs(30)))
            .await
        {
            Ok(status) => {
                if status != last {
                    let _ =
                        state
                            .events
                            .send(login_event(name, login_id, status_word(status), None));
                    last = status;
                }
                if status.is_final() {
                    return;
                }
            }
            Err(err) if err.is_transient() => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => {
                let message = err.to_string();
                let _ = state
                    .events
                    .send(login_event(name, login_id, "failed", Some(&message)));
                return;
            }
        }
    }
}

/// `DELETE /api/v1/storages/{name}/login/{login_id}`: cancels a QR login.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    _auth: Auth,
    Path((name, login_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let running = {
        let mut logins = state.logins.lock().unwrap_or_else(|e| e.into_inner());
        match logins.get(&name) {
            Some(l) if l.login_id == login_id => logins.remove(&name),
            _ => None,
        }
    };
    let Some(running) = running else {
        return Err(ApiError::not_found(format!(
            "no QR login `{login_id}` of {name}"
        )));
    };
    running.task.abort();
    let _ = state
        .events
        .send(login_event(&name, &login_id, "cancelled", None));
    Ok(Json(json!({"login_id": login_id, "status": "cancelled"})))
}

/// `POST /storages/{name}/login/password` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    username: String,
    password: String,
}

/// `POST /api/v1/storages/{name}/login/password`: a wrong password is 400 `login_failed`
/// (401 means the caller's own credentials).
pub async fn password(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    _auth: Auth,
    Path(name): Path<String>,
    request: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let request: PasswordRequest = super::error::body(&request)?;
    limit(&state, peer)?;
    let drive = state.drive(&name, false)?;
    let flow = drive.require_password_login()?;
    if request.username.is_empty() || request.password.is_empty() {
        return Err(ApiError::bad_request("user name and password are required"));
    }
    let password = Password::new(request.password);
    match flow.login_with_password(&request.username, &password).await {
        Ok(()) => Ok(Json(json!({"state": drive.accessor().state()}))),
        Err(err) if err.needs_login() => Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "login_failed",
            err.to_string(),
        )),
        Err(err) => Err(err.into()),
    }
}
