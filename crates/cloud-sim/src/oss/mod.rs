//! A simulated Aliyun OSS service: path-style buckets (`/<bucket>/<percent-encoded key>`) on
//! a listener of its own, V1 signatures with STS credentials, multipart uploads
//! (InitiateMultipartUpload, UploadPart, ListParts, CompleteMultipartUpload,
//! AbortMultipartUpload), PutObject, and upload callbacks (spec upload.md §3, §4.2 items 7–8).
//!
//! It knows nothing about the drive that uses it. A provider (115) registers, through
//! [`Oss`]: its buckets, STS credentials it issued, the object keys it allows to be written
//! ([`Oss::grant`]) and a [`CallbackHook`] that plays the callback server (`callbackUrl`).
//!
//! # Why a second listener
//!
//! Real OSS is another host, and SDKs switch to path style only for an IP-literal endpoint,
//! so the bucket is the first path segment. On the provider's listener every unknown path
//! would have to be claimed by the OSS router (or 115's JSON 404 would answer OSS clients),
//! and 115's middleware (request delay, rate windows, `*` fault rules, path counters) would
//! act on OSS traffic. A second loopback listener keeps each service's answers and counters
//! its own; it stops with the simulator.
//!
//! # Strictness
//!
//! Every request: a V1 `Authorization` (V4 is refused with `AccessDenied`), an access key
//! that was issued (`InvalidAccessKeyId`), `x-oss-security-token` present and the one issued
//! with the key (`InvalidSecurityToken`), credentials not expired on the simulated clock
//! (`SecurityTokenExpired`, EC `0002-00000007`), `Date` / `x-oss-date` within 15 minutes
//! of the simulated clock (`RequestTimeTooSkewed`) and the signature rebuilt from the request
//! as it arrived ([`sign`], `SignatureDoesNotMatch` with the server's `StringToSign`). The
//! expiry is checked before the date, so a test that advances the clock past a short STS
//! lifetime sees `SecurityTokenExpired`; advancing it by more than 15 minutes makes every
//! client `Date` skewed, as on a real server; every answer's `Date` is the simulated
//! clock's, from which a client can correct its own. Errors are the XML of §3.4 with
//! `x-oss-request-id` (also on successes).

// Handlers short-circuit with the OSS-shaped error `Response`.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tracing::debug;

use crate::core::Core;
use crate::server::{ConnInfo, SimListener};
use crate::tree::Content;

mod complete;
pub(crate) mod control;
mod handlers;
mod request;
mod rolling;
pub(crate) mod sign;
mod xml;

pub(crate) use request::{OssRequest, error_response};

/// Default lifetime of STS credentials (`get_token`'s `Expiration`).
pub(crate) const DEFAULT_STS_LIFETIME: Duration = Duration::from_secs(3600);
/// Smallest part except the last one (100 KB).
pub(crate) const MIN_PART: u64 = 100 * 1024;
/// Largest part or PutObject body (5 GB).
pub(crate) const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Highest part number.
pub(crate) const MAX_PART_NUMBER: u32 = 10_000;
/// Allowed distance between the request date and the simulated clock.
pub(crate) const MAX_SKEW_SECS: u64 = 15 * 60;

/// A run of object bytes: bytes as received, or zeros kept as a length (a run of zeros
/// costs no memory, so large test uploads of zeros stay cheap).
#[derive(Clone, Debug)]
pub(crate) enum Piece {
    Bytes(Bytes),
    Zeros(u64),
}

impl Piece {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Piece::Bytes(b) => b.len() as u64,
            Piece::Zeros(n) => *n,
        }
    }
}

/// Feeds the bytes of `pieces` to `f` in chunks (zeros at most 1 MiB at a time).
pub(crate) fn for_each_chunk(pieces: &[Piece], mut f: impl FnMut(&[u8])) {
    let mut zeros: Vec<u8> = Vec::new();
    for p in pieces {
        match p {
            Piece::Bytes(b) => f(b),
            Piece::Zeros(n) => {
                if zeros.is_empty() {
                    zeros = vec![0u8; 1 << 20];
                }
                let mut left = *n;
                while left > 0 {
                    let k = left.min(zeros.len() as u64) as usize;
                    f(&zeros[..k]);
                    left -= k as u64;
                }
            }
        }
    }
}

/// Total length of `pieces`.
pub(crate) fn pieces_len(pieces: &[Piece]) -> u64 {
    pieces.iter().map(Piece::len).sum()
}

/// One stored part of a multipart upload.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub pieces: Vec<Piece>,
    pub size: u64,
    /// MD5 hex, upper case, without quotes.
    pub etag: String,
    pub crc64: u64,
    pub modified: u64,
}

/// An open multipart upload.
#[derive(Clone, Debug)]
pub(crate) struct Upload {
    pub bucket: String,
    pub key: String,
    pub parts: BTreeMap<u32, Part>,
    /// SHA-1 / CRC-64 of the parts uploaded so far, in order ([`rolling`]).
    pub rolling: rolling::SharedRolling,
}

/// A stored object.
#[derive(Clone, Debug)]
pub(crate) struct Object {
    /// The bytes while the object is being stored and its callback runs; the copy kept in
    /// [`OssState::objects`] has none (nothing reads an object back).
    pub pieces: Vec<Piece>,
    pub size: u64,
    /// The ETag without quotes (`MD5` or `MD5-N` for multipart).
    pub etag: String,
    pub crc64: u64,
    /// SHA-1 hex, upper case.
    pub sha1: String,
}

impl Object {
    /// The object's bytes as a drive file's content (zeros stay zeros).
    pub(crate) fn content(&self) -> Content {
        if self.pieces.iter().all(|p| matches!(p, Piece::Zeros(_))) {
            return Content::Zeros;
        }
        let mut out = Vec::with_capacity(self.size as usize);
        for_each_chunk(&self.pieces, |c| out.extend_from_slice(c));
        Content::Bytes(Arc::new(out))
    }
}

/// Issued STS credentials (their `Debug` output hides the secret and the token).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub secret: String,
    pub token: String,
    pub expires_at: u64,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("secret", &"[redacted]")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A failure injected into the next part PUT (UploadPart).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OssPartFault {
    /// Answer with this HTTP status (5xx: `InternalError` / `ServiceUnavailable` XML),
    /// storing nothing.
    Status(u16),
    /// Read `after` bytes of the part body, store nothing and drop the connection.
    CutBody {
        /// Body bytes read before the cut.
        after: u64,
    },
}

/// Everything the OSS service holds.
#[derive(Debug)]
pub(crate) struct OssState {
    pub creds: HashMap<String, Credentials>,
    pub buckets: BTreeSet<String>,
    pub grants: HashSet<(String, String)>,
    pub uploads: HashMap<String, Upload>,
    pub objects: HashMap<(String, String), Object>,
    pub part_faults: VecDeque<OssPartFault>,
    pub callback_failures: u32,
    /// CompleteMultipartUploads still to be carried out and then answered with a dropped
    /// connection (the answer lost on the way).
    pub lost_complete_answers: u32,
    pub sts_lifetime: Duration,
    /// Parts per ListParts page when the request names no `max-parts` (OSS: 1000).
    pub list_parts_page: usize,
}

impl Default for OssState {
    fn default() -> Self {
        Self {
            creds: HashMap::new(),
            buckets: BTreeSet::new(),
            grants: HashSet::new(),
            uploads: HashMap::new(),
            objects: HashMap::new(),
            part_faults: VecDeque::new(),
            callback_failures: 0,
            lost_complete_answers: 0,
            sts_lifetime: DEFAULT_STS_LIFETIME,
            list_parts_page: 1000,
        }
    }
}

/// What the callback server (the [`CallbackHook`]) is sent after an object is stored.
#[derive(Debug)]
pub(crate) struct CallbackRequest<'a> {
    /// `callbackUrl` of the callback JSON.
    pub url: &'a str,
    /// `callbackBody` with the `${…}` variables filled in.
    pub body: &'a str,
    /// `callbackBodyType` (default `application/x-www-form-urlencoded`).
    pub body_type: &'a str,
    /// The decoded `x-oss-callback` (JSON text) exactly as sent.
    pub callback: &'a str,
    /// The decoded `x-oss-callback-var` (JSON text) exactly as sent ("" when absent).
    pub callback_var: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub object: &'a Object,
}

/// The callback server of an upload callback: answers a JSON body (relayed to the client
/// with HTTP 200) or fails (the client gets 203 `CallbackFailed`; the object stays stored).
pub(crate) trait CallbackHook: Send + Sync {
    /// Handles one callback POST.
    fn post(&self, core: &Core, request: &CallbackRequest<'_>) -> Result<String, String>;
}

/// The OSS service of a simulator (held by its [`Core`]).
#[derive(Default)]
pub(crate) struct Oss {
    pub state: Mutex<OssState>,
    /// UploadPart bodies being received right now (see [`PartInFlight`]).
    pub parts_in_flight: std::sync::atomic::AtomicUsize,
    hook: OnceLock<Arc<dyn CallbackHook>>,
    endpoint: OnceLock<String>,
}

impl std::fmt::Debug for Oss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oss")
            .field("endpoint", &self.endpoint.get())
            .finish_non_exhaustive()
    }
}

impl Oss {
    /// `http://127.0.0.1:PORT` once started ("" before).
    pub(crate) fn endpoint(&self) -> &str {
        self.endpoint.get().map(String::as_str).unwrap_or("")
    }

    /// The host part of the endpoint (the errors' `HostId`).
    pub(crate) fn host(&self) -> &str {
        self.endpoint().trim_start_matches("http://")
    }

    /// Installs the callback server.
    pub(crate) fn set_hook(&self, hook: Arc<dyn CallbackHook>) {
        let _ = self.hook.set(hook);
    }

    pub(crate) fn hook(&self) -> Option<Arc<dyn CallbackHook>> {
        self.hook.get().cloned()
    }

    /// Creates a bucket (idempotent).
    pub(crate) fn add_bucket(&self, bucket: &str) {
        self.state.lock().buckets.insert(bucket.to_owned());
    }

    /// Allows `key` in `bucket` to be written (InitiateMultipartUpload, PutObject).
    pub(crate) fn grant(&self, bucket: &str, key: &str) {
        self.state
            .lock()
            .grants
            .insert((bucket.to_owned(), key.to_owned()));
    }

    /// Registers STS credentials valid until `expires_at` (Unix seconds, simulated clock).
    pub(crate) fn add_credentials(&self, access_key_id: &str, creds: Credentials) {
        self.state
            .lock()
            .creds
            .insert(access_key_id.to_owned(), creds);
    }

    /// The configured STS lifetime.
    pub(crate) fn sts_lifetime(&self) -> Duration {
        self.state.lock().sts_lifetime
    }
}

/// Binds the OSS listener on `ip` (ephemeral port) and serves it until the simulator shuts
/// down. Records the endpoint in `core.oss`.
pub(crate) async fn start(core: Arc<Core>, ip: std::net::IpAddr) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
    let local = listener.local_addr()?;
    let _ = core.oss.endpoint.set(format!("http://{local}"));
    let app = Router::new()
        .fallback(handlers::dispatch)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response_with_state(
            Arc::clone(&core),
            dated,
        ))
        .with_state(Arc::clone(&core));
    tokio::spawn(async move {
        let shutdown = Arc::clone(&core);
        let served = axum::serve(
            SimListener::new(listener),
            app.into_make_service_with_connect_info::<ConnInfo>(),
        )
        .with_graceful_shutdown(async move { shutdown.shutdown_signal().await })
        .await;
        if let Err(e) = served {
            debug!(error = %e, "OSS listener stopped");
        }
    });
    debug!(addr = %local, "OSS simulator listening");
    Ok(local)
}

/// Every answer's `Date` is the simulated clock's (hyper would write the real one), as a
/// real server's is its own: a client whose clock is off can learn the offset from it
/// after `RequestTimeTooSkewed`.
async fn dated(State(core): State<Arc<Core>>, mut response: Response) -> Response {
    let now = std::time::UNIX_EPOCH + Duration::from_secs(core.now_unix());
    if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}

/// Counts an UploadPart body as in flight from the start of its handler until the handler
/// ends or is dropped (stored, refused or cut): lets a test wait until a client that went
/// away has no part body left on the wire.
pub(crate) struct PartInFlight<'a>(&'a Oss);

impl<'a> PartInFlight<'a> {
    pub(crate) fn new(oss: &'a Oss) -> Self {
        oss.parts_in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(oss)
    }
}

impl Drop for PartInFlight<'_> {
    fn drop(&mut self) {
        self.0
            .parts_in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
