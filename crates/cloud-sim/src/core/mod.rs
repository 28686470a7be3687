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

mod drives;
mod qr;
mod tokens;

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
    /// The simulated Aliyun OSS service (115 uploads).
    pub oss: crate::oss::Oss,
    /// 115 upload sessions (`/open/upload/init` … the OSS callback).
    pub u115_uploads: Mutex<crate::u115::UploadStore>,
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
            oss: crate::oss::Oss::default(),
            u115_uploads: Mutex::default(),
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
