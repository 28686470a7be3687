//! The OpenList / AList server (MoviePilot's `alist` storage): password login to a JWT
//! that the server keeps in an in-memory valid set, the permanent admin token, and the
//! `/api/fs/*` endpoints plus the signed `/d` and `/p` download routes over one
//! Local-like storage mounted at `/`.
//!
//! Every `/api` reply is HTTP 200 with the envelope `{"code","message","data"}`; the real
//! status is in `code`. Download-route errors are an HTML page with the real status
//! (AList v3: the JSON envelope). A path no route knows gets the web UI's HTML page for
//! GET and POST (also a known path with the wrong method) and an empty 405 otherwise.
//! See the "simulator" section of the provider spec and the crate README.

// Handlers short-circuit with the provider-shaped `Response`; boxing it would only add
// noise, and these paths are not hot.
#![allow(clippy::result_large_err)]

mod auth;
mod bind;
mod config;
mod control;
mod fs_read;
mod fs_write;
mod handle;
mod jwt;
mod state;
mod transfer;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use serde_json::{Value, json};

pub use config::{ConfigOpenList, Flavor};
pub use handle::{SimOpenList, SimOpenListHandle};
pub use state::{OpenListUser, USER_PERMISSION};

pub(crate) use state::Store;

use crate::core::{Core, State};
use crate::fault::RateLimitAnswer;
use crate::tree::Tree;

/// The drive id of the one storage every user sees.
pub(crate) const STORAGE: &str = "openlist";
/// The admin user a fresh install creates.
pub(crate) const ADMIN: &str = "admin";
/// The guest user (requests without `Authorization`).
pub(crate) const GUEST: &str = "guest";

/// A success envelope.
pub(crate) fn ok(data: Value) -> Response {
    envelope(200, "success", data)
}

/// An error envelope (still HTTP 200).
pub(crate) fn fail(code: u16, message: &str) -> Response {
    envelope(code, message, Value::Null)
}

fn envelope(code: u16, message: &str, data: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({"code": code, "message": message, "data": data})),
    )
        .into_response()
}

/// The answer to an injected HTTP error status: that status with an error envelope (as a
/// crashing handler or a reverse proxy in front of the server would give).
pub(crate) fn server_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = fail(status.as_u16(), "simulated server error");
    *resp.status_mut() = status;
    resp
}

/// The answer to a request over a rate limit. The server has no API rate limit: `Http429`
/// is what a limiting proxy in front of it sends (HTTP 429, `Retry-After`); the quota
/// answers become the server's own throttle reply, the login lockout (`code:429` on 200).
pub(crate) fn rate_limited(answer: RateLimitAnswer) -> Response {
    match answer {
        RateLimitAnswer::Http429 { reset_secs } => {
            let mut resp = fail(429, "Too Many Requests");
            *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(reset_secs));
            resp
        }
        RateLimitAnswer::Quota770004 | RateLimitAnswer::Quota406 => {
            fail(429, state::TOO_MANY_ATTEMPTS)
        }
    }
}

/// The OpenList router.
pub(crate) fn router() -> Router<Arc<Core>> {
    Router::new()
        .route("/ping", any(|| async { "pong" }))
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/login/hash", post(auth::login_hash))
        .route("/api/auth/logout", get(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/public/settings", any(auth::public_settings))
        .route("/api/admin/setting/reset_token", post(auth::reset_token))
        .route("/api/fs/list", any(fs_read::list))
        .route("/api/fs/get", any(fs_read::get))
        .route("/api/fs/dirs", any(fs_read::dirs))
        .route("/api/fs/mkdir", post(fs_write::mkdir))
        .route("/api/fs/rename", post(fs_write::rename))
        .route("/api/fs/move", post(fs_write::move_items))
        .route("/api/fs/copy", post(fs_write::copy_items))
        .route("/api/fs/remove", post(fs_write::remove))
        .route("/api/fs/put", put(transfer::put))
        .route("/d/{*path}", get(transfer::down))
        .route("/p/{*path}", get(transfer::proxy))
        .merge(control::router())
        .fallback(spa)
        .method_not_allowed_fallback(spa)
}

/// The web UI's page, served for every path no route knows.
async fn spa(method: Method, core: axum::extract::State<Arc<Core>>) -> Response {
    if method != Method::GET && method != Method::POST {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let title = if core.state.lock().openlist.flavor.is_alist() {
        "AList"
    } else {
        "OpenList"
    };
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n  <head>\n    <meta charset=\"utf-8\" />\n    \
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n    \
         <title>{title}</title>\n    <script type=\"module\" src=\"/assets/index.js\"></script>\n  \
         </head>\n  <body>\n    <noscript>You need to enable JavaScript to run this app.</noscript>\n    \
         <div id=\"root\"></div>\n  </body>\n</html>\n"
    );
    ([(header::CONTENT_TYPE, "text/html")], page).into_response()
}

/// Runs `f` on the storage tree and the server state under the one lock, with the id
/// counter and the simulated time.
pub(crate) fn with_storage<R>(
    core: &Core,
    f: impl FnOnce(&mut Tree, &mut Store, &mut u64, u64) -> R,
) -> Option<R> {
    let now = core.now_unix();
    let mut st = core.state.lock();
    let State {
        drives,
        openlist,
        next_id,
        ..
    } = &mut *st;
    let tree = drives.get_mut(STORAGE)?;
    Some(f(tree, openlist, next_id, now))
}

/// Counts request fields the server ignores, as `path field`.
pub(crate) fn record_ignored(core: &Core, path: &str, fields: Vec<String>) {
    if fields.is_empty() {
        return;
    }
    let mut st = core.state.lock();
    for field in fields {
        *st.stats
            .ignored_fields
            .entry(format!("{path} {field}"))
            .or_insert(0) += 1;
    }
}
