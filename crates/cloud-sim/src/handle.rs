//! Starting a simulator and controlling it from a test: [`Sim115`], [`SimAlipan`] and the
//! [`SimHandle`] they return. (OpenList's start and its own handle methods live in
//! [`crate::openlist`].)
//!
//! Methods every simulator has are on `SimHandle<P>`; QR sessions and OAuth-style token
//! accounts only on the providers that have them ([`QrLoginProvider`]).

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::clock::SimClock;
use crate::config::{Config115, ConfigAlipan, Settings};
use crate::control::ext_id;
use crate::core::{Core, QrAction, entry_info};
use crate::error::{Error, Result};
use crate::fault::{Fault, RateLimitAnswer};
use crate::server::{SimListener, serve};
use crate::stats::{AccountStats, Stats};
use crate::token::{AccountInfo, DriveKind, QrInfo, TokenPair};
use crate::tree::{EntryInfo, SimFile};
use crate::{alipan, u115};

/// The 115 simulator. Start one with [`Sim115::start`].
#[derive(Debug)]
pub enum Sim115 {}

/// The alipan simulator. Start one with [`SimAlipan::start`].
#[derive(Debug)]
pub enum SimAlipan {}

/// Handle on a running 115 simulator.
pub type Sim115Handle = SimHandle<Sim115>;

/// Handle on a running alipan simulator.
pub type SimAlipanHandle = SimHandle<SimAlipan>;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Sim115 {}
    impl Sealed for super::SimAlipan {}
}

/// The simulators with QR logins and OAuth-style token pairs (115 and alipan); the
/// [`SimHandle`] methods for QR sessions and token accounts exist only for them.
pub trait QrLoginProvider: sealed::Sealed {}

impl QrLoginProvider for Sim115 {}
impl QrLoginProvider for SimAlipan {}

impl Sim115 {
    /// Starts a 115 simulator on `127.0.0.1` with an ephemeral port. It serves the
    /// passport, QR and resource hosts at once: use [`SimHandle::base_url`] for all three.
    pub async fn start(config: Config115) -> Result<Sim115Handle> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a 115 simulator on a given address. Its OSS service (uploads) listens on a
    /// second, ephemeral port of the same address: [`SimHandle::oss_endpoint`].
    pub async fn start_on(addr: SocketAddr, config: Config115) -> Result<Sim115Handle> {
        let handle = start_with(
            addr,
            Settings::from(config),
            u115::router(),
            u115::setup_uploads,
        )
        .await?;
        crate::oss::start(Arc::clone(&handle.core), addr.ip())
            .await
            .map_err(Error::Bind)?;
        Ok(handle)
    }
}

impl SimAlipan {
    /// Starts an alipan simulator on `127.0.0.1` with an ephemeral port.
    pub async fn start(config: ConfigAlipan) -> Result<SimAlipanHandle> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts an alipan simulator on a given address.
    pub async fn start_on(addr: SocketAddr, config: ConfigAlipan) -> Result<SimAlipanHandle> {
        start_with(addr, Settings::from(config), alipan::router(), |_| {}).await
    }
}

/// Binds `addr`, builds the core, lets `setup` seed provider state, then serves `router`.
pub(crate) async fn start_with<P>(
    addr: SocketAddr,
    settings: Settings,
    router: axum::Router<Arc<Core>>,
    setup: impl FnOnce(&Core),
) -> Result<SimHandle<P>> {
    let listener = TcpListener::bind(addr).await.map_err(Error::Bind)?;
    let local = listener.local_addr().map_err(Error::Bind)?;
    let core = Arc::new(Core::new(settings, format!("http://{local}")));
    setup(&core);
    let task = tokio::spawn(serve(SimListener::new(listener), router, Arc::clone(&core)));
    debug!(addr = %local, "simulator listening");
    Ok(SimHandle {
        core,
        addr: local,
        task: Some(task),
        _provider: PhantomData,
    })
}

/// Control handle on a running simulator; the server stops when it is dropped or
/// [`SimHandle::shutdown`] is awaited.
///
/// Account names are the test's own labels (`"alice"`); the simulator assigns the provider
/// user ids and drive ids. Methods that take an account create it on first use unless
/// they say otherwise.
pub struct SimHandle<P> {
    pub(crate) core: Arc<Core>,
    addr: SocketAddr,
    task: Option<JoinHandle<std::io::Result<()>>>,
    _provider: PhantomData<fn() -> P>,
}

impl<P> std::fmt::Debug for SimHandle<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("provider", &self.core.provider)
            .field("base_url", &self.core.base_url)
            .finish()
    }
}

impl<P> Drop for SimHandle<P> {
    fn drop(&mut self) {
        self.core.shutdown.send_replace(true);
    }
}

impl<P> SimHandle<P> {
    /// The base URL (`http://127.0.0.1:PORT`) to use in place of every provider host.
    pub fn base_url(&self) -> &str {
        &self.core.base_url
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The simulated clock all expiry is measured on.
    pub fn clock(&self) -> &SimClock {
        &self.core.clock
    }

    /// Stops the server: pending long-polls and hanging requests are released, then the
    /// listener closes (waiting at most 5 s for open connections).
    pub async fn shutdown(mut self) {
        self.core.shutdown.send_replace(true);
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }

    // ----- faults and limits ----------------------------------------------------------

    /// Applies `fault` to the next `times` requests whose path (or route template, or
    /// `"*"` for any) is `path`.
    pub fn inject_fault(&self, path: &str, fault: Fault, times: usize) {
        self.core.faults.add(path, fault, times);
    }

    /// Answers the next `times` requests to `path` with a rate-limit answer.
    pub fn inject_rate_limit(&self, path: &str, answer: RateLimitAnswer, times: usize) {
        self.core.faults.add(path, Fault::RateLimit(answer), times);
    }

    /// Drops every pending fault rule.
    pub fn clear_faults(&self) {
        self.core.faults.clear();
    }

    /// Requests still to be affected by pending fault rules.
    pub fn pending_faults(&self) -> usize {
        self.core.faults.pending()
    }

    /// Sets the delay added to every provider request.
    pub fn set_request_delay(&self, delay: Duration) {
        self.core.state.lock().settings.request_delay = delay;
    }

    /// Sets (or with `None` lifts) the per-account requests-per-second limit.
    pub fn set_rate_limit(&self, per_sec: Option<u32>) {
        self.core.state.lock().settings.rate_limit_per_sec = per_sec;
    }

    // ----- counters -------------------------------------------------------------------

    /// A snapshot of every counter.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// The counters of one account (zero when none).
    pub fn account_stats(&self, account: &str) -> AccountStats {
        self.core.stats().account(account)
    }

    /// When each provider request arrived and was answered, in arrival order.
    pub fn timings(&self) -> Vec<crate::stats::RequestTiming> {
        self.core.timeline.all()
    }

    /// Requests counted for a path (or route template).
    pub fn path_count(&self, path: &str) -> u64 {
        self.core.stats().path(path)
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&self) {
        self.core.reset_stats();
    }

    // ----- files (default drive) ------------------------------------------------------

    fn entry(&self, account: &str, kind: DriveKind, id: u64) -> Result<EntryInfo> {
        let drive = self
            .core
            .drive_id(account, kind)
            .ok_or_else(|| Error::UnknownAccount(account.to_owned()))?;
        let node = self
            .core
            .with_tree(&drive, |t, _, _| t.get(id).cloned())
            .flatten()
            .ok_or_else(|| Error::NotFound(format!("entry {id}")))?;
        Ok(entry_info(
            &node,
            ext_id(&self.core, node.id),
            ext_id(&self.core, node.parent),
        ))
    }

    /// Creates a folder (and missing parents) in `account`'s default drive.
    pub fn add_folder(&self, account: &str, path: &str) -> Result<EntryInfo> {
        self.add_folder_in(account, DriveKind::Default, path)
    }

    /// Creates a file (and missing parent folders) in `account`'s default drive; fails if
    /// the path exists.
    pub fn add_file(
        &self,
        account: &str,
        path: &str,
        file: impl Into<SimFile>,
    ) -> Result<EntryInfo> {
        self.add_file_in(account, DriveKind::Default, path, file)
    }

    /// Creates `count` files `{prefix}00001.mkv`… of `size` bytes (no content) in `folder`
    /// of `account`'s default drive, for paging tests. Returns their ids in listing order.
    pub fn add_files(
        &self,
        account: &str,
        folder: &str,
        count: usize,
        prefix: &str,
        size: u64,
    ) -> Result<Vec<String>> {
        self.add_files_in(account, DriveKind::Default, folder, count, prefix, size)
    }

    /// Looks a path up in `account`'s default drive.
    pub fn stat(&self, account: &str, path: &str) -> Option<EntryInfo> {
        self.stat_in(account, DriveKind::Default, path)
    }

    /// Names in a folder of `account`'s default drive, in listing order.
    pub fn list(&self, account: &str, path: &str) -> Result<Vec<String>> {
        self.core.list_names(account, DriveKind::Default, path)
    }

    fn add_folder_in(&self, account: &str, kind: DriveKind, path: &str) -> Result<EntryInfo> {
        let id = self.core.add_folder(account, kind, path)?;
        self.entry(account, kind, id)
    }

    fn add_file_in(
        &self,
        account: &str,
        kind: DriveKind,
        path: &str,
        file: impl Into<SimFile>,
    ) -> Result<EntryInfo> {
        let id = self.core.add_file(account, kind, path, file.into())?;
        self.entry(account, kind, id)
    }

    fn add_files_in(
        &self,
        account: &str,
        kind: DriveKind,
        folder: &str,
        count: usize,
        prefix: &str,
        size: u64,
    ) -> Result<Vec<String>> {
        let ids = self
            .core
            .add_files(account, kind, folder, count, prefix, size)?;
        Ok(ids.into_iter().map(|id| ext_id(&self.core, id)).collect())
    }

    fn stat_in(&self, account: &str, kind: DriveKind, path: &str) -> Option<EntryInfo> {
        let node = self.core.stat(account, kind, path)?;
        Some(entry_info(
            &node,
            ext_id(&self.core, node.id),
            ext_id(&self.core, node.parent),
        ))
    }
}

impl<P: QrLoginProvider> SimHandle<P> {
    // ----- QR sessions ----------------------------------------------------------------

    /// Every QR session, oldest first.
    pub fn qr_sessions(&self) -> Vec<QrInfo> {
        self.core.qr_list()
    }

    /// One QR session (115 `uid`, alipan `sid`).
    pub fn qr(&self, id: &str) -> Option<QrInfo> {
        self.core.qr_info(id)
    }

    /// The most recently created QR session.
    pub fn latest_qr(&self) -> Option<QrInfo> {
        self.core.qr_list().pop()
    }

    /// Marks a waiting session scanned (115 status 1, alipan `ScanSuccess`).
    pub fn scan(&self, id: &str) -> Result<()> {
        self.core.qr_action(id, QrAction::Scan)
    }

    /// Confirms a pending session as the configured default account.
    pub fn confirm(&self, id: &str) -> Result<()> {
        self.core.qr_action(id, QrAction::Confirm(None))
    }

    /// Confirms a pending session as `account` (created if new).
    pub fn confirm_as(&self, id: &str, account: &str) -> Result<()> {
        self.core
            .qr_action(id, QrAction::Confirm(Some(account.to_owned())))
    }

    /// Cancels a pending session (as if declined on the phone).
    pub fn cancel(&self, id: &str) -> Result<()> {
        self.core.qr_action(id, QrAction::Cancel)
    }

    /// Expires a pending session now.
    pub fn expire(&self, id: &str) -> Result<()> {
        self.core.qr_action(id, QrAction::Expire)
    }

    // ----- accounts and tokens --------------------------------------------------------

    /// Creates an account without logging it in (idempotent).
    pub fn create_account(&self, account: &str) -> AccountInfo {
        self.core.create_account(account)
    }

    /// Issues tokens directly, as if a QR login of `account` had just completed (the
    /// account is created if new; a previous live refresh token dies).
    pub fn login(&self, account: &str) -> TokenPair {
        self.core.login(account)
    }

    /// An account and its live credentials.
    pub fn account(&self, account: &str) -> Option<AccountInfo> {
        self.core.account_info(account)
    }

    /// Every account.
    pub fn accounts(&self) -> Vec<AccountInfo> {
        self.core.accounts()
    }

    /// The one refresh token of `account` that is live now.
    pub fn live_refresh_token(&self, account: &str) -> Option<String> {
        self.core
            .account_info(account)
            .and_then(|a| a.live_refresh_token)
    }

    /// Revokes every token of `account`: refreshes then fail as revoked (115 40140116,
    /// alipan `InvalidParameter.RefreshToken`) and access tokens are rejected.
    pub fn revoke(&self, account: &str) -> Result<()> {
        self.core.revoke(account)
    }

    /// Sets the per-account minimum refresh interval (zero turns it off).
    pub fn set_min_refresh_interval(&self, interval: Duration) {
        self.core.state.lock().settings.min_refresh_interval = interval;
    }

    /// Sets how long the 115 status long-poll holds a request.
    pub fn set_poll_timeout(&self, timeout: Duration) {
        self.core.state.lock().settings.poll_timeout = timeout;
    }
}

impl SimHandle<SimAlipan> {
    /// The id of one of `account`'s drives (`None` for an unknown account, or a resource
    /// drive that is not granted).
    pub fn drive_id(&self, account: &str, kind: DriveKind) -> Option<String> {
        self.core.drive_id(account, kind)
    }

    /// [`SimHandle::add_folder`] in a chosen drive.
    pub fn add_folder_in_drive(
        &self,
        account: &str,
        kind: DriveKind,
        path: &str,
    ) -> Result<EntryInfo> {
        self.add_folder_in(account, kind, path)
    }

    /// [`SimHandle::add_file`] in a chosen drive.
    pub fn add_file_in_drive(
        &self,
        account: &str,
        kind: DriveKind,
        path: &str,
        file: impl Into<SimFile>,
    ) -> Result<EntryInfo> {
        self.add_file_in(account, kind, path, file)
    }

    /// [`SimHandle::add_files`] in a chosen drive.
    pub fn add_files_in_drive(
        &self,
        account: &str,
        kind: DriveKind,
        folder: &str,
        count: usize,
        prefix: &str,
        size: u64,
    ) -> Result<Vec<String>> {
        self.add_files_in(account, kind, folder, count, prefix, size)
    }

    /// [`SimHandle::stat`] in a chosen drive.
    pub fn stat_in_drive(&self, account: &str, kind: DriveKind, path: &str) -> Option<EntryInfo> {
        self.stat_in(account, kind, path)
    }
}
