//! Cache coherence: how writes committed by other processes and hosts reach this store's
//! cache without anyone calling [`SystemConfig::refresh`].
//!
//! | backend | mechanism ([`Coherence::Auto`]) | staleness bound | idle cost |
//! |---|---|---|---|
//! | PostgreSQL | every write `NOTIFY`s on commit; a dedicated connection `LISTEN`s and re-reads the named keys ([`pg`]) | notification delivery + one single-row read (milliseconds) | none: no statement while nothing changes |
//! | SQLite file | a dedicated connection runs `PRAGMA data_version` every [`StoreOptions::sqlite_check_interval`]; the table is reloaded only when it changed ([`sqlite`]) | the interval (default 250 ms) + one table read | one `PRAGMA data_version` per interval |
//! | in-memory SQLite | none needed: no other connection can reach it | — | none |
//!
//! Both mechanisms also have to survive their connection: when the listening connection
//! is lost it is re-established (at once, then with back-off from 100 ms up to 10 s while
//! the server stays unreachable), `LISTEN` is re-issued *and then* the whole table is
//! reloaded, so a change committed while nobody listened is not missed. The SQLite checker
//! likewise reopens its connection and reloads. While the connection is down the bound is
//! the reconnection time plus one table read.
//!
//! One loss goes unnoticed: a listening connection whose network path dies *silently* (no
//! reset ever reaches this host) looks idle for ever, because sqlx sets no TCP keep-alive
//! on it and probing it with statements would be polling. Where that can happen (NAT or
//! firewalls that drop idle flows), set [`StoreOptions::sync_interval`] as a safety net.
//!
//! Only writes that announce themselves are pushed on PostgreSQL: those of this crate
//! (every `set`/`update`/`delete`, whatever the writing store's [`Coherence`]), and of any
//! program that sends the payload described in [`payload`]. Writes by programs that do not
//! (MoviePilot itself, SQL by hand) arrive with [`SystemConfig::refresh`],
//! [`SystemConfig::get_fresh`], this store's next write of the key, or every
//! [`StoreOptions::sync_interval`] when one is set. On SQLite `data_version` sees every
//! writer of the file.
//!
//! # Ordering
//!
//! Every refresh — a single key after a notification, a full reload — runs under the same
//! write lock as this store's writes and starts its read after taking it (see
//! [`crate::refresh`]), so it can never replace a value this store has just committed with
//! an older one. On PostgreSQL a notification is delivered only after the writing
//! transaction committed and is visible to new statements, so the read that follows it sees
//! that commit or a newer one. A store skips its own notifications (their `origin` is its
//! own): its writes published their committed value before releasing the write lock. (Not
//! when that write failed at `COMMIT`: it may have committed nonetheless, see [`pg`].)
//!
//! # Lifetime
//!
//! The background tasks hold only a [`Weak`] reference to the store, and are aborted when
//! the last clone of the store is dropped.
//!
//! [`Coherence`]: crate::Coherence
//! [`Coherence::Auto`]: crate::Coherence::Auto
//! [`StoreOptions::sqlite_check_interval`]: crate::StoreOptions::sqlite_check_interval
//! [`StoreOptions::sync_interval`]: crate::StoreOptions::sync_interval

pub(crate) mod payload;
#[cfg(feature = "postgres")]
pub(crate) mod pg;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use std::sync::Weak;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::Result;
use crate::options::Coherence;
use crate::raw::Pool;
use crate::store::{Inner, SystemConfig};

/// Counters of the coherence machinery, for tests and benchmarks (not a stable API).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoherenceStats {
    /// `PRAGMA data_version` statements run (SQLite).
    pub data_version_checks: u64,
    /// Whole-table reloads made by the coherence machinery (not by `refresh()` calls).
    pub reloads: u64,
    /// Keys re-read after notifications (PostgreSQL).
    pub key_reads: u64,
    /// Notifications received, this store's own included (PostgreSQL).
    pub notifications: u64,
    /// Notifications skipped because this store sent them (PostgreSQL).
    pub own_notifications: u64,
    /// Notifications ignored because they were not configuration changes (PostgreSQL).
    pub malformed_notifications: u64,
    /// Dedicated connections established (listener or checker).
    pub connects: u64,
    /// Failed attempts: connecting, checking, reading after a change.
    pub failures: u64,
}

/// The live counters behind [`CoherenceStats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) data_version_checks: AtomicU64,
    pub(crate) reloads: AtomicU64,
    pub(crate) key_reads: AtomicU64,
    pub(crate) notifications: AtomicU64,
    pub(crate) own_notifications: AtomicU64,
    pub(crate) malformed_notifications: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) failures: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Stats {
    fn snapshot(&self) -> CoherenceStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CoherenceStats {
            data_version_checks: get(&self.data_version_checks),
            reloads: get(&self.reloads),
            key_reads: get(&self.key_reads),
            notifications: get(&self.notifications),
            own_notifications: get(&self.own_notifications),
            malformed_notifications: get(&self.malformed_notifications),
            connects: get(&self.connects),
            failures: get(&self.failures),
        }
    }
}

/// A new identity for a store, carried in its notifications: unique per store with
/// overwhelming probability (random keys of the standard library's hasher, the process id
/// and the time).
pub(crate) fn new_origin() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{:016x}", hasher.finish())
}

/// How long to wait before reconnection attempt number `failures` (0: at once).
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let ms = 100u64.saturating_mul(1 << failures.saturating_sub(1).min(7));
    Duration::from_millis(ms.min(10_000))
}

/// Logs a failure of the background machinery: a warning for the first of a streak, then
/// quietly, so an unreachable database does not flood the log. `message` is already
/// scrubbed of secrets.
pub(crate) fn log_failure(streak: u32, what: &'static str, message: &str) {
    if streak <= 1 {
        tracing::warn!(
            error = message,
            "configuration cache coherence: {what} failed"
        );
    } else {
        tracing::debug!(
            error = message,
            streak,
            "configuration cache coherence: {what} failed again"
        );
    }
}

/// The store behind a weak reference, if it still exists.
pub(crate) fn upgrade(store: &Weak<Inner>) -> Option<SystemConfig> {
    store.upgrade().map(|inner| SystemConfig { inner })
}

/// Connections set up before the store's first load, so nothing committed after that load
/// can be missed.
#[derive(Debug, Default)]
pub(crate) struct Prepared {
    #[cfg(feature = "postgres")]
    pg: Option<pg::Prepared>,
    #[cfg(feature = "sqlite")]
    sqlite: Option<sqlite::Prepared>,
}

impl SystemConfig {
    /// A snapshot of the coherence counters (for tests and benchmarks; not a stable API).
    #[doc(hidden)]
    pub fn coherence_stats(&self) -> CoherenceStats {
        self.inner.stats.snapshot()
    }

    /// [`refresh`](Self::refresh), counted as the coherence machinery's.
    pub(crate) async fn coherence_reload(&self) -> Result<usize> {
        bump(&self.inner.stats.reloads, 1);
        self.refresh().await
    }

    /// Sets up the dedicated connection of [`Coherence::Auto`]. Call before the first load.
    /// A connection that cannot be made now is retried by the background task.
    pub(crate) async fn prepare_coherence(&self) -> Prepared {
        if self.inner.options.coherence == Coherence::Off {
            return Prepared::default();
        }
        match &self.inner.pool {
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => Prepared {
                pg: Some(pg::prepare(self, pool).await),
                ..Prepared::default()
            },
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => Prepared {
                sqlite: sqlite::prepare(self, pool).await,
                ..Prepared::default()
            },
        }
    }

    /// Starts the background tasks: the coherence mechanism prepared before the first load,
    /// and the periodic reload of [`StoreOptions::sync_interval`](crate::StoreOptions).
    pub(crate) fn spawn_coherence(&self, prepared: Prepared) {
        let weak = std::sync::Arc::downgrade(&self.inner);
        let mut tasks = self.inner.tasks.lock();
        #[cfg(feature = "postgres")]
        if let Some(prepared) = prepared.pg {
            tasks.push(tokio::spawn(pg::run(weak.clone(), prepared)));
        }
        #[cfg(feature = "sqlite")]
        if let Some(prepared) = prepared.sqlite {
            tasks.push(tokio::spawn(sqlite::run(weak.clone(), prepared)));
        }
        if let Some(interval) = self.inner.options.sync_interval {
            tasks.push(tokio::spawn(sync_loop(weak, interval)));
        }
    }
}

/// Reloads the whole table every `interval` ([`StoreOptions::sync_interval`](crate::StoreOptions)).
async fn sync_loop(store: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(store) = upgrade(&store) else { return };
        if let Err(err) = store.refresh().await {
            tracing::warn!(%err, "background configuration refresh failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_once_and_is_capped() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(8), Duration::from_millis(10_000));
        assert_eq!(backoff(u32::MAX), Duration::from_millis(10_000));
    }

    #[test]
    fn origins_differ() {
        assert_ne!(new_origin(), new_origin());
        assert_eq!(new_origin().len(), 16);
    }
}
