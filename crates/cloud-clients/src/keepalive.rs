//! [`KeepAlive`]: refreshes logged-in storages ahead of their due time, so application
//! requests never wait on a refresh, and keeps long-idle refresh tokens alive.
//!
//! One task per storage sleeps until its login is due *by the keep-alive's criterion* —
//! [`KeepAliveOptions::lead`] before the hot path would find it due — and then runs a
//! refresh through the token core: the usual single flight, lease and save-before-serve.
//! Several keep-alive instances (threads, processes, hosts) on one database therefore make
//! one refresh per expiry; the others adopt the saved token. Meanwhile
//! [`TokenAccessor::access_token`] keeps answering from memory with the held token, which is
//! still valid and not yet due.
//!
//! Each task also follows its storage's entry through the store's coherence: a token saved
//! by another process is put in memory at once (so this process's hot path has it before
//! its old one falls due), and a new login ends a needs-login wait.
//!
//! What a task does in each state:
//!
//! | state | the task |
//! |---|---|
//! | valid, known lifetime | wakes `lead` before the due time (at most a quarter of the lifetime) |
//! | valid, unknown lifetime, provider with an idle limit (alipan) | refreshes when the login is a third of that limit old |
//! | valid, unknown lifetime otherwise | waits for a change of the entry |
//! | rate limited | wakes when the limit ends |
//! | needs login, logged out | waits for a change of the entry (a new login) |
//! | refresh failed temporarily | retries with back-off (5 s doubling to 5 min, jittered) |
//!
//! ```no_run
//! # async fn demo(storages: storage_helper::StorageHelper) -> Result<(), cloud_clients::Error> {
//! use cloud_clients::{KeepAlive, KeepAliveOptions, OpenOptions};
//!
//! let drive = cloud_clients::open(&storages, "u115", &OpenOptions::default())?;
//! let keepalive = KeepAlive::start([drive.accessor().clone()], KeepAliveOptions::default());
//! // … the application runs; `drive` never waits on a refresh …
//! keepalive.stop(std::time::Duration::from_secs(40)).await;
//! # Ok(()) }
//! ```

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::clock::to_unix_ms;
use crate::state::TokenState;
use crate::token::{Ahead, Flushed, TokenAccessor, backoff, ms};

/// Tuning of a [`KeepAlive`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeepAliveOptions {
    /// How long before the hot path's due time a login is refreshed; at most a quarter of
    /// the token's lifetime. Default 5 min (a 7200 s token: refreshed 17 min before expiry).
    pub lead: Duration,
    /// First pause after a keep-alive refresh that did not produce a fresh token (doubling,
    /// jittered, up to [`max_retry`](Self::max_retry)). Default 5 s.
    pub retry_base: Duration,
    /// Longest pause between such attempts. Default 5 min.
    pub max_retry: Duration,
}

impl Default for KeepAliveOptions {
    fn default() -> Self {
        Self {
            lead: Duration::from_secs(300),
            retry_base: Duration::from_secs(5),
            max_retry: Duration::from_secs(300),
        }
    }
}

impl KeepAliveOptions {
    /// Sets [`lead`](Self::lead).
    pub fn lead(mut self, value: Duration) -> Self {
        self.lead = value;
        self
    }
}

/// A running keep-alive over a set of storages. Dropping it stops its tasks (a refresh
/// under way still finishes: it belongs to the accessor); [`stop`](Self::stop) also flushes.
#[derive(Debug)]
pub struct KeepAlive {
    options: KeepAliveOptions,
    accessors: Vec<TokenAccessor>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl KeepAlive {
    /// Starts keeping `accessors` alive. Must be called inside a Tokio runtime. Accessors
    /// for fixed tokens are accepted and left alone.
    pub fn start(
        accessors: impl IntoIterator<Item = TokenAccessor>,
        options: KeepAliveOptions,
    ) -> Self {
        let mut this = Self {
            options,
            accessors: Vec::new(),
            stop: watch::Sender::new(false),
            tasks: JoinSet::new(),
        };
        for accessor in accessors {
            this.add(accessor);
        }
        this
    }

    /// Keeps one more storage alive (ignored when one for the same storage type is kept).
    pub fn add(&mut self, accessor: TokenAccessor) {
        if self
            .accessors
            .iter()
            .any(|a| a.storage() == accessor.storage())
        {
            return;
        }
        self.accessors.push(accessor.clone());
        if accessor.handle().is_some() {
            let task = Task {
                accessor,
                options: self.options.clone(),
                stop: self.stop.subscribe(),
            };
            self.tasks.spawn(task.run());
        }
    }

    /// The accessors kept alive.
    pub fn accessors(&self) -> &[TokenAccessor] {
        &self.accessors
    }

    /// Stops every task, then [flushes](TokenAccessor::flush) every accessor (waiting up to
    /// `timeout` in all for refreshes under way to finish and save).
    pub async fn stop(mut self, timeout: Duration) -> Vec<(String, Flushed)> {
        self.stop.send_replace(true);
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let deadline = tokio::time::Instant::now() + timeout;
        let mut flushed = Vec::new();
        for accessor in &self.accessors {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            flushed.push((accessor.storage().to_owned(), accessor.flush(left).await));
        }
        flushed
    }
}

/// What a task waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Run a keep-alive refresh with this criterion at this time (Unix ms).
    At(u64, Ahead),
    /// Nothing to do by time: wait for a change of the entry.
    Idle,
}

/// The next step for a storage whose accessor is in `state`, from its stored login.
fn plan_for(accessor: &TokenAccessor, state: &TokenState, options: &KeepAliveOptions) -> Plan {
    if let TokenState::NeedsLogin { .. } = state {
        return Plan::Idle;
    }
    let Some((Some(stored), margin, idle_limit)) = accessor.schedule_inputs() else {
        return Plan::Idle;
    };
    if stored.refresh.is_none() {
        // Nothing to refresh with: the hot path reports the end of the login itself.
        return Plan::Idle;
    }
    let lifetime_ms = stored.expires_in.saturating_mul(1000);
    let ahead = Ahead {
        lead_ms: ms(options.lead).min(lifetime_ms / 4),
        max_age_ms: (lifetime_ms == 0)
            .then(|| idle_limit.map(|limit| ms(limit) / 3))
            .flatten(),
    };
    let Some(due) = ahead.due_at_ms(&stored, &margin) else {
        return Plan::Idle;
    };
    let due = match state {
        TokenState::RateLimited { until } => due.max(to_unix_ms(*until)),
        _ => due,
    };
    Plan::At(due, ahead)
}

struct Task {
    accessor: TokenAccessor,
    options: KeepAliveOptions,
    stop: watch::Receiver<bool>,
}

impl Task {
    async fn run(mut self) {
        let Some(handle) = self.accessor.handle() else {
            return;
        };
        let mut changes = handle.subscribe();
        let mut states = self.accessor.watch();
        let storage = self.accessor.storage().to_owned();
        // Pick up a login saved before we started.
        self.accessor.adopt_stored();
        let mut failures: u32 = 0;
        let mut not_before_ms = 0;
        loop {
            let state = states.borrow_and_update().clone();
            let plan = plan_for(&self.accessor, &state, &self.options);
            let now = self.accessor.now_ms();
            let wait = match plan {
                Plan::At(at, _) => Some(Duration::from_millis(
                    at.max(not_before_ms).saturating_sub(now),
                )),
                Plan::Idle => None,
            };
            let sleep = async {
                match wait {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = self.stop.changed() => return,
                change = changes.recv() => {
                    if change.is_none() {
                        return;
                    }
                    // Another process saved a token, logged in, or logged out.
                    if self.accessor.adopt_stored() {
                        failures = 0;
                        not_before_ms = 0;
                    } else if matches!(state, TokenState::NeedsLogin { .. }) {
                        // A new login ends the wait; the slow path checks the stored
                        // refresh token against the refused one without asking the provider.
                        let _ = self.accessor.refresh_ahead(Ahead::DUE).await;
                    }
                    continue;
                }
                // A state change made elsewhere (a refresh by an application call, a rate
                // limit) changes the plan.
                _ = states.changed() => continue,
                () = sleep => {}
            }
            let Plan::At(_, ahead) = plan else { continue };
            let result = self.accessor.refresh_ahead(ahead).await;
            let now = self.accessor.now_ms();
            let state = self.accessor.state();
            let still_due = matches!(plan_for(&self.accessor, &state, &self.options), Plan::At(at, _) if at <= now);
            match (&result, still_due) {
                (_, false) => {
                    failures = 0;
                    not_before_ms = 0;
                }
                (result, true) => {
                    failures += 1;
                    let pause =
                        backoff(self.options.retry_base, failures).min(self.options.max_retry);
                    not_before_ms = now + ms(pause);
                    match result {
                        Err(err) => {
                            tracing::warn!(%storage, %err, retry_in_s = pause.as_secs(), "keep-alive refresh failed")
                        }
                        Ok(_) => {
                            tracing::warn!(%storage, retry_in_s = pause.as_secs(), "keep-alive refresh brought no new token")
                        }
                    }
                }
            }
        }
    }
}
