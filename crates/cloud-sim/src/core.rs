//! The shared simulator core: accounts, tokens, QR sessions, drives, rate windows and
//! counters, behind one lock.
//!
//! Provider modules ([`crate::u115`], [`crate::alipan`], [`crate::openlist`]) translate HTTP requests into calls
//! here and the outcomes into the provider's answer shapes; the control API calls the same
//! methods. All expiry is measured on the [`SimClock`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::SimClock;
use crate::config::{Provider, Settings};
use crate::error::{Error, Result};
use crate::fault::FaultRegistry;
use crate::pkce::{self, Method};
use crate::stats::Stats;
use crate::token::{AccountInfo, DriveKind, QrInfo, QrState, TokenPair, random_hex, random_string};
use crate::tree::{Content, EntryInfo, Node, SimFile, Tree};
use crate::util::{split_path, unix_after, unix_secs};

/// Whether a refresh token can still be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RefreshStatus {
    Live,
    Rotated,
    Revoked,
}

#[derive(Clone, Debug)]
struct RefreshRecord {
    account: String,
    status: RefreshStatus,
    expires_at: u64,
}

#[derive(Clone, Debug)]
struct AccessRecord {
    account: String,
    expires_at: u64,
    revoked: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Account {
    pub name: String,
    pub user_id: String,
    pub display_name: String,
    pub default_drive: String,
    pub resource_drive: Option<String>,
    live_refresh: Option<String>,
    latest_access: Option<String>,
    last_refresh_at: Option<SystemTime>,
    revoked: bool,
    /// The client secret of the login, required again on refresh (alipan).
    grant_secret: Option<String>,
}

/// A QR login session.
#[derive(Clone, Debug)]
pub(crate) struct QrSession {
    pub id: String,
    pub client_id: String,
    method: Option<Method>,
    challenge: Option<String>,
    secret: Option<String>,
    state: QrState,
    account: Option<String>,
    pub expires_at: u64,
    last_reported: QrState,
    /// 115 `sign` and `time` of the status poll.
    pub sign: String,
    pub time: u64,
    /// alipan authorisation code, once confirmed.
    pub auth_code: Option<String>,
}

impl QrSession {
    fn effective(&self, now: u64) -> QrState {
        match self.state {
            QrState::Waiting | QrState::Scanned | QrState::Confirmed if now >= self.expires_at => {
                QrState::Expired
            }
            s => s,
        }
    }
}

#[derive(Clone, Debug)]
struct DownloadLink {
    drive: String,
    node: u64,
    user_agent: Option<String>,
    expires_at: u64,
}

/// What a control call does to a QR session.
#[derive(Clone, Debug)]
pub(crate) enum QrAction {
    Scan,
    Confirm(Option<String>),
    Cancel,
    Expire,
}

/// How a QR login is set up.
#[derive(Clone, Debug)]
pub(crate) struct QrRequest {
    pub client_id: String,
    pub method: Option<Method>,
    pub challenge: Option<String>,
    pub secret: Option<String>,
}

/// Why exchanging a QR login for tokens failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExchangeError {
    UnknownSession,
    NotConfirmed,
    /// Expired, cancelled, or already exchanged.
    Gone,
    VerifierMissing,
    VerifierMalformed,
    VerifierMismatch,
    SecretMissing,
    SecretMismatch,
    ClientMismatch,
}

/// Why a refresh failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefreshError {
    Unknown,
    Rotated,
    Revoked,
    Expired,
    TooFrequent,
    SecretMissing,
    SecretMismatch,
    RateLimited(u64),
}

/// Why an access token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthError {
    Missing,
    Unknown,
    Expired,
    Revoked,
    RateLimited(u64),
}

/// Why a download link was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DownloadError {
    Unknown,
    Expired,
    UserAgent,
}

/// A file served by a download link.
pub(crate) struct Download {
    pub name: String,
    pub size: u64,
    pub content: Content,
}

/// Everything mutable, behind one lock.
pub(crate) struct State {
    pub settings: Settings,
    pub stats: Stats,
    accounts: BTreeMap<String, Account>,
    refresh: HashMap<String, RefreshRecord>,
    access: HashMap<String, AccessRecord>,
    qr: HashMap<String, QrSession>,
    qr_order: Vec<String>,
    codes: HashMap<String, (String, u64)>,
    pub drives: HashMap<String, Tree>,
    downloads: HashMap<String, DownloadLink>,
    pub next_id: u64,
    next_user: u64,
    windows: HashMap<String, (u64, u32)>,
    /// The OpenList server's users, sessions and settings (empty for other providers).
    pub openlist: crate::openlist::Store,
}

/// The simulator core shared by the HTTP handlers and the control handle.
pub(crate) struct Core {
    pub provider: Provider,
    pub clock: SimClock,
    pub base_url: String,
    pub state: Mutex<State>,
    pub faults: FaultRegistry,
    /// alipan upload sessions and part URLs (state in [`crate::alipan::UploadStore`]).
    pub uploads: Mutex<crate::alipan::UploadStore>,
    pub changes: watch::Sender<u64>,
    pub shutdown: watch::Sender<bool>,
    pub timeline: crate::stats::Timeline,
}

impl Core {
    pub(crate) fn new(settings: Settings, base_url: String) -> Self {
        let (changes, _) = watch::channel(0u64);
        let (shutdown, _) = watch::channel(false);
        Self {
            provider: settings.provider,
            clock: SimClock::new(changes.clone()),
            base_url,
            state: Mutex::new(State {
                settings,
                stats: Stats::default(),
                accounts: BTreeMap::new(),
                refresh: HashMap::new(),
                access: HashMap::new(),
                qr: HashMap::new(),
                qr_order: Vec::new(),
                codes: HashMap::new(),
                drives: HashMap::new(),
                downloads: HashMap::new(),
                next_id: 2_000_000_000_000_000_000,
                next_user: 100_000_000,
                windows: HashMap::new(),
                openlist: crate::openlist::Store::default(),
            }),
            faults: FaultRegistry::default(),
            uploads: Mutex::default(),
            changes,
            shutdown,
            timeline: crate::stats::Timeline::default(),
        }
    }

    pub(crate) fn now_unix(&self) -> u64 {
        self.clock.now_unix()
    }

    fn bump(&self) {
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Resolves once the simulator is shutting down.
    pub(crate) async fn shutdown_signal(&self) {
        let mut rx = self.shutdown.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }

    pub(crate) fn settings(&self) -> Settings {
        self.state.lock().settings.clone()
    }

    // ----- accounts -------------------------------------------------------------------

    fn ensure_account<'a>(&self, st: &'a mut State, name: &str) -> &'a mut Account {
        let now = self.now_unix();
        let provider = self.provider;
        let State {
            accounts,
            drives,
            next_user,
            settings,
            ..
        } = st;
        accounts.entry(name.to_owned()).or_insert_with(|| {
            *next_user += 1;
            let (user_id, default_drive, resource_drive) = match provider {
                Provider::U115 => {
                    let id = next_user.to_string();
                    (id.clone(), format!("u115-{id}"), None)
                }
                Provider::Alipan => {
                    let base = *next_user * 10;
                    let resource = settings.resource_drive.then(|| (base + 1).to_string());
                    (random_hex(32), base.to_string(), resource)
                }
                // Every OpenList user sees the one storage.
                Provider::OpenList => (
                    next_user.to_string(),
                    crate::openlist::STORAGE.to_owned(),
                    None,
                ),
            };
            drives
                .entry(default_drive.clone())
                .or_insert_with(|| Tree::new(now));
            if let Some(r) = &resource_drive {
                drives.insert(r.clone(), Tree::new(now));
            }
            Account {
                name: name.to_owned(),
                user_id,
                display_name: name.to_owned(),
                default_drive,
                resource_drive,
                live_refresh: None,
                latest_access: None,
                last_refresh_at: None,
                revoked: false,
                grant_secret: None,
            }
        })
    }

    pub(crate) fn create_account(&self, name: &str) -> AccountInfo {
        let mut st = self.state.lock();
        let account = self.ensure_account(&mut st, name).clone();
        info_of(&st, &account)
    }

    pub(crate) fn account(&self, name: &str) -> Option<Account> {
        self.state.lock().accounts.get(name).cloned()
    }

    pub(crate) fn account_info(&self, name: &str) -> Option<AccountInfo> {
        let st = self.state.lock();
        self.account_info_locked(&st, name)
    }

    pub(crate) fn accounts(&self) -> Vec<AccountInfo> {
        let st = self.state.lock();
        st.accounts
            .keys()
            .filter_map(|n| self.account_info_locked(&st, n))
            .collect()
    }

    fn account_info_locked(&self, st: &State, name: &str) -> Option<AccountInfo> {
        st.accounts.get(name).map(|a| info_of(st, a))
    }
}

fn info_of(st: &State, a: &Account) -> AccountInfo {
    let refresh = a.live_refresh.as_ref().and_then(|t| st.refresh.get(t));
    let access = a.latest_access.as_ref().and_then(|t| st.access.get(t));
    AccountInfo {
        name: a.name.clone(),
        user_id: a.user_id.clone(),
        display_name: a.display_name.clone(),
        default_drive_id: a.default_drive.clone(),
        resource_drive_id: a.resource_drive.clone(),
        live_refresh_token: a.live_refresh.clone(),
        refresh_expires_at: refresh.map(|r| r.expires_at),
        latest_access_token: a.latest_access.clone(),
        access_expires_at: access.map(|r| r.expires_at),
        revoked: a.revoked,
    }
}

impl Core {
    /// Issues a new token pair to `name`; the previous live refresh token dies.
    fn issue(
        &self,
        st: &mut State,
        name: &str,
        with_refresh: bool,
        access_lifetime: Duration,
        refresh_expires_at: Option<u64>,
    ) -> TokenPair {
        let now = self.clock.now();
        let refresh_lifetime = st.settings.refresh_lifetime;
        let access_token = random_string(64);
        let access_expires = unix_after(now, access_lifetime);
        st.access.insert(
            access_token.clone(),
            AccessRecord {
                account: name.to_owned(),
                expires_at: access_expires,
                revoked: false,
            },
        );
        let refresh_token = with_refresh.then(|| random_string(64));
        let previous = {
            let account = self.ensure_account(st, name);
            account.revoked = false;
            account.latest_access = Some(access_token.clone());
            std::mem::replace(&mut account.live_refresh, refresh_token.clone())
        };
        if let Some(old) = previous.and_then(|t| st.refresh.get_mut(&t))
            && old.status == RefreshStatus::Live
        {
            old.status = RefreshStatus::Rotated;
        }
        if let Some(token) = &refresh_token {
            st.refresh.insert(
                token.clone(),
                RefreshRecord {
                    account: name.to_owned(),
                    status: RefreshStatus::Live,
                    expires_at: refresh_expires_at
                        .unwrap_or_else(|| unix_after(now, refresh_lifetime)),
                },
            );
        }
        TokenPair {
            access_token,
            refresh_token,
            expires_in: access_lifetime.as_secs(),
        }
    }

    /// Logs `name` in directly (creating the account), as if a QR login had completed.
    pub(crate) fn login(&self, name: &str) -> TokenPair {
        let mut st = self.state.lock();
        let lifetime = st.settings.access_lifetime;
        let pair = self.issue(&mut st, name, true, lifetime, None);
        st.stats.account_mut(name).token_exchanges += 1;
        pair
    }

    /// Revokes every token of `name` (refresh → 40140116 / invalid, access → invalid).
    pub(crate) fn revoke(&self, name: &str) -> Result<()> {
        let mut st = self.state.lock();
        let account = st
            .accounts
            .get_mut(name)
            .ok_or_else(|| Error::UnknownAccount(name.to_owned()))?;
        account.revoked = true;
        for rec in st.refresh.values_mut().filter(|r| r.account == name) {
            if rec.status == RefreshStatus::Live {
                rec.status = RefreshStatus::Revoked;
            }
        }
        for rec in st.access.values_mut().filter(|r| r.account == name) {
            rec.revoked = true;
        }
        Ok(())
    }

    // ----- rate limiting --------------------------------------------------------------

    /// Counts one request of `account` in the current second; `Some(reset_secs)` when it is
    /// over the per-account limit.
    pub(crate) fn check_rate(&self, st: &mut State, account: &str) -> Option<u64> {
        let limit = st.settings.rate_limit_per_sec?;
        let now = self.clock.now();
        let sec = unix_secs(now);
        let window = st.windows.entry(account.to_owned()).or_insert((sec, 0));
        if window.0 != sec {
            *window = (sec, 0);
        }
        window.1 += 1;
        if window.1 > limit {
            st.stats.rate_limited += 1;
            st.stats.account_mut(account).rate_limited += 1;
            Some(1)
        } else {
            None
        }
    }

    /// Counts a rate-limit answer given by fault injection.
    pub(crate) fn count_injected_rate_limit(&self) {
        self.state.lock().stats.rate_limited += 1;
    }

    // ----- access tokens --------------------------------------------------------------

    /// Checks a bearer token; on success counts the request and applies the rate limit.
    pub(crate) fn authenticate(&self, bearer: Option<&str>) -> Result<String, AuthError> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let token = bearer.ok_or(AuthError::Missing)?;
        let rec = st.access.get(token).cloned().ok_or(AuthError::Unknown)?;
        if rec.revoked {
            st.stats.account_mut(&rec.account).expired_access += 1;
            return Err(AuthError::Revoked);
        }
        if now >= rec.expires_at {
            st.stats.account_mut(&rec.account).expired_access += 1;
            return Err(AuthError::Expired);
        }
        st.stats.account_mut(&rec.account).requests += 1;
        if let Some(reset) = self.check_rate(&mut st, &rec.account) {
            return Err(AuthError::RateLimited(reset));
        }
        Ok(rec.account)
    }

    // ----- refresh --------------------------------------------------------------------

    /// Rotates a refresh token.
    pub(crate) fn refresh(
        &self,
        token: &str,
        client_secret: Option<&str>,
    ) -> Result<(String, TokenPair), RefreshError> {
        let now = self.clock.now();
        let now_u = unix_secs(now);
        let mut st = self.state.lock();
        let Some(rec) = st.refresh.get(token).cloned() else {
            st.stats.unknown_refresh_tokens += 1;
            return Err(RefreshError::Unknown);
        };
        let name = rec.account.clone();
        {
            let s = st.stats.account_mut(&name);
            s.refresh_calls += 1;
            s.requests += 1;
        }
        if let Some(reset) = self.check_rate(&mut st, &name) {
            return Err(RefreshError::RateLimited(reset));
        }
        match rec.status {
            RefreshStatus::Rotated => {
                st.stats.account_mut(&name).rejected_reuses += 1;
                return Err(RefreshError::Rotated);
            }
            RefreshStatus::Revoked => {
                st.stats.account_mut(&name).refresh_rejected_other += 1;
                return Err(RefreshError::Revoked);
            }
            RefreshStatus::Live => {}
        }
        if now_u >= rec.expires_at {
            st.stats.account_mut(&name).refresh_rejected_other += 1;
            return Err(RefreshError::Expired);
        }
        let (grant_secret, last_refresh) = match st.accounts.get(&name) {
            Some(a) => (a.grant_secret.clone(), a.last_refresh_at),
            None => (None, None),
        };
        if let Some(expected) = grant_secret {
            match client_secret {
                None => {
                    st.stats.account_mut(&name).refresh_rejected_other += 1;
                    return Err(RefreshError::SecretMissing);
                }
                Some(given) if given != expected => {
                    st.stats.account_mut(&name).refresh_rejected_other += 1;
                    return Err(RefreshError::SecretMismatch);
                }
                Some(_) => {}
            }
        }
        let min = st.settings.min_refresh_interval;
        if !min.is_zero()
            && last_refresh.is_some_and(|t| now.duration_since(t).unwrap_or(Duration::ZERO) < min)
        {
            st.stats.account_mut(&name).too_frequent += 1;
            return Err(RefreshError::TooFrequent);
        }
        let expires = if st.settings.refresh_extends_validity {
            None
        } else {
            Some(rec.expires_at)
        };
        let lifetime = st.settings.access_lifetime;
        let pair = self.issue(&mut st, &name, true, lifetime, expires);
        if let Some(a) = st.accounts.get_mut(&name) {
            a.last_refresh_at = Some(now);
        }
        st.stats.account_mut(&name).refreshes_ok += 1;
        Ok((name, pair))
    }

    // ----- QR sessions ----------------------------------------------------------------

    /// Opens a QR session; schedules auto-confirmation when configured.
    pub(crate) fn create_qr(self: &Arc<Self>, req: QrRequest) -> QrSession {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let id = match self.provider {
            Provider::U115 => random_string(24),
            Provider::Alipan | Provider::OpenList => random_hex(32),
        };
        let session = QrSession {
            id: id.clone(),
            client_id: req.client_id,
            method: req.method,
            challenge: req.challenge,
            secret: req.secret,
            state: QrState::Waiting,
            account: None,
            expires_at: unix_after(self.clock.now(), st.settings.qr_lifetime),
            last_reported: QrState::Waiting,
            sign: random_hex(40),
            time: now,
            auth_code: None,
        };
        st.qr.insert(id.clone(), session.clone());
        st.qr_order.push(id.clone());
        st.stats.qr_sessions += 1;
        if let Some(delay) = st.settings.auto_confirm {
            let core = Arc::clone(self);
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {
                        let _ = core.qr_action(&id, QrAction::Scan);
                        let _ = core.qr_action(&id, QrAction::Confirm(None));
                    }
                    () = core.shutdown_signal() => {}
                }
            });
        }
        session
    }

    pub(crate) fn qr_session(&self, id: &str) -> Option<QrSession> {
        self.state.lock().qr.get(id).cloned()
    }

    fn qr_info_of(s: &QrSession, now: u64) -> QrInfo {
        QrInfo {
            id: s.id.clone(),
            state: s.effective(now),
            account: s.account.clone(),
            client_id: s.client_id.clone(),
            expires_at: s.expires_at,
        }
    }

    pub(crate) fn qr_info(&self, id: &str) -> Option<QrInfo> {
        let now = self.now_unix();
        self.state
            .lock()
            .qr
            .get(id)
            .map(|s| Self::qr_info_of(s, now))
    }

    pub(crate) fn qr_list(&self) -> Vec<QrInfo> {
        let now = self.now_unix();
        let st = self.state.lock();
        st.qr_order
            .iter()
            .filter_map(|id| st.qr.get(id))
            .map(|s| Self::qr_info_of(s, now))
            .collect()
    }

    /// Scans, confirms, cancels or expires a QR session, waking its long-polls.
    pub(crate) fn qr_action(&self, id: &str, action: QrAction) -> Result<()> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let default_account = st.settings.default_account.clone();
        let session = st
            .qr
            .get(id)
            .ok_or_else(|| Error::UnknownQr(id.to_owned()))?;
        let state = session.effective(now);
        let allowed = match action {
            QrAction::Scan => state == QrState::Waiting,
            QrAction::Confirm(_) | QrAction::Cancel | QrAction::Expire => state.is_pending(),
        };
        if !allowed {
            return Err(Error::QrNotPending {
                id: id.to_owned(),
                state: state.name().to_owned(),
            });
        }
        let mut new_code = None;
        let (new_state, account) = match action {
            QrAction::Scan => (QrState::Scanned, None),
            QrAction::Confirm(name) => {
                let name = name.unwrap_or(default_account);
                self.ensure_account(&mut st, &name);
                if self.provider == Provider::Alipan {
                    let code = random_hex(32);
                    let expires = now.saturating_add(600);
                    st.codes.insert(code.clone(), (id.to_owned(), expires));
                    new_code = Some(code);
                }
                (QrState::Confirmed, Some(name))
            }
            QrAction::Cancel => (QrState::Cancelled, None),
            QrAction::Expire => (QrState::Expired, None),
        };
        if let Some(session) = st.qr.get_mut(id) {
            session.state = new_state;
            if account.is_some() {
                session.account = account;
            }
            if new_code.is_some() {
                session.auth_code = new_code;
            }
        }
        drop(st);
        self.bump();
        Ok(())
    }

    /// The 115 status long-poll: answers when the session's state differs from the one last
    /// reported, when it is no longer pending, or after the poll timeout.
    pub(crate) async fn long_poll(&self, id: &str) -> Option<QrState> {
        let mut rx = self.changes.subscribe();
        let (seen, timeout) = {
            let st = self.state.lock();
            (st.qr.get(id)?.last_reported, st.settings.poll_timeout)
        };
        let deadline = Instant::now() + timeout;
        let mut guard: Option<WaitingGuard<'_>> = None;
        loop {
            let now = self.now_unix();
            let (current, expires_at) = {
                let st = self.state.lock();
                let s = st.qr.get(id)?;
                (s.effective(now), s.expires_at)
            };
            let shutting_down = *self.shutdown.borrow();
            if current != seen
                || !current.is_pending()
                || Instant::now() >= deadline
                || shutting_down
            {
                let mut st = self.state.lock();
                if let Some(s) = st.qr.get_mut(id) {
                    s.last_reported = current;
                }
                if guard.is_some() {
                    st.stats.long_polls_held += 1;
                }
                // Release the lock before the guard takes it again.
                drop(st);
                drop(guard);
                return Some(current);
            }
            if guard.is_none() {
                self.state.lock().stats.long_polls_waiting += 1;
                guard = Some(WaitingGuard(self));
            }
            let until_expiry =
                Duration::from_secs(expires_at.saturating_sub(now)) + Duration::from_millis(50);
            let wake = deadline.min(Instant::now() + until_expiry);
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Some(current);
                    }
                }
                () = tokio::time::sleep_until(wake) => {}
                () = self.shutdown_signal() => {}
            }
        }
    }

    /// Exchanges a confirmed 115 device code (uid) for tokens.
    pub(crate) fn exchange_device_code(
        &self,
        uid: &str,
        verifier: Option<&str>,
    ) -> Result<TokenPair, ExchangeError> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let session = st
            .qr
            .get(uid)
            .cloned()
            .ok_or(ExchangeError::UnknownSession)?;
        let verifier = verifier.ok_or(ExchangeError::VerifierMissing)?;
        if !pkce::verifier_well_formed(verifier) {
            return Err(ExchangeError::VerifierMalformed);
        }
        let (Some(method), Some(challenge)) = (session.method, session.challenge.as_deref()) else {
            return Err(ExchangeError::VerifierMismatch);
        };
        if !pkce::verify(method, challenge, verifier) {
            return Err(ExchangeError::VerifierMismatch);
        }
        match session.effective(now) {
            QrState::Confirmed => {}
            QrState::Waiting | QrState::Scanned => return Err(ExchangeError::NotConfirmed),
            _ => return Err(ExchangeError::Gone),
        }
        let name = session
            .account
            .clone()
            .unwrap_or_else(|| st.settings.default_account.clone());
        let lifetime = st.settings.access_lifetime;
        let pair = self.issue(&mut st, &name, true, lifetime, None);
        if let Some(s) = st.qr.get_mut(uid) {
            s.state = QrState::Consumed;
        }
        if let Some(a) = st.accounts.get_mut(&name) {
            a.grant_secret = None;
            a.last_refresh_at = None;
        }
        st.stats.account_mut(&name).token_exchanges += 1;
        drop(st);
        self.bump();
        Ok(pair)
    }

    /// Exchanges an alipan authorisation code for tokens.
    pub(crate) fn exchange_auth_code(
        &self,
        client_id: &str,
        code: &str,
        verifier: Option<&str>,
        secret: Option<&str>,
    ) -> Result<TokenPair, ExchangeError> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let (sid, code_expires) = st
            .codes
            .get(code)
            .cloned()
            .ok_or(ExchangeError::UnknownSession)?;
        let session = st
            .qr
            .get(&sid)
            .cloned()
            .ok_or(ExchangeError::UnknownSession)?;
        if session.state != QrState::Confirmed || now >= code_expires {
            return Err(ExchangeError::Gone);
        }
        if session.client_id != client_id {
            return Err(ExchangeError::ClientMismatch);
        }
        let pkce_only = match (&session.secret, session.method, &session.challenge) {
            (Some(expected), _, _) => {
                // Secret mode: the secret must come again.
                let given = secret.ok_or(ExchangeError::SecretMissing)?;
                if given != expected {
                    return Err(ExchangeError::SecretMismatch);
                }
                false
            }
            (None, Some(method), Some(challenge)) => {
                let verifier = verifier.ok_or(ExchangeError::VerifierMissing)?;
                if method != Method::Plain && !pkce::verifier_well_formed(verifier) {
                    return Err(ExchangeError::VerifierMalformed);
                }
                if !pkce::verify(method, challenge, verifier) {
                    return Err(ExchangeError::VerifierMismatch);
                }
                true
            }
            (None, _, _) => return Err(ExchangeError::VerifierMissing),
        };
        let name = session
            .account
            .clone()
            .unwrap_or_else(|| st.settings.default_account.clone());
        let pair = if pkce_only {
            let lifetime = st.settings.pkce_access_lifetime;
            self.issue(&mut st, &name, false, lifetime, None)
        } else {
            let lifetime = st.settings.access_lifetime;
            self.issue(&mut st, &name, true, lifetime, None)
        };
        st.codes.remove(code);
        if let Some(s) = st.qr.get_mut(&sid) {
            s.state = QrState::Consumed;
        }
        if let Some(a) = st.accounts.get_mut(&name) {
            a.grant_secret = if pkce_only {
                None
            } else {
                session.secret.clone()
            };
            a.last_refresh_at = None;
        }
        st.stats.account_mut(&name).token_exchanges += 1;
        drop(st);
        self.bump();
        Ok(pair)
    }

    // ----- drives ---------------------------------------------------------------------

    /// The drive id of `account`'s drive of `kind`.
    pub(crate) fn drive_id(&self, account: &str, kind: DriveKind) -> Option<String> {
        let st = self.state.lock();
        let a = st.accounts.get(account)?;
        match kind {
            DriveKind::Default => Some(a.default_drive.clone()),
            DriveKind::Resource => a.resource_drive.clone(),
        }
    }

    /// Whether `drive` belongs to `account`.
    pub(crate) fn owns_drive(&self, account: &str, drive: &str) -> bool {
        let st = self.state.lock();
        st.accounts
            .get(account)
            .is_some_and(|a| a.default_drive == drive || a.resource_drive.as_deref() == Some(drive))
    }

    /// Runs `f` on a drive's tree with the id counter and the current time.
    pub(crate) fn with_tree<R>(
        &self,
        drive: &str,
        f: impl FnOnce(&mut Tree, &mut u64, u64) -> R,
    ) -> Option<R> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let State {
            drives, next_id, ..
        } = &mut *st;
        let tree = drives.get_mut(drive)?;
        Some(f(tree, next_id, now))
    }

    fn seed_drive(&self, account: &str, kind: DriveKind) -> Result<String> {
        {
            let mut st = self.state.lock();
            self.ensure_account(&mut st, account);
        }
        self.drive_id(account, kind)
            .ok_or_else(|| Error::NotFound(format!("{kind:?} drive of {account}")))
    }

    /// Seeds a folder (and missing parents).
    pub(crate) fn add_folder(&self, account: &str, kind: DriveKind, path: &str) -> Result<u64> {
        let drive = self.seed_drive(account, kind)?;
        self.with_tree(&drive, |t, ids, now| t.mkdir_p(path, now, ids))
            .ok_or_else(|| Error::NotFound(drive.clone()))?
    }

    /// Seeds a file (and missing parent folders).
    pub(crate) fn add_file(
        &self,
        account: &str,
        kind: DriveKind,
        path: &str,
        file: SimFile,
    ) -> Result<u64> {
        let drive = self.seed_drive(account, kind)?;
        let parts = split_path(path).ok_or_else(|| Error::InvalidPath(path.to_owned()))?;
        let Some((name, dirs)) = parts.split_last() else {
            return Err(Error::InvalidPath(path.to_owned()));
        };
        let parent_path = format!("/{}", dirs.join("/"));
        self.with_tree(&drive, |t, ids, now| {
            let parent = t.mkdir_p(&parent_path, now, ids)?;
            if t.child(parent, name).is_some() {
                return Err(Error::AlreadyExists(path.to_owned()));
            }
            Ok(t.add_file(parent, name, file, now, ids))
        })
        .ok_or_else(|| Error::NotFound(drive.clone()))?
    }

    /// Seeds `count` files named `{prefix}{i:05}.mkv` (i from 1) in `folder`.
    pub(crate) fn add_files(
        &self,
        account: &str,
        kind: DriveKind,
        folder: &str,
        count: usize,
        prefix: &str,
        size: u64,
    ) -> Result<Vec<u64>> {
        let drive = self.seed_drive(account, kind)?;
        self.with_tree(&drive, |t, ids, now| {
            let parent = t.mkdir_p(folder, now, ids)?;
            Ok((1..=count)
                .map(|i| {
                    let name = format!("{prefix}{i:05}.mkv");
                    t.add_file(parent, &name, SimFile::sized(size), now, ids)
                })
                .collect())
        })
        .ok_or_else(|| Error::NotFound(drive.clone()))?
    }

    /// Looks a path up in a drive.
    pub(crate) fn stat(&self, account: &str, kind: DriveKind, path: &str) -> Option<Node> {
        let drive = self.drive_id(account, kind)?;
        self.with_tree(&drive, |t, _, _| {
            t.lookup(path).and_then(|id| t.get(id).cloned())
        })
        .flatten()
    }

    /// Names in a folder of a drive, in listing order.
    pub(crate) fn list_names(
        &self,
        account: &str,
        kind: DriveKind,
        path: &str,
    ) -> Result<Vec<String>> {
        let drive = self
            .drive_id(account, kind)
            .ok_or_else(|| Error::UnknownAccount(account.to_owned()))?;
        self.with_tree(&drive, |t, _, _| {
            let id = t
                .lookup(path)
                .ok_or_else(|| Error::NotFound(path.to_owned()))?;
            Ok(t.children(id)
                .iter()
                .filter_map(|c| t.get(*c).map(|n| n.name.clone()))
                .collect())
        })
        .ok_or_else(|| Error::NotFound(drive.clone()))?
    }

    /// Total bytes used by all of `account`'s drives.
    pub(crate) fn used_bytes(&self, account: &str) -> u64 {
        let st = self.state.lock();
        let Some(a) = st.accounts.get(account) else {
            return 0;
        };
        [Some(&a.default_drive), a.resource_drive.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|d| st.drives.get(d))
            .map(Tree::used_bytes)
            .sum()
    }

    /// Finds a file by SHA-1 in any drive (115 instant upload).
    pub(crate) fn known_sha1(&self, sha1: &str) -> Option<(u64, Content)> {
        let st = self.state.lock();
        st.drives
            .values()
            .find_map(|t| t.find_sha1(sha1))
            .map(|n| (n.size, n.content.clone()))
    }

    // ----- downloads ------------------------------------------------------------------

    /// Creates a download link for a node; bound to `user_agent` when given.
    pub(crate) fn create_download(
        &self,
        drive: &str,
        node: u64,
        user_agent: Option<String>,
    ) -> (String, u64) {
        let mut st = self.state.lock();
        let expires_at = unix_after(self.clock.now(), st.settings.download_lifetime);
        let token = random_string(40);
        st.downloads.insert(
            token.clone(),
            DownloadLink {
                drive: drive.to_owned(),
                node,
                user_agent,
                expires_at,
            },
        );
        (format!("{}/__sim/dl/{token}", self.base_url), expires_at)
    }

    /// Resolves a download link requested with `user_agent`.
    pub(crate) fn download(
        &self,
        token: &str,
        user_agent: &str,
    ) -> Result<Download, DownloadError> {
        let now = self.now_unix();
        let st = self.state.lock();
        let link = st.downloads.get(token).ok_or(DownloadError::Unknown)?;
        if now >= link.expires_at {
            return Err(DownloadError::Expired);
        }
        if link
            .user_agent
            .as_deref()
            .is_some_and(|ua| ua != user_agent)
        {
            return Err(DownloadError::UserAgent);
        }
        let node = st
            .drives
            .get(&link.drive)
            .and_then(|t| t.get(link.node))
            .filter(|n| !n.is_dir)
            .ok_or(DownloadError::Unknown)?;
        Ok(Download {
            name: node.name.clone(),
            size: node.size,
            content: node.content.clone(),
        })
    }

    // ----- counters -------------------------------------------------------------------

    pub(crate) fn count_path(&self, key: &str) {
        let mut st = self.state.lock();
        st.stats.total_requests += 1;
        *st.stats.paths.entry(key.to_owned()).or_insert(0) += 1;
    }

    pub(crate) fn count_fault(&self) {
        self.state.lock().stats.faults_injected += 1;
    }

    pub(crate) fn stats(&self) -> Stats {
        self.state.lock().stats.clone()
    }

    pub(crate) fn reset_stats(&self) {
        self.state.lock().stats = Stats::default();
    }
}

/// Counts a held long-poll in `long_polls_waiting` until dropped (also when the client
/// goes away and the request future is dropped).
struct WaitingGuard<'a>(&'a Core);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.0.state.lock();
        st.stats.long_polls_waiting = st.stats.long_polls_waiting.saturating_sub(1);
    }
}

/// Entry information of a node for the control API.
pub(crate) fn entry_info(node: &Node, id: String, parent_id: String) -> EntryInfo {
    EntryInfo {
        id,
        parent_id,
        name: node.name.clone(),
        is_dir: node.is_dir,
        size: node.size,
        sha1: node.sha1.clone(),
        pick_code: node.pick_code.clone(),
    }
}
