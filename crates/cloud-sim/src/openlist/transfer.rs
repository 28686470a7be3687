//! Bytes in and out: `PUT /api/fs/put` (stream upload) and the download routes
//! `GET|HEAD /d/<path>` and `/p/<path>`.
//!
//! Download routes ignore `Authorization` and check `?sign=` when `sign_all` is on. The
//! Local-like storage proxies: both routes serve the bytes (with single `Range`
//! support). With direct links, `/d` answers `302` to the storage's link and `/p` is
//! `403 proxy not allowed`. Errors are an HTML page with the real status (AList v3: the
//! JSON envelope on HTTP 200).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::authenticate;
use super::bind::{self, join_base, path_unescape};
use super::{STORAGE, fail, ok, with_storage};
use crate::core::Core;
use crate::input::Input;
use crate::transfer::{Cut, Serve, Span, content_body, read_body_with, span};
use crate::tree::{Content, SimFile};

/// The message of a body shorter or longer than announced.
const STREAM_INCOMPLETE: &str = "upload/download stream incomplete, possible network issue";

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `PUT /api/fs/put`: `File-Path` (URL-escaped), `As-Task`, `Overwrite`,
/// `Last-Modified` (Unix milliseconds), `Content-Length` or `X-File-Size`.
pub(super) async fn put(
    State(core): State<Arc<Core>>,
    cut: Option<Extension<Cut>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match authenticate(&core, &headers) {
        Ok(c) => c,
        Err(answer) => return answer,
    };
    let raw = header_str(&headers, "file-path").unwrap_or_default();
    let path = match path_unescape(raw) {
        Ok(p) => p,
        Err(message) => return fail(400, &message),
    };
    let path = match join_base(&caller.user.base_path, &path) {
        Ok(p) => p,
        Err(message) => return fail(403, message),
    };
    if !caller.user.can(3) {
        return fail(403, "permission denied");
    }
    let as_task = header_str(&headers, "as-task") == Some("true");
    let overwrite = header_str(&headers, "overwrite") != Some("false");
    let alist = core.state.lock().openlist.flavor.is_alist();
    let length = header_str(&headers, header::CONTENT_LENGTH.as_str());
    let declared = match (length, header_str(&headers, "x-file-size")) {
        (Some(n), _) => n.parse::<u64>().ok(),
        (None, _) if alist => {
            return fail(400, "strconv.ParseInt: parsing \"\": invalid syntax");
        }
        (None, Some(n)) => match n.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return fail(
                    400,
                    &format!("strconv.ParseInt: parsing {n:?}: invalid syntax"),
                );
            }
        },
        (None, None) => None,
    };
    let modified_ms = header_str(&headers, "last-modified").and_then(|v| v.parse::<i64>().ok());
    // Paced to the transfer rate, and broken off under a cut fault, like every upload body.
    let mut bytes = Vec::new();
    let read = read_body_with(&core, body, u64::MAX, cut.map(|Extension(c)| c), |chunk| {
        bytes.extend_from_slice(&chunk);
    })
    .await;
    match read {
        Ok(n) if declared.is_none_or(|d| d == n) => {}
        _ => return fail(500, STREAM_INCOMPLETE),
    }
    let received = bytes.len() as u64;
    let (dir, name) = (bind::parent(&path), bind::base(&path));
    let result = with_storage(&core, |tree, store, ids, now| {
        if let Some(existing) = tree.lookup(&path) {
            if !overwrite {
                return Err((403, "file exists".to_owned()));
            }
            if tree.get(existing).is_some_and(|n| n.is_dir) || path == "/" {
                return Err((500, "object already exists".to_owned()));
            }
            tree.trash(existing);
        }
        let parent = tree
            .mkdir_p(&dir, now, ids)
            .map_err(|_| (500, format!("failed to make dir [{dir}]: file exists")))?;
        let id = tree.add_file(parent, &name, SimFile::bytes(bytes), now, ids);
        if let Some(ms) = modified_ms.filter(|ms| *ms >= 0)
            && let Some(node) = tree.get_mut(id)
        {
            node.modified = (ms / 1000) as u64;
            store.nanos.insert(id, (ms % 1000) as u32 * 1_000_000);
        }
        Ok(())
    });
    if matches!(result, Some(Ok(()))) {
        core.state.lock().stats.upload_bytes_received += received;
    }
    match result {
        Some(Ok(())) if as_task => ok(json!({"task": {
            "id": crate::token::random_string(21), "name": format!("upload {name} to [{dir}]"),
            "creator": caller.user.username, "creator_role": caller.user.role, "state": 2,
            "status": "", "progress": 100.0, "start_time": null, "end_time": null,
            "total_bytes": received, "error": "",
        }})),
        Some(Ok(())) => ok(Value::Null),
        Some(Err((code, message))) => fail(code, &message),
        None => fail(500, "failed get storage: storage not found"),
    }
}

/// `ErrorPage`: HTML with the real status (AList v3: the JSON envelope on 200).
fn error_page(alist: bool, status: StatusCode, message: &str) -> Response {
    if alist {
        return fail(status.as_u16(), message);
    }
    let codes = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;");
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n\t<head>\n\t\t<meta charset=\"utf-8\" />\n\t\t\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n\t\t\
         <meta name=\"color-scheme\" content=\"dark light\" />\n\t\t\
         <meta name=\"robots\" content=\"noindex\" />\n\t\t<title>{codes}</title>\n\t</head>\n\t\
         <body>\n\t\t<h1>{codes}</h1>\n\t\t<hr>\n\t\t<p>{escaped}</p>\n\t</body>\n</html>"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// What a download route resolved to.
enum Target {
    Bytes {
        name: String,
        size: u64,
        content: Content,
    },
    Redirect(String),
}

/// Sign check and lookup shared by `/d` and `/p`.
fn resolve(core: &Core, raw: &str, input: &Input, is_proxy: bool) -> Result<Target, Response> {
    let path = bind::fix_and_clean(&format!("/{raw}"));
    let sign = input.params.get("sign").cloned().unwrap_or_default();
    let found = with_storage(core, |tree, store, _, now| {
        let alist = store.flavor.is_alist();
        if store.needs_sign()
            && let Err(message) = store.verify_sign(&path, &sign, now)
        {
            return Err(error_page(alist, StatusCode::UNAUTHORIZED, message));
        }
        if is_proxy && store.direct_links {
            return Err(error_page(
                alist,
                StatusCode::FORBIDDEN,
                "proxy not allowed",
            ));
        }
        let internal = |m: &str| error_page(alist, StatusCode::INTERNAL_SERVER_ERROR, m);
        let node = tree
            .lookup(&path)
            .and_then(|id| tree.get(id).cloned())
            .ok_or_else(|| internal("failed link: failed to get file: object not found"))?;
        if node.is_dir {
            return Err(internal("failed link: not a file"));
        }
        Ok((node, store.direct_links))
    });
    let (node, direct) = match found {
        Some(result) => result?,
        None => return Err(fail(500, "failed get storage: storage not found")),
    };
    if direct {
        let (url, _) = core.create_download(STORAGE, node.id, None);
        return Ok(Target::Redirect(url));
    }
    Ok(Target::Bytes {
        name: node.name,
        size: node.size,
        content: node.content,
    })
}

/// `GET|HEAD /d/<path>`.
pub(super) async fn down(
    State(core): State<Arc<Core>>,
    Path(raw): Path<String>,
    input: Input,
) -> Response {
    match resolve(&core, &raw, &input, false) {
        Ok(target) => serve(&core, target, &input.headers),
        Err(answer) => answer,
    }
}

/// `GET|HEAD /p/<path>`: always through the server.
pub(super) async fn proxy(
    State(core): State<Arc<Core>>,
    Path(raw): Path<String>,
    input: Input,
) -> Response {
    match resolve(&core, &raw, &input, true) {
        Ok(target) => serve(&core, target, &input.headers),
        Err(answer) => answer,
    }
}

fn serve(core: &Arc<Core>, target: Target, headers: &HeaderMap) -> Response {
    let (name, size, content) = match target {
        Target::Redirect(url) => {
            return (
                StatusCode::FOUND,
                [
                    (header::LOCATION, url),
                    (header::REFERRER_POLICY, "no-referrer".to_owned()),
                    (
                        header::CACHE_CONTROL,
                        "max-age=0, no-cache, no-store, must-revalidate".to_owned(),
                    ),
                ],
            )
                .into_response();
        }
        Target::Bytes {
            name,
            size,
            content,
        } => (name, size, content),
    };
    let disposition = format!(
        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
        bind::escape_path(&name),
        bind::escape_path(&name)
    );
    let Span {
        status,
        start,
        len,
        content_range,
    } = match span(headers, size) {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let mut resp = (
        status,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::ACCEPT_RANGES, "bytes".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        content_body(core, content, start, len, Serve::default()),
    )
        .into_response();
    if let Some(cr) = content_range
        && let Ok(v) = cr.parse()
    {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    resp
}
