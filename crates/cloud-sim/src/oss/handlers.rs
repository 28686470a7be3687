//! Dispatch of OSS requests and the operations other than Complete: InitiateMultipartUpload
//! (`POST ?uploads`, `sequential` tolerated), UploadPart (`PUT ?partNumber&uploadId`),
//! ListParts (`GET ?uploadId`, paged by `part-number-marker` / `max-parts`),
//! AbortMultipartUpload (`DELETE ?uploadId`) and PutObject (`PUT` without a sub-resource,
//! with an optional callback).
//!
//! Part bodies are read as they stream in (Content-Length or chunked), paced by the
//! simulator's transfer rate; each chunk is hashed (MD5 for the ETag, CRC-64/XZ for
//! `x-oss-hash-crc64ecma`) and kept as received, runs of zeros as a length only.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use base64::Engine as _;
use md5::{Digest as _, Md5};

use super::request::with_request_id;
use super::xml::{initiate_result, list_parts_result};
use super::{MAX_PART, MAX_PART_NUMBER, OssPartFault, OssRequest, Part, Piece, Upload, complete};
use crate::core::Core;
use crate::server::ConnInfo;
use crate::token::random_hex;
use crate::transfer::{Cut, ReadError, drain, read_body_with};

/// CRC-64/XZ (ECMA-182, reflected, all-ones init and xorout), as OSS computes it.
pub(crate) static CRC64: crc::Crc<u64, crc::Table<16>> =
    crc::Crc::<u64, crc::Table<16>>::new(&crc::CRC_64_XZ);

/// Every OSS request lands here.
pub(super) async fn dispatch(
    State(core): State<Arc<Core>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    req: Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let Some(r) = OssRequest::parse(parts.method, &parts.uri, parts.headers) else {
        drain(body).await;
        let id = random_hex(12).to_ascii_uppercase();
        return super::error_response(
            &core,
            &id,
            StatusCode::BAD_REQUEST,
            "InvalidURI",
            "The URI is not valid percent-encoded UTF-8.",
            &[],
        );
    };
    let mut resp = handle(&core, &r, conn, body).await;
    with_request_id(&mut resp, &r.request_id);
    resp
}

async fn handle(core: &Arc<Core>, r: &OssRequest, conn: ConnInfo, body: Body) -> Response {
    if let Err(resp) = precheck(core, r) {
        drain(body).await;
        return resp;
    }
    let sub = |k: &str| r.has(k);
    match r.method {
        Method::POST if sub("uploads") => {
            drain(body).await;
            initiate(core, r)
        }
        Method::PUT if sub("partNumber") || sub("uploadId") => {
            upload_part(core, r, conn, body).await
        }
        Method::GET if sub("uploadId") => {
            drain(body).await;
            list_parts(core, r)
        }
        Method::POST if sub("uploadId") => {
            let response = complete::complete(core, r, body).await;
            lose_answer(core, &conn, response)
        }
        Method::DELETE if sub("uploadId") => {
            drain(body).await;
            abort(core, r)
        }
        Method::PUT => complete::put_object(core, r, body).await,
        _ => {
            drain(body).await;
            r.error(
                core,
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource (the simulator has \
                 multipart uploads and PutObject only).",
            )
        }
    }
}

/// A Complete that was carried out (object stored, callback made) loses its answer when
/// the test asked for it: the connection is dropped instead.
fn lose_answer(core: &Core, conn: &ConnInfo, response: Response) -> Response {
    if response.status().is_success() {
        let mut st = core.oss.state.lock();
        if st.lost_complete_answers > 0 {
            st.lost_complete_answers -= 1;
            drop(st);
            core.count_fault();
            conn.kill();
        }
    }
    response
}

/// Authentication, bucket and key.
fn precheck(core: &Core, r: &OssRequest) -> Result<(), Response> {
    if r.bucket.is_empty() {
        return Err(r.error(
            core,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Service operations are not allowed with these credentials.",
        ));
    }
    r.authenticate(core)?;
    if !core.oss.state.lock().buckets.contains(&r.bucket) {
        return Err(r.error(
            core,
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist.",
        ));
    }
    if r.key.is_empty() {
        return Err(r.error(
            core,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Bucket operations are not allowed with these credentials.",
        ));
    }
    Ok(())
}

/// Writing a key needs a grant from the provider (the STS policy of an upload).
pub(super) fn check_grant(core: &Core, r: &OssRequest) -> Result<(), Response> {
    let granted = core
        .oss
        .state
        .lock()
        .grants
        .contains(&(r.bucket.clone(), r.key.clone()));
    if granted {
        Ok(())
    } else {
        Err(r.error(
            core,
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "You have no right to access this object because of bucket acl (the key was not \
             issued for an upload).",
        ))
    }
}

fn xml_ok(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

fn initiate(core: &Core, r: &OssRequest) -> Response {
    if let Err(resp) = check_grant(core, r) {
        return resp;
    }
    let upload_id = random_hex(16).to_ascii_uppercase();
    {
        let mut st = core.oss.state.lock();
        st.uploads.insert(
            upload_id.clone(),
            Upload {
                bucket: r.bucket.clone(),
                key: r.key.clone(),
                parts: Default::default(),
                rolling: Default::default(),
            },
        );
    }
    core.state.lock().stats.oss_multipart_initiated += 1;
    xml_ok(initiate_result(
        &r.bucket,
        &r.key,
        &upload_id,
        r.url_encoding(),
    ))
}

/// The open upload named by `uploadId`, if it belongs to this bucket and key.
pub(super) fn open_upload(core: &Core, r: &OssRequest) -> Result<String, Response> {
    let id = r.param("uploadId").unwrap_or("").to_owned();
    let st = core.oss.state.lock();
    match st.uploads.get(&id) {
        Some(u) if u.bucket == r.bucket && u.key == r.key => Ok(id),
        _ => Err(r.error(
            core,
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload \
             may have been aborted or completed.",
        )),
    }
}

/// Hashes and keeps a body as it streams in.
pub(super) struct Sink {
    md5: Md5,
    crc: crc::Digest<'static, u64, crc::Table<16>>,
    pub pieces: Vec<Piece>,
}

impl Sink {
    pub(super) fn new() -> Self {
        Self {
            md5: Md5::new(),
            crc: CRC64.digest(),
            pieces: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.md5.update(&chunk);
        self.crc.update(&chunk);
        if chunk.iter().all(|b| *b == 0) {
            if let Some(Piece::Zeros(n)) = self.pieces.last_mut() {
                *n += chunk.len() as u64;
            } else {
                self.pieces.push(Piece::Zeros(chunk.len() as u64));
            }
        } else {
            self.pieces.push(Piece::Bytes(chunk));
        }
    }

    /// `(MD5 raw, CRC-64)`.
    pub(super) fn finish(self) -> ([u8; 16], u64, Vec<Piece>) {
        (self.md5.finalize().into(), self.crc.finalize(), self.pieces)
    }
}

/// Reads a body into a [`Sink`], answering the OSS error for a body that is too large,
/// broken, cut, or does not match its `Content-MD5`.
pub(super) async fn read_into_sink(
    core: &Core,
    r: &OssRequest,
    body: Body,
    cut: Option<Cut>,
) -> Result<([u8; 16], u64, Vec<Piece>, u64), Response> {
    let too_large = || {
        r.error(
            core,
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size.",
        )
    };
    let declared = r
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_PART) {
        drain(body).await;
        return Err(too_large());
    }
    let mut sink = Sink::new();
    let read = match read_body_with(core, body, MAX_PART, cut, |c| sink.push(c)).await {
        Ok(n) => n,
        Err(ReadError::TooLarge) => return Err(too_large()),
        Err(ReadError::Cut) => {
            // The connection is being dropped: nobody reads this.
            return Err(r.error(
                core,
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "body cut by fault injection",
            ));
        }
        Err(ReadError::Broken) => {
            return Err(r.error(
                core,
                StatusCode::BAD_REQUEST,
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP \
                 header.",
            ));
        }
    };
    let (md5, crc, pieces) = sink.finish();
    if let Some(sent) = r.header("content-md5")
        && sent != base64::engine::general_purpose::STANDARD.encode(md5)
    {
        return Err(r.error(
            core,
            StatusCode::BAD_REQUEST,
            "InvalidDigest",
            "The Content-MD5 you specified is not valid.",
        ));
    }
    Ok((md5, crc, pieces, read))
}

async fn upload_part(core: &Arc<Core>, r: &OssRequest, conn: ConnInfo, body: Body) -> Response {
    let _in_flight = super::PartInFlight::new(&core.oss);
    let number = r
        .param("partNumber")
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n));
    let Some(number) = number else {
        drain(body).await;
        return r.error(
            core,
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive.",
        );
    };
    let upload_id = match open_upload(core, r) {
        Ok(id) => id,
        Err(resp) => {
            drain(body).await;
            return resp;
        }
    };
    let fault = core.oss.state.lock().part_faults.pop_front();
    let cut = match fault {
        Some(OssPartFault::Status(status)) => {
            core.count_fault();
            drain(body).await;
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = if status == StatusCode::SERVICE_UNAVAILABLE {
                "ServiceUnavailable"
            } else {
                "InternalError"
            };
            return r.error(core, status, code, "simulated server error");
        }
        Some(OssPartFault::CutBody { after }) => {
            core.count_fault();
            Some(Cut { after, conn })
        }
        None => None,
    };
    let (md5, crc64, pieces, size) = match read_into_sink(core, r, body, cut).await {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let etag = hex::encode_upper(md5);
    let stored = {
        let mut st = core.oss.state.lock();
        match st.uploads.get_mut(&upload_id) {
            Some(u) => {
                u.parts.insert(
                    number,
                    Part {
                        pieces,
                        size,
                        etag: etag.clone(),
                        crc64,
                        modified: core.now_unix(),
                    },
                );
                true
            }
            None => false,
        }
    };
    if !stored {
        return r.error(
            core,
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            "The specified upload does not exist (completed or aborted meanwhile).",
        );
    }
    {
        let mut st = core.state.lock();
        st.stats.oss_parts_stored += 1;
        st.stats.oss_bytes_received += size;
    }
    super::rolling::advance(Arc::clone(core), upload_id);
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp.headers_mut()
        .insert("x-oss-hash-crc64ecma", HeaderValue::from(crc64));
    resp.headers_mut().insert(
        "content-md5",
        HeaderValue::from_str(&base64::engine::general_purpose::STANDARD.encode(md5))
            .unwrap_or(HeaderValue::from_static("")),
    );
    resp
}

fn list_parts(core: &Core, r: &OssRequest) -> Response {
    let upload_id = match open_upload(core, r) {
        Ok(id) => id,
        Err(resp) => return resp,
    };
    let marker = match r.param("part-number-marker").filter(|m| !m.is_empty()) {
        None => 0,
        Some(m) => match m.parse::<u32>() {
            Ok(m) => m,
            Err(_) => {
                return r.error(
                    core,
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "part-number-marker must be an integer.",
                );
            }
        },
    };
    let max = match r.param("max-parts").filter(|m| !m.is_empty()) {
        None => core.oss.state.lock().list_parts_page,
        Some(m) => match m.parse::<usize>() {
            Ok(m) if (1..=1000).contains(&m) => m,
            _ => {
                return r.error(
                    core,
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    "max-parts must be an integer between 1 and 1000.",
                );
            }
        },
    };
    let st = core.oss.state.lock();
    let Some(upload) = st.uploads.get(&upload_id) else {
        drop(st);
        return r.error(core, StatusCode::NOT_FOUND, "NoSuchUpload", "gone");
    };
    let after: Vec<(&u32, &Part)> = upload.parts.range(marker.saturating_add(1)..).collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];
    let body = list_parts_result(r, &upload_id, marker, max, truncated, page);
    drop(st);
    core.state.lock().stats.oss_list_parts_pages += 1;
    xml_ok(body)
}

fn abort(core: &Core, r: &OssRequest) -> Response {
    let upload_id = match open_upload(core, r) {
        Ok(id) => id,
        Err(resp) => return resp,
    };
    core.oss.state.lock().uploads.remove(&upload_id);
    StatusCode::NO_CONTENT.into_response()
}
