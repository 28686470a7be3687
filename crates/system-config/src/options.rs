//! How a store is opened: timeouts, pool size, durability, migrations, cross-process sync.

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
    /// Pool size. Default 4 on SQLite, 8 on PostgreSQL.
    pub max_connections: Option<u32>,
    /// Run the migrations (create or adopt the table) on open. Default `true`.
    pub migrate: bool,
    /// Reload the table from the database this often in a background task, so writes by
    /// other processes or hosts show up in the cache. Default `None` (call
    /// [`SystemConfig::refresh`](crate::SystemConfig::refresh) yourself).
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
