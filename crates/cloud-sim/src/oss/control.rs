//! Controls of the OSS service: on the [`SimHandle`] of the simulators that have one (115)
//! and as HTTP control paths (`/__sim/oss/…`, merged into the provider's router).
//!
//! - `POST /__sim/oss/settings` `sts_lifetime_secs=N`: lifetime of STS credentials issued
//!   from now on; `list_parts_page_size=N`: parts per ListParts page when the request names no
//!   `max-parts` (1 to 1000; OSS: 1000);
//! - `POST /__sim/oss/expire_sts`: every issued credential expires now;
//! - `POST /__sim/oss/faults` `fault=status&status=503&times=N` or
//!   `fault=cut_body&after=BYTES&times=N`: the next N part PUTs fail;
//! - `POST /__sim/oss/callback_failures` `times=N`: the next N callbacks fail (203);
//! - `POST /__sim/oss/lost_complete_answers` `times=N`: the next N successful
//!   CompleteMultipartUploads are carried out, then their connection is dropped.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::routing::post;
use serde::Serialize;
use serde_json::json;

use super::OssPartFault;
use crate::control::control_err;
use crate::core::Core;
use crate::handle::{Sim115, SimHandle};
use crate::input::Input;

/// A stored OSS object, as the control API reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OssObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// The ETag without quotes (`MD5` hex upper case, or `MD5-N` for multipart objects).
    pub etag: String,
    /// SHA-1 of the content, upper-case hex.
    pub sha1: String,
    /// CRC-64/XZ of the content (`x-oss-hash-crc64ecma`).
    pub crc64: u64,
}

impl Core {
    fn expire_sts(&self) {
        let now = self.now_unix();
        for c in self.oss.state.lock().creds.values_mut() {
            c.expires_at = c.expires_at.min(now);
        }
    }
}

impl SimHandle<Sim115> {
    /// The OSS endpoint (`http://127.0.0.1:PORT`) that `get_token` hands out.
    pub fn oss_endpoint(&self) -> &str {
        self.core.oss.endpoint()
    }

    /// Sets the lifetime of STS credentials issued by `get_token` from now on (default
    /// 3600 s, simulated clock). Keep it under 15 minutes when a test expires credentials
    /// by advancing the clock: a larger jump makes every client `Date` too skewed.
    pub fn set_sts_lifetime(&self, lifetime: Duration) {
        self.core.oss.state.lock().sts_lifetime = lifetime;
    }

    /// Expires every STS credential issued so far (the next OSS request with one answers
    /// 403 `SecurityTokenExpired`), without moving the clock.
    pub fn expire_sts_credentials(&self) {
        self.core.expire_sts();
    }

    /// Makes the next `times` OSS part PUTs (UploadPart) fail with `fault`.
    pub fn inject_oss_part_fault(&self, fault: OssPartFault, times: usize) {
        let mut st = self.core.oss.state.lock();
        st.part_faults.extend(std::iter::repeat_n(fault, times));
    }

    /// Makes the next `times` upload callbacks fail (203 `CallbackFailed`; the object is
    /// stored, the 115 file is not created).
    pub fn fail_next_callbacks(&self, times: u32) {
        self.core.oss.state.lock().callback_failures += times;
    }

    /// Makes the next `times` successful CompleteMultipartUploads lose their answer: the
    /// object is stored and the callback made (the 115 file exists), then the connection is
    /// dropped instead of answering, as when a connection breaks at the worst moment.
    pub fn lose_next_complete_answers(&self, times: u32) {
        self.core.oss.state.lock().lost_complete_answers += times;
    }

    /// Parts per ListParts page when the request names no `max-parts` (OSS and the
    /// default: 1000). Small pages make a client's paging visible with few parts.
    pub fn set_oss_list_parts_page_size(&self, parts: usize) {
        self.core.oss.state.lock().list_parts_page = parts.clamp(1, 1000);
    }

    /// A stored OSS object.
    pub fn oss_object(&self, bucket: &str, key: &str) -> Option<OssObjectInfo> {
        let st = self.core.oss.state.lock();
        st.objects
            .get(&(bucket.to_owned(), key.to_owned()))
            .map(|o| OssObjectInfo {
                size: o.size,
                etag: o.etag.clone(),
                sha1: o.sha1.clone(),
                crc64: o.crc64,
            })
    }

    /// Every STS credential issued so far, as `[AccessKeyId, AccessKeySecret,
    /// SecurityToken]` (for tests that check a client never shows them).
    pub fn issued_sts_credentials(&self) -> Vec<[String; 3]> {
        let st = self.core.oss.state.lock();
        st.creds
            .iter()
            .map(|(id, c)| [id.clone(), c.secret.clone(), c.token.clone()])
            .collect()
    }

    /// UploadPart bodies being received right now. After a client was stopped in the
    /// middle of a part, 0 means its connection has finished the body or was dropped: the
    /// part is stored or gone, nothing more can arrive from it.
    pub fn oss_parts_in_flight(&self) -> usize {
        self.core
            .oss
            .parts_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Multipart uploads initiated and neither completed nor aborted.
    pub fn oss_open_uploads(&self) -> usize {
        self.core.oss.state.lock().uploads.len()
    }
}

/// The `/__sim/oss/…` control routes.
pub(crate) fn router() -> Router<Arc<Core>> {
    Router::new()
        .route("/__sim/oss/settings", post(settings))
        .route("/__sim/oss/expire_sts", post(expire_sts))
        .route("/__sim/oss/faults", post(faults))
        .route("/__sim/oss/callback_failures", post(callback_failures))
        .route(
            "/__sim/oss/lost_complete_answers",
            post(lost_complete_answers),
        )
}

async fn settings(State(core): State<Arc<Core>>, input: Input) -> Response {
    let mut st = core.oss.state.lock();
    if let Some(secs) = input
        .get("sts_lifetime_secs")
        .and_then(|v| v.parse::<u64>().ok())
    {
        st.sts_lifetime = Duration::from_secs(secs);
    }
    if let Some(page) = input.get("list_parts_page_size") {
        match page.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => st.list_parts_page = n,
            _ => {
                return control_err(
                    StatusCode::BAD_REQUEST,
                    "list_parts_page_size must be an integer between 1 and 1000",
                );
            }
        }
    }
    axum::Json(json!({
        "sts_lifetime_secs": st.sts_lifetime.as_secs(),
        "list_parts_page_size": st.list_parts_page,
        "endpoint": core.oss.endpoint(),
    }))
    .into_response()
}

async fn expire_sts(State(core): State<Arc<Core>>) -> Response {
    core.expire_sts();
    StatusCode::NO_CONTENT.into_response()
}

async fn faults(State(core): State<Arc<Core>>, input: Input) -> Response {
    let number = |key: &str| input.get(key).and_then(|v| v.parse::<u64>().ok());
    let times = number("times").unwrap_or(1) as usize;
    let fault = match input.get("fault").as_deref() {
        Some("status") => match number("status").and_then(|s| u16::try_from(s).ok()) {
            Some(s) => OssPartFault::Status(s),
            None => return control_err(StatusCode::BAD_REQUEST, "status is required"),
        },
        Some("cut_body") => match number("after") {
            Some(after) => OssPartFault::CutBody { after },
            None => return control_err(StatusCode::BAD_REQUEST, "after is required"),
        },
        _ => {
            return control_err(StatusCode::BAD_REQUEST, "fault must be status or cut_body");
        }
    };
    let mut st = core.oss.state.lock();
    st.part_faults.extend(std::iter::repeat_n(fault, times));
    axum::Json(json!({"pending": st.part_faults.len()})).into_response()
}

async fn callback_failures(State(core): State<Arc<Core>>, input: Input) -> Response {
    add_times(&input, &mut core.oss.state.lock().callback_failures)
}

async fn lost_complete_answers(State(core): State<Arc<Core>>, input: Input) -> Response {
    add_times(&input, &mut core.oss.state.lock().lost_complete_answers)
}

/// Adds the form's `times` (default 1) to a pending-failure counter; answers the new count.
fn add_times(input: &Input, pending: &mut u32) -> Response {
    *pending += input
        .get("times")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    axum::Json(json!({"pending": *pending})).into_response()
}
