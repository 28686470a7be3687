//! SQLite: notice other connections' commits with `PRAGMA data_version`, reload only then.
//!
//! `PRAGMA data_version` returns a number that changes, between two calls on the *same*
//! connection, exactly when another connection committed to the database file in between
//! — another process, or this store's own pool (its commits are already in the cache, so
//! reloading after them changes nothing and announces nothing). It costs the start of a
//! read transaction — a look at the WAL index in shared memory — and reads no table. So
//! the checker runs it on a connection of
//! its own that never writes, every [`StoreOptions::sqlite_check_interval`], and reloads the
//! table only when the number moved. The number is read *before* the reload, so a commit
//! racing with the reload is either in it or moves the number for the next check.
//!
//! A reload that fails (the table was dropped, the disk is unreadable) keeps the old
//! number, so the next check tries again. A connection that fails is reopened at the next
//! check, followed by a reload (a new connection's numbers say nothing about the old one's).
//!
//! [`StoreOptions::sqlite_check_interval`]: crate::StoreOptions::sqlite_check_interval

use std::sync::Weak;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{self, ConnectOptions as _, SqlitePool};

use super::{bump, log_failure, upgrade};
use crate::error::Scrubber;
use crate::store::{Inner, SystemConfig};

/// The checker's connection and the last number it saw (`None`: reload at the next check).
type State = (SqliteConnection, Option<i64>);

/// What the checking task needs, and the connection made before the store's first load.
pub(crate) struct Prepared {
    options: SqliteConnectOptions,
    interval: Duration,
    scrubber: Scrubber,
    state: Option<State>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("interval", &self.interval)
            .field("connected", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

impl Prepared {
    fn describe(&self, err: &sqlx::Error) -> String {
        self.scrubber.scrub(&crate::error::describe_sqlx(err))
    }
}

/// Opens the checker's connection and reads the first number; `None` for an in-memory
/// database, which no other connection can change.
pub(crate) async fn prepare(store: &SystemConfig, pool: &SqlitePool) -> Option<Prepared> {
    let inner = &store.inner;
    // The main database's file; empty for in-memory and temporary databases.
    let file: Result<String, _> =
        sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
            .fetch_one(pool)
            .await;
    if matches!(&file, Ok(file) if file.is_empty()) {
        return None;
    }
    let mut prepared = Prepared {
        // The pool's file, and nothing of its settings that could write: no journal mode
        // switch (the pool chose it, and switching takes an exclusive lock that processes
        // opening a brand-new file at once would fight over), never creating the file.
        options: SqliteConnectOptions::new()
            .filename(pool.connect_options().get_filename())
            .create_if_missing(false)
            .busy_timeout(inner.options.busy_timeout),
        interval: inner
            .options
            .sqlite_check_interval
            .max(Duration::from_millis(1)),
        scrubber: inner.scrubber.clone(),
        state: None,
    };
    match connect(&prepared.options).await {
        Ok(mut conn) => {
            bump(&inner.stats.connects, 1);
            bump(&inner.stats.data_version_checks, 1);
            match data_version(&mut conn).await {
                Ok(version) => prepared.state = Some((conn, Some(version))),
                Err(err) => {
                    bump(&inner.stats.failures, 1);
                    log_failure(1, "checking data_version", &prepared.describe(&err));
                }
            }
        }
        Err(err) => {
            bump(&inner.stats.failures, 1);
            log_failure(
                1,
                "opening the checker connection",
                &prepared.describe(&err),
            );
        }
    }
    Some(prepared)
}

async fn connect(options: &SqliteConnectOptions) -> Result<SqliteConnection, sqlx::Error> {
    options.connect().await
}

async fn data_version(conn: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(conn)
        .await
}

/// The checking task. Ends when the store is dropped.
pub(crate) async fn run(store: Weak<Inner>, mut prepared: Prepared) {
    let mut ticker = tokio::time::interval(prepared.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut state = prepared.state.take();
    let mut failures: u32 = 0;
    loop {
        ticker.tick().await;
        if store.strong_count() == 0 {
            return;
        }
        let (mut conn, last) = match state.take() {
            Some(state) => state,
            None => {
                let result = connect(&prepared.options).await;
                let Some(store) = upgrade(&store) else { return };
                match result {
                    Ok(conn) => {
                        bump(&store.inner.stats.connects, 1);
                        (conn, None)
                    }
                    Err(err) => {
                        bump(&store.inner.stats.failures, 1);
                        failures = failures.saturating_add(1);
                        let text = prepared.describe(&err);
                        log_failure(failures, "opening the checker connection", &text);
                        continue;
                    }
                }
            }
        };
        let result = data_version(&mut conn).await;
        let Some(store) = upgrade(&store) else { return };
        let stats = &store.inner.stats;
        bump(&stats.data_version_checks, 1);
        let version = match result {
            Ok(version) => version,
            Err(err) => {
                // Drop the connection; the next check opens a new one and reloads.
                bump(&stats.failures, 1);
                failures = failures.saturating_add(1);
                log_failure(failures, "checking data_version", &prepared.describe(&err));
                continue;
            }
        };
        if last == Some(version) {
            state = Some((conn, last));
            continue;
        }
        match store.coherence_reload().await {
            Ok(_) => {
                if failures > 1 {
                    tracing::info!("configuration cache coherence recovered");
                }
                failures = 0;
                state = Some((conn, Some(version)));
            }
            Err(err) => {
                bump(&stats.failures, 1);
                failures = failures.saturating_add(1);
                log_failure(failures, "reloading after a change", &err.to_string());
                state = Some((conn, last));
            }
        }
    }
}
