//! Statements on the pool's raw sqlx connections, and write transactions whose end is always
//! known.
//!
//! Why not sea-orm's `DatabaseTransaction`: when `COMMIT` fails, sea-orm leaves the
//! rollback to `Drop`, which only *queues* it, and sqlx's transaction bookkeeping is not
//! reset when that rollback fails. On SQLite a `COMMIT` that fails with `SQLITE_FULL` has
//! already been rolled back by SQLite itself, so the queued `ROLLBACK` fails ("no transaction
//! is active") and the connection goes back to the pool still counted as inside a
//! transaction. Its next "transaction" is then a `SAVEPOINT`, whose `RELEASE` can report
//! success while committing nothing and while keeping the write lock — the lost write that
//! was reported as saved.
//!
//! Here a write runs on one pooled connection with plain `BEGIN IMMEDIATE` / `BEGIN`,
//! statements and `COMMIT`. When anything fails, [`WriteTxn::abort`] issues `ROLLBACK` and
//! then *verifies* that the connection is outside any transaction; a connection whose state
//! cannot be verified is closed instead of being returned to the pool (closing a connection
//! rolls back whatever it still had open, and releases its locks). A [`WriteTxn`] dropped
//! mid-way (a cancelled future) closes its connection too.

use std::time::Duration;

use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::{self, Row as _};
#[cfg(feature = "postgres")]
use sea_orm::sqlx::{PgPool, Postgres};
#[cfg(feature = "sqlite")]
use sea_orm::sqlx::{Sqlite, SqlitePool};
use sea_orm::{DatabaseConnection, DatabaseConnectionType};

use crate::sql::Sql;

/// The pool of a sea-orm connection, for running statements on its raw connections.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(PgPool),
}

/// A row as stored: its id and the raw bytes of its value (`None` for SQL `NULL`).
#[derive(Debug)]
pub(crate) struct StoredRow {
    pub(crate) id: i64,
    pub(crate) value: Option<Vec<u8>>,
}

/// The raw bytes of a row's key and value.
pub(crate) type RawEntry = (Option<Vec<u8>>, Option<Vec<u8>>);

/// One statement of a write.
#[derive(Debug)]
pub(crate) enum Change<'a> {
    Update { id: i64, text: String },
    Insert { key: &'a str, text: String },
    Delete { key: &'a str },
}

impl Pool {
    /// The sqlx pool behind `db`; `None` when `db` is not a SQLite or PostgreSQL pool.
    pub(crate) fn of(db: &DatabaseConnection) -> Option<Pool> {
        match &db.inner {
            #[cfg(feature = "sqlite")]
            DatabaseConnectionType::SqlxSqlitePoolConnection(_) => {
                Some(Pool::Sqlite(db.get_sqlite_connection_pool().clone()))
            }
            #[cfg(feature = "postgres")]
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Some(Pool::Postgres(db.get_postgres_connection_pool().clone()))
            }
            _ => None,
        }
    }

    /// Whether this is a PostgreSQL pool.
    pub(crate) fn is_postgres(&self) -> bool {
        match self {
            #[cfg(feature = "postgres")]
            Pool::Postgres(_) => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Every row's key and value bytes, in id order.
    pub(crate) async fn select_all(&self, sql: &Sql) -> Result<Vec<RawEntry>, sqlx::Error> {
        macro_rules! run {
            ($pool:expr) => {{
                let rows = sqlx::query(sql.select_all).fetch_all($pool).await?;
                rows.iter()
                    .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                    .collect()
            }};
        }
        match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => run!(pool),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => run!(pool),
        }
    }

    /// The newest row of `key`, outside any transaction.
    pub(crate) async fn select_one(
        &self,
        sql: &Sql,
        key: &str,
    ) -> Result<Option<StoredRow>, sqlx::Error> {
        macro_rules! run {
            ($pool:expr) => {{
                let row = sqlx::query(sql.select_one)
                    .bind(key)
                    .fetch_optional($pool)
                    .await?;
                row.map(|row| {
                    Ok(StoredRow {
                        id: row.try_get(0)?,
                        value: row.try_get(1)?,
                    })
                })
                .transpose()
            }};
        }
        match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => run!(pool),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => run!(pool),
        }
    }

    /// Takes a connection from the pool and starts a write transaction on it.
    ///
    /// On PostgreSQL the transaction waits at most `lock_timeout` for a row or table lock
    /// (`SET LOCAL lock_timeout`), as SQLite's busy timeout bounds its wait for the write
    /// lock: a write never hangs behind another session's lock.
    pub(crate) async fn begin_write(
        &self,
        sql: &Sql,
        cleanup_timeout: Duration,
        lock_timeout: Duration,
    ) -> Result<WriteTxn, sqlx::Error> {
        let conn = match self {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => Raw::Sqlite(pool.acquire().await?),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => Raw::Postgres(pool.acquire().await?),
        };
        // From here on the connection is owned by a `WriteTxn`, so every way out ends the
        // transaction: `abort` on errors, closing the connection on drop.
        let mut txn = WriteTxn {
            conn: Some(conn),
            cleanup_timeout,
        };
        #[cfg_attr(not(feature = "postgres"), allow(unused_mut))]
        let mut begun = txn.control(sql.begin_write).await;
        #[cfg(not(feature = "postgres"))]
        let _ = lock_timeout;
        #[cfg(feature = "postgres")]
        if begun.is_ok()
            && let Some(Raw::Postgres(conn)) = txn.conn.as_mut()
        {
            let ms = lock_timeout.as_millis().max(1);
            // `set_config(…, true)` is `SET LOCAL` with a bound value.
            begun = sqlx::query("SELECT set_config('lock_timeout', $1, true)")
                .bind(format!("{ms}ms"))
                .execute(&mut **conn)
                .await
                .map(|_| ());
        }
        match begun {
            Ok(()) => Ok(txn),
            Err(err) => {
                txn.abort().await;
                Err(err)
            }
        }
    }
}

/// A raw connection taken from the pool.
enum Raw {
    #[cfg(feature = "sqlite")]
    Sqlite(PoolConnection<Sqlite>),
    #[cfg(feature = "postgres")]
    Postgres(PoolConnection<Postgres>),
}

/// Runs `$body` with `$c` bound to the raw connection (`&mut SqliteConnection` or
/// `&mut PgConnection`), the same code for both backends.
macro_rules! with_conn {
    ($raw:expr, $c:ident => $body:expr) => {
        match $raw {
            #[cfg(feature = "sqlite")]
            Raw::Sqlite(conn) => {
                let $c = &mut **conn;
                $body
            }
            #[cfg(feature = "postgres")]
            Raw::Postgres(conn) => {
                let $c = &mut **conn;
                $body
            }
        }
    };
}

/// How a failed transaction's connection was left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cleanup {
    /// Rolled back, verified outside any transaction, returned to the pool.
    Clean,
    /// Its state could not be verified: closed (which rolls back what it still had open).
    Closed,
}

/// A write transaction on one pooled connection. End it with [`commit`](Self::commit) or
/// [`abort`](Self::abort); dropping it closes the connection.
pub(crate) struct WriteTxn {
    /// `None` once the transaction has ended.
    conn: Option<Raw>,
    cleanup_timeout: Duration,
}

impl std::fmt::Debug for WriteTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTxn")
            .field("open", &self.conn.is_some())
            .finish()
    }
}

impl WriteTxn {
    fn raw(&mut self) -> Result<&mut Raw, sqlx::Error> {
        self.conn.as_mut().ok_or(sqlx::Error::PoolClosed)
    }

    /// Runs a transaction-control statement (no parameters, no rows).
    async fn control(&mut self, statement: &'static str) -> Result<(), sqlx::Error> {
        with_conn!(self.raw()?, c => sqlx::raw_sql(statement).execute(c).await.map(|_| ()))
    }

    /// The newest row of `key`, read (and on PostgreSQL locked) inside the transaction.
    pub(crate) async fn select_for_update(
        &mut self,
        sql: &Sql,
        key: &str,
    ) -> Result<Option<StoredRow>, sqlx::Error> {
        with_conn!(self.raw()?, c => {
            let row = sqlx::query(sql.select_one_for_update)
                .bind(key)
                .fetch_optional(c)
                .await?;
            row.map(|row| {
                Ok(StoredRow {
                    id: row.try_get(0)?,
                    value: row.try_get(1)?,
                })
            })
            .transpose()
        })
    }

    /// Runs one write statement.
    pub(crate) async fn execute(
        &mut self,
        sql: &Sql,
        change: Change<'_>,
    ) -> Result<(), sqlx::Error> {
        with_conn!(self.raw()?, c => {
            let query = match change {
                Change::Update { id, text } => sqlx::query(sql.update).bind(text).bind(id),
                Change::Insert { key, text } => sqlx::query(sql.insert).bind(key).bind(text),
                Change::Delete { key } => sqlx::query(sql.delete).bind(key),
            };
            query.execute(c).await.map(|_| ())
        })
    }

    /// PostgreSQL: `pg_notify(channel, payload)`, which the server delivers to listeners
    /// when, and only if, this transaction commits. Nothing on SQLite.
    pub(crate) async fn notify(&mut self, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
        match self.raw()? {
            #[cfg(feature = "postgres")]
            Raw::Postgres(conn) => sqlx::query("SELECT pg_notify($1, $2)")
                .bind(channel)
                .bind(payload)
                .execute(&mut **conn)
                .await
                .map(|_| ()),
            #[cfg(feature = "sqlite")]
            Raw::Sqlite(_) => {
                let _ = (channel, payload);
                Ok(())
            }
        }
    }

    /// Commits. On failure the transaction is rolled back and the connection verified or
    /// closed before the error is returned, so a failed commit leaves nothing behind.
    pub(crate) async fn commit(mut self) -> Result<(), (sqlx::Error, Cleanup)> {
        match self.control("COMMIT").await {
            Ok(()) => {
                // Committed: the connection is outside any transaction; back to the pool.
                drop(self.conn.take());
                Ok(())
            }
            Err(err) => {
                let cleanup = self.abort().await;
                Err((err, cleanup))
            }
        }
    }

    /// Ends a transaction that wrote nothing. A `ROLLBACK` that succeeds has ended the
    /// transaction on both backends; when it fails, [`abort`](Self::abort)'s verification
    /// runs.
    pub(crate) async fn finish_unchanged(mut self) -> Cleanup {
        match self.control("ROLLBACK").await {
            Ok(()) => {
                drop(self.conn.take());
                Cleanup::Clean
            }
            Err(_) => self.abort().await,
        }
    }

    /// Ends the transaction without committing: `ROLLBACK`, then a check that the
    /// connection really is outside any transaction. A connection that fails the check, or
    /// whose state cannot be learnt, is closed rather than returned to the pool.
    pub(crate) async fn abort(mut self) -> Cleanup {
        let Some(mut raw) = self.conn.take() else {
            return Cleanup::Clean;
        };
        let verified = tokio::time::timeout(self.cleanup_timeout, rollback_and_verify(&mut raw))
            .await
            .unwrap_or(false);
        if verified {
            drop(raw);
            return Cleanup::Clean;
        }
        tracing::warn!(
            "a failed configuration write left its connection in an unknown state; closing it"
        );
        let closing = async {
            match raw {
                #[cfg(feature = "sqlite")]
                Raw::Sqlite(conn) => conn.close().await,
                #[cfg(feature = "postgres")]
                Raw::Postgres(conn) => conn.close().await,
            }
        };
        // Dropping the connection on a timeout closes it just the same, only less politely.
        if let Ok(Err(err)) = tokio::time::timeout(self.cleanup_timeout, closing).await {
            tracing::debug!(%err, "closing the connection of a failed write");
        }
        Cleanup::Closed
    }
}

/// `ROLLBACK`, then proof that the connection is outside any transaction.
async fn rollback_and_verify(raw: &mut Raw) -> bool {
    match raw {
        #[cfg(feature = "sqlite")]
        Raw::Sqlite(conn) => {
            let conn = &mut **conn;
            // Fails harmlessly when SQLite already rolled back (SQLITE_FULL, IOERR, …).
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            // `BEGIN` succeeds only outside a transaction ("cannot start a transaction
            // within a transaction"); a deferred BEGIN takes no lock.
            sqlx::raw_sql("BEGIN").execute(&mut *conn).await.is_ok()
                && sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.is_ok()
        }
        #[cfg(feature = "postgres")]
        Raw::Postgres(conn) => {
            let conn = &mut **conn;
            // Ends any transaction block, aborted or not (outside one it only warns); fails
            // only when the connection is broken.
            if sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.is_err() {
                return false;
            }
            // Outside a transaction block every statement is its own transaction, so its
            // transaction start time equals its statement start time; inside a block
            // `now()` is the time of the earlier `BEGIN`.
            match sqlx::raw_sql("SELECT now() = statement_timestamp()")
                .fetch_one(&mut *conn)
                .await
            {
                Ok(row) => row.try_get::<bool, _>(0).unwrap_or(false),
                Err(_) => false,
            }
        }
    }
}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        // Still open: the future running the write was dropped mid-way. Close the
        // connection (which rolls the transaction back) rather than pool it.
        match self.conn.take() {
            #[cfg(feature = "sqlite")]
            Some(Raw::Sqlite(mut conn)) => conn.close_on_drop(),
            #[cfg(feature = "postgres")]
            Some(Raw::Postgres(mut conn)) => conn.close_on_drop(),
            None => {}
        }
    }
}
