//! PostgreSQL: listen for the other stores' change notifications and re-read what they name.
//!
//! The listener runs on a connection of its own (outside the store's pool, with the
//! `application_name` [`LISTENER_APPLICATION_NAME`] so operators — and the tests — can find
//! it in `pg_stat_activity`). While nothing changes it sends nothing: the task waits on the
//! socket. For each batch of notifications it re-reads every named key once (a full reload
//! when a notification asks for one, or when the batch names many keys), skipping the
//! store's own notifications — except for a key whose last write by this store failed at
//! `COMMIT`: if the connection died with the `COMMIT` in flight, the write may have
//! committed although the caller got an error, and its notification is then the news. A payload that is not a configuration notification (another
//! program may use the channel) is logged and ignored.
//!
//! When the connection is lost — the server restarted, `pg_terminate_backend`, a network
//! cut — notifications sent meanwhile are gone for good, so the task reconnects, issues
//! `LISTEN` again and only then reloads the whole table: every commit is either before the
//! reload's read (and in it) or after `LISTEN` (and notified).

use std::collections::BTreeSet;
use std::sync::Weak;
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgNotification, PgPoolOptions};
use sea_orm::sqlx::{self, PgPool};

use super::payload::{self, Target};
use super::{backoff, bump, log_failure, upgrade};
use crate::error::{Result, Scrubber};
use crate::store::{Inner, SystemConfig};

/// The `application_name` of every store's listening connection.
pub const LISTENER_APPLICATION_NAME: &str = "system-config listener";

/// Notifications handled together (each distinct key is read once per batch).
const MAX_BATCH: usize = 256;

/// A batch naming more distinct keys than this is handled by one full reload instead.
const MAX_KEYS: usize = 32;

/// A connection that lives shorter than this before it is lost counts as a failure, so a
/// connection killed right after each reconnection does not make the task spin.
const HEALTHY: Duration = Duration::from_secs(1);

/// What the listening task needs, and the listener made before the store's first load.
pub(crate) struct Prepared {
    options: PgConnectOptions,
    timeout: Duration,
    scrubber: Scrubber,
    listener: Option<PgListener>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("listening", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

/// Connects the listener (same server, database and credentials as the store's pool).
pub(crate) async fn prepare(store: &SystemConfig, pool: &PgPool) -> Prepared {
    let inner = &store.inner;
    let mut prepared = Prepared {
        options: (*pool.connect_options())
            .clone()
            .application_name(LISTENER_APPLICATION_NAME),
        timeout: inner.options.connect_timeout,
        scrubber: inner.scrubber.clone(),
        listener: None,
    };
    match listen(&prepared.options, prepared.timeout).await {
        Ok(listener) => {
            bump(&inner.stats.connects, 1);
            prepared.listener = Some(listener);
        }
        Err(err) => {
            bump(&inner.stats.failures, 1);
            // The task retries, and reloads once it listens.
            log_failure(1, "connecting the listener", &prepared.describe(&err));
        }
    }
    prepared
}

impl Prepared {
    fn describe(&self, err: &sqlx::Error) -> String {
        self.scrubber.scrub(&crate::error::describe_sqlx(err))
    }
}

/// A new listening connection, `LISTEN`ing on the channel.
async fn listen(options: &PgConnectOptions, timeout: Duration) -> Result<PgListener, sqlx::Error> {
    // A private one-connection pool: the listener never borrows the store's connections,
    // and the pool never checks, ages or pings its connection.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
        .acquire_timeout(timeout)
        .connect_lazy_with(options.clone());
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    // A lost connection is reported (`Ok(None)`), not silently replaced: the task must
    // reload after every reconnection.
    listener.eager_reconnect(false);
    listener.listen(payload::CHANNEL).await?;
    Ok(listener)
}

/// The listening task. Ends when the store is dropped.
pub(crate) async fn run(store: Weak<Inner>, mut prepared: Prepared) {
    let mut listener = prepared.listener.take();
    let mut failures: u32 = u32::from(listener.is_none());
    loop {
        let mut active = match listener.take() {
            Some(active) => active,
            None => match reconnect(&store, &prepared, &mut failures).await {
                Some(active) => active,
                None => return,
            },
        };
        let since = Instant::now();
        // Receive until the connection is lost or a re-read fails.
        loop {
            let first = match active.try_recv().await {
                Ok(Some(notification)) => notification,
                Ok(None) => {
                    tracing::info!("configuration listener lost its connection; reconnecting");
                    break;
                }
                Err(err) => {
                    log_failure(1, "listening", &prepared.describe(&err));
                    break;
                }
            };
            let (batch, lost) = drain(&mut active, first).await;
            let Some(store) = upgrade(&store) else { return };
            if let Err(err) = apply(&store, &batch).await {
                bump(&store.inner.stats.failures, 1);
                log_failure(1, "reading a notified change", &err.to_string());
                break;
            }
            if lost {
                break;
            }
        }
        drop(active);
        failures = if since.elapsed() < HEALTHY {
            failures.saturating_add(1)
        } else {
            0
        };
    }
}

/// Connects, `LISTEN`s and reloads the table, waiting [`backoff`] before each attempt;
/// `None` when the store is gone.
async fn reconnect(
    store: &Weak<Inner>,
    prepared: &Prepared,
    failures: &mut u32,
) -> Option<PgListener> {
    loop {
        tokio::time::sleep(backoff(*failures)).await;
        if store.strong_count() == 0 {
            return None;
        }
        // No strong reference while connecting: dropping the store must not wait for it.
        let result = listen(&prepared.options, prepared.timeout).await;
        let store = upgrade(store)?;
        let stats = &store.inner.stats;
        match result {
            Ok(listener) => {
                bump(&stats.connects, 1);
                // Listening again: now nothing committed from here on can be missed, and a
                // reload picks up whatever was committed while nobody listened.
                match store.coherence_reload().await {
                    Ok(_) => {
                        if *failures > 1 {
                            tracing::info!("configuration listener reconnected");
                        }
                        return Some(listener);
                    }
                    Err(err) => {
                        bump(&stats.failures, 1);
                        *failures = failures.saturating_add(1);
                        log_failure(*failures, "reloading after reconnecting", &err.to_string());
                    }
                }
            }
            Err(err) => {
                bump(&stats.failures, 1);
                *failures = failures.saturating_add(1);
                log_failure(
                    *failures,
                    "connecting the listener",
                    &prepared.describe(&err),
                );
            }
        }
    }
}

/// `first` and whatever else has already arrived, up to [`MAX_BATCH`]; `true` when the
/// connection turned out to be lost meanwhile.
async fn drain(listener: &mut PgListener, first: PgNotification) -> (Vec<PgNotification>, bool) {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        // A zero timeout polls once: only what is already on the socket.
        match tokio::time::timeout(Duration::ZERO, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => batch.push(notification),
            Ok(Ok(None) | Err(_)) => return (batch, true),
            Err(_) => break,
        }
    }
    (batch, false)
}

/// Whether this store's own notification for `target` must be acted on after all: its
/// write failed at `COMMIT`, so the cache does not have what the notification says was
/// committed. Forgets the key (a later own write of it is then skipped again).
fn uncertain(store: &SystemConfig, target: &Target) -> bool {
    let mut uncertain = store.inner.uncertain.lock();
    match target {
        Target::Key(key) => uncertain.remove(key),
        Target::All => {
            let any = !uncertain.is_empty();
            uncertain.clear();
            any
        }
    }
}

/// Re-reads what a batch of notifications names.
async fn apply(store: &SystemConfig, batch: &[PgNotification]) -> Result<()> {
    let stats = &store.inner.stats;
    let mut keys = BTreeSet::new();
    let mut all = false;
    for notification in batch {
        bump(&stats.notifications, 1);
        match payload::parse(notification.payload()) {
            Ok(notice)
                if notice.origin.as_deref() == Some(store.inner.origin.as_str())
                    && !uncertain(store, &notice.target) =>
            {
                bump(&stats.own_notifications, 1);
            }
            Ok(notice) => match notice.target {
                Target::Key(key) => {
                    keys.insert(key);
                }
                Target::All => all = true,
            },
            Err(reason) => {
                bump(&stats.malformed_notifications, 1);
                // The payload is another program's: its size, not its content, is logged.
                tracing::warn!(
                    channel = notification.channel(),
                    bytes = notification.payload().len(),
                    reason,
                    "ignoring a notification that is not a configuration change"
                );
            }
        }
    }
    if all || keys.len() > MAX_KEYS {
        store.coherence_reload().await?;
    } else if !keys.is_empty() {
        bump(&stats.key_reads, keys.len() as u64);
        let keys: Vec<String> = keys.into_iter().collect();
        store.refresh_keys(&keys).await?;
    }
    Ok(())
}
