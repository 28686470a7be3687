//! The HTTP control surface under `/__sim/`, for tests that drive the simulator from
//! another process (the `cloud-sim` binary) — and the download links the simulator serves.
//!
//! Every path starts with `/__sim/`, which no provider path does. Answers are plain JSON;
//! errors are `{"error": "..."}` with a 4xx status.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::config::Provider;
use crate::core::{Core, DownloadError, QrAction};
use crate::fault::{Fault, Malformed, RateLimitAnswer};
use crate::input::Input;
use crate::token::DriveKind;
use crate::transfer::{Cut, Serve, Span, content_body, span};
use crate::tree::SimFile;

pub(crate) fn control_err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

pub(crate) fn from_error(e: crate::Error) -> Response {
    let status = match e {
        crate::Error::UnknownQr(_)
        | crate::Error::UnknownAccount(_)
        | crate::Error::UnknownUser(_)
        | crate::Error::NotFound(_) => StatusCode::NOT_FOUND,
        crate::Error::QrNotPending { .. } | crate::Error::AlreadyExists(_) => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    control_err(status, e.to_string())
}

/// The control routes of the QR-login providers (115, alipan): the common ones plus QR
/// sessions and token accounts.
pub(crate) fn router() -> Router<Arc<Core>> {
    common_router()
        .route("/__sim/qr", get(qr_list))
        .route("/__sim/qr/{id}", get(qr_get))
        .route("/__sim/qr/{id}/{action}", post(qr_action))
        .route("/__sim/accounts", get(accounts))
        .route("/__sim/accounts/{name}", get(account))
        .route("/__sim/accounts/{name}/login", post(login))
        .route("/__sim/accounts/{name}/revoke", post(revoke))
}

/// The control routes every simulator has: counters, clock, faults, settings, seeding and
/// download links.
pub(crate) fn common_router() -> Router<Arc<Core>> {
    Router::new()
        .route("/__sim/stats", get(stats))
        .route("/__sim/stats/reset", post(reset_stats))
        .route("/__sim/clock", get(clock))
        .route("/__sim/clock/advance", post(advance))
        .route("/__sim/faults", post(add_fault).delete(clear_faults))
        .route("/__sim/settings", post(settings))
        .route("/__sim/files", post(add_entry))
        .route("/__sim/files/bulk", post(add_bulk))
        .route("/__sim/dl/{token}", get(download))
}

async fn stats(State(core): State<Arc<Core>>) -> Response {
    axum::Json(core.stats()).into_response()
}

async fn reset_stats(State(core): State<Arc<Core>>) -> Response {
    core.reset_stats();
    StatusCode::NO_CONTENT.into_response()
}

async fn qr_list(State(core): State<Arc<Core>>) -> Response {
    axum::Json(core.qr_list()).into_response()
}

async fn qr_get(State(core): State<Arc<Core>>, Path(id): Path<String>) -> Response {
    match core.qr_info(&id) {
        Some(info) => axum::Json(info).into_response(),
        None => from_error(crate::Error::UnknownQr(id)),
    }
}

async fn qr_action(
    State(core): State<Arc<Core>>,
    Path((id, action)): Path<(String, String)>,
    input: Input,
) -> Response {
    let action = match action.as_str() {
        "scan" => QrAction::Scan,
        "confirm" => QrAction::Confirm(input.get("account")),
        "cancel" => QrAction::Cancel,
        "expire" => QrAction::Expire,
        other => {
            return control_err(
                StatusCode::NOT_FOUND,
                format!("unknown QR action {other:?}: use scan, confirm, cancel or expire"),
            );
        }
    };
    match core.qr_action(&id, action) {
        Ok(()) => match core.qr_info(&id) {
            Some(info) => axum::Json(info).into_response(),
            None => from_error(crate::Error::UnknownQr(id)),
        },
        Err(e) => from_error(e),
    }
}

async fn accounts(State(core): State<Arc<Core>>) -> Response {
    axum::Json(core.accounts()).into_response()
}

async fn account(State(core): State<Arc<Core>>, Path(name): Path<String>) -> Response {
    match core.account_info(&name) {
        Some(info) => axum::Json(info).into_response(),
        None => from_error(crate::Error::UnknownAccount(name)),
    }
}

async fn login(State(core): State<Arc<Core>>, Path(name): Path<String>) -> Response {
    let pair = core.login(&name);
    axum::Json(pair).into_response()
}

async fn revoke(State(core): State<Arc<Core>>, Path(name): Path<String>) -> Response {
    match core.revoke(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => from_error(e),
    }
}

async fn clock(State(core): State<Arc<Core>>) -> Response {
    axum::Json(json!({
        "now": core.clock.now_unix(),
        "offset_secs": core.clock.offset().as_secs_f64(),
    }))
    .into_response()
}

async fn advance(State(core): State<Arc<Core>>, input: Input) -> Response {
    let Some(secs) = input.get("secs").and_then(|s| s.parse::<f64>().ok()) else {
        return control_err(
            StatusCode::BAD_REQUEST,
            "secs (number of seconds) is required",
        );
    };
    let Ok(by) = Duration::try_from_secs_f64(secs) else {
        return control_err(
            StatusCode::BAD_REQUEST,
            "secs must be a non-negative number",
        );
    };
    core.clock.advance(by);
    clock(State(core)).await
}

fn parse_fault(input: &Input) -> Result<Fault, String> {
    let kind = input.get("fault").ok_or("fault is required")?;
    let number = |key: &str| input.get(key).and_then(|v| v.parse::<u64>().ok());
    Ok(match kind.as_str() {
        "delay" => Fault::Delay(Duration::from_millis(number("ms").ok_or("ms is required")?)),
        "delay_answer" => {
            Fault::DelayAnswer(Duration::from_millis(number("ms").ok_or("ms is required")?))
        }
        "status" => Fault::Status(
            number("status")
                .and_then(|s| u16::try_from(s).ok())
                .ok_or("status is required")?,
        ),
        "reset" => Fault::Reset,
        "hang" => Fault::Hang,
        "malformed" => Fault::Malformed(match input.get("body").as_deref() {
            None | Some("truncated_json") => Malformed::TruncatedJson,
            Some("html") => Malformed::Html,
            Some("empty") => Malformed::Empty,
            Some(other) => Malformed::Custom(other.to_owned()),
        }),
        "rate_limit" => Fault::RateLimit(match input.get("answer").as_deref() {
            None | Some("http429") => RateLimitAnswer::Http429 {
                reset_secs: number("reset_secs").unwrap_or(1),
            },
            Some("quota770004") => RateLimitAnswer::Quota770004,
            Some("quota406") => RateLimitAnswer::Quota406,
            Some(_) => return Err("answer must be http429, quota770004 or quota406".into()),
        }),
        "cut_body" => Fault::CutBody {
            after: number("after").ok_or("after is required")?,
        },
        _ => {
            return Err(
                "fault must be delay, status, reset, hang, malformed, rate_limit or cut_body"
                    .into(),
            );
        }
    })
}

async fn add_fault(State(core): State<Arc<Core>>, input: Input) -> Response {
    let Some(path) = input.get("path") else {
        return control_err(StatusCode::BAD_REQUEST, "path is required (or \"*\")");
    };
    let times = input
        .get("times")
        .and_then(|t| t.parse::<usize>().ok())
        .unwrap_or(1);
    match parse_fault(&input) {
        Ok(fault) => {
            core.faults.add(&path, fault, times);
            axum::Json(json!({"pending": core.faults.pending()})).into_response()
        }
        Err(e) => control_err(StatusCode::BAD_REQUEST, e),
    }
}

async fn clear_faults(State(core): State<Arc<Core>>) -> Response {
    core.faults.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn settings(State(core): State<Arc<Core>>, input: Input) -> Response {
    let mut st = core.state.lock();
    if let Some(ms) = input.get("request_delay_ms").and_then(|v| v.parse().ok()) {
        st.settings.request_delay = Duration::from_millis(ms);
    }
    match input.json_value("rate_limit_per_sec") {
        Some(Value::Null) => st.settings.rate_limit_per_sec = None,
        Some(v) => st.settings.rate_limit_per_sec = v.as_u64().and_then(|n| u32::try_from(n).ok()),
        None => {}
    }
    if let Some(s) = input
        .get("min_refresh_interval_secs")
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
    {
        st.settings.min_refresh_interval = s;
    }
    if let Some(ms) = input.get("poll_timeout_ms").and_then(|v| v.parse().ok()) {
        st.settings.poll_timeout = Duration::from_millis(ms);
    }
    if let Some(secs) = input
        .get("upload_url_lifetime_secs")
        .and_then(|v| v.parse().ok())
    {
        st.settings.upload_url_lifetime = Duration::from_secs(secs);
    }
    if let Some(n) = input
        .get("list_parts_page_size")
        .and_then(|v| v.parse::<usize>().ok())
    {
        st.settings.list_parts_page_size = n.max(1);
    }
    match input.json_value("transfer_rate") {
        Some(Value::Null) => st.settings.transfer_rate = None,
        Some(v) => st.settings.transfer_rate = v.as_u64(),
        None => {}
    }
    axum::Json(json!({
        "request_delay_ms": st.settings.request_delay.as_millis() as u64,
        "rate_limit_per_sec": st.settings.rate_limit_per_sec,
        "min_refresh_interval_secs": st.settings.min_refresh_interval.as_secs_f64(),
        "poll_timeout_ms": st.settings.poll_timeout.as_millis() as u64,
        "transfer_rate": st.settings.transfer_rate,
        "upload_url_lifetime_secs": st.settings.upload_url_lifetime.as_secs(),
        "list_parts_page_size": st.settings.list_parts_page_size,
    }))
    .into_response()
}

fn drive_kind(input: &Input) -> DriveKind {
    match input.get("drive").as_deref() {
        Some("resource") => DriveKind::Resource,
        _ => DriveKind::Default,
    }
}

async fn add_entry(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (Some(account), Some(path)) = (input.get("account"), input.get("path")) else {
        return control_err(StatusCode::BAD_REQUEST, "account and path are required");
    };
    let kind = drive_kind(&input);
    let folder = input
        .json_value("folder")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let result = if folder {
        core.add_folder(&account, kind, &path)
    } else {
        let file = match (input.get("content"), input.get("size")) {
            (Some(content), _) => SimFile::bytes(content.into_bytes()),
            (None, size) => SimFile::sized(size.and_then(|s| s.parse().ok()).unwrap_or(0)),
        };
        let file = match input.get("sha1") {
            Some(s) => file.with_sha1(s),
            None => file,
        };
        core.add_file(&account, kind, &path, file)
    };
    match result {
        Ok(id) => axum::Json(json!({"id": ext_id(&core, id)})).into_response(),
        Err(e) => from_error(e),
    }
}

async fn add_bulk(State(core): State<Arc<Core>>, input: Input) -> Response {
    let (Some(account), Some(folder), Some(count)) = (
        input.get("account"),
        input.get("folder"),
        input.get("count").and_then(|c| c.parse::<usize>().ok()),
    ) else {
        return control_err(
            StatusCode::BAD_REQUEST,
            "account, folder and count are required",
        );
    };
    let prefix = input.get("prefix").unwrap_or_else(|| "file-".to_owned());
    let size = input
        .get("size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    match core.add_files(&account, drive_kind(&input), &folder, count, &prefix, size) {
        Ok(ids) => axum::Json(json!({"created": ids.len()})).into_response(),
        Err(e) => from_error(e),
    }
}

/// The provider id of a node.
pub(crate) fn ext_id(core: &Core, id: u64) -> String {
    match core.provider {
        Provider::U115 | Provider::OpenList => id.to_string(),
        Provider::Alipan => crate::alipan::ext_id(id),
    }
}

/// `GET /__sim/dl/{token}`: a download link. Single `Range` (206 / 416), paced by the
/// transfer rate, cut by [`Fault::CutBody`] (path key `/__sim/dl`).
async fn download(
    State(core): State<Arc<Core>>,
    Path(token): Path<String>,
    cut: Option<Extension<Cut>>,
    input: Input,
) -> Response {
    let forbidden = |msg: &'static str| (StatusCode::FORBIDDEN, msg).into_response();
    if input.headers.contains_key(header::AUTHORIZATION) {
        core.state.lock().stats.download_authorization_leaks += 1;
    }
    let d = match core.download(&token, &input.user_agent()) {
        Err(DownloadError::Unknown) => {
            return (StatusCode::NOT_FOUND, "404 Not Found").into_response();
        }
        Err(DownloadError::Expired) => return forbidden("403 Forbidden: link expired"),
        Err(DownloadError::UserAgent) => {
            return forbidden("403 Forbidden: link is bound to another User-Agent");
        }
        Ok(d) => d,
    };
    let size = d.size;
    let Span {
        status,
        start,
        len,
        content_range,
    } = match span(&input.headers, size) {
        Ok(s) => s,
        Err(mut resp) => {
            resp.headers_mut()
                .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return resp;
        }
    };
    let opts = Serve {
        cut: cut.map(|Extension(c)| c),
        count: true,
    };
    let mut headers = vec![
        (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
        (header::CONTENT_LENGTH, len.to_string()),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", d.name.replace('"', "")),
        ),
    ];
    if let Some(cr) = content_range {
        headers.push((header::CONTENT_RANGE, cr));
    }
    let mut resp = (status, content_body(&core, d.content, start, len, opts)).into_response();
    for (name, value) in headers {
        if let Ok(v) = value.parse() {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}
