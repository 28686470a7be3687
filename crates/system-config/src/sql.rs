//! The few SQL statements the store runs, in each backend's dialect.
//!
//! Values travel to the database as text: SQLite keeps MoviePilot's `JSON` column as text,
//! PostgreSQL's is `json`. They come back as *bytes* (`CAST(… AS BLOB)` on SQLite,
//! `convert_to(…)` on PostgreSQL), so a row whose bytes are not UTF-8 text can never make a
//! read fail in the driver: the store decides in Rust, and isolates such a row as corrupt.

use migrations::IdAllocation;
use sea_orm::DbBackend;

/// PostgreSQL: a text expression as its bytes. In a `SQL_ASCII` database the server stores
/// whatever bytes it was given and would refuse to convert invalid UTF-8 for the client, so
/// the raw bytes are taken as they are; in every other database the text is valid in the
/// server encoding and is converted to UTF-8 (a no-op in a UTF-8 database).
macro_rules! pg_bytes {
    ($expr:literal) => {
        concat!(
            "convert_to(",
            $expr,
            ", CASE WHEN current_setting('server_encoding') = 'SQL_ASCII' \
             THEN 'SQL_ASCII' ELSE 'UTF8' END)"
        )
    };
}

/// Statements for one backend.
#[derive(Debug)]
pub(crate) struct Sql {
    /// Starts a write transaction that holds the write lock from its first statement.
    pub(crate) begin_write: &'static str,
    /// `(id, value bytes)` of a key's row. Binds: key.
    pub(crate) select_one: &'static str,
    /// The same, locking the row for the rest of the transaction. Binds: key.
    pub(crate) select_one_for_update: &'static str,
    /// `(key bytes, value bytes)` of every row, in id order.
    pub(crate) select_all: &'static str,
    /// Binds: value text, id.
    pub(crate) update: &'static str,
    /// Binds: key, value text. Allocates `id` the way the column allows (see
    /// [`IdAllocation`]): omitted where the column has an identity or a default, else
    /// `nextval('id')` (MoviePilot's shared sequence) in the statement.
    pub(crate) insert: &'static str,
    /// Binds: key.
    pub(crate) delete: &'static str,
}

impl Sql {
    pub(crate) fn new(backend: DbBackend, ids: IdAllocation) -> Self {
        match backend {
            DbBackend::Postgres => Self {
                begin_write: "BEGIN",
                select_one: concat!(
                    "SELECT CAST(id AS BIGINT), ",
                    pg_bytes!("value::text"),
                    " FROM systemconfig WHERE \"key\" = $1 ORDER BY id DESC LIMIT 1"
                ),
                select_one_for_update: concat!(
                    "SELECT CAST(id AS BIGINT), ",
                    pg_bytes!("value::text"),
                    " FROM systemconfig WHERE \"key\" = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE"
                ),
                select_all: concat!(
                    "SELECT ",
                    pg_bytes!("\"key\"::text"),
                    ", ",
                    pg_bytes!("value::text"),
                    " FROM systemconfig WHERE \"key\" IS NOT NULL ORDER BY id"
                ),
                update: "UPDATE systemconfig SET value = $1::json WHERE id = $2",
                insert: ids.insert_sql(backend),
                delete: "DELETE FROM systemconfig WHERE \"key\" = $1",
            },
            _ => Self {
                // A deferred transaction would fail with "database is locked" when upgrading
                // to a writer under concurrency.
                begin_write: "BEGIN IMMEDIATE",
                select_one: "SELECT id, CAST(value AS BLOB) FROM systemconfig WHERE \"key\" = ? ORDER BY id DESC LIMIT 1",
                // The IMMEDIATE transaction already holds the write lock.
                select_one_for_update: "SELECT id, CAST(value AS BLOB) FROM systemconfig WHERE \"key\" = ? ORDER BY id DESC LIMIT 1",
                select_all: "SELECT CAST(\"key\" AS BLOB), CAST(value AS BLOB) FROM systemconfig WHERE \"key\" IS NOT NULL ORDER BY id",
                update: "UPDATE systemconfig SET value = ? WHERE id = ?",
                insert: ids.insert_sql(backend),
                delete: "DELETE FROM systemconfig WHERE \"key\" = ?",
            },
        }
    }
}
