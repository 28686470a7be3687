//! The part upload URLs: `PUT /__sim/up/{token}?partNumber=N&uploadId=…`, answering like
//! the OSS bucket behind alipan's presigned `upload_url`s (XML errors).
//!
//! Checks, in order: the URL was issued (else 404 `NoSuchKey`) and has not expired on the
//! simulated clock (403 `AccessDenied`, `Request has expired.`); no non-empty
//! `Content-Type` (403 `SignatureDoesNotMatch`); the query's `partNumber` / `uploadId`, when
//! present, are the signed ones (403 `SignatureDoesNotMatch`); the upload is still open
//! (404 `NoSuchUpload`); the part is not stored yet (409 `PartAlreadyExist`); the part is
//! at most 5 GB (400 `EntityTooLarge`) and at least 100 KB unless it is the last part
//! listed at create (400 `EntityTooSmall`). `Authorization` and `User-Agent` are ignored.
//! Success: 200, empty body, `ETag: "<MD5 hex, upper case>"`.

use axum::Extension;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::HeaderMap;
use axum::routing::put;
use md5::Md5;
use sha1::Digest as _;

use super::upload_state::{InPlace, MAX_PART, MIN_PART, StoredPart};
use super::*;
use crate::transfer::{Cut, ReadError, drain, read_body_with};

/// Most bytes reserved ahead for a part that is not written in place.
const OWN_RESERVE: u64 = 64 << 20;

pub(super) fn router() -> Router<Arc<Core>> {
    Router::new().route(
        "/__sim/up/{token}",
        put(put_part).layer(DefaultBodyLimit::disable()),
    )
}

/// An OSS-style XML error.
fn oss_error(core: &Core, status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = random_hex(24).to_ascii_uppercase();
    let host = core
        .base_url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  \
         <Message>{message}</Message>\n  <RequestId>{request_id}</RequestId>\n  \
         <HostId>{host}</HostId>\n</Error>\n"
    );
    let mut resp = (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-oss-request-id", v);
    }
    resp
}

fn count_rejected(core: &Core) {
    core.state.lock().stats.upload_parts_rejected += 1;
}

async fn put_part(
    State(core): State<Arc<Core>>,
    Path(token): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    cut: Option<Extension<Cut>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let cut = cut.map(|Extension(c)| c);
    match check(&core, &token, &query, &headers) {
        Ok((upload_id, part, last)) => {
            store(&core, body, cut, &upload_id, part, last, &headers).await
        }
        Err(answer) => {
            count_rejected(&core);
            drain(body).await;
            answer
        }
    }
}

/// Everything that can be refused before reading the body: `(upload_id, part, last)`.
fn check(
    core: &Core,
    token: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<(String, u32, u32), Response> {
    let Some(url) = core.uploads.lock().url(token) else {
        return Err(oss_error(
            core,
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        ));
    };
    if core.now_unix() >= url.expires_at {
        return Err(oss_error(
            core,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Request has expired.",
        ));
    }
    let signature = |what: &str| {
        oss_error(
            core,
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            &format!("The request signature we calculated does not match ({what})."),
        )
    };
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| !v.as_bytes().is_empty())
    {
        return Err(signature("a Content-Type header was sent"));
    }
    if query
        .get("partNumber")
        .is_some_and(|p| *p != url.part.to_string())
        || query.get("uploadId").is_some_and(|u| *u != url.upload_id)
    {
        return Err(signature("partNumber or uploadId changed"));
    }
    let store = core.uploads.lock();
    let session = store
        .session(&url.upload_id)
        .filter(|s| s.completed.is_none())
        .ok_or_else(|| {
            oss_error(
                core,
                StatusCode::NOT_FOUND,
                "NoSuchUpload",
                "The specified upload does not exist.",
            )
        })?;
    if session.stored.contains_key(&url.part) {
        return Err(part_exists(core));
    }
    Ok((url.upload_id, url.part, session.parts))
}

fn part_exists(core: &Core) -> Response {
    oss_error(
        core,
        StatusCode::CONFLICT,
        "PartAlreadyExist",
        "PartAlreadyExist: the part has been uploaded.",
    )
}

fn too_large(core: &Core) -> Response {
    oss_error(
        core,
        StatusCode::BAD_REQUEST,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size.",
    )
}

async fn store(
    core: &Core,
    body: Body,
    cut: Option<Cut>,
    upload_id: &str,
    part: u32,
    last: u32,
    headers: &HeaderMap,
) -> Response {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_PART) {
        count_rejected(core);
        return too_large(core);
    }
    // The next part in order goes straight into place behind the parts before it (with the
    // file's running SHA-1); another one into a buffer of its own. The ETag's MD5 is
    // computed as the bytes come.
    let mut in_place = InPlace::claim(core, upload_id, part, declared);
    let mut own = Vec::new();
    if in_place.is_none() {
        own.reserve(usize::try_from(declared.unwrap_or(0).min(OWN_RESERVE)).unwrap_or(0));
    }
    let mut md5 = Md5::new();
    let read = read_body_with(core, body, MAX_PART, cut, |chunk| {
        md5.update(&chunk);
        match &mut in_place {
            Some(writer) => writer.append(&chunk),
            None => own.extend_from_slice(&chunk),
        }
    })
    .await;
    let len = match read {
        Ok(len) => len,
        Err(e) => {
            count_rejected(core);
            return match e {
                ReadError::TooLarge => too_large(core),
                // The connection is already being dropped: nobody reads this.
                ReadError::Cut => server_error(500),
                ReadError::Broken => oss_error(
                    core,
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length \
                     HTTP header.",
                ),
            };
        }
    };
    if len < MIN_PART && part != last {
        count_rejected(core);
        return oss_error(
            core,
            StatusCode::BAD_REQUEST,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size (100 KB) for a \
             part that is not the last one.",
        );
    }
    let etag = hex::encode_upper(md5.finalize());
    {
        let mut store = core.uploads.lock();
        let Some(session) = store
            .session_mut(upload_id)
            .filter(|s| s.completed.is_none())
        else {
            drop(store);
            drop(in_place);
            count_rejected(core);
            return no_such_upload(core);
        };
        if session.stored.contains_key(&part) {
            if let Some(writer) = in_place.take() {
                writer.give_back(session);
            }
            drop(store);
            count_rejected(core);
            return part_exists(core);
        }
        let bytes = match in_place.take() {
            Some(writer) => {
                if !writer.commit(session, part) {
                    drop(store);
                    count_rejected(core);
                    return no_such_upload(core);
                }
                Bytes::new()
            }
            None => own.into(),
        };
        session.stored.insert(
            part,
            StoredPart {
                bytes,
                len,
                etag: etag.clone(),
            },
        );
    }
    {
        let mut st = core.state.lock();
        st.stats.upload_parts_received += 1;
        st.stats.upload_bytes_received += len;
    }
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn no_such_upload(core: &Core) -> Response {
    oss_error(
        core,
        StatusCode::NOT_FOUND,
        "NoSuchUpload",
        "The specified upload does not exist.",
    )
}
