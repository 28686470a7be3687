//! The store: cached reads, atomic writes, cross-process refresh.
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
//! * Writes by *other* processes or hosts reach this process's cache when
//!   [`SystemConfig::refresh`] runs — by hand, or every
//!   [`StoreOptions::sync_interval`] in a background task — and whenever this process
//!   writes or [`SystemConfig::get_fresh`]es that key. With a sync interval `T`, a value
//!   committed elsewhere is visible here at most `T` plus one table read later.
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
//!   source-file line numbers that sqlx appends to PostgreSQL errors.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;
use sea_orm::sqlx;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::error::{Error, Result, Scrubber, describe_db_err, redact_url};
use crate::options::{StoreOptions, Synchronous};
use crate::raw::{Change as RowChange, Cleanup, Pool, StoredRow, WriteTxn};
use crate::sql::Sql;
use crate::watch::{Change, Subscription};

/// A cached row.
#[derive(Debug, Clone)]
enum Slot {
    Value(Arc<Value>),
    /// The row's text is not JSON; the reason is kept for the error.
    Corrupt(Arc<str>),
}

impl Slot {
    /// Decides what a stored value is from its raw bytes (`None`: SQL `NULL`). Never fails:
    /// bytes that are not UTF-8 text, or text that is not JSON, make a corrupt slot.
    fn decode(bytes: Option<&[u8]>) -> Slot {
        let Some(bytes) = bytes else {
            return Slot::Value(Arc::new(Value::Null));
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                return Slot::Corrupt(Arc::from(format!(
                    "the stored bytes are not UTF-8 text: {err}"
                )));
            }
        };
        match serde_json::from_str(text) {
            Ok(value) => Slot::Value(Arc::new(value)),
            Err(err) => Slot::Corrupt(Arc::from(err.to_string())),
        }
    }

    fn same(&self, other: &Slot) -> bool {
        match (self, other) {
            (Slot::Value(a), Slot::Value(b)) => Arc::ptr_eq(a, b) || a == b,
            (Slot::Corrupt(a), Slot::Corrupt(b)) => a == b,
            _ => false,
        }
    }

    fn value(&self) -> Option<Arc<Value>> {
        match self {
            Slot::Value(v) => Some(Arc::clone(v)),
            Slot::Corrupt(_) => None,
        }
    }
}

/// What an [`SystemConfig::try_update`] closure decides to do with the row.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Leave the row as it is.
    Keep,
    /// Store this value (nothing is written when it equals the current one).
    Set(Value),
    /// Delete the row.
    Delete,
}

/// Whether [`SystemConfig::set`] changed the stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The value differed and was written.
    Changed,
    /// The stored value was already equal; nothing was written.
    Unchanged,
}

impl SetOutcome {
    /// `true` for [`SetOutcome::Changed`].
    pub fn is_changed(self) -> bool {
        self == SetOutcome::Changed
    }
}

/// The result of [`SystemConfig::update`].
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The value stored after the update.
    pub value: Value,
    /// Whether the update wrote anything.
    pub changed: bool,
}

/// What a transaction attempt read.
enum Current {
    Missing,
    Value(Value),
    Corrupt(String),
}

/// What a transaction's body decided, before the transaction ends.
enum Plan<T> {
    Commit {
        output: T,
        changed: bool,
        slot: Option<Slot>,
    },
    Retry,
}

enum Attempt<T> {
    Done {
        output: T,
        changed: bool,
        slot: Option<Slot>,
    },
    Retry,
}

struct Inner {
    db: DatabaseConnection,
    /// The same pool as `db`, for statements on raw connections (see [`crate::raw`]).
    pool: Pool,
    sql: Sql,
    cache: RwLock<HashMap<String, Slot>>,
    /// Queues this store's writers so the cache follows commit order.
    write_lock: tokio::sync::Mutex<()>,
    events: broadcast::Sender<Change>,
    scrubber: Scrubber,
    options: StoreOptions,
    sync_task: parking_lot::Mutex<Option<JoinHandle<()>>>,
    /// Where the database is, without credentials (see [`SystemConfig::location`]).
    location: Option<String>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self.sync_task.get_mut().take() {
            task.abort();
        }
    }
}

/// The key → JSON configuration table. Cheap to clone; clones share one cache.
///
/// Reads come from memory; writes are atomic read-modify-write transactions published to the
/// cache and to subscribers after commit; see [`refresh`](Self::refresh) for how writes of
/// other processes arrive.
#[derive(Clone)]
pub struct SystemConfig {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SystemConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemConfig")
            .field("backend", &self.inner.db.get_database_backend())
            .field("keys", &self.inner.cache.read().len())
            .finish_non_exhaustive()
    }
}

/// Path of the SQLite file a URL names, if it names one.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

/// The identity of the database a URL names (see [`SystemConfig::location`]).
fn location_of(url: &str) -> String {
    if let Some(path) = sqlite_file(url) {
        let path = std::path::Path::new(path);
        let absolute = std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_path_buf());
        return format!("sqlite://{}", absolute.display());
    }
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}:{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            parsed.port().unwrap_or(5432),
            parsed.path()
        ),
        Err(_) => redact_url(url),
    }
}

/// Opens a connection pool the way the store does (SQLite: folder created, WAL, busy
/// timeout, durability setting; statement logging off everywhere), without migrating or
/// loading anything. For tools such as migration runners.
pub async fn connect(url: &str, options: &StoreOptions) -> Result<DatabaseConnection> {
    let scrubber = Scrubber::for_url(url);
    let connect_error = |message: String| Error::Connect {
        url: redact_url(url),
        message: scrubber.scrub(&message),
    };
    let is_sqlite = url.starts_with("sqlite:");
    if let Some(path) = sqlite_file(url)
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| connect_error(e.to_string()))?;
    }
    let mut connect = ConnectOptions::new(url);
    connect
        // Statement logging would print values, and values hold tokens.
        .sqlx_logging(false)
        .connect_timeout(options.connect_timeout)
        .acquire_timeout(options.connect_timeout)
        .max_connections(
            options
                .max_connections
                .unwrap_or(if is_sqlite { 4 } else { 8 }),
        );
    if is_sqlite {
        if url.contains(":memory:") {
            // Every connection to :memory: is a database of its own.
            connect.max_connections(1);
        }
        let busy = options.busy_timeout;
        let synchronous = match options.synchronous {
            Synchronous::Full => sea_orm::sqlx::sqlite::SqliteSynchronous::Full,
            Synchronous::Normal => sea_orm::sqlx::sqlite::SqliteSynchronous::Normal,
        };
        connect.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(busy)
                .synchronous(synchronous)
        });
    }
    Database::connect(connect)
        .await
        .map_err(|e| connect_error(describe_db_err(&e)))
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
    /// pool; anything else gives [`Error::Connect`].
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
        let (events, _) = broadcast::channel(1024);
        let inner = Arc::new(Inner {
            sql: Sql::new(db.get_database_backend()),
            db,
            pool,
            cache: RwLock::new(HashMap::new()),
            write_lock: tokio::sync::Mutex::new(()),
            events,
            scrubber,
            options,
            sync_task: parking_lot::Mutex::new(None),
            location,
        });
        let store = SystemConfig { inner };
        store.refresh().await?;
        if let Some(interval) = store.inner.options.sync_interval {
            let weak = Arc::downgrade(&store.inner);
            let task = tokio::spawn(sync_loop(weak, interval));
            *store.inner.sync_task.lock() = Some(task);
        }
        Ok(store)
    }

    fn sql_error(&self, err: &sqlx::Error, operation: &'static str, key: Option<&str>) -> Error {
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

    // ----- reads (memory only) -----

    /// The value under `key`, shared: no copy is made. `None` when the key is absent.
    pub fn get_arc(&self, key: impl AsRef<str>) -> Result<Option<Arc<Value>>> {
        let key = key.as_ref();
        let slot = self.inner.cache.read().get(key).cloned();
        match slot {
            None => Ok(None),
            Some(Slot::Value(value)) => Ok(Some(value)),
            Some(Slot::Corrupt(reason)) => Err(Error::CorruptValue {
                key: key.to_owned(),
                reason: reason.to_string(),
            }),
        }
    }

    /// A copy of the value under `key` (MoviePilot's `get`). `None` when absent.
    ///
    /// A row whose text is not JSON gives [`Error::CorruptValue`]; other keys are unaffected
    /// and the row is never rewritten by a read.
    pub fn get(&self, key: impl AsRef<str>) -> Result<Option<Value>> {
        Ok(self.get_arc(key)?.map(|v| (*v).clone()))
    }

    /// The value under `key`, deserialised as `T`.
    ///
    /// Values written by MoviePilot v1 (JSON text stored inside a JSON string) are read
    /// transparently when the string's content has the requested shape.
    pub fn get_as<T: DeserializeOwned>(&self, key: impl AsRef<str>) -> Result<Option<T>> {
        let key = key.as_ref();
        let Some(value) = self.get_arc(key)? else {
            return Ok(None);
        };
        match T::deserialize(&*value) {
            Ok(typed) => Ok(Some(typed)),
            Err(err) => {
                if let Value::String(text) = &*value
                    && let Ok(typed) = serde_json::from_str::<T>(text)
                {
                    return Ok(Some(typed));
                }
                Err(Error::Decode {
                    key: key.to_owned(),
                    reason: err.to_string(),
                })
            }
        }
    }

    /// Every readable key and value. Keys whose row is corrupt are left out; see
    /// [`corrupt_keys`](Self::corrupt_keys).
    pub fn all(&self) -> BTreeMap<String, Value> {
        self.inner
            .cache
            .read()
            .iter()
            .filter_map(|(k, slot)| slot.value().map(|v| (k.clone(), (*v).clone())))
            .collect()
    }

    /// Keys whose stored text is not valid JSON.
    pub fn corrupt_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .inner
            .cache
            .read()
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Corrupt(_)))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    // ----- writes -----

    /// Stores `value` under `key`, saying whether it changed. Falsy values (`[]`, `{}`, `""`,
    /// `0`, `null`) are stored, never turned into a deletion. Overwrites a corrupt row.
    pub async fn set(&self, key: impl AsRef<str>, value: Value) -> Result<SetOutcome> {
        let ((), changed) = self
            .transact(key.as_ref(), "setting", |_| {
                Ok::<_, Error>((Write::Set(value.clone()), ()))
            })
            .await?;
        Ok(if changed {
            SetOutcome::Changed
        } else {
            SetOutcome::Unchanged
        })
    }

    /// Serialises `value` and stores it like [`set`](Self::set).
    pub async fn set_as<T: Serialize + ?Sized>(
        &self,
        key: impl AsRef<str>,
        value: &T,
    ) -> Result<SetOutcome> {
        let key = key.as_ref();
        let value = serde_json::to_value(value).map_err(|e| Error::Encode {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.set(key, value).await
    }

    /// Deletes `key`; `true` when a row existed.
    pub async fn delete(&self, key: impl AsRef<str>) -> Result<bool> {
        let ((), changed) = self
            .transact(key.as_ref(), "deleting", |_| {
                Ok::<_, Error>((Write::Delete, ()))
            })
            .await?;
        Ok(changed)
    }

    /// Atomic read-modify-write: `f` gets the current value (read inside the transaction,
    /// never from the cache) and returns the new one.
    ///
    /// No update is lost against concurrent updaters in this process, in other processes on
    /// the same SQLite file, or on other hosts sharing the PostgreSQL database. `f` may run
    /// more than once (on PostgreSQL insert races); keep it free of side effects. A corrupt
    /// row gives [`Error::CorruptValue`] and is left untouched.
    pub async fn update<F>(&self, key: impl AsRef<str>, mut f: F) -> Result<Updated>
    where
        F: FnMut(Option<&Value>) -> Value + Send,
    {
        let (value, changed) = self
            .try_update(key, |current| {
                let new = f(current);
                Ok::<_, Error>((Write::Set(new.clone()), new))
            })
            .await?;
        Ok(Updated { value, changed })
    }

    /// The general read-modify-write: `f` decides a [`Write`] and an output, or fails with
    /// its own error (then nothing is written). Returns the output and whether the
    /// database changed.
    pub async fn try_update<T, E, F>(&self, key: impl AsRef<str>, mut f: F) -> Result<(T, bool), E>
    where
        F: FnMut(Option<&Value>) -> Result<(Write, T), E> + Send,
        E: From<Error>,
    {
        let key = key.as_ref();
        self.transact(key, "updating", |current| match current {
            Current::Missing => f(None),
            Current::Value(value) => f(Some(value)),
            Current::Corrupt(reason) => Err(E::from(Error::CorruptValue {
                key: key.to_owned(),
                reason: reason.clone(),
            })),
        })
        .await
    }

    async fn transact<T, E, F>(
        &self,
        key: &str,
        operation: &'static str,
        mut decide: F,
    ) -> Result<(T, bool), E>
    where
        F: FnMut(&Current) -> Result<(Write, T), E>,
        E: From<Error>,
    {
        let _queue = self.inner.write_lock.lock().await;
        let max = self.inner.options.max_update_attempts.max(1);
        for _ in 0..max {
            match self.attempt(key, operation, &mut decide).await? {
                Attempt::Retry => continue,
                Attempt::Done {
                    output,
                    changed,
                    slot,
                } => {
                    self.publish(key, slot);
                    return Ok((output, changed));
                }
            }
        }
        Err(E::from(Error::Conflict {
            key: key.to_owned(),
            attempts: max,
        }))
    }

    /// One read-modify-write transaction. Every way out of it ends the transaction: a
    /// commit that succeeded, or a rollback whose result is verified (the connection is
    /// closed instead of pooled when it cannot be), so a failed attempt leaves neither a
    /// write nor a lock behind, and is never reported as a success.
    async fn attempt<T, E, F>(
        &self,
        key: &str,
        operation: &'static str,
        decide: &mut F,
    ) -> Result<Attempt<T>, E>
    where
        F: FnMut(&Current) -> Result<(Write, T), E>,
        E: From<Error>,
    {
        let sql = &self.inner.sql;
        let mut txn = self
            .inner
            .pool
            .begin_write(sql, self.cleanup_timeout(), self.inner.options.busy_timeout)
            .await
            .map_err(|e| E::from(self.sql_error(&e, operation, Some(key))))?;
        match self.plan(&mut txn, key, operation, decide).await {
            Ok(Plan::Commit {
                output,
                changed: true,
                slot,
            }) => match txn.commit().await {
                Ok(()) => Ok(Attempt::Done {
                    output,
                    changed: true,
                    slot,
                }),
                Err((err, cleanup)) => {
                    self.log_cleanup(key, cleanup);
                    Err(E::from(self.sql_error(&err, operation, Some(key))))
                }
            },
            Ok(Plan::Commit {
                output,
                changed: false,
                slot,
            }) => {
                // Nothing to write: end the read without committing anything.
                self.log_cleanup(key, txn.finish_unchanged().await);
                Ok(Attempt::Done {
                    output,
                    changed: false,
                    slot,
                })
            }
            Ok(Plan::Retry) => {
                self.log_cleanup(key, txn.abort().await);
                Ok(Attempt::Retry)
            }
            Err(err) => {
                self.log_cleanup(key, txn.abort().await);
                Err(err)
            }
        }
    }

    /// How long rolling back and verifying (or closing) a failed transaction may take.
    fn cleanup_timeout(&self) -> std::time::Duration {
        self.inner
            .options
            .connect_timeout
            .max(std::time::Duration::from_secs(1))
    }

    fn log_cleanup(&self, key: &str, cleanup: Cleanup) {
        if cleanup == Cleanup::Closed {
            tracing::warn!(
                key,
                "the connection of a failed configuration write was closed"
            );
        }
    }

    /// The body of a write transaction: read the row, let `decide` choose, run the
    /// statement. Does not end the transaction.
    async fn plan<T, E, F>(
        &self,
        txn: &mut WriteTxn,
        key: &str,
        operation: &'static str,
        decide: &mut F,
    ) -> Result<Plan<T>, E>
    where
        F: FnMut(&Current) -> Result<(Write, T), E>,
        E: From<Error>,
    {
        let fail = |e: &sqlx::Error| E::from(self.sql_error(e, operation, Some(key)));
        let sql = &self.inner.sql;
        let row = txn
            .select_for_update(sql, key)
            .await
            .map_err(|e| fail(&e))?;
        let (id, current) = match row {
            None => (None, Current::Missing),
            Some(StoredRow { id, value }) => {
                let current = match Slot::decode(value.as_deref()) {
                    Slot::Value(v) => Current::Value(Arc::unwrap_or_clone(v)),
                    Slot::Corrupt(reason) => Current::Corrupt(reason.to_string()),
                };
                (Some(id), current)
            }
        };
        let (write, output) = decide(&current)?;
        let (change, slot) = match (write, &current, id) {
            (Write::Set(new), Current::Value(old), _) if *old == new => {
                (None, Some(Slot::Value(Arc::new(new))))
            }
            (Write::Set(new), _, Some(id)) => (
                Some(RowChange::Update {
                    id,
                    text: new.to_string(),
                }),
                Some(Slot::Value(Arc::new(new))),
            ),
            (Write::Set(new), _, None) => (
                Some(RowChange::Insert {
                    key,
                    text: new.to_string(),
                }),
                Some(Slot::Value(Arc::new(new))),
            ),
            (Write::Delete, _, Some(_)) => (Some(RowChange::Delete { key }), None),
            (Write::Delete, _, None) => (None, None),
            (Write::Keep, current, _) => (
                None,
                match current {
                    Current::Missing => None,
                    Current::Value(v) => Some(Slot::Value(Arc::new(v.clone()))),
                    Current::Corrupt(r) => Some(Slot::Corrupt(Arc::from(r.as_str()))),
                },
            ),
        };
        let changed = change.is_some();
        if let Some(change) = change
            && let Err(err) = txn.execute(sql, change).await
        {
            if is_unique_violation(&err) {
                // Another writer inserted the key first; read it and decide again.
                tracing::debug!(key, "insert race, retrying");
                return Ok(Plan::Retry);
            }
            return Err(fail(&err));
        }
        Ok(Plan::Commit {
            output,
            changed,
            slot,
        })
    }

    /// Puts `slot` in the cache and tells subscribers when it differs from what was there.
    fn publish(&self, key: &str, slot: Option<Slot>) {
        let changed = {
            let mut cache = self.inner.cache.write();
            let changed = match (cache.get(key), &slot) {
                (None, None) => false,
                (Some(old), Some(new)) => !old.same(new),
                _ => true,
            };
            if changed {
                match &slot {
                    Some(new) => {
                        cache.insert(key.to_owned(), new.clone());
                    }
                    None => {
                        cache.remove(key);
                    }
                }
            }
            changed
        };
        if changed {
            tracing::debug!(key, "configuration changed");
            let _ = self.inner.events.send(Change {
                key: key.to_owned(),
                value: slot.and_then(|s| s.value()),
            });
        }
    }

    // ----- seeing other processes' writes -----

    /// Reloads every row from the database, so writes by other processes and hosts reach
    /// the cache; subscribers hear of each key that changed. Returns how many keys changed.
    pub async fn refresh(&self) -> Result<usize> {
        let _queue = self.inner.write_lock.lock().await;
        let rows = self
            .inner
            .pool
            .select_all(&self.inner.sql)
            .await
            .map_err(|e| self.sql_error(&e, "loading the configuration", None))?;
        let mut fresh: HashMap<String, Slot> = HashMap::with_capacity(rows.len());
        for (key, value) in rows {
            let Some(key) = key.and_then(|k| String::from_utf8(k).ok()) else {
                // No caller can name such a key; it must not hide the others.
                tracing::warn!("skipping a configuration row whose key is not UTF-8 text");
                continue;
            };
            // Rows come in id order: a later duplicate wins, as in MoviePilot's repair.
            fresh.insert(key, Slot::decode(value.as_deref()));
        }
        let mut keys: Vec<String> = fresh.keys().cloned().collect();
        keys.extend(self.inner.cache.read().keys().cloned());
        keys.sort();
        keys.dedup();
        let mut changed = 0;
        for key in keys {
            let before = self.inner.cache.read().get(&key).cloned();
            let after = fresh.remove(&key);
            let differs = match (&before, &after) {
                (None, None) => false,
                (Some(a), Some(b)) => !a.same(b),
                _ => true,
            };
            if differs {
                changed += 1;
                self.publish(&key, after);
            }
        }
        Ok(changed)
    }

    /// Reads `key` from the database (not the cache), updates the cache, and returns it.
    pub async fn get_fresh(&self, key: impl AsRef<str>) -> Result<Option<Value>> {
        let key = key.as_ref();
        {
            let _queue = self.inner.write_lock.lock().await;
            let row = self
                .inner
                .pool
                .select_one(&self.inner.sql, key)
                .await
                .map_err(|e| self.sql_error(&e, "reading", Some(key)))?;
            let slot = row.map(|row| Slot::decode(row.value.as_deref()));
            self.publish(key, slot);
        }
        self.get(key)
    }

    // ----- notifications -----

    /// Every committed change of every key, from now on.
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

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

async fn sync_loop(store: Weak<Inner>, interval: std::time::Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = store.upgrade() else { return };
        let store = SystemConfig { inner };
        if let Err(err) = store.refresh().await {
            tracing::warn!(%err, "background configuration refresh failed");
        }
    }
}
