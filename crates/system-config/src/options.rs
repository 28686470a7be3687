//! How a store is opened: timeouts, pool size, durability, migrations, cache coherence.

use std::time::Duration;

/// The embedded SQLite file used when an application names no database: `data/user.db`
/// relative to the working directory (MoviePilot's file name), created on first use.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/user.db?mode=rwc";

/// SQLite's `synchronous` setting in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// Every commit reaches the disk before it returns: a committed token rotation survives
    /// a power cut. The default, because a lost rotated refresh token is a lost login.
    #[default]
    Full,
    /// Commits survive a crash of the application but may be lost on a power cut.
    Normal,
}

/// How a store keeps its cache in step with writes by other processes and hosts.
///
/// See the [crate documentation](crate#consistency) for the staleness bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Coherence {
    /// The backend's cheapest mechanism. The default.
    ///
    /// * PostgreSQL: every committed write of any store `NOTIFY`s the others (on the
    ///   channel [`NOTIFY_CHANNEL`](crate::NOTIFY_CHANNEL)); this store listens on a
    ///   dedicated connection and re-reads the keys it is told about. Nothing is polled.
    /// * SQLite file: one dedicated connection runs `PRAGMA data_version` every
    ///   [`StoreOptions::sqlite_check_interval`] and the table is reloaded only when another
    ///   connection committed something.
    /// * In-memory SQLite: nothing (no other process can reach it).
    #[default]
    Auto,
    /// No background work: writes of other processes arrive only through
    /// [`SystemConfig::refresh`](crate::SystemConfig::refresh),
    /// [`SystemConfig::get_fresh`](crate::SystemConfig::get_fresh), this store's own writes
    /// of a key and [`StoreOptions::sync_interval`]. On PostgreSQL this store's writes still
    /// notify the other stores.
    Off,
}

/// Options for [`SystemConfig::open_with`](crate::SystemConfig::open_with).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// How long a write waits for another writer's lock before giving up with
    /// [`Error::Locked`](crate::Error::Locked): SQLite's busy timeout, PostgreSQL's
    /// `lock_timeout` inside write transactions. Default 10 s.
    pub busy_timeout: Duration,
    /// Connect timeout, and how long to wait for a pooled connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Pool size. Default 4 on SQLite, 8 on PostgreSQL. With [`Coherence::Auto`] one
    /// dedicated connection (listener or checker) comes on top.
    pub max_connections: Option<u32>,
    /// Run the migrations (create or adopt the table) on open. Default `true`.
    pub migrate: bool,
    /// How the cache learns of writes by other processes and hosts. Default
    /// [`Coherence::Auto`].
    pub coherence: Coherence,
    /// SQLite with [`Coherence::Auto`]: how often the dedicated connection checks
    /// `PRAGMA data_version`. This is the staleness bound for writes by other processes on
    /// the same file (plus one table read). Default 250 ms; values under 1 ms are raised to
    /// 1 ms.
    pub sqlite_check_interval: Duration,
    /// Additionally reload the whole table this often in a background task, whatever
    /// [`coherence`](Self::coherence) says. Default `None`.
    ///
    /// Not needed for writes made through this crate, nor on SQLite (where
    /// `PRAGMA data_version` sees every writer). Use it on PostgreSQL when programs that do
    /// not `NOTIFY` — MoviePilot itself, SQL typed by hand — write the table, or where the
    /// listening connection could die without a reset reaching this host (NAT or firewalls
    /// dropping idle flows): changes then show up at most this interval plus one table read
    /// later, whatever happened to the notifications.
    pub sync_interval: Option<Duration>,
    /// SQLite durability. Default [`Synchronous::Full`].
    pub synchronous: Synchronous,
    /// How often an update is retried after a PostgreSQL insert race. Default 16.
    pub max_update_attempts: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            max_connections: None,
            migrate: true,
            coherence: Coherence::Auto,
            sqlite_check_interval: Duration::from_millis(250),
            sync_interval: None,
            synchronous: Synchronous::Full,
            max_update_attempts: 16,
        }
    }
}

impl StoreOptions {
    /// Sets [`busy_timeout`](Self::busy_timeout).
    pub fn busy_timeout(mut self, value: Duration) -> Self {
        self.busy_timeout = value;
        self
    }
    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, value: Duration) -> Self {
        self.connect_timeout = value;
        self
    }
    /// Sets [`max_connections`](Self::max_connections).
    pub fn max_connections(mut self, value: u32) -> Self {
        self.max_connections = Some(value);
        self
    }
    /// Sets [`migrate`](Self::migrate).
    pub fn migrate(mut self, value: bool) -> Self {
        self.migrate = value;
        self
    }
    /// Sets [`coherence`](Self::coherence).
    pub fn coherence(mut self, value: Coherence) -> Self {
        self.coherence = value;
        self
    }
    /// Sets [`sqlite_check_interval`](Self::sqlite_check_interval).
    pub fn sqlite_check_interval(mut self, value: Duration) -> Self {
        self.sqlite_check_interval = value;
        self
    }
    /// Sets [`sync_interval`](Self::sync_interval).
    pub fn sync_interval(mut self, value: Duration) -> Self {
        self.sync_interval = Some(value);
        self
    }
    /// Sets [`synchronous`](Self::synchronous).
    pub fn synchronous(mut self, value: Synchronous) -> Self {
        self.synchronous = value;
        self
    }
}
