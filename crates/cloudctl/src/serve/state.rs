//! What every handler shares: the storages, one client per storage (its token accessor is
//! the one the keep-alive refreshes), the event bus, sessions and limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use cloud_clients::{CloudStorage, KeepAlive, OpenOptions, provider_of};
use storage_helper::StorageHelper;
use tokio::sync::{broadcast, watch};

use super::auth::Sessions;
use super::error::{ApiError, ApiResult};
use super::events::{Event, state_event};
use super::limits::Limiter;

/// A QR login under way for one storage.
#[derive(Debug)]
pub struct RunningLogin {
    pub login_id: String,
    pub task: tokio::task::AbortHandle,
}

/// The server's shared state.
pub struct AppState {
    pub storages: StorageHelper,
    options: OpenOptions,
    drives: RwLock<HashMap<String, Arc<dyn CloudStorage>>>,
    keepalive: Mutex<Option<KeepAlive>>,
    /// Token state changes and login progress, for `/events`.
    pub events: broadcast::Sender<Event>,
    pub sessions: Sessions,
    /// Failed authentications per client address.
    pub auth_failures: Limiter,
    /// Login attempts (password logins, QR login starts) per client address.
    pub login_attempts: Limiter,
    /// QR logins under way, by storage.
    pub logins: Mutex<HashMap<String, RunningLogin>>,
    /// Becomes `true` when the server stops (event streams end).
    pub shutdown: watch::Receiver<bool>,
    /// Whether cookies get `Secure` (never: no TLS here; kept for a TLS front).
    pub secure_cookies: bool,
}

impl AppState {
    pub fn new(
        storages: StorageHelper,
        options: OpenOptions,
        keepalive: KeepAlive,
        shutdown: watch::Receiver<bool>,
        one_time: String,
    ) -> Self {
        Self {
            storages,
            options,
            drives: RwLock::new(HashMap::new()),
            keepalive: Mutex::new(Some(keepalive)),
            events: broadcast::channel(1024).0,
            sessions: Sessions::new(one_time),
            auth_failures: Limiter::new(30, 30),
            login_attempts: Limiter::new(5, 6),
            logins: Mutex::new(HashMap::new()),
            shutdown,
            secure_cookies: false,
        }
    }

    /// The client of `storage`, opened (and kept alive, and followed for events) on first
    /// use. `must_exist`: the storage must be in the `Storages` setting (everything but a
    /// login, which may create it).
    pub fn drive(
        self: &Arc<Self>,
        storage: &str,
        must_exist: bool,
    ) -> ApiResult<Arc<dyn CloudStorage>> {
        if provider_of(storage).is_none() {
            return Err(ApiError::not_found(format!(
                "no storage `{storage}` this server can serve"
            )));
        }
        if must_exist && self.storages.get(storage)?.is_none() {
            return Err(ApiError::not_found(format!("no storage `{storage}`")));
        }
        if let Some(drive) = self
            .drives
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(storage)
        {
            return Ok(Arc::clone(drive));
        }
        let mut drives = self.drives.write().unwrap_or_else(|e| e.into_inner());
        if let Some(drive) = drives.get(storage) {
            return Ok(Arc::clone(drive));
        }
        let drive: Arc<dyn CloudStorage> =
            Arc::from(cloud_clients::open(&self.storages, storage, &self.options)?);
        drives.insert(storage.to_owned(), Arc::clone(&drive));
        drop(drives);
        if let Some(keepalive) = self
            .keepalive
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            keepalive.add(drive.accessor().clone());
        }
        self.follow(&drive);
        Ok(drive)
    }

    /// Sends every state change of `drive`'s accessor to the event bus.
    fn follow(self: &Arc<Self>, drive: &Arc<dyn CloudStorage>) {
        let mut states = drive.accessor().watch();
        let storage = drive.storage_type().to_owned();
        let events = self.events.clone();
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = states.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let state = states.borrow_and_update().clone();
                        let _ = events.send(state_event(&storage, &state));
                    }
                    _ = shutdown.changed() => break,
                }
            }
        });
    }

    /// The drives opened so far.
    pub fn opened(&self) -> Vec<Arc<dyn CloudStorage>> {
        self.drives
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Takes the keep-alive out (for its `stop` at shutdown).
    pub fn take_keepalive(&self) -> Option<KeepAlive> {
        self.keepalive
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// The storage types of the `Storages` setting this server serves.
    pub fn served(&self) -> Result<Vec<storage_helper::StorageConf>, storage_helper::Error> {
        let mut seen = std::collections::HashSet::new();
        Ok(self
            .storages
            .list()?
            .into_iter()
            .filter(|conf| {
                conf.kind
                    .as_deref()
                    .is_some_and(|k| provider_of(k).is_some() && seen.insert(k.to_owned()))
            })
            .collect())
    }
}
