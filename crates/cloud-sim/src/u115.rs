//! The 115 Open Platform endpoints: QR device-code login, token refresh and the file
//! resources media managers use.
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

const QUOTA_MESSAGE: &str = "已达到当前访问上限，请稍后再试";
const TOTAL_SPACE: u64 = 2 * 1024 * 1024 * 1024 * 1024;

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// Passport / QR success: `state` 1.
fn auth_ok(data: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({"state": 1, "code": 0, "message": "", "data": data}),
    )
}

/// Passport / QR error: `state` 0, no `data`.
fn auth_err(code: i64, message: &str) -> Response {
    json_response(
        StatusCode::OK,
        json!({"state": 0, "code": code, "message": message}),
    )
}

/// Resource success: `state` true.
fn res_ok(data: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({"state": true, "code": 0, "message": "", "data": data}),
    )
}

/// Resource error: `state` false, `data` null.
fn res_err(code: i64, message: &str) -> Response {
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

fn style_answer(core: &Core, reset_secs: u64) -> Response {
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
        .merge(crate::control::router())
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

// ----- resources -----------------------------------------------------------------------

/// Authenticates a resource request; returns the account name and its drive id.
fn authed(core: &Core, input: &Input) -> Result<(String, String), Response> {
    match core.authenticate(input.bearer()) {
        Ok(account) => {
            let drive = core
                .account(&account)
                .map(|a| a.default_drive)
                .unwrap_or_default();
            Ok((account, drive))
        }
        Err(AuthError::RateLimited(reset)) => Err(style_answer(core, reset)),
        Err(AuthError::Expired | AuthError::Revoked) => Err(res_err(
            code::ACCESS_INVALID,
            "access token is invalid or expired",
        )),
        Err(AuthError::Missing | AuthError::Unknown) => {
            Err(res_err(code::ACCESS_CHECK, "access token check failed"))
        }
    }
}

fn fid(id: u64) -> String {
    id.to_string()
}

fn parse_fid(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

fn item(n: &Node) -> Value {
    json!({
        "fid": fid(n.id),
        "aid": "1",
        "pid": fid(n.parent),
        "fc": if n.is_dir { "0" } else { "1" },
        "fn": n.name,
        "fs": n.size,
        "upt": n.modified,
        "uet": n.modified,
        "uppt": n.created,
        "pc": n.pick_code,
        "ico": if n.is_dir { String::new() } else { extension(&n.name) },
        "sha1": n.sha1,
        "isv": 0,
    })
}

async fn user_info(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (account, _) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(a) = core.account(&account) else {
        return res_err(code::ACCESS_CHECK, "access token check failed");
    };
    let used = core.used_bytes(&account);
    let size =
        |n: u64| json!({"size": n, "size_format": format!("{:.2}GB", n as f64 / 1073741824.0)});
    res_ok(json!({
        "user_id": a.user_id,
        "user_name": a.display_name,
        "user_face_s": "",
        "user_face_m": "",
        "user_face_l": "",
        "rt_space_info": {
            "all_total": size(TOTAL_SPACE),
            "all_remain": size(TOTAL_SPACE.saturating_sub(used)),
            "all_use": size(used),
        },
        "vip_info": {"level_name": "", "expire": 0},
    }))
}

async fn files(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let cid = match input.get("cid").map(|c| parse_fid(&c)) {
        None => ROOT,
        Some(Some(c)) => c,
        Some(None) => return res_err(code::MISSING_PARAM, "cid is invalid"),
    };
    let limit = input
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, 1000);
    let offset = input
        .get("offset")
        .and_then(|o| o.parse::<usize>().ok())
        .unwrap_or(0);
    let show_dir = input.get("show_dir").is_some_and(|s| s == "1");
    let answer = core.with_tree(&drive, |t: &mut Tree, _, _| {
        let folder = t.get(cid).filter(|n| n.is_dir)?;
        let (dirs, files): (Vec<&Node>, Vec<&Node>) = folder
            .children
            .iter()
            .filter_map(|c| t.get(*c))
            .partition(|n| n.is_dir);
        let all: Vec<&Node> = if show_dir {
            dirs.into_iter().chain(files).collect()
        } else {
            files
        };
        let page: Vec<Value> = all
            .iter()
            .skip(offset)
            .take(limit)
            .map(|n| item(n))
            .collect();
        let mut path: Vec<Value> = t
            .ancestors(cid)
            .into_iter()
            .map(|(id, name)| json!({"cid": fid(id), "name": name}))
            .collect();
        if cid != ROOT {
            path.push(json!({"cid": fid(cid), "name": folder.name}));
        }
        Some((page, all.len(), path))
    });
    match answer.flatten() {
        Some((page, count, path)) => json_response(
            StatusCode::OK,
            json!({
                "state": true, "code": 0, "message": "",
                "data": page, "count": count, "cid": fid(cid),
                "offset": offset, "limit": limit, "path": path,
            }),
        ),
        None => res_err(code::NOT_FOUND, "文件夹不存在或已删除"),
    }
}

fn info(t: &Tree, n: &Node) -> Value {
    let (count, folder_count) =
        n.children
            .iter()
            .filter_map(|c| t.get(*c))
            .fold(
                (0u64, 0u64),
                |(f, d), c| if c.is_dir { (f, d + 1) } else { (f + 1, d) },
            );
    let mut paths: Vec<Value> = t
        .ancestors(n.id)
        .into_iter()
        .map(|(id, name)| json!({"file_id": fid(id), "file_name": name}))
        .collect();
    if n.id == ROOT {
        paths.clear();
    }
    json!({
        "count": count.to_string(),
        "size": format!("{}B", n.size),
        "size_byte": n.size,
        "folder_count": folder_count.to_string(),
        "play_long": 0,
        "show_play_long": 0,
        "ptime": n.created.to_string(),
        "utime": n.modified.to_string(),
        "file_name": n.name,
        "pick_code": n.pick_code,
        "sha1": n.sha1,
        "file_id": fid(n.id),
        "is_mark": "0",
        "open_time": 0,
        "file_category": if n.is_dir { "0" } else { "1" },
        "paths": paths,
    })
}

async fn get_info(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let path = input.get("path");
    let file_id = input.get("file_id");
    if path.is_none() && file_id.is_none() {
        return res_err(code::MISSING_PARAM, "path or file_id is required");
    }
    let found = core
        .with_tree(&drive, |t, _, _| {
            let id = match (&file_id, &path) {
                (Some(f), _) => parse_fid(f)?,
                (None, Some(p)) => t.lookup(p)?,
                (None, None) => return None,
            };
            t.get(id).map(|n| info(t, n))
        })
        .flatten();
    match found {
        Some(data) => res_ok(data),
        None => json_response(
            StatusCode::OK,
            json!({"state": false, "code": code::NOT_FOUND, "message": "文件不存在或已删除", "data": []}),
        ),
    }
}

async fn folder_add(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(pid), Some(name)) = (input.get("pid"), input.get("file_name")) else {
        return res_err(code::MISSING_PARAM, "pid and file_name are required");
    };
    let Some(pid) = parse_fid(&pid) else {
        return res_err(code::MISSING_PARAM, "pid is invalid");
    };
    if name.contains('/') {
        return res_err(code::MISSING_PARAM, "file_name is invalid");
    }
    let result = core
        .with_tree(&drive, |t, ids, now| {
            if !t.get(pid).is_some_and(|n| n.is_dir) {
                return Err(res_err(code::NOT_FOUND, "父目录不存在"));
            }
            if t.child(pid, &name).is_some() {
                return Err(res_err(code::EXISTS, "该目录名称已存在。"));
            }
            Ok(t.mkdir(pid, &name, now, ids))
        })
        .unwrap_or_else(|| Err(res_err(code::NOT_FOUND, "父目录不存在")));
    match result {
        Ok(id) => res_ok(json!({"file_name": name, "file_id": fid(id)})),
        Err(r) => r,
    }
}

async fn update(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(id), Some(name)) = (input.get("file_id"), input.get("file_name")) else {
        return res_err(code::MISSING_PARAM, "file_id and file_name are required");
    };
    let Some(id) = parse_fid(&id) else {
        return res_err(code::MISSING_PARAM, "file_id is invalid");
    };
    let ok = core
        .with_tree(&drive, |t, _, now| t.rename(id, &name, now))
        .unwrap_or(false);
    if ok {
        res_ok(json!({"file_name": name}))
    } else {
        res_err(code::NOT_FOUND, "文件不存在或已删除")
    }
}

fn id_list(s: &str) -> Option<Vec<u64>> {
    let ids: Option<Vec<u64>> = s
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(parse_fid)
        .collect();
    ids.filter(|v| !v.is_empty())
}

/// Applies `op` to every id; fails when any id is missing or the target is invalid.
fn bulk(
    core: &Core,
    drive: &str,
    ids: &[u64],
    target: Option<u64>,
    op: impl Fn(&mut Tree, u64, u64, u64, &mut u64) -> bool,
) -> Response {
    let result = core.with_tree(drive, |t, next, now| {
        if ids.iter().any(|id| t.get(*id).is_none() || *id == ROOT) {
            return Err(res_err(code::NOT_FOUND, "文件不存在或已删除"));
        }
        if let Some(to) = target
            && !t.get(to).is_some_and(|n| n.is_dir)
        {
            return Err(res_err(code::NOT_FOUND, "目标目录不存在"));
        }
        for id in ids {
            if !op(t, *id, target.unwrap_or(ROOT), now, next) {
                return Err(res_err(code::BAD_TARGET, "不能移动或复制到自身或子目录"));
            }
        }
        Ok(())
    });
    match result {
        Some(Ok(())) => res_ok(json!([])),
        Some(Err(r)) => r,
        None => res_err(code::NOT_FOUND, "文件不存在或已删除"),
    }
}

async fn move_files(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(ids), Some(to)) = (
        input.get("file_ids").and_then(|s| id_list(&s)),
        input.get("to_cid").and_then(|s| parse_fid(&s)),
    ) else {
        return res_err(code::MISSING_PARAM, "file_ids and to_cid are required");
    };
    bulk(&core, &drive, &ids, Some(to), |t, id, to, now, _| {
        t.move_to(id, to, now)
    })
}

async fn copy_files(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(ids), Some(to)) = (
        input.get("file_id").and_then(|s| id_list(&s)),
        input.get("pid").and_then(|s| parse_fid(&s)),
    ) else {
        return res_err(code::MISSING_PARAM, "file_id and pid are required");
    };
    bulk(&core, &drive, &ids, Some(to), |t, id, to, now, next| {
        t.copy_to(id, to, now, next).is_some()
    })
}

async fn delete_files(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(ids) = input.get("file_ids").and_then(|s| id_list(&s)) else {
        return res_err(code::MISSING_PARAM, "file_ids is required");
    };
    bulk(&core, &drive, &ids, None, |t, id, _, _, _| t.trash(id))
}

async fn downurl(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(codes) = input.get("pick_code") else {
        return res_err(code::MISSING_PARAM, "pick_code is required");
    };
    let user_agent = input.user_agent();
    let mut data = Map::new();
    for pc in codes.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let node = core
            .with_tree(&drive, |t, _, _| {
                t.find_pick_code(pc).and_then(|id| t.get(id).cloned())
            })
            .flatten();
        let Some(node) = node.filter(|n| !n.is_dir) else {
            return res_err(code::NOT_FOUND, "文件不存在或已删除");
        };
        let (url, _) = core.create_download(&drive, node.id, Some(user_agent.clone()));
        data.insert(
            fid(node.id),
            json!({
                "file_name": node.name,
                "file_size": node.size,
                "pick_code": node.pick_code,
                "sha1": node.sha1,
                "url": {"url": url},
            }),
        );
    }
    res_ok(Value::Object(data))
}

async fn upload_init(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (_, drive) = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (Some(name), Some(size), Some(target), Some(sha1)) = (
        input.get("file_name"),
        input.get("file_size").and_then(|s| s.parse::<u64>().ok()),
        input.get("target"),
        input.get("fileid"),
    ) else {
        return res_err(
            code::MISSING_PARAM,
            "file_name, file_size, target and fileid are required",
        );
    };
    let Some(cid) = target.strip_prefix("U_1_").and_then(parse_fid) else {
        return res_err(code::MISSING_PARAM, "target is invalid");
    };
    let known = core.known_sha1(&sha1).filter(|(s, _)| *s == size);
    let created = core
        .with_tree(&drive, |t, ids, now| {
            if !t.get(cid).is_some_and(|n| n.is_dir) {
                return None;
            }
            let (_, content) = known.clone()?;
            let file = match content {
                crate::tree::Content::Bytes(b) => SimFile::bytes(b.as_slice()),
                crate::tree::Content::Zeros => SimFile::sized(size),
            }
            .with_sha1(sha1.clone());
            let id = t.add_file(cid, &name, file, now, ids);
            t.get(id).map(|n| (id, n.pick_code.clone()))
        })
        .flatten();
    match created {
        Some((id, pick_code)) => res_ok(json!({
            "pick_code": pick_code,
            "status": 2,
            "statuscode": 0,
            "file_id": fid(id),
            "target": target,
        })),
        None => {
            let exists = core
                .with_tree(&drive, |t, _, _| t.get(cid).is_some_and(|n| n.is_dir))
                .unwrap_or(false);
            if !exists {
                return res_err(code::NOT_FOUND, "目标目录不存在");
            }
            res_ok(json!({
                "pick_code": random_string(18).to_ascii_lowercase(),
                "status": 1,
                "statuscode": 0,
                "target": target,
                "bucket": "fhnfile",
                "object": format!("sim/{}", random_hex(32)),
                "callback": {"callback": "", "callback_var": ""},
            }))
        }
    }
}

async fn upload_token(State(core): State<Arc<Core>>, input: Input) -> Response {
    if let Err(r) = authed(&core, &input) {
        return r;
    }
    let expiration = crate::util::iso8601(core.now_unix() + 3600);
    let data: BTreeMap<&str, Value> = BTreeMap::from([
        ("endpoint", json!(format!("{}/__sim/oss", core.base_url))),
        ("AccessKeyId", json!(format!("STS.{}", random_string(24)))),
        ("AccessKeySecret", json!(random_string(40))),
        ("SecurityToken", json!(random_string(120))),
        ("Expiration", json!(expiration)),
    ]);
    res_ok(json!(data))
}
