//! [`TokenAccessor`]: an access token that is valid whenever it is asked for.
//!
//! # How a token is served
//!
//! * **Hot path.** A token that is not yet due is returned from memory: one read lock, one
//!   comparison against a coarse clock, one reference-count increment. No I/O.
//! * **Single flight in the process.** When the token is due, one task — owned by the
//!   accessor, not by any caller — does the work; callers wait for it and all wake when it
//!   ends. A caller that goes away (a dropped future, a cancelled request) never tears a
//!   refresh: once the request is sent, its answer is saved.
//! * **Store first.** Before refreshing, the stored config is re-read; a token another
//!   process or host already saved is adopted, and a failure another process recorded
//!   (needs login, rate limited) is honoured without calling the provider.
//! * **One refresher across processes and hosts.** The refresher takes a lease — an
//!   `owner` and a deadline written beside the tokens in the storage's entry, in the same
//!   atomic read-modify-write that re-checks the stored tokens — so nobody holds a database
//!   lock across the network call ([`entry`]).
//! * **Save before serve, and never only in memory.** The provider's answer is written to
//!   a rescue file, then merged into the config (lease released, failure marks cleared) in
//!   one transaction, then the rescue file is removed — all before any caller gets the new
//!   access token. A save that keeps failing is retried for
//!   [`AccessorOptions::save_patience`]; a process that exits meanwhile leaves the rescue
//!   file, which the next process replays ([`rescue`]).
//! * **Failures by class** ([`RefreshFailure`](crate::RefreshFailure)): *needs login*
//!   stops all refresh attempts, in every process, until the stored tokens change;
//!   *reused* re-reads the store and adopts a newer token or else needs login; *rate
//!   limited* keeps serving a still-valid token and makes every process wait as told;
//!   *transient* retries with jittered back-off and leaves the stored tokens alone.

mod ahead;
mod call;
mod entry;
mod flight;
mod managed;
mod options;
mod policy;
mod refresh_call;
mod rescue;
mod summary;

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use storage_helper::StorageHandle;
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock, to_system_time};
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::provider::{Grant, TokenProvider};
use crate::secret::AccessToken;
use crate::state::TokenState;
use crate::tokens::Stored;

pub use call::Call;
pub use entry::{LEASE_MEMBER, LOGIN_STATE_MEMBER};
pub use options::AccessorOptions;
pub use summary::{LoginSummary, SummaryState};

pub(crate) use ahead::Ahead;
use managed::{Flight, Managed};
pub(crate) use options::{backoff, ms};

/// A token held in memory and the time it becomes due.
#[derive(Clone)]
struct Cached {
    access: AccessToken,
    refresh_at_ms: u64,
}

enum Source {
    Fixed,
    Managed(Box<Managed>),
}

struct Inner {
    storage: String,
    /// The token served on the hot path: an atomic pointer load, no lock.
    current: ArcSwapOption<Cached>,
    clock: Arc<dyn Clock>,
    source: Source,
    state: watch::Sender<TokenState>,
    /// Bumped whenever a token is installed and whenever a flight (the slow path) ends, so
    /// callers waiting for a refresh all wake at once instead of passing the single-flight
    /// mutex one by one.
    generation: watch::Sender<u64>,
    /// The error the last failed flight ended with, and the generation it ended at: callers
    /// that waited for that flight get the same answer instead of trying again one by one.
    last_failure: parking_lot::Mutex<Option<(u64, Error)>>,
}

/// The access token of one storage, refreshed and persisted by itself. Cheap to clone;
/// clones share one token.
#[derive(Clone)]
pub struct TokenAccessor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TokenAccessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAccessor")
            .field("storage", &self.inner.storage)
            .field("state", &*self.inner.state.borrow())
            .finish_non_exhaustive()
    }
}

/// What [`TokenAccessor::flush`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flushed {
    /// Nothing was pending: every token this accessor obtained is in the database.
    Clean,
    /// Rotated tokens whose save had failed are now in the database.
    Saved,
    /// Rotated tokens could not be saved in time; they are in this rescue file, which the
    /// next process using the storage replays into the database.
    Rescued(std::path::PathBuf),
    /// A refresh was still running when the time ran out. If the provider has answered,
    /// its tokens are in a rescue file already.
    StillRefreshing,
}

impl TokenAccessor {
    /// An accessor for the storage behind `handle`, refreshing through `provider`.
    pub fn new(
        handle: StorageHandle,
        provider: Arc<dyn TokenProvider>,
        http: HttpClient,
        options: AccessorOptions,
    ) -> Self {
        let clock = Arc::clone(&options.clock);
        let managed = Managed::new(handle.clone(), provider, http, options);
        let rescue_waiting = managed.rescue.as_ref().is_some_and(|r| r.any());
        let margin = managed.options.margin;
        let this = Self {
            inner: Arc::new(Inner {
                storage: handle.kind().to_owned(),
                current: ArcSwapOption::empty(),
                clock,
                source: Source::Managed(Box::new(managed)),
                state: watch::Sender::new(TokenState::LoggedOut),
                generation: watch::Sender::new(0),
                last_failure: parking_lot::Mutex::new(None),
            }),
        };
        // Serve a stored, fresh token without touching the database again — unless a
        // rescue file waits to be replayed (then the first call goes to the slow path).
        if !rescue_waiting
            && let Ok(config) = handle.get_conf()
            && let Some(stored) = Stored::parse(&config)
        {
            let now = this.inner.clock.now_ms();
            if stored.is_fresh(now, &margin) {
                this.install(&stored, stored.refresh_at_ms(&margin));
            }
        }
        this
    }

    /// An accessor for a token the application manages itself (the old design's fixed
    /// token): always served, never refreshed. When the provider rejects it,
    /// [`Error::FixedTokenRejected`] asks the application for a new one.
    pub fn fixed(storage: impl Into<String>, token: AccessToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                storage: storage.into(),
                current: ArcSwapOption::from_pointee(Cached {
                    access: token,
                    refresh_at_ms: u64::MAX,
                }),
                clock: Arc::new(SystemClock),
                source: Source::Fixed,
                state: watch::Sender::new(TokenState::Valid { expires_at: None }),
                generation: watch::Sender::new(0),
                last_failure: parking_lot::Mutex::new(None),
            }),
        }
    }

    /// The storage type.
    pub fn storage(&self) -> &str {
        &self.inner.storage
    }

    /// The time now on this accessor's clock (Unix ms).
    pub(crate) fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// The current login state.
    pub fn state(&self) -> TokenState {
        self.inner.state.borrow().clone()
    }

    /// A receiver that sees every state change (for a UI).
    pub fn watch(&self) -> watch::Receiver<TokenState> {
        self.inner.state.subscribe()
    }

    fn set_state(&self, state: TokenState) {
        self.inner.state.send_if_modified(|current| {
            if *current == state {
                false
            } else {
                tracing::debug!(storage = %self.inner.storage, state = state.label(), "token state");
                *current = state;
                true
            }
        });
    }

    #[inline]
    fn fast(&self) -> Option<AccessToken> {
        let guard = self.inner.current.load();
        let cached = guard.as_deref()?;
        (self.inner.clock.coarse_now_ms() < cached.refresh_at_ms).then(|| cached.access.clone())
    }

    /// A valid access token: from memory when one is held, otherwise adopted from the store
    /// or refreshed (once, for every caller in every process sharing the database).
    pub async fn access_token(&self) -> Result<AccessToken> {
        if let Some(token) = self.fast() {
            return Ok(token);
        }
        self.slow().await
    }

    /// The access token held in memory, if it is not due: what
    /// [`access_token`](Self::access_token) returns without waiting. `None` means the next
    /// call takes the slow path (store, lease, maybe the provider).
    pub fn cached(&self) -> Option<AccessToken> {
        self.fast()
    }

    /// Serves the stored login from memory if it is fresh and differs from the held one —
    /// a token another process or host saved, seen through the store's coherence — so the
    /// hot path has it before its own token falls due. Skipped while a flight is under way
    /// (it installs what it finds itself). An entry left without tokens (logged out by
    /// another process) drops the held token. Returns whether the held token changed.
    pub(crate) fn adopt_stored(&self) -> bool {
        let Source::Managed(m) = &self.inner.source else {
            return false;
        };
        let Ok(flight) = m.flight.try_lock() else {
            return false;
        };
        let changed = self.adopt_locked(m, &flight);
        drop(flight);
        // A caller of the slow path that found the flight lock taken by this check waits for
        // the next generation: wake it now that the lock is free, whatever was found (a
        // flight's end does the same).
        self.inner
            .generation
            .send_modify(|generation| *generation += 1);
        changed
    }

    fn adopt_locked(&self, m: &Managed, flight: &Flight) -> bool {
        let Ok(conf) = m.handle.get_conf() else {
            return false;
        };
        let Some(stored) = Stored::parse(&conf) else {
            // Logged out elsewhere (`cloudctl storage reset`, another program's logout): the
            // entry is there and holds no token, so the one in memory is not served either.
            let held = self.inner.current.load().is_some();
            if held {
                self.forget();
                self.set_state(TokenState::LoggedOut);
            }
            return held;
        };
        // A login whose refresh token the provider refused stays refused until the stored
        // refresh token changes (a new login): its access token is not served either.
        let refused = flight.needs_login.as_ref().is_some_and(|(_, refused)| {
            refused.as_deref() == stored.refresh.as_ref().map(|r| r.secret())
        });
        let now = self.inner.clock.now_ms();
        let held = self.inner.current.load();
        let same = held.as_deref().map(|c| &c.access) == stored.access.as_ref();
        if same
            || refused
            || stored.access.as_ref() == flight.rejected.as_ref()
            || !stored.is_fresh(now, &m.options.margin)
        {
            return false;
        }
        self.install(&stored, stored.refresh_at_ms(&m.options.margin));
        true
    }

    /// The stored login (from the store's cache), the expiry margin and the provider's
    /// idle limit for refresh tokens, for the keep-alive's schedule.
    pub(crate) fn schedule_inputs(
        &self,
    ) -> Option<(
        Option<Stored>,
        crate::tokens::ExpiryMargin,
        Option<Duration>,
    )> {
        let Source::Managed(m) = &self.inner.source else {
            return None;
        };
        let stored = m.handle.get_conf().ok().as_ref().and_then(Stored::parse);
        Some((
            stored,
            m.options.margin,
            m.provider.refresh_token_idle_limit(),
        ))
    }

    /// The storage's handle (managed accessors only).
    pub(crate) fn handle(&self) -> Option<&StorageHandle> {
        match &self.inner.source {
            Source::Managed(m) => Some(&m.handle),
            Source::Fixed => None,
        }
    }

    /// Marks `token` as rejected by the provider (e.g. "access token invalid"): it is
    /// dropped from memory and never adopted or served again, so the next
    /// [`access_token`](Self::access_token) refreshes. Other tokens are left alone.
    pub async fn invalidate(&self, token: &AccessToken) {
        self.inner.current.rcu(|current| match current {
            Some(cached) if cached.access == *token => None,
            other => other.clone(),
        });
        if let Source::Managed(m) = &self.inner.source {
            let mut flight = m.flight.lock().await;
            flight.rejected = Some(token.clone());
            // A rejected token makes a refresh due now, whatever back-off was running.
            flight.backoff_until_ms = 0;
        }
    }

    /// Refreshes now, whatever the expiry says (for an operator's "refresh" button): the
    /// stored access token is treated as rejected, so it is neither served nor adopted, and
    /// the usual single-flight, lease and save-before-serve path runs.
    ///
    /// Succeeds only with a token that is not the one stored before the call — obtained
    /// from the provider and saved, here or by another process in the meantime. When the
    /// provider fails, is rate limiting, or the save fails, this is an error, even if the
    /// old token is still valid.
    pub async fn force_refresh(&self) -> Result<AccessToken> {
        let m = self.managed()?;
        let stored = Stored::parse(&m.handle.get_conf_fresh().await?);
        let before = stored.and_then(|s| s.access);
        match &before {
            Some(token) => self.invalidate(token).await,
            None => self.forget(),
        }
        let token = self.access_token().await?;
        if before.as_ref() == Some(&token) {
            return Err(Error::Transient {
                storage: self.inner.storage.clone(),
                reason: "no new token was obtained".into(),
            });
        }
        Ok(token)
    }

    /// Waits up to `timeout` for a refresh under way to finish and save, then makes sure
    /// no rotated token exists only in memory: a pending save is tried once more and, if it
    /// still fails, the tokens go to a rescue file that the next process replays. Call it
    /// before the process exits (on SIGINT/SIGTERM, at shutdown). Dropping the last clone
    /// of an accessor writes the rescue file too, but cannot wait for a refresh.
    pub async fn flush(&self, timeout: Duration) -> Flushed {
        let Source::Managed(m) = &self.inner.source else {
            return Flushed::Clean;
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let Ok(mut flight) = tokio::time::timeout_at(deadline, m.flight.lock()).await else {
            return Flushed::StillRefreshing;
        };
        let Some(pending) = flight.pending_save.clone() else {
            return Flushed::Clean;
        };
        let saved = tokio::time::timeout_at(
            deadline,
            self.save(m, &pending.grant, pending.obtained_at_ms),
        )
        .await;
        if let Ok(Ok(())) = saved {
            m.clear_pending(&mut flight);
            return Flushed::Saved;
        }
        match m.write_rescue(&pending) {
            Some(path) => Flushed::Rescued(path),
            None => Flushed::StillRefreshing,
        }
    }

    /// When the held (or stored) access token expires, if known.
    pub fn expires_at(&self) -> Option<std::time::SystemTime> {
        match &*self.inner.state.borrow() {
            TokenState::Valid { expires_at } => *expires_at,
            _ => None,
        }
    }

    fn install(&self, stored: &Stored, refresh_at_ms: u64) {
        if self.hold(stored, refresh_at_ms).is_some() {
            self.set_state(TokenState::Valid {
                expires_at: stored.expires_at_ms().map(to_system_time),
            });
        }
    }

    /// Serves the stored access token from memory until `refresh_at_ms` and wakes the
    /// callers waiting for one; the state is the caller's business.
    fn hold(&self, stored: &Stored, refresh_at_ms: u64) -> Option<AccessToken> {
        let access = stored.access.clone()?;
        self.inner.current.store(Some(Arc::new(Cached {
            access: access.clone(),
            refresh_at_ms,
        })));
        self.inner
            .generation
            .send_modify(|generation| *generation += 1);
        Some(access)
    }

    fn forget(&self) {
        self.inner.current.store(None);
    }

    fn managed(&self) -> Result<&Managed> {
        match &self.inner.source {
            Source::Managed(m) => Ok(m),
            Source::Fixed => Err(Error::FixedTokenRejected {
                storage: self.inner.storage.clone(),
            }),
        }
    }

    /// Saves tokens from a new login (QR or password login) and serves them from now on.
    /// Clears every needs-login and rate-limit state, here and in the database.
    pub async fn save_login(&self, grant: Grant) -> Result<AccessToken> {
        let m = self.managed()?;
        let mut flight = m.flight.lock().await;
        let now = self.inner.clock.now_ms();
        self.save(m, &grant, now).await?;
        *flight = Flight::default();
        Ok(self.install_grant(m, &grant, now))
    }

    fn install_grant(&self, m: &Managed, grant: &Grant, now_ms: u64) -> AccessToken {
        let stored = Stored {
            access: Some(grant.access_token.clone()),
            refresh: grant.refresh_token.clone(),
            expires_in: grant.expires_in,
            refresh_time_ms: now_ms / 1000 * 1000,
        };
        self.install(&stored, stored.refresh_at_ms(&m.options.margin));
        grant.access_token.clone()
    }
}
