//! CompleteMultipartUpload and PutObject, and the upload callback both can carry.
//!
//! Complete checks, in order: the upload is open for this bucket and key (404
//! `NoSuchUpload`); the body is a `CompleteMultipartUpload` document with at least one part
//! (400 `MalformedXML`); the callback headers decode (400 `InvalidArgument`); part numbers
//! strictly ascend (400 `InvalidPartOrder`); every listed part was uploaded with that ETag
//! (400 `InvalidPart`); every part but the last is at least 100 KB (400 `EntityTooSmall`);
//! `x-oss-forbid-overwrite: true` and the key exists (409 `FileAlreadyExists`). Then the
//! object is assembled from the listed parts (unlisted parts are dropped), stored, and the
//! callback, when asked for, is posted to the [`super::CallbackHook`]: its JSON answer
//! comes back with 200 `application/json`; its failure (or an injected one) with 203
//! `CallbackFailed`, the object staying stored. Without a callback: 200 XML
//! `CompleteMultipartUploadResult`.
//!
//! Callback variables: `${bucket}`, `${object}`, `${etag}`, `${size}`, `${mimeType}`,
//! `${crc64}`, and — an extension of the simulator, as 115's callback body uses it —
//! `${sha1}` (upper-case hex of the object); `${x:name}` from `x-oss-callback-var`. In a
//! form-encoded callback body the values are percent-encoded.

use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use serde_json::Value;
use sha1::Sha1;

use super::handlers::{CRC64, check_grant, open_upload, read_into_sink};
use super::rolling::{ListedBytes, SharedRolling, finish};
use super::xml::{ListedPart, complete_result, parse_complete};
use super::{CallbackRequest, MIN_PART, Object, OssRequest, Piece, for_each_chunk, pieces_len};
use crate::core::Core;
use crate::transfer::drain;

/// A decoded, well-formed upload callback.
struct Callback {
    raw: String,
    var_raw: String,
    url: String,
    body: String,
    body_type: String,
    vars: Vec<(String, String)>,
}

fn invalid(core: &Core, r: &OssRequest, msg: &str) -> Response {
    r.error(core, StatusCode::BAD_REQUEST, "InvalidArgument", msg)
}

fn decode_b64_json(value: &str) -> Option<(String, serde_json::Map<String, Value>)> {
    let raw = String::from_utf8(STANDARD.decode(value.trim()).ok()?).ok()?;
    match serde_json::from_str::<Value>(&raw).ok()? {
        Value::Object(map) => Some((raw, map)),
        _ => None,
    }
}

/// The callback of the request's `x-oss-callback` / `x-oss-callback-var`, if any.
fn parse_callback(core: &Core, r: &OssRequest) -> Result<Option<Callback>, Response> {
    let Some(header) = r.header("x-oss-callback") else {
        return Ok(None);
    };
    let Some((raw, map)) = decode_b64_json(header) else {
        return Err(invalid(
            core,
            r,
            "The callback configuration is not base64-encoded JSON.",
        ));
    };
    let text = |k: &str| map.get(k).and_then(Value::as_str).map(str::to_owned);
    let (Some(url), Some(body)) = (text("callbackUrl"), text("callbackBody")) else {
        return Err(invalid(
            core,
            r,
            "The callback configuration needs callbackUrl and callbackBody.",
        ));
    };
    if url.is_empty() {
        return Err(invalid(core, r, "callbackUrl is empty."));
    }
    let body_type =
        text("callbackBodyType").unwrap_or_else(|| "application/x-www-form-urlencoded".into());
    let (var_raw, vars) = match r.header("x-oss-callback-var") {
        None => (String::new(), Vec::new()),
        Some(v) => {
            let Some((raw, map)) = decode_b64_json(v) else {
                return Err(invalid(
                    core,
                    r,
                    "The callback variables are not base64-encoded JSON.",
                ));
            };
            let mut vars = Vec::new();
            for (k, v) in map {
                let Some(v) = v.as_str() else {
                    return Err(invalid(
                        core,
                        r,
                        "Callback variable values must be strings.",
                    ));
                };
                if !k.starts_with("x:") {
                    return Err(invalid(
                        core,
                        r,
                        "Callback variable names must start with x:.",
                    ));
                }
                vars.push((k, v.to_owned()));
            }
            (raw, vars)
        }
    };
    Ok(Some(Callback {
        raw,
        var_raw,
        url,
        body,
        body_type,
        vars,
    }))
}

/// `callbackBody` with its `${…}` variables filled in.
fn fill(cb: &Callback, bucket: &str, key: &str, object: &Object) -> String {
    let form = cb.body_type.contains("x-www-form-urlencoded");
    let encode = |v: &str| -> String {
        if form {
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
        } else {
            let quoted = Value::String(v.to_owned()).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        }
    };
    let mut out = String::new();
    let mut rest = cb.body.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &rest[start + 2..start + len];
        let value = match name {
            "bucket" => bucket.to_owned(),
            "object" => key.to_owned(),
            "etag" => object.etag.clone(),
            "size" => object.size.to_string(),
            "mimeType" => "application/octet-stream".to_owned(),
            "crc64" => object.crc64.to_string(),
            "sha1" => object.sha1.clone(),
            var => cb
                .vars
                .iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone())
                .unwrap_or_default(),
        };
        out.push_str(&encode(&value));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// SHA-1 (upper hex) and CRC-64 of the pieces, off the async threads.
async fn digest(pieces: Vec<Piece>) -> (String, u64) {
    let work = move || {
        let mut sha = Sha1::new();
        let mut crc = CRC64.digest();
        for_each_chunk(&pieces, |c| {
            sha.update(c);
            crc.update(c);
        });
        (hex::encode_upper(sha.finalize()), crc.finalize())
    };
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|_| (String::new(), 0))
}

fn forbid_overwrite(core: &Core, r: &OssRequest) -> Result<(), Response> {
    let forbid = r
        .header("x-oss-forbid-overwrite")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let exists = core
        .oss
        .state
        .lock()
        .objects
        .contains_key(&(r.bucket.clone(), r.key.clone()));
    if forbid && exists {
        return Err(r.error(
            core,
            StatusCode::CONFLICT,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        ));
    }
    Ok(())
}

/// The parts a Complete lists, checked against the upload, with the upload's running
/// digests; the upload is closed.
fn take_parts(
    core: &Core,
    r: &OssRequest,
    upload_id: &str,
    listed: &[ListedPart],
) -> Result<(Vec<ListedBytes>, SharedRolling), Response> {
    let bad = |code: &str, msg: &str| r.error(core, StatusCode::BAD_REQUEST, code, msg);
    if listed.windows(2).any(|w| w[0].number >= w[1].number) {
        return Err(bad(
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part \
             number.",
        ));
    }
    let st = core.oss.state.lock();
    let Some(upload) = st.uploads.get(upload_id) else {
        drop(st);
        return Err(r.error(core, StatusCode::NOT_FOUND, "NoSuchUpload", "gone"));
    };
    let mut parts = Vec::new();
    for (i, l) in listed.iter().enumerate() {
        let Some(part) = upload.parts.get(&l.number).filter(|p| p.etag == l.etag) else {
            drop(st);
            return Err(bad(
                "InvalidPart",
                &format!(
                    "One or more of the specified parts could not be found or the specified \
                     entity tag might not have matched the part's entity tag (part {}).",
                    l.number
                ),
            ));
        };
        if i + 1 < listed.len() && part.size < MIN_PART {
            drop(st);
            return Err(bad(
                "EntityTooSmall",
                &format!(
                    "Your proposed upload is smaller than the minimum allowed size (part {} \
                     is not the last and is under 100 KB).",
                    l.number
                ),
            ));
        }
        parts.push((l.number, part.etag.clone(), part.pieces.clone()));
    }
    let rolling = std::sync::Arc::clone(&upload.rolling);
    drop(st);
    forbid_overwrite(core, r)?;
    core.oss.state.lock().uploads.remove(upload_id);
    Ok((parts, rolling))
}

/// `POST /<bucket>/<key>?uploadId=…`.
pub(super) async fn complete(core: &Core, r: &OssRequest, body: Body) -> Response {
    let upload_id = match open_upload(core, r) {
        Ok(id) => id,
        Err(resp) => {
            drain(body).await;
            return resp;
        }
    };
    let malformed = |msg: &str| {
        r.error(
            core,
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            &format!("The XML you provided was not well-formed or did not validate: {msg}"),
        )
    };
    let Ok(bytes) = to_bytes(body, 4 * 1024 * 1024).await else {
        return malformed("the body could not be read (over 4 MiB?)");
    };
    let listed = match parse_complete(&bytes) {
        Ok(l) if l.is_empty() => return malformed("no <Part> listed"),
        Ok(l) => l,
        Err(e) => return malformed(&e),
    };
    let callback = match parse_callback(core, r) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    let (parts, rolling) = match take_parts(core, r, &upload_id, &listed) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let md5s: Vec<u8> = parts
        .iter()
        .flat_map(|(_, etag, _)| hex::decode(etag).unwrap_or_default())
        .collect();
    let etag = format!("{}-{}", hex::encode_upper(Md5::digest(&md5s)), listed.len());
    let pieces: Vec<Piece> = parts
        .iter()
        .flat_map(|(_, _, p)| p.iter().cloned())
        .collect();
    let (sha1, crc64) = finish(rolling, parts).await;
    core.state.lock().stats.oss_multipart_completed += 1;
    let object = store(core, r, pieces, etag, Some((sha1, crc64))).await;
    match callback {
        Some(cb) => run_callback(core, r, &cb, &object),
        None => {
            let xml = complete_result(
                core.oss.endpoint(),
                &r.bucket,
                &r.key,
                &object.etag,
                r.url_encoding(),
            );
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/xml")],
                xml,
            )
                .into_response();
            object_headers(&mut resp, &object);
            resp
        }
    }
}

/// `PUT /<bucket>/<key>`: a whole object in one body, with an optional callback.
pub(super) async fn put_object(core: &Core, r: &OssRequest, body: Body) -> Response {
    let early = check_grant(core, r)
        .and_then(|()| parse_callback(core, r))
        .and_then(|cb| forbid_overwrite(core, r).map(|()| cb));
    let callback = match early {
        Ok(cb) => cb,
        Err(resp) => {
            drain(body).await;
            return resp;
        }
    };
    let (md5, _, pieces, size) = match read_into_sink(core, r, body, None).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if let Err(resp) = forbid_overwrite(core, r) {
        return resp;
    }
    {
        let mut st = core.state.lock();
        st.stats.oss_bytes_received += size;
        st.stats.oss_objects_put += 1;
    }
    let object = store(core, r, pieces, hex::encode_upper(md5), None).await;
    match callback {
        Some(cb) => run_callback(core, r, &cb, &object),
        None => {
            let mut resp = StatusCode::OK.into_response();
            object_headers(&mut resp, &object);
            resp
        }
    }
}

/// Stores an object; its SHA-1 and CRC-64 are computed unless given.
async fn store(
    core: &Core,
    r: &OssRequest,
    pieces: Vec<Piece>,
    etag: String,
    digests: Option<(String, u64)>,
) -> Object {
    let size = pieces_len(&pieces);
    let (sha1, crc64) = match digests {
        Some(d) => d,
        None => digest(pieces.clone()).await,
    };
    let object = Object {
        pieces,
        size,
        etag,
        crc64,
        sha1,
    };
    // Nothing reads an object back (the drive file keeps the bytes): keep its facts only.
    let facts = Object {
        pieces: Vec::new(),
        ..object.clone()
    };
    core.oss
        .state
        .lock()
        .objects
        .insert((r.bucket.clone(), r.key.clone()), facts);
    object
}

fn object_headers(resp: &mut Response, object: &Object) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", object.etag)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut()
        .insert("x-oss-hash-crc64ecma", HeaderValue::from(object.crc64));
}

fn run_callback(core: &Core, r: &OssRequest, cb: &Callback, object: &Object) -> Response {
    let failed = |msg: &str| {
        core.state.lock().stats.oss_callbacks_failed += 1;
        let mut resp = r.error(
            core,
            StatusCode::NON_AUTHORITATIVE_INFORMATION,
            "CallbackFailed",
            msg,
        );
        object_headers(&mut resp, object);
        resp
    };
    let injected = {
        let mut st = core.oss.state.lock();
        let hit = st.callback_failures > 0;
        st.callback_failures = st.callback_failures.saturating_sub(1);
        hit
    };
    if injected {
        core.count_fault();
        return failed("Error status : 502. (injected: the callback server did not answer)");
    }
    let Some(hook) = core.oss.hook() else {
        return failed("Error status : -1. The callback server could not be reached.");
    };
    let body = fill(cb, &r.bucket, &r.key, object);
    let request = CallbackRequest {
        url: &cb.url,
        body: &body,
        body_type: &cb.body_type,
        callback: &cb.raw,
        callback_var: &cb.var_raw,
        bucket: &r.bucket,
        key: &r.key,
        object,
    };
    match hook.post(core, &request) {
        Ok(json) => {
            core.state.lock().stats.oss_callbacks_ok += 1;
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                json,
            )
                .into_response();
            object_headers(&mut resp, object);
            resp
        }
        Err(reason) => failed(&format!("Error status : 400. {reason}")),
    }
}
