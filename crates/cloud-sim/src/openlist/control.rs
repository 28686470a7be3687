//! OpenList's control paths under `/__sim/` (added to the common ones: stats, clock,
//! faults, settings, files): restart, users, the permanent token, server settings and
//! signs.
//!
//! | method and path | does |
//! |---|---|
//! | `POST /__sim/restart` | drop every login token and failure counter |
//! | `GET /__sim/users`, `GET /__sim/users/{name}` | users |
//! | `POST /__sim/users` `{"username","password"}` | add a user (or set its password) |
//! | `POST /__sim/users/{name}` | `base_path`, `permission`, `disabled`, `otp_code` (null clears) |
//! | `POST /__sim/users/{name}/password` `{"password"}` | change the password |
//! | `POST /__sim/users/{name}/token` | issue a login token directly |
//! | `DELETE /__sim/users/{name}` | delete the user |
//! | `GET /__sim/token`, `POST /__sim/token/reset` | the permanent token; a new one |
//! | `POST /__sim/openlist` | `token_expires_in_secs`, `sign_all`, `link_expiration_secs`, `guest_enabled`, `direct_links` |
//! | `GET /__sim/sign?path=/a.mkv` | the sign of a storage path |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::jwt::new_permanent_token;
use super::{GUEST, handle};
use crate::control::{common_router, control_err, from_error};
use crate::core::Core;
use crate::input::Input;

/// The OpenList control routes.
pub(super) fn router() -> Router<Arc<Core>> {
    common_router()
        .route("/__sim/restart", post(restart))
        .route("/__sim/users", get(users).post(add_user))
        .route(
            "/__sim/users/{name}",
            get(user).post(update_user).delete(delete_user),
        )
        .route("/__sim/users/{name}/password", post(password))
        .route("/__sim/users/{name}/token", post(issue))
        .route("/__sim/token", get(token))
        .route("/__sim/token/reset", post(reset_token))
        .route("/__sim/openlist", post(settings))
        .route("/__sim/sign", get(sign))
}

async fn restart(State(core): State<Arc<Core>>) -> Response {
    let mut st = core.state.lock();
    let invalidated = st.openlist.restart();
    axum::Json(json!({"invalidated": invalidated, "restarts": st.openlist.restarts}))
        .into_response()
}

async fn users(State(core): State<Arc<Core>>) -> Response {
    let st = core.state.lock();
    let list: Vec<_> = st.openlist.users.values().map(|u| u.info()).collect();
    axum::Json(list).into_response()
}

async fn user(State(core): State<Arc<Core>>, Path(name): Path<String>) -> Response {
    match core.state.lock().openlist.users.get(&name) {
        Some(u) => axum::Json(u.info()).into_response(),
        None => from_error(crate::Error::UnknownUser(name)),
    }
}

async fn add_user(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (Some(name), Some(password)) = (input.get("username"), input.get("password")) else {
        return control_err(
            StatusCode::BAD_REQUEST,
            "username and password are required",
        );
    };
    axum::Json(handle::add_user(&core, &name, &password)).into_response()
}

async fn update_user(
    State(core): State<Arc<Core>>,
    Path(name): Path<String>,
    input: Input,
) -> Response {
    let mut st = core.state.lock();
    let Some(u) = st.openlist.users.get_mut(&name) else {
        return from_error(crate::Error::UnknownUser(name));
    };
    if let Some(base) = input.get("base_path") {
        u.base_path = super::bind::fix_and_clean(&base);
    }
    if let Some(bits) = input.get("permission").and_then(|p| p.parse().ok()) {
        u.permission = bits;
    }
    if let Some(disabled) = input.json_value("disabled").and_then(Value::as_bool) {
        u.disabled = disabled;
    }
    match input.json_value("otp_code") {
        Some(Value::Null) => u.otp_code = None,
        Some(Value::String(code)) => u.otp_code = Some(code.clone()),
        _ => {}
    }
    axum::Json(u.info()).into_response()
}

async fn delete_user(State(core): State<Arc<Core>>, Path(name): Path<String>) -> Response {
    match core.state.lock().openlist.users.remove(&name) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => from_error(crate::Error::UnknownUser(name)),
    }
}

async fn password(
    State(core): State<Arc<Core>>,
    Path(name): Path<String>,
    input: Input,
) -> Response {
    let Some(password) = input.get("password") else {
        return control_err(StatusCode::BAD_REQUEST, "password is required");
    };
    let now = core.now_unix();
    let mut st = core.state.lock();
    if !st.openlist.set_password(&name, &password, now) {
        return from_error(crate::Error::UnknownUser(name));
    }
    match st.openlist.users.get(&name) {
        Some(u) => axum::Json(u.info()).into_response(),
        None => from_error(crate::Error::UnknownUser(name)),
    }
}

async fn issue(State(core): State<Arc<Core>>, Path(name): Path<String>) -> Response {
    match handle::issue_token(&core, &name) {
        Ok(token) => axum::Json(json!({"token": token})).into_response(),
        Err(e) => from_error(e),
    }
}

async fn token(State(core): State<Arc<Core>>) -> Response {
    let token = core.state.lock().openlist.permanent_token.clone();
    axum::Json(json!({"token": token})).into_response()
}

async fn reset_token(State(core): State<Arc<Core>>) -> Response {
    let mut st = core.state.lock();
    let token = new_permanent_token(st.openlist.flavor);
    st.openlist.permanent_token = token.clone();
    axum::Json(json!({"token": token})).into_response()
}

fn secs(input: &Input, key: &str) -> Option<Duration> {
    input
        .get(key)
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

async fn settings(State(core): State<Arc<Core>>, input: Input) -> Response {
    let flag = |key: &str| input.json_value(key).and_then(Value::as_bool);
    let mut st = core.state.lock();
    let store = &mut st.openlist;
    if let Some(d) = secs(&input, "token_expires_in_secs") {
        store.token_expires_in = d;
    }
    if let Some(d) = secs(&input, "link_expiration_secs") {
        store.link_expiration = d;
    }
    if let Some(on) = flag("sign_all") {
        store.sign_all = on;
    }
    if let Some(on) = flag("direct_links") {
        store.direct_links = on;
    }
    if let Some(on) = flag("guest_enabled")
        && let Some(guest) = store.users.get_mut(GUEST)
    {
        guest.disabled = !on;
    }
    let guest_enabled = store.users.get(GUEST).is_some_and(|g| !g.disabled);
    axum::Json(json!({
        "token_expires_in_secs": store.token_expires_in.as_secs_f64(),
        "link_expiration_secs": store.link_expiration.as_secs_f64(),
        "sign_all": store.sign_all,
        "direct_links": store.direct_links,
        "guest_enabled": guest_enabled,
        "valid_tokens": store.valid_token_count(),
        "restarts": store.restarts,
    }))
    .into_response()
}

async fn sign(State(core): State<Arc<Core>>, input: Input) -> Response {
    let Some(path) = input.get("path") else {
        return control_err(StatusCode::BAD_REQUEST, "path is required");
    };
    let now = core.now_unix();
    let sign = core
        .state
        .lock()
        .openlist
        .sign(&super::bind::fix_and_clean(&path), now);
    axum::Json(json!({"sign": sign})).into_response()
}
