//! The store: its shared state, opening it, and subscribing to its changes. Reads are in
//! [`crate::read`], writes in [`crate::write`] and [`crate::txn`], refreshes in
//! [`crate::refresh`], cache coherence across processes in [`crate::coherence`].
//!
//! # Consistency
//!
//! * Reads ([`SystemConfig::get`] and friends) are served from memory and never touch the
//!   database. The cache holds every row, loaded when the store opens.
//! * Every write is a read-modify-write transaction that reads the row *inside* the
//!   transaction (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on PostgreSQL), so no
//!   update is lost to a concurrent writer anywhere. Writers of one store are also queued
//!   in-process (FIFO), which keeps the cache in commit order.
//! * The cache and subscribers see a write only after its commit succeeded.
//! * Writes by *other* processes or hosts reach this process's cache by themselves with
//!   [`Coherence::Auto`](crate::Coherence::Auto), the default: on PostgreSQL within the
//!   delivery of a notification plus one single-row read, on SQLite within
//!   [`StoreOptions::sqlite_check_interval`] (default 250 ms) plus one table read (see
//!   [`crate::coherence`] for the exact bounds, and for writers that do not notify). They
//!   also arrive with [`SystemConfig::refresh`], [`SystemConfig::get_fresh`], every
//!   [`StoreOptions::sync_interval`] when set, and whenever this process writes the key.
//!
//! # Failures
//!
//! * **A write that fails is never reported as saved, and leaves nothing behind.** Writes run
//!   on a raw pooled connection (`BEGIN IMMEDIATE` / `BEGIN`, statements, `COMMIT`; see
//!   [`crate::raw`] for why not sea-orm's transaction). When any statement or the `COMMIT`
//!   itself fails — a full disk (`Error::DiskFull`), a constraint checked at commit, a lost
//!   connection — the transaction is rolled back and the connection is *verified* to be
//!   outside any transaction before it goes back to the pool; a connection whose state
//!   cannot be verified is closed instead (which rolls back what it had open and releases
//!   its locks). The same holds when the future of a write is dropped mid-way. So the next
//!   attempt starts on a clean connection, another process never waits on a lock left by a
//!   failed write, and a retry loop sees success only for a write that reached the
//!   database.
//! * A failed write changes neither the cache nor subscribers. (When the connection is lost
//!   while `COMMIT` is in flight, the database alone knows whether it committed; the next
//!   [`SystemConfig::refresh`], [`SystemConfig::get_fresh`] or write of the key shows the
//!   truth.)
//! * **Undecodable rows stay isolated.** Values are read as bytes and decoded in Rust, so a
//!   row holding text that is not JSON, bytes that are not UTF-8 (SQLite, or a PostgreSQL
//!   `SQL_ASCII` database), or a BLOB that is neither, only makes *its* key report
//!   `Error::CorruptValue` — when the store opens, in [`SystemConfig::refresh`],
//!   [`SystemConfig::get_fresh`] and in the write transaction's read (`update` refuses,
//!   `set` repairs). A row whose *key* is not UTF-8 cannot be named by anyone and is
//!   skipped with a warning.
//! * **A missing table** gives `Error::SchemaMissing`, whose text names both causes (never
//!   migrated, or dropped after the migrations were recorded); running the migrations
//!   recreates it in either case.
//! * Error texts carry the database's message and code (PostgreSQL: `… (SQLSTATE 42P01)`,
//!   SQLite: `(code: 13) …`), never the connection password and never the server's

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use parking_lot::RwLock;
use sea_orm::sqlx;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::coherence::{Stats, new_origin};
use crate::connect::{connect, location_of};
use crate::error::{Error, Result, Scrubber};
use crate::options::StoreOptions;
use crate::raw::Pool;
use crate::slot::Slot;
use crate::sql::Sql;
use crate::watch::{Change, Subscription};

/// What every clone of a store shares.
pub(crate) struct Inner {
    pub(crate) db: DatabaseConnection,
    /// The same pool as `db`, for statements on raw connections (see [`crate::raw`]).
    pub(crate) pool: Pool,
    pub(crate) sql: Sql,
    pub(crate) cache: RwLock<HashMap<String, Slot>>,
    /// Queues this store's writers, and every refresh of the cache, so the cache follows
    /// commit order (see [`crate::refresh`]).
    pub(crate) write_lock: tokio::sync::Mutex<()>,
    pub(crate) events: broadcast::Sender<Change>,
    pub(crate) scrubber: Scrubber,
    pub(crate) options: StoreOptions,
    /// Background tasks (coherence, periodic sync); aborted when the store is dropped.
    pub(crate) tasks: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    /// Where the database is, without credentials (see [`SystemConfig::location`]).
    pub(crate) location: Option<String>,
    /// This store's identity in its change notifications (see [`crate::coherence`]).
    pub(crate) origin: String,
    /// Keys whose last write failed at `COMMIT` (PostgreSQL): it may have committed all
    /// the same, so this store's own notification for such a key is not skipped.
    pub(crate) uncertain: parking_lot::Mutex<HashSet<String>>,
    pub(crate) stats: Stats,
    /// Rows whose key is not UTF-8 at the last reload (warned about when it changes).
    pub(crate) unnamed_rows: AtomicUsize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().drain(..) {
            task.abort();
        }
    }
}

/// The key → JSON configuration table. Cheap to clone; clones share one cache.
///
/// Reads come from memory; writes are atomic read-modify-write transactions published to the
/// cache and to subscribers after commit; writes of other processes and hosts reach the
/// cache by themselves (see [`Coherence`](crate::Coherence)) or through
/// [`refresh`](Self::refresh).
#[derive(Clone)]
pub struct SystemConfig {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SystemConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemConfig")
            .field("backend", &self.inner.db.get_database_backend())
            .field("keys", &self.inner.cache.read().len())
            .finish_non_exhaustive()
    }
}

impl SystemConfig {
    /// Opens (and by default migrates) the database at `url` with default options.
    ///
    /// `sqlite://path/user.db?mode=rwc` creates the file and its folder; PostgreSQL URLs
    /// look like `postgres://user:password@host:5432/db`.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, StoreOptions::default()).await
    }

    /// Opens the database at `url` with `options`.
    pub async fn open_with(url: &str, options: StoreOptions) -> Result<Self> {
        let db = connect(url, &options).await?;
        Self::start(db, options, Scrubber::for_url(url), Some(location_of(url))).await
    }

    /// Wraps an existing sea-orm connection (it should have statement logging off, since
    /// logged statements would show stored values). It must be a SQLite or PostgreSQL sqlx
    /// pool; anything else gives [`Error::Connect`]. Cache coherence opens its dedicated
    /// connection with the pool's connect options.
    pub async fn from_connection(db: DatabaseConnection, options: StoreOptions) -> Result<Self> {
        Self::start(db, options, Scrubber::default(), None).await
    }

    async fn start(
        db: DatabaseConnection,
        options: StoreOptions,
        scrubber: Scrubber,
        location: Option<String>,
    ) -> Result<Self> {
        if options.migrate {
            let report = migrations::run_up(&db)
                .await
                .map_err(|e| scrubber.db(&e, "running migrations", None, options.busy_timeout))?;
            if !report.applied.is_empty() {
                tracing::info!(%report, "configuration database migrated");
            }
        }
        let Some(pool) = Pool::of(&db) else {
            return Err(Error::Connect {
                url: "(the connection passed to SystemConfig::from_connection)".to_owned(),
                message: "not a SQLite or PostgreSQL connection pool".to_owned(),
            });
        };
        // How inserts allocate `id`, decided once: adoption leaves MoviePilot's column as it
        // is (see `migrations::IdAllocation`).
        let ids = migrations::id_allocation(&db).await.map_err(|e| {
            scrubber.db(&e, "inspecting systemconfig.id", None, options.busy_timeout)
        })?;
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            sql: Sql::new(db.get_database_backend(), ids),
            db,
            pool,
            cache: RwLock::new(HashMap::new()),
            write_lock: tokio::sync::Mutex::new(()),
            events,
            scrubber,
            options,
            tasks: parking_lot::Mutex::new(Vec::new()),
            location,
            origin: new_origin(),
            uncertain: parking_lot::Mutex::new(HashSet::new()),
            stats: Stats::default(),
            unnamed_rows: AtomicUsize::new(0),
        });
        let store = SystemConfig { inner };
        // Listen (or take the first data_version) before the first load: whatever commits
        // after the load is then announced, whatever committed before is in it.
        let prepared = store.prepare_coherence().await;
        store.refresh().await?;
        store.spawn_coherence(prepared);
        Ok(store)
    }

    /// A driver error as this crate's [`Error`], scrubbed of secrets.
    pub(crate) fn sql_error(
        &self,
        err: &sqlx::Error,
        operation: &'static str,
        key: Option<&str>,
    ) -> Error {
        self.inner
            .scrubber
            .sqlx(err, operation, key, self.inner.options.busy_timeout)
    }

    /// Where the database is, without credentials or options: `sqlite://<absolute path>`
    /// or `postgres://host:port/database`. Stable across processes that open the same
    /// database with differently written URLs; `None` for [`from_connection`](Self::from_connection).
    pub fn location(&self) -> Option<String> {
        self.inner.location.clone()
    }

    /// The database backend in use.
    pub fn backend(&self) -> DbBackend {
        self.inner.db.get_database_backend()
    }

    /// The backend's name in spans and metrics.
    pub(crate) fn backend_name(&self) -> &'static str {
        match self.backend() {
            DbBackend::Postgres => "postgres",
            DbBackend::Sqlite => "sqlite",
            _ => "other",
        }
    }

    /// Every committed change of every key, from now on: this store's writes, and those of
    /// other processes once they reach the cache.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.inner.events.subscribe(),
            key: None,
        }
    }

    /// Committed changes of one key, from now on.
    pub fn subscribe_key(&self, key: impl AsRef<str>) -> Subscription {
        Subscription {
            receiver: self.inner.events.subscribe(),
            key: Some(key.as_ref().to_owned()),
        }
    }
}
