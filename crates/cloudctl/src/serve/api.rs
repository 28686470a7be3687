//! The token API: storages with their state, a valid access token, forced refresh, logout.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use cloud_clients::{LoginKind, TokenState};
use serde_json::{Value, json};

use super::auth::Auth;
use super::error::{ApiError, ApiResult};
use super::events::state_event;
use super::state::AppState;

/// Config members a logout keeps: identifiers of the app and the server, no secret.
const KEPT_ON_LOGOUT: [&str; 3] = ["client_id", "url", "username"];

fn login_names(kinds: &[LoginKind]) -> Vec<&'static str> {
    kinds
        .iter()
        .filter_map(|k| match k {
            LoginKind::Qr => Some("qr"),
            LoginKind::Password => Some("password"),
            _ => None,
        })
        .collect()
}

fn rfc3339(time: Option<std::time::SystemTime>) -> Value {
    time.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(Value::Null, |d| {
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            Value::from(cloud_clients::format_timestamp_ms(ms))
        })
}

/// `GET /api/v1/storages`: never a secret.
pub async fn storages(State(state): State<Arc<AppState>>, _auth: Auth) -> ApiResult<Json<Value>> {
    let mut list = Vec::new();
    for conf in state.served()? {
        let Some(kind) = conf.kind.clone() else {
            continue;
        };
        let drive = state.drive(&kind, false)?;
        list.push(json!({
            "name": kind,
            "type": cloud_clients::provider_of(&kind),
            "display_name": conf.name.clone().unwrap_or_else(|| drive.display_name().to_owned()),
            "logins": login_names(&drive.logins()),
            "state": drive.accessor().state(),
        }));
    }
    Ok(Json(json!({"storages": list})))
}

/// `GET /api/v1/storages/{name}/token`: API keys only. From memory while valid; refreshed
/// through the token core (one refresh for every caller) when due.
pub async fn token(
    State(state): State<Arc<AppState>>,
    auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    if auth == Auth::Console {
        return Err(ApiError::forbidden(
            "tokens are handed to programs with an API key, not to the console",
        ));
    }
    let drive = state.drive(&name, true)?;
    let accessor = drive.accessor();
    let token = accessor.access_token().await?;
    Ok(Json(json!({
        "access_token": token.secret(),
        "expires_at": rfc3339(accessor.expires_at()),
    })))
}

/// `POST /api/v1/storages/{name}/refresh`: a forced refresh.
pub async fn refresh(
    State(state): State<Arc<AppState>>,
    _auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let drive = state.drive(&name, true)?;
    drive.accessor().force_refresh().await?;
    Ok(Json(json!({"state": drive.accessor().state()})))
}

/// `POST /api/v1/storages/{name}/logout`: the stored login is removed (the app's client id
/// and the server URL stay), and the token held in memory is dropped.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    _auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let drive = state.drive(&name, true)?;
    let accessor = drive.accessor();
    let held = accessor.cached();
    state
        .storages
        .update_config(&name, |config| {
            config.retain(|k, _| KEPT_ON_LOGOUT.contains(&k.as_str()))
        })
        .await?;
    if let Some(token) = held {
        accessor.invalidate(&token).await;
    }
    // The next read finds nothing stored: the accessor says logged out.
    let _ = accessor.access_token().await;
    let now = accessor.state();
    if now == TokenState::LoggedOut {
        // Watchers saw it through the accessor already; this covers an unchanged state.
        let _ = state.events.send(state_event(&name, &now));
    }
    Ok(Json(json!({"state": now})))
}
