//! MoviePilot-compatible key → JSON configuration table, correct under concurrency.
//!
//! Every application setting lives under a key in the `systemconfig` table (SQLite by
//! default, PostgreSQL for deployments shared by several hosts). [`SystemConfig`] serves
//! reads from an in-memory cache (a hit never touches the database), writes through atomic
//! read-modify-write transactions that never lose an update to a concurrent writer in this
//! process, another process or another host, and tells subscribers about every committed
//! change.
//!
//! | backend | URL | concurrency control for [`SystemConfig::update`] |
//! |---|---|---|
//! | SQLite (WAL, busy timeout) | `sqlite://path/user.db?mode=rwc` | `BEGIN IMMEDIATE` |
//! | PostgreSQL | `postgres://user:pass@host/db` | `SELECT … FOR UPDATE`, retry on insert races |
//!
//! # Consistency
//!
//! * Reads ([`SystemConfig::get`], [`get_arc`](SystemConfig::get_arc),
//!   [`get_as`](SystemConfig::get_as), [`all`](SystemConfig::all)) are served from memory.
//! * Writes read the row inside their transaction, so staleness of the cache can never
//!   lose an update; the cache and subscribers see a write only after its commit.
//! * Writes of other processes or hosts reach the cache by themselves
//!   ([`Coherence::Auto`], the default), and subscribers hear of them:
//!   * **PostgreSQL**: every write `NOTIFY`s on commit (channel [`NOTIFY_CHANNEL`]); each
//!     store listens on a dedicated connection and re-reads the key. Staleness: the
//!     notification's delivery plus one single-row read — milliseconds (p99 2.4 ms
//!     between two processes in `docs/benchmarks.md`). No statement at all while nothing
//!     changes. After the listening connection is lost: the reconnection (at once, then
//!     back-off up to 10 s) plus one table read, so nothing is missed.
//!   * **SQLite file**: a dedicated connection checks `PRAGMA data_version` every
//!     [`StoreOptions::sqlite_check_interval`] (default 250 ms) and reloads the table only
//!     when another connection committed. Staleness: that interval plus one table read.
//!     Idle cost: one `PRAGMA data_version` per interval.
//! * Writers that do not notify (MoviePilot itself, hand-written SQL) are seen at once on
//!   SQLite, but on PostgreSQL only through [`SystemConfig::refresh`],
//!   [`SystemConfig::get_fresh`], this store's next write of the key, or every
//!   [`StoreOptions::sync_interval`] when one is set.
//! * [`Coherence::Off`] runs nothing in the background; [`SystemConfig::refresh`] and
//!   [`SystemConfig::get_fresh`] work as ever with either setting.
//!
//! # Failures
//!
//! * A write that fails — at a statement or at `COMMIT` itself, e.g. on a full disk
//!   ([`Error::DiskFull`]) — is rolled back, and its connection is verified to be outside
//!   any transaction before it is pooled again, or closed. It is reported as an error,
//!   never as saved; it changes neither the cache nor subscribers; and it leaves no lock
//!   for other processes to wait on. The same holds for a write whose future is dropped.
//! * A row that cannot be decoded (not JSON, not UTF-8, a BLOB) only makes its own key
//!   report [`Error::CorruptValue`]; every other key keeps working.
//! * A missing `systemconfig` table gives [`Error::SchemaMissing`]; running the migrations
//!   creates it, or recreates it if it was dropped after they had been applied.
//! * Error texts never contain the database password, nor the server source line numbers
//!   sqlx appends to PostgreSQL errors.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), system_config::Error> {
//! use serde_json::json;
//! use system_config::{SystemConfig, SystemConfigKey};
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
//! let store = SystemConfig::open(&url).await?; // creates and migrates the table
//! store.set(SystemConfigKey::UserCustomCSS, json!("body {}")).await?;
//! assert_eq!(store.get(SystemConfigKey::UserCustomCSS)?, Some(json!("body {}")));
//!
//! // Atomic read-modify-write: safe against every other writer of the same database.
//! let counter = store
//!     .update("plugin.Counter", |v| json!(v.and_then(|v| v.as_i64()).unwrap_or(0) + 1))
//!     .await?;
//! assert_eq!(counter.value, json!(1));
//! # Ok(()) }
//! ```
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!(
    "system-config needs a database backend: enable its `sqlite` and/or `postgres` feature"
);

mod coherence;
mod connect;
mod error;
mod key;
mod metrics;
mod options;
mod raw;
mod read;
mod refresh;
mod slot;
mod sql;
mod store;
mod txn;
mod watch;
mod write;

#[doc(hidden)]
pub use coherence::CoherenceStats;
pub use coherence::payload::CHANNEL as NOTIFY_CHANNEL;
#[cfg(feature = "postgres")]
pub use coherence::pg::LISTENER_APPLICATION_NAME;
pub use connect::connect;
pub use error::{Error, Result, redact_url, scrub_url_secrets};
pub use key::{SystemConfigKey, plugin_key};
pub use options::{Coherence, DEFAULT_DATABASE_URL, StoreOptions, Synchronous};
pub use store::SystemConfig;
pub use watch::{Change, Subscription, SubscriptionError};
pub use write::{SetOutcome, Updated, Write};

/// The workspace README's examples, compiled as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The schema migrations this store runs on open (re-exported for tools and for the
/// default storage list).
pub use migrations;

/// The sea-orm version this crate is built on, for [`SystemConfig::from_connection`].
pub use sea_orm;
