//! [`TokenAccessor`]: an access token that is valid whenever it is asked for.
//!
//! # How a token is served
//!
//! * **Hot path.** A token that is not yet due is returned from memory: one read lock, one
//!   comparison against a coarse clock, one reference-count increment. No I/O.
//! * **Single flight in the process.** When the token is due, callers queue on one async
//!   mutex; the first does the work, the others find the new token in memory.
//! * **Store first.** Before refreshing, the stored config is re-read; a token another
//!   process or host already saved is adopted.
//! * **One refresher across processes and hosts.** The refresher takes a lease — an
//!   `owner` and a deadline written beside the tokens in the storage's entry, in the same
//!   atomic read-modify-write that re-checks the stored tokens — so nobody holds a database
//!   lock across the network call. Others wait for the lease holder to save, then adopt;
//!   a crashed holder's lease runs out (default 60 s).
//! * **Save before serve.** Rotated tokens are merged into the config and the lease
//!   released in one transaction *before* any caller gets the new access token. When that
//!   save fails, the tokens are kept in memory and saved first thing on the next call: a
//!   rotated refresh token never lives only in memory for longer than it must.
//! * **Failures by class** ([`RefreshFailure`]): *needs login* stops all refresh attempts
//!   until the stored tokens change; *reused* re-reads the store and adopts a newer token
//!   or else needs login; *rate limited* keeps serving a still-valid token and waits as
//!   told; *transient* retries with jittered back-off and leaves the stored tokens alone.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use serde_json::{Map, Value, json};
use storage_helper::StorageHandle;
use tokio::sync::watch;

use crate::clock::{Clock, SystemClock, to_system_time};
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::provider::{Grant, RefreshFailure, TokenProvider};
use crate::secret::AccessToken;
use crate::state::TokenState;
use crate::tokens::{ExpiryMargin, Stored, merge_grant};

/// The entry member holding the cross-process refresh lease.
pub const LEASE_MEMBER: &str = "refresh_lease";

/// Tuning of a [`TokenAccessor`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessorOptions {
    /// When a token is due for refresh. Default: the larger of 60 s and 10 % of its
    /// lifetime, at most half of it.
    pub margin: ExpiryMargin,
    /// How long a refresh lease lasts; a crashed refresher blocks others this long at most.
    /// Default 60 s.
    pub lease_ttl: Duration,
    /// How often a waiting process looks for the lease holder's result. Default 50 ms.
    pub lease_poll: Duration,
    /// Refresh attempts on transient failures. Default 3.
    pub transient_attempts: u32,
    /// First back-off between transient attempts (doubling, ±50 % jitter). Default 200 ms.
    pub retry_base: Duration,
    /// Attempts to save rotated tokens before reporting [`Error::SaveFailed`]. Default 5.
    pub save_attempts: u32,
    /// Back-off when the provider rate-limits without saying for how long. Default 60 s.
    pub rate_limit_backoff: Duration,
    /// The clock. Default [`SystemClock`].
    pub clock: Arc<dyn Clock>,
}

impl Default for AccessorOptions {
    fn default() -> Self {
        Self {
            margin: ExpiryMargin::default(),
            lease_ttl: Duration::from_secs(60),
            lease_poll: Duration::from_millis(50),
            transient_attempts: 3,
            retry_base: Duration::from_millis(200),
            save_attempts: 5,
            rate_limit_backoff: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
        }
    }
}

impl AccessorOptions {
    /// Sets [`margin`](Self::margin).
    pub fn margin(mut self, value: ExpiryMargin) -> Self {
        self.margin = value;
        self
    }
    /// Sets [`lease_ttl`](Self::lease_ttl).
    pub fn lease_ttl(mut self, value: Duration) -> Self {
        self.lease_ttl = value;
        self
    }
    /// Sets [`clock`](Self::clock).
    pub fn clock(mut self, value: Arc<dyn Clock>) -> Self {
        self.clock = value;
        self
    }
    /// Sets [`retry_base`](Self::retry_base).
    pub fn retry_base(mut self, value: Duration) -> Self {
        self.retry_base = value;
        self
    }
    /// Sets [`transient_attempts`](Self::transient_attempts).
    pub fn transient_attempts(mut self, value: u32) -> Self {
        self.transient_attempts = value;
        self
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A token held in memory and the time it becomes due.
#[derive(Clone)]
struct Cached {
    access: AccessToken,
    refresh_at_ms: u64,
}

/// State of the slow path, guarded by the single-flight mutex.
#[derive(Default)]
struct Flight {
    /// Set after a definitive refusal: the reason and the refresh token that was refused.
    needs_login: Option<(String, Option<String>)>,
    /// When the sticky needs-login state last looked at the store.
    needs_login_checked_ms: u64,
    /// An access token the provider rejected: never adopt it again.
    rejected: Option<AccessToken>,
    /// Rotated tokens whose save failed.
    pending_save: Option<Grant>,
    /// No refresh before this time (rate limited or transient back-off).
    backoff_until_ms: u64,
    /// Why, when the back-off follows a temporary failure rather than a rate limit.
    backoff_transient: Option<String>,
}

struct Managed {
    handle: StorageHandle,
    provider: Arc<dyn TokenProvider>,
    http: HttpClient,
    options: AccessorOptions,
    owner: String,
    flight: tokio::sync::Mutex<Flight>,
}

enum Source {
    Fixed,
    Managed(Box<Managed>),
}

struct Inner {
    storage: String,
    current: RwLock<Option<Cached>>,
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

/// What the lease transaction found.
enum LeaseStep {
    /// The stored token is fresh: use it.
    Adopt(Stored),
    /// We hold the lease; refresh the stored login.
    Acquired(Stored),
    /// Someone else holds it until then.
    Held { until_ms: u64 },
    /// Nothing to refresh with.
    NoRefreshToken(Stored),
    /// No login stored.
    LoggedOut,
}

fn owner_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".to_owned());
    format!(
        "{host}:{}:{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

fn config_of(entry: &Map<String, Value>) -> Option<&Map<String, Value>> {
    entry.get("config").and_then(Value::as_object)
}

fn lease_holder(entry: &Map<String, Value>) -> Option<(&str, u64)> {
    let lease = entry.get(LEASE_MEMBER)?;
    Some((
        lease.get("owner")?.as_str()?,
        lease.get("expires_at_ms")?.as_u64()?,
    ))
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
        let managed = Managed {
            handle: handle.clone(),
            provider,
            http,
            options,
            owner: owner_id(),
            flight: tokio::sync::Mutex::new(Flight::default()),
        };
        let this = Self {
            inner: Arc::new(Inner {
                storage: handle.kind().to_owned(),
                current: RwLock::new(None),
                clock,
                source: Source::Managed(Box::new(managed)),
                state: watch::Sender::new(TokenState::LoggedOut),
                generation: watch::Sender::new(0),
                last_failure: parking_lot::Mutex::new(None),
            }),
        };
        // Serve a stored, fresh token without touching the database again.
        if let Ok(config) = handle.get_conf()
            && let Some(stored) = Stored::parse(&config)
            && let Source::Managed(m) = &this.inner.source
        {
            let now = this.inner.clock.now_ms();
            if stored.is_fresh(now, &m.options.margin) {
                this.install(&stored, stored.refresh_at_ms(&m.options.margin));
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
                current: RwLock::new(Some(Cached {
                    access: token,
                    refresh_at_ms: u64::MAX,
                })),
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
        let guard = self.inner.current.read();
        let cached = guard.as_ref()?;
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

    /// Marks `token` as rejected by the provider (e.g. "access token invalid"): it is
    /// dropped from memory and never adopted again, so the next
    /// [`access_token`](Self::access_token) refreshes. Other tokens are left alone.
    pub async fn invalidate(&self, token: &AccessToken) {
        if matches!(self.inner.source, Source::Fixed) {
            // A fixed token cannot be renewed here: the next call reports it.
            let mut current = self.inner.current.write();
            if current.as_ref().is_some_and(|c| c.access == *token) {
                *current = None;
            }
            return;
        }
        {
            let mut current = self.inner.current.write();
            if current.as_ref().is_some_and(|c| c.access == *token) {
                *current = None;
            }
        }
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
    pub async fn force_refresh(&self) -> Result<AccessToken> {
        let m = self.managed()?;
        let stored = Stored::parse(&m.handle.get_conf_fresh().await?);
        match stored.and_then(|s| s.access) {
            Some(token) => self.invalidate(&token).await,
            None => self.forget(),
        }
        self.access_token().await
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
        *self.inner.current.write() = Some(Cached {
            access: access.clone(),
            refresh_at_ms,
        });
        self.inner
            .generation
            .send_modify(|generation| *generation += 1);
        Some(access)
    }

    fn forget(&self) {
        *self.inner.current.write() = None;
    }

    fn managed(&self) -> Result<&Managed> {
        match &self.inner.source {
            Source::Managed(m) => Ok(m),
            Source::Fixed => Err(Error::FixedTokenRejected {
                storage: self.inner.storage.clone(),
            }),
        }
    }

    /// Saves tokens from a new login (QR login) and serves them from now on. Clears a
    /// needs-login state.
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

    /// Merges `grant` into the stored config and releases our lease, in one transaction,
    /// retrying with back-off.
    async fn save(&self, m: &Managed, grant: &Grant, now_ms: u64) -> Result<()> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = m
                .handle
                .try_update_entry(|entry| {
                    let config = entry
                        .entry("config")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if config.is_null() {
                        *config = Value::Object(Map::new());
                    }
                    let Some(config) = config.as_object_mut() else {
                        return Err(storage_helper::Error::ConfigNotAnObject {
                            kind: self.inner.storage.clone(),
                            found: "not an object",
                        });
                    };
                    merge_grant(config, grant, now_ms);
                    if lease_holder(entry).is_some_and(|(owner, _)| owner == m.owner) {
                        entry.remove(LEASE_MEMBER);
                    }
                    Ok(())
                })
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(err) if attempt < m.options.save_attempts.max(1) => {
                    tracing::warn!(storage = %self.inner.storage, %err, attempt, "saving rotated tokens failed; retrying");
                    tokio::time::sleep(backoff(m.options.retry_base, attempt)).await;
                }
                Err(source) => {
                    return Err(Error::SaveFailed {
                        storage: self.inner.storage.clone(),
                        source,
                    });
                }
            }
        }
    }

    async fn release_lease(&self, m: &Managed) {
        let result = m
            .handle
            .try_update_entry(|entry| {
                if lease_holder(entry).is_some_and(|(owner, _)| owner == m.owner) {
                    entry.remove(LEASE_MEMBER);
                }
                Ok::<_, storage_helper::Error>(())
            })
            .await;
        if let Err(err) = result {
            tracing::warn!(storage = %self.inner.storage, %err, "releasing the refresh lease failed; it will run out");
        }
    }

    /// One transaction: re-read the stored login; adopt it when fresh, otherwise take the
    /// lease unless another live refresher holds it.
    async fn lease_step(&self, m: &Managed, rejected: Option<&AccessToken>) -> Result<LeaseStep> {
        let now = self.inner.clock.now_ms();
        let margin = m.options.margin;
        let ttl = ms(m.options.lease_ttl);
        let (step, _) = m
            .handle
            .try_update_entry(|entry| {
                let Some(stored) = config_of(entry).and_then(Stored::parse) else {
                    return Ok::<_, storage_helper::Error>(LeaseStep::LoggedOut);
                };
                let usable = stored.access.is_some() && stored.access.as_ref() != rejected;
                if usable && stored.is_fresh(now, &margin) {
                    return Ok(LeaseStep::Adopt(stored));
                }
                if stored.refresh.is_none() {
                    return Ok(LeaseStep::NoRefreshToken(stored));
                }
                if let Some((owner, until_ms)) = lease_holder(entry)
                    && owner != m.owner
                    && until_ms > now
                {
                    return Ok(LeaseStep::Held { until_ms });
                }
                entry.insert(
                    LEASE_MEMBER.into(),
                    json!({"owner": m.owner, "expires_at_ms": now + ttl}),
                );
                Ok(LeaseStep::Acquired(stored))
            })
            .await?;
        Ok(step)
    }

    async fn slow(&self) -> Result<AccessToken> {
        let m = self.managed()?;
        loop {
            // Become the one doing the work (the flight), or wait for whoever is: a token
            // they install, or the end of their flight, wakes every waiter at once.
            if let Ok(flight) = m.flight.try_lock() {
                return self.fly(m, flight).await;
            }
            let mut generation = self.inner.generation.subscribe();
            let seen = *generation.borrow_and_update();
            if let Some(token) = self.fast() {
                return Ok(token);
            }
            // The flight may have ended between the first try and the subscription.
            if let Ok(flight) = m.flight.try_lock() {
                return self.fly(m, flight).await;
            }
            if generation.changed().await.is_err() {
                continue;
            }
            if let Some(token) = self.fast() {
                return Ok(token);
            }
            if let Some((at, err)) = &*self.inner.last_failure.lock()
                && *at > seen
            {
                return Err(shared_failure(&self.inner.storage, err));
            }
        }
    }

    /// Runs the slow path holding the single-flight lock; records its failure for the
    /// callers that waited, and wakes them however it ends (even when cancelled).
    async fn fly(
        &self,
        m: &Managed,
        mut flight: tokio::sync::MutexGuard<'_, Flight>,
    ) -> Result<AccessToken> {
        struct WakeOnExit<'a>(&'a watch::Sender<u64>);
        impl Drop for WakeOnExit<'_> {
            fn drop(&mut self) {
                self.0.send_modify(|generation| *generation += 1);
            }
        }
        let wake = WakeOnExit(&self.inner.generation);
        let result = self.slow_locked(m, &mut flight).await;
        if let Err(err) = &result {
            let next = *self.inner.generation.borrow() + 1;
            *self.inner.last_failure.lock() =
                Some((next, shared_failure(&self.inner.storage, err)));
        }
        drop(wake);
        drop(flight);
        result
    }

    async fn slow_locked(&self, m: &Managed, flight: &mut Flight) -> Result<AccessToken> {
        if let Some(token) = self.fast() {
            return Ok(token);
        }
        let storage = || self.inner.storage.clone();

        if let Some(grant) = flight.pending_save.clone() {
            let now = self.inner.clock.now_ms();
            self.save(m, &grant, now).await?;
            flight.pending_save = None;
            return Ok(self.install_grant(m, &grant, now));
        }

        if let Some((reason, refused)) = flight.needs_login.clone() {
            // Sticky until the stored tokens change (a new login, here or elsewhere).
            let now = self.inner.clock.now_ms();
            let config = if now.saturating_sub(flight.needs_login_checked_ms) >= 1_000 {
                flight.needs_login_checked_ms = now;
                m.handle.get_conf_fresh().await?
            } else {
                m.handle.get_conf()?
            };
            let stored_refresh = Stored::parse(&config)
                .and_then(|s| s.refresh)
                .map(|r| r.secret().to_owned());
            if stored_refresh == refused {
                return Err(Error::NeedsLogin {
                    storage: storage(),
                    reason,
                });
            }
            flight.needs_login = None;
        }

        let now = self.inner.clock.now_ms();
        if flight.backoff_until_ms > now {
            // Rate limited or backing off: serve the stored token while it lasts.
            let until = flight.backoff_until_ms;
            let served = match Stored::parse(&m.handle.get_conf()?) {
                Some(stored) => self.serve_during_backoff(&stored, until, now),
                None => Err(Error::LoggedOut { storage: storage() }),
            };
            return match (served, &flight.backoff_transient) {
                (Err(Error::RateLimited { .. }), Some(reason)) => Err(Error::Transient {
                    storage: storage(),
                    reason: format!("waiting before the next attempt after: {reason}"),
                }),
                (other, _) => other,
            };
        }

        let state_before = self.state();
        let mut waited_ms = 0;
        let mut rounds = 0;
        loop {
            rounds += 1;
            let now = self.inner.clock.now_ms();
            let step = self.lease_step(m, flight.rejected.as_ref()).await?;
            let stored = match step {
                LeaseStep::Adopt(stored) => {
                    self.install(&stored, stored.refresh_at_ms(&m.options.margin));
                    return stored
                        .access
                        .ok_or_else(|| Error::LoggedOut { storage: storage() });
                }
                LeaseStep::LoggedOut => {
                    self.forget();
                    self.set_state(TokenState::LoggedOut);
                    return Err(Error::LoggedOut { storage: storage() });
                }
                LeaseStep::NoRefreshToken(stored) => {
                    if stored.is_unexpired(now)
                        && stored.access.as_ref() != flight.rejected.as_ref()
                    {
                        // Usable to the end of its life; then only a new login helps.
                        let until = stored.expires_at_ms().unwrap_or(u64::MAX);
                        self.install(&stored, until);
                        return stored
                            .access
                            .ok_or_else(|| Error::LoggedOut { storage: storage() });
                    }
                    let reason = match stored.expires_at_ms() {
                        Some(at) => format!(
                            "the login expired at {} (no refresh token was issued); scan a new QR code",
                            crate::util::format_timestamp_ms(at)
                        ),
                        None => "the access token was rejected and no refresh token is stored"
                            .to_owned(),
                    };
                    return Err(self.needs_login(flight, reason, None));
                }
                LeaseStep::Held { until_ms } => {
                    self.set_state(TokenState::Refreshing);
                    if waited_ms > ms(m.options.lease_ttl) * 2 {
                        self.set_state(state_before);
                        return Err(Error::Transient {
                            storage: storage(),
                            reason: "another process kept renewing the refresh lease without saving tokens".into(),
                        });
                    }
                    let pause = ms(m.options.lease_poll).min(until_ms.saturating_sub(now).max(1));
                    let pause = jitter(Duration::from_millis(pause));
                    waited_ms += ms(pause);
                    tokio::time::sleep(pause).await;
                    continue;
                }
                LeaseStep::Acquired(stored) => stored,
            };

            // We hold the lease and the stored token is due.
            let Some(refresh_token) = stored.refresh.clone() else {
                self.release_lease(m).await;
                return Err(Error::LoggedOut { storage: storage() });
            };
            self.set_state(TokenState::Refreshing);
            let config = m.handle.get_conf().unwrap_or_default();
            let lease_deadline = now + ms(m.options.lease_ttl);
            match self
                .call_provider(m, &refresh_token, &config, lease_deadline)
                .await
            {
                Ok(grant) => {
                    let now = self.inner.clock.now_ms();
                    if let Err(err) = self.save(m, &grant, now).await {
                        // Rotated: the new tokens must not be lost. Keep them for the next call.
                        flight.pending_save = Some(grant);
                        self.forget();
                        return Err(err);
                    }
                    flight.rejected = None;
                    tracing::info!(storage = %self.inner.storage, "access token refreshed");
                    return Ok(self.install_grant(m, &grant, now));
                }
                Err(failure) => {
                    self.release_lease(m).await;
                    match failure {
                        RefreshFailure::Reused { reason } => {
                            // Another refresher rotated it: adopt what it saved, if anything.
                            let fresh = Stored::parse(&m.handle.get_conf_fresh().await?);
                            let newer = fresh.as_ref().is_some_and(|s| s.refresh != stored.refresh);
                            if newer && rounds < 3 {
                                continue;
                            }
                            return Err(self.needs_login(
                                flight,
                                format!("the refresh token was already used and nothing newer is stored ({reason})"),
                                Some(refresh_token.secret().to_owned()),
                            ));
                        }
                        RefreshFailure::NeedsLogin { reason } => {
                            return Err(self.needs_login(
                                flight,
                                reason,
                                Some(refresh_token.secret().to_owned()),
                            ));
                        }
                        RefreshFailure::RateLimited { retry_after } => {
                            let pause = retry_after.unwrap_or(m.options.rate_limit_backoff);
                            let until = self.inner.clock.now_ms() + ms(pause);
                            flight.backoff_until_ms = until;
                            flight.backoff_transient = None;
                            let result = self.serve_during_backoff(&stored, until, now);
                            self.set_state(TokenState::RateLimited {
                                until: to_system_time(until),
                            });
                            return result;
                        }
                        RefreshFailure::Transient { reason } => {
                            tracing::warn!(storage = %self.inner.storage, %reason, "refresh failed temporarily");
                            // Retry on a later call, a little later.
                            let until = self.inner.clock.now_ms() + ms(m.options.retry_base) * 5;
                            flight.backoff_until_ms = until;
                            flight.backoff_transient = Some(reason.clone());
                            if let Ok(token) = self.serve_during_backoff(&stored, until, now) {
                                self.set_state(state_before);
                                return Ok(token);
                            }
                            self.set_state(state_before);
                            return Err(Error::Transient {
                                storage: storage(),
                                reason,
                            });
                        }
                    }
                }
            }
        }
    }

    /// During a back-off, a stored token that has not expired yet is still served.
    fn serve_during_backoff(
        &self,
        stored: &Stored,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<AccessToken> {
        if stored.is_unexpired(now_ms) {
            let serve_until = until_ms.min(stored.expires_at_ms().unwrap_or(u64::MAX));
            if let Some(access) = self.hold(stored, serve_until) {
                return Ok(access);
            }
        }
        self.forget();
        Err(Error::RateLimited {
            storage: self.inner.storage.clone(),
            until: to_system_time(until_ms),
        })
    }

    fn needs_login(&self, flight: &mut Flight, reason: String, refused: Option<String>) -> Error {
        tracing::warn!(storage = %self.inner.storage, %reason, "login lost; a new QR login is needed");
        flight.needs_login = Some((reason.clone(), refused));
        flight.needs_login_checked_ms = self.inner.clock.now_ms();
        self.forget();
        self.set_state(TokenState::NeedsLogin {
            reason: reason.clone(),
        });
        Error::NeedsLogin {
            storage: self.inner.storage.clone(),
            reason,
        }
    }

    async fn call_provider(
        &self,
        m: &Managed,
        refresh_token: &crate::secret::RefreshToken,
        config: &Map<String, Value>,
        lease_deadline_ms: u64,
    ) -> Result<Grant, RefreshFailure> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = m.provider.refresh(&m.http, refresh_token, config).await;
            match result {
                Ok(grant) if grant.access_token.is_empty() => {
                    return Err(RefreshFailure::Transient {
                        reason: "the provider answered without an access token".into(),
                    });
                }
                Err(RefreshFailure::Transient { reason })
                    if attempt < m.options.transient_attempts =>
                {
                    let pause = backoff(m.options.retry_base, attempt);
                    let needed =
                        self.inner.clock.now_ms() + ms(pause) + ms(m.http.options().timeout);
                    if needed > lease_deadline_ms {
                        return Err(RefreshFailure::Transient { reason });
                    }
                    tracing::debug!(storage = %self.inner.storage, attempt, %reason, "transient refresh failure; retrying");
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }
}

/// The error a waiting caller gets when the flight it waited for failed: the same class of
/// error, without sources that cannot be shared.
fn shared_failure(storage_type: &str, err: &Error) -> Error {
    match err {
        Error::LoggedOut { storage } => Error::LoggedOut {
            storage: storage.clone(),
        },
        Error::NeedsLogin { storage, reason } => Error::NeedsLogin {
            storage: storage.clone(),
            reason: reason.clone(),
        },
        Error::RateLimited { storage, until } => Error::RateLimited {
            storage: storage.clone(),
            until: *until,
        },
        Error::Transient { storage, reason } => Error::Transient {
            storage: storage.clone(),
            reason: reason.clone(),
        },
        Error::FixedTokenRejected { storage } => Error::FixedTokenRejected {
            storage: storage.clone(),
        },
        Error::Configuration { storage, message } => Error::Configuration {
            storage: storage.clone(),
            message: message.clone(),
        },
        Error::Provider {
            storage,
            operation,
            code,
            message,
        } => Error::Provider {
            storage: storage.clone(),
            operation: operation.clone(),
            code: code.clone(),
            message: message.clone(),
        },
        other => Error::Transient {
            storage: storage_type.to_owned(),
            reason: format!("the refresh this call waited for failed: {other}"),
        },
    }
}

/// What one provider call made with an access token came to.
#[derive(Debug)]
pub enum Call<T> {
    /// The call is done (successfully or with an error the caller handles).
    Done(T),
    /// The provider said the access token is invalid or expired.
    TokenRejected,
}

impl TokenAccessor {
    /// Makes a provider call with the current token. When the provider answers "access
    /// token invalid", exactly that token is invalidated, a new one is obtained through the
    /// same single-flight path (refreshing once for all callers), and the call is made once
    /// more — if it is `idempotent`. A non-idempotent call is not repeated; it fails with
    /// [`Error::Transient`] after the refresh, and may be retried by the caller.
    pub async fn with_token<T, F, Fut>(&self, idempotent: bool, mut call: F) -> Result<T>
    where
        F: FnMut(AccessToken) -> Fut + Send,
        Fut: std::future::Future<Output = Result<Call<T>>> + Send,
    {
        let token = self.access_token().await?;
        if let Call::Done(value) = call(token.clone()).await? {
            return Ok(value);
        }
        tracing::debug!(storage = %self.inner.storage, "access token rejected by the provider");
        self.invalidate(&token).await;
        let token = self.access_token().await?;
        if !idempotent {
            return Err(Error::Transient {
                storage: self.inner.storage.clone(),
                reason: "the access token was rejected and has been renewed; the request was                          not repeated because it is not idempotent"
                    .into(),
            });
        }
        match call(token.clone()).await? {
            Call::Done(value) => Ok(value),
            Call::TokenRejected => {
                self.invalidate(&token).await;
                Err(Error::Transient {
                    storage: self.inner.storage.clone(),
                    reason: "the provider rejected a freshly obtained access token".into(),
                })
            }
        }
    }
}

/// `base × 2^(attempt-1)`, with ±50 % jitter.
fn backoff(base: Duration, attempt: u32) -> Duration {
    jitter(base.saturating_mul(1 << attempt.saturating_sub(1).min(10)))
}

fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.5 + rand::random::<f64>())
}
