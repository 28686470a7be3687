//! Request counters, readable from the handle and from `GET /__sim/stats`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters for one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AccountStats {
    /// Authenticated resource requests and refresh attempts attributed to the account.
    pub requests: u64,
    /// Refresh attempts with one of the account's refresh tokens (successful or not).
    pub refresh_calls: u64,
    /// Successful refreshes (each rotated the refresh token).
    pub refreshes_ok: u64,
    /// Refreshes rejected because the token had already been rotated away
    /// (115 code 40140120, alipan `InvalidParameter.RefreshToken`).
    pub rejected_reuses: u64,
    /// Refreshes rejected because the token was expired or revoked.
    pub refresh_rejected_other: u64,
    /// Refreshes rejected by the minimum refresh interval (115 code 40140117).
    pub too_frequent: u64,
    /// Requests answered with a rate-limit answer (limit or injected).
    pub rate_limited: u64,
    /// Successful exchanges of a QR login (device code / authorisation code) for tokens,
    /// and tokens issued directly through the control API (OpenList: successful password
    /// logins and session tokens issued through the control API).
    pub token_exchanges: u64,
    /// Requests rejected because the access token was expired or revoked (OpenList: any
    /// rejection of a token that was issued to the account).
    pub expired_access: u64,
    /// Password logins of the account that were refused (OpenList).
    pub logins_failed: u64,
}

/// All counters of a simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Provider requests (control paths excluded).
    pub total_requests: u64,
    /// Provider requests per path (route template for paths with parameters, e.g.
    /// `/oauth/qrcode/{sid}/status`; download links count as `/__sim/dl`).
    pub paths: BTreeMap<String, u64>,
    /// Per-account counters, keyed by account name.
    pub accounts: BTreeMap<String, AccountStats>,
    /// Requests that a fault rule acted on.
    pub faults_injected: u64,
    /// Requests answered with a rate-limit answer.
    pub rate_limited: u64,
    /// Token refresh attempts with an unknown (never issued) refresh token.
    pub unknown_refresh_tokens: u64,
    /// Long-poll requests that were held (waited for a change or the timeout).
    pub long_polls_held: u64,
    /// Long-poll requests being held right now (a test can wait for this to reach the
    /// number of pollers before it changes their sessions).
    pub long_polls_waiting: u64,
    /// QR login sessions created.
    pub qr_sessions: u64,
    /// Password logins attempted (OpenList `/api/auth/login` and `/api/auth/login/hash`),
    /// whatever their outcome.
    pub login_calls: u64,
    /// Password logins that issued a token.
    pub logins_ok: u64,
    /// Password logins refused: unknown user, wrong or empty password, wrong 2FA code,
    /// lockout, malformed request.
    pub logins_failed: u64,
    /// Requests refused because of the token they carried, per kind. OpenList kinds:
    /// `invalidated`, `malformed`, `expired`, `not_active`, `unhandled`, `user_missing`,
    /// `password_changed`, `user_disabled`, `guest_disabled`.
    pub token_rejections: BTreeMap<String, u64>,
    /// Request fields the provider ignores, keyed `path field` (e.g. `/api/fs/get
    /// refresh`): a client that sends them expects an effect it does not get.
    pub ignored_fields: BTreeMap<String, u64>,
    /// Requests to download links (`/__sim/dl/…`, the storage host) that carried an
    /// `Authorization` header: the client leaked its API token to the download host.
    pub download_authorization_leaks: u64,
    /// Bytes of upload bodies stored: alipan part URLs (`PUT /__sim/up/…`), OpenList
    /// `PUT /api/fs/put`.
    pub upload_bytes_received: u64,
    /// Parts stored by the upload URLs.
    pub upload_parts_received: u64,
    /// Part PUTs refused or broken off: unknown or expired URL, `Content-Type` sent, part
    /// already stored, too small or too large, body cut by [`crate::Fault::CutBody`].
    pub upload_parts_rejected: u64,
    /// Rapid (instant) uploads: alipan, granted by a correct `proof_code`; 115, `init`
    /// answers with status 2 (known content, verified when it is 1 MiB or more).
    pub instant_uploads: u64,
    /// Body bytes written by download links (`/__sim/dl/…`), best effort.
    pub download_bytes_sent: u64,
    /// Normal upload tasks (with part URLs) created.
    pub upload_sessions: u64,
    /// 115: `/open/upload/init` answers that asked for a second verification (status 7).
    pub u115_sign_challenges: u64,
    /// 115: second verifications answered with a wrong `sign_val` (status 8 / code 702).
    pub u115_sign_failures: u64,
    /// 115: STS credentials issued by `/open/upload/get_token`.
    pub u115_sts_issued: u64,
    /// OSS: bytes of part and PutObject bodies stored.
    pub oss_bytes_received: u64,
    /// OSS: parts stored by UploadPart (a re-upload of a part number counts again).
    pub oss_parts_stored: u64,
    /// OSS: multipart uploads initiated.
    pub oss_multipart_initiated: u64,
    /// OSS: multipart uploads completed (objects stored, whatever the callback did).
    pub oss_multipart_completed: u64,
    /// OSS: objects stored by PutObject.
    pub oss_objects_put: u64,
    /// OSS: ListParts pages answered.
    pub oss_list_parts_pages: u64,
    /// OSS: upload callbacks answered by the callback server (HTTP 200 to the client).
    pub oss_callbacks_ok: u64,
    /// OSS: upload callbacks that failed (HTTP 203 `CallbackFailed`), injected ones included.
    pub oss_callbacks_failed: u64,
    /// OSS: requests refused with `SignatureDoesNotMatch`.
    pub oss_signature_failures: u64,
    /// OSS: error answers per OSS error code (`SecurityTokenExpired`, `InvalidPart`, …).
    pub oss_errors: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests counted for `path` (zero when none).
    pub fn path(&self, path: &str) -> u64 {
        self.paths.get(path).copied().unwrap_or(0)
    }

    /// OSS error answers with this code (zero when none).
    pub fn oss_error(&self, code: &str) -> u64 {
        self.oss_errors.get(code).copied().unwrap_or(0)
    }

    /// Token rejections of one kind (zero when none).
    pub fn rejections(&self, kind: &str) -> u64 {
        self.token_rejections.get(kind).copied().unwrap_or(0)
    }

    /// Counters of `account` (all zero when none).
    pub fn account(&self, account: &str) -> AccountStats {
        self.accounts.get(account).cloned().unwrap_or_default()
    }

    pub(crate) fn account_mut(&mut self, account: &str) -> &mut AccountStats {
        self.accounts.entry(account.to_owned()).or_default()
    }
}

/// When one provider request reached the simulator and when its answer left it, on this
/// process's monotonic clock: a test that kills a client at a known instant can tell
/// whether the kill landed before the request, while the provider held it, or after the
/// answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTiming {
    /// The request path.
    pub path: String,
    /// When the request arrived.
    pub received: std::time::Instant,
    /// When the provider had acted on it (state changed, e.g. a refresh token rotated).
    pub processed: Option<std::time::Instant>,
    /// When the answer was handed to the connection; `None` while held or when the
    /// client went away first.
    pub answered: Option<std::time::Instant>,
}

/// Every request's [`RequestTiming`], in arrival order.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    entries: parking_lot::Mutex<Vec<RequestTiming>>,
}

impl Timeline {
    /// Records an arrival; returns its index.
    pub(crate) fn received(&self, path: &str) -> usize {
        let mut entries = self.entries.lock();
        entries.push(RequestTiming {
            path: path.to_owned(),
            received: std::time::Instant::now(),
            processed: None,
            answered: None,
        });
        entries.len() - 1
    }

    pub(crate) fn processed(&self, index: usize) {
        if let Some(entry) = self.entries.lock().get_mut(index) {
            entry.processed = Some(std::time::Instant::now());
        }
    }

    pub(crate) fn answered(&self, index: usize) {
        if let Some(entry) = self.entries.lock().get_mut(index) {
            entry.answered = Some(std::time::Instant::now());
        }
    }

    pub(crate) fn all(&self) -> Vec<RequestTiming> {
        self.entries.lock().clone()
    }
}
