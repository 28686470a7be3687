//! The alipan (Aliyun Drive) Open Platform endpoints: QR login with PKCE or client secret,
//! token refresh and the `/adrive/v1.0/` file resources.
//!
//! Success answers carry the payload directly; errors are
//! `{"code", "message", "requestId"}` with a 4xx/5xx status, as the platform sends them.

// Handlers short-circuit with the provider-shaped error `Response`; boxing it would only
// add noise, and these paths are not hot.
#![allow(clippy::result_large_err)]

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
        .route("/adrive/v1.0/user/getDriveInfo", post(drive_info))
        .route("/adrive/v1.0/user/getSpaceInfo", post(space_info))
        .route("/adrive/v1.0/openFile/list", post(list))
        .route("/adrive/v1.0/openFile/get", post(get_file))
        .route("/adrive/v1.0/openFile/get_by_path", post(get_by_path))
        .route("/adrive/v1.0/openFile/create", post(create))
        .route("/adrive/v1.0/openFile/update", post(update))
        .route("/adrive/v1.0/openFile/move", post(move_file))
        .route("/adrive/v1.0/openFile/copy", post(copy_file))
        .route("/adrive/v1.0/openFile/recyclebin/trash", post(trash))
        .route("/adrive/v1.0/openFile/getDownloadUrl", post(download_url))
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

async fn authorize_qrcode(State(core): State<Arc<Core>>, input: Input) -> Response {
    if input.body_invalid {
        return bad("InvalidParameter", "the request body is not valid JSON");
    }
    let client_id = match check_client(&core, &input) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let request = if let Some(secret) = input.get("client_secret") {
        if let Err(r) = check_secret(&core, &secret) {
            return r;
        }
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
            return bad(
                "InvalidParameter.CodeChallengeMethod",
                "code_challenge_method must be plain or S256",
            );
        };
        if !pkce::challenge_well_formed(method, &challenge) {
            return bad(
                "InvalidParameter.CodeChallenge",
                "code_challenge is invalid",
            );
        }
        QrRequest {
            client_id,
            method: Some(method),
            challenge: Some(challenge),
            secret: None,
        }
    } else {
        return bad(
            "InvalidParameterMissing.ClientSecret",
            "client_secret or code_challenge is required",
        );
    };
    let session = core.create_qr(request);
    ok(json!({
        "qrCodeUrl": format!("{}/oauth/qrcode/{}", core.base_url, session.id),
        "sid": session.id,
    }))
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

async fn access_token(State(core): State<Arc<Core>>, input: Input) -> Response {
    if input.body_invalid {
        return bad("InvalidParameter", "the request body is not valid JSON");
    }
    let client_id = match check_client(&core, &input) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let secret = input.get("client_secret");
    if let Some(s) = &secret
        && let Err(r) = check_secret(&core, s)
    {
        return r;
    }
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
            match core.exchange_auth_code(&client_id, &code, verifier.as_deref(), secret.as_deref())
            {
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
            match core.refresh(&token, secret.as_deref()) {
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

fn category(name: &str) -> &'static str {
    match extension(name).as_str() {
        "mkv" | "mp4" | "avi" | "ts" | "mov" | "iso" | "rmvb" | "m2ts" | "webm" => "video",
        "mp3" | "flac" | "aac" | "wav" | "ape" => "audio",
        "jpg" | "jpeg" | "png" | "gif" | "webp" => "image",
        "srt" | "ass" | "ssa" | "txt" | "nfo" | "pdf" => "doc",
        _ => "others",
    }
}

fn item(drive: &str, n: &Node) -> Value {
    let mut v = json!({
        "drive_id": drive,
        "file_id": ext_id(n.id),
        "parent_file_id": ext_id(n.parent),
        "name": n.name,
        "type": if n.is_dir { "folder" } else { "file" },
        "created_at": iso8601(n.created),
        "updated_at": iso8601(n.modified),
        "status": "available",
        "trashed": false,
    });
    if let (false, Some(obj)) = (n.is_dir, v.as_object_mut()) {
        obj.insert("size".to_owned(), json!(n.size));
        obj.insert("file_extension".to_owned(), json!(extension(&n.name)));
        obj.insert("content_hash".to_owned(), json!(n.sha1));
        obj.insert("content_hash_name".to_owned(), json!("sha1"));
        obj.insert("category".to_owned(), json!(category(&n.name)));
    }
    v
}

fn not_found_file() -> Response {
    err(
        StatusCode::NOT_FOUND,
        "NotFound.File",
        "The resource file cannot be found. file not exist",
    )
}

fn file_id_param(input: &Input, key: &str, missing: &str) -> Result<u64, Response> {
    let Some(raw) = input.get(key) else {
        return Err(bad(missing, &format!("{key} is required")));
    };
    parse_id(&raw).ok_or_else(not_found_file)
}

async fn drive_info(State(core): State<Arc<Core>>, input: Input) -> Response {
    let account = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let Some(a) = core.account(&account) else {
        return err(
            StatusCode::UNAUTHORIZED,
            "AccessTokenInvalid",
            "AccessToken is invalid",
        );
    };
    let mut body = json!({
        "user_id": a.user_id,
        "name": a.display_name,
        "nick_name": a.display_name,
        "avatar": format!("{}/__sim/avatar/{}.png", core.base_url, a.user_id),
        "default_drive_id": a.default_drive,
        "backup_drive_id": a.default_drive,
    });
    if let (Some(r), Some(obj)) = (&a.resource_drive, body.as_object_mut()) {
        obj.insert("resource_drive_id".to_owned(), json!(r));
    }
    ok(body)
}

async fn space_info(State(core): State<Arc<Core>>, input: Input) -> Response {
    let account = match authed(&core, &input) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let used = core.used_bytes(&account);
    ok(json!({
        "personal_space_info": {"total_size": 6u64 * 1024 * 1024 * 1024 * 1024, "used_size": used}
    }))
}

fn encode_marker(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("sim-offset:{offset}"))
}

fn decode_marker(marker: &str) -> Option<usize> {
    let raw = URL_SAFE_NO_PAD.decode(marker).ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.strip_prefix("sim-offset:")?.parse().ok()
}

async fn list(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let parent = match file_id_param(
        &input,
        "parent_file_id",
        "InvalidParameterMissing.ParentFileId",
    ) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let limit = match input.get("limit").map(|l| l.parse::<usize>()) {
        None => 50,
        Some(Ok(l)) if (1..=100).contains(&l) => l,
        Some(_) => return bad("InvalidParameter.Limit", "limit must be between 1 and 100"),
    };
    let offset = match input.get("marker") {
        None => 0,
        Some(m) => match decode_marker(&m) {
            Some(o) => o,
            None => return bad("InvalidParameter.Marker", "marker is invalid"),
        },
    };
    let type_filter = input.get("type");
    let page = core
        .with_tree(&drive, |t: &mut Tree, _, _| {
            let folder = t.get(parent).filter(|n| n.is_dir)?;
            let all: Vec<&Node> = folder
                .children
                .iter()
                .filter_map(|c| t.get(*c))
                .filter(|n| match type_filter.as_deref() {
                    Some("file") => !n.is_dir,
                    Some("folder") => n.is_dir,
                    _ => true,
                })
                .collect();
            let items: Vec<Value> = all
                .iter()
                .skip(offset)
                .take(limit)
                .map(|n| item(&drive, n))
                .collect();
            let next = offset + items.len();
            let next_marker = if next < all.len() {
                encode_marker(next)
            } else {
                String::new()
            };
            Some((items, next_marker))
        })
        .flatten();
    match page {
        Some((items, next_marker)) => ok(json!({"items": items, "next_marker": next_marker})),
        None => not_found_file(),
    }
}

async fn get_file(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let id = match file_id_param(&input, "file_id", "InvalidParameterMissing.FileId") {
        Ok(i) => i,
        Err(r) => return r,
    };
    match core
        .with_tree(&drive, |t, _, _| t.get(id).map(|n| item(&drive, n)))
        .flatten()
    {
        Some(v) => ok(v),
        None => not_found_file(),
    }
}

async fn get_by_path(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(path) = input.get("file_path") else {
        return bad("InvalidParameterMissing.FilePath", "file_path is required");
    };
    match core
        .with_tree(&drive, |t, _, _| {
            t.lookup(&path)
                .and_then(|id| t.get(id))
                .map(|n| item(&drive, n))
        })
        .flatten()
    {
        Some(v) => ok(v),
        None => not_found_file(),
    }
}

/// The outcome of applying a `check_name_mode` to a name in a folder.
enum NameOutcome {
    Use(String),
    Exists(u64),
}

fn resolve_name(t: &Tree, parent: u64, name: &str, mode: &str) -> NameOutcome {
    let Some(existing) = t.child(parent, name) else {
        return NameOutcome::Use(name.to_owned());
    };
    match mode {
        "refuse" => NameOutcome::Exists(existing),
        "auto_rename" => {
            let (stem, ext) = match name.rsplit_once('.') {
                Some((s, e)) if !s.is_empty() => (s.to_owned(), format!(".{e}")),
                _ => (name.to_owned(), String::new()),
            };
            let candidate = (1..)
                .map(|i| format!("{stem}({i}){ext}"))
                .find(|c| t.child(parent, c).is_none())
                .unwrap_or_else(|| format!("{stem}({}){ext}", random_hex(6)));
            NameOutcome::Use(candidate)
        }
        _ => NameOutcome::Use(name.to_owned()),
    }
}

fn name_mode(input: &Input, default: &str) -> Result<String, Response> {
    let mode = input
        .get("check_name_mode")
        .unwrap_or_else(|| default.to_owned());
    if matches!(
        mode.as_str(),
        "refuse" | "auto_rename" | "ignore" | "overwrite"
    ) {
        Ok(mode)
    } else {
        Err(bad(
            "InvalidParameter.CheckNameMode",
            "check_name_mode must be refuse, auto_rename or ignore",
        ))
    }
}

async fn create(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let parent = match file_id_param(
        &input,
        "parent_file_id",
        "InvalidParameterMissing.ParentFileId",
    ) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(name) = input.get("name").filter(|n| !n.contains('/')) else {
        return bad("InvalidParameterMissing.Name", "name is required");
    };
    let is_folder = match input.get("type").as_deref() {
        Some("folder") => true,
        Some("file") => false,
        _ => return bad("InvalidParameter.Type", "type must be file or folder"),
    };
    let mode = match name_mode(&input, "ignore") {
        Ok(m) => m,
        Err(r) => return r,
    };
    let content_hash = input.get("content_hash");
    let size = input
        .get("size")
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0);
    let known = content_hash
        .as_deref()
        .and_then(|h| core.known_sha1(h))
        .filter(|(s, _)| *s == size);
    let result = core
        .with_tree(&drive, |t, ids, now| {
            if !t.get(parent).is_some_and(|n| n.is_dir) {
                return Err(not_found_file());
            }
            let name = match resolve_name(t, parent, &name, &mode) {
                NameOutcome::Exists(id) => return Ok((id, true, false)),
                NameOutcome::Use(n) => n,
            };
            if is_folder {
                return Ok((t.mkdir(parent, &name, now, ids), false, false));
            }
            match (&known, &content_hash) {
                (Some((_, content)), Some(hash)) => {
                    let file = match content {
                        Content::Bytes(b) => SimFile::bytes(b.as_slice()),
                        Content::Zeros => SimFile::sized(size),
                    }
                    .with_sha1(hash.clone());
                    Ok((t.add_file(parent, &name, file, now, ids), false, true))
                }
                _ => {
                    // Upload sessions are not simulated: reserve an id only.
                    *ids += 1;
                    Ok((*ids, false, false))
                }
            }
        })
        .unwrap_or_else(|| Err(not_found_file()));
    let (id, exist, rapid) = match result {
        Ok(v) => v,
        Err(r) => return r,
    };
    let node = core
        .with_tree(&drive, |t, _, _| t.get(id).cloned())
        .flatten();
    let mut body = json!({
        "drive_id": drive,
        "file_id": ext_id(id),
        "parent_file_id": ext_id(parent),
        "file_name": node.as_ref().map(|n| n.name.clone()).unwrap_or(name),
        "type": if is_folder { "folder" } else { "file" },
        "status": "available",
        "exist": exist,
    });
    if let (false, Some(obj)) = (is_folder, body.as_object_mut()) {
        obj.insert("rapid_upload".to_owned(), json!(rapid));
        if !rapid && !exist {
            obj.insert(
                "upload_id".to_owned(),
                json!(random_hex(32).to_ascii_uppercase()),
            );
            obj.insert(
                "part_info_list".to_owned(),
                json!([{"part_number": 1, "upload_url": format!("{}/__sim/upload/{}", core.base_url, random_hex(24))}]),
            );
        }
    }
    ok(body)
}

async fn update(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let id = match file_id_param(&input, "file_id", "InvalidParameterMissing.FileId") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let Some(name) = input.get("name").filter(|n| !n.contains('/')) else {
        return bad("InvalidParameterMissing.Name", "name is required");
    };
    let mode = match name_mode(&input, "ignore") {
        Ok(m) => m,
        Err(r) => return r,
    };
    let result = core
        .with_tree(&drive, |t, _, now| {
            let parent = t.get(id).filter(|_| id != ROOT)?.parent;
            if let NameOutcome::Exists(other) = resolve_name(t, parent, &name, &mode)
                && other != id
            {
                return Some(Err(err(
                    StatusCode::CONFLICT,
                    "AlreadyExist.File",
                    "a file with the same name already exists",
                )));
            }
            t.rename(id, &name, now);
            t.get(id).map(|n| Ok(item(&drive, n)))
        })
        .flatten();
    match result {
        Some(Ok(v)) => ok(v),
        Some(Err(r)) => r,
        None => not_found_file(),
    }
}

async fn move_file(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let id = match file_id_param(&input, "file_id", "InvalidParameterMissing.FileId") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let to = match file_id_param(
        &input,
        "to_parent_file_id",
        "InvalidParameterMissing.ToParentFileId",
    ) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mode = match name_mode(&input, "refuse") {
        Ok(m) => m,
        Err(r) => return r,
    };
    let new_name = input.get("new_name");
    let result = core
        .with_tree(&drive, |t, _, now| {
            let node = t.get(id).filter(|_| id != ROOT)?;
            let name = new_name.clone().unwrap_or_else(|| node.name.clone());
            if !t.get(to).is_some_and(|n| n.is_dir) {
                return None;
            }
            match resolve_name(t, to, &name, &mode) {
                NameOutcome::Exists(other) if other != id => Some(Ok(true)),
                NameOutcome::Exists(_) => Some(Ok(false)),
                NameOutcome::Use(name) => {
                    if !t.move_to(id, to, now) {
                        return Some(Err(bad(
                            "InvalidParameter.ToParentFileId",
                            "cannot move a folder into itself",
                        )));
                    }
                    t.rename(id, &name, now);
                    Some(Ok(false))
                }
            }
        })
        .flatten();
    match result {
        Some(Ok(exist)) => ok(json!({
            "drive_id": drive, "file_id": ext_id(id), "async_task_id": "", "exist": exist,
        })),
        Some(Err(r)) => r,
        None => not_found_file(),
    }
}

async fn copy_file(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let id = match file_id_param(&input, "file_id", "InvalidParameterMissing.FileId") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let to = match file_id_param(
        &input,
        "to_parent_file_id",
        "InvalidParameterMissing.ToParentFileId",
    ) {
        Ok(i) => i,
        Err(r) => return r,
    };
    if input.get("to_drive_id").is_some_and(|d| d != drive) {
        return bad(
            "InvalidParameter.ToDriveId",
            "copying between drives is not supported by the simulator",
        );
    }
    let auto_rename = input
        .json_value("auto_rename")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let result = core
        .with_tree(&drive, |t, ids, now| {
            let name = t.get(id).filter(|_| id != ROOT)?.name.clone();
            if !t.get(to).is_some_and(|n| n.is_dir) {
                return None;
            }
            let target_name = match resolve_name(
                t,
                to,
                &name,
                if auto_rename { "auto_rename" } else { "ignore" },
            ) {
                NameOutcome::Use(n) => n,
                NameOutcome::Exists(e) => return Some(Ok(e)),
            };
            match t.copy_to(id, to, now, ids) {
                Some(new_id) => {
                    t.rename(new_id, &target_name, now);
                    Some(Ok(new_id))
                }
                None => Some(Err(bad(
                    "InvalidParameter.ToParentFileId",
                    "cannot copy a folder into itself",
                ))),
            }
        })
        .flatten();
    match result {
        Some(Ok(new_id)) => ok(json!({
            "drive_id": drive, "file_id": ext_id(new_id), "async_task_id": "",
        })),
        Some(Err(r)) => r,
        None => not_found_file(),
    }
}

async fn trash(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let id = match file_id_param(&input, "file_id", "InvalidParameterMissing.FileId") {
        Ok(i) => i,
        Err(r) => return r,
    };
    if core
        .with_tree(&drive, |t, _, _| t.trash(id))
        .unwrap_or(false)
    {
        ok(json!({"drive_id": drive, "file_id": ext_id(id), "async_task_id": ""}))
    } else {
        not_found_file()
    }
}

async fn download_url(State(core): State<Arc<Core>>, input: Input) -> Response {
    let drive = match authed_drive(&core, &input) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let id = match file_id_param(&input, "file_id", "InvalidParameterMissing.FileId") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let node = core
        .with_tree(&drive, |t, _, _| t.get(id).cloned())
        .flatten();
    match node {
        None => not_found_file(),
        Some(n) if n.is_dir => bad(
            "InvalidResource.FileTypeFolder",
            "a folder has no download url",
        ),
        Some(n) => {
            let (url, expires_at) = core.create_download(&drive, n.id, None);
            ok(json!({
                "url": url,
                "expiration": iso8601(expires_at),
                "method": "GET",
                "size": n.size,
            }))
        }
    }
}
