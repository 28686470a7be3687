//! The metrics this crate emits, through the [`metrics`] facade (nothing is recorded until
//! the application installs a recorder). Reads from the cache emit nothing.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `drivekeep_store_writes_total` | counter | `backend`, `outcome` | write transactions (`set`, `delete`, `update`, …): `ok` or `error` |
//! | `drivekeep_store_write_seconds` | histogram | `backend` | their duration, waiting for the store's write queue and the database's locks included |
//! | `drivekeep_store_cache_reloads_total` | counter | `backend`, `scope` | cache reloads from the database: `all` (the whole table: open, `refresh()`, a reconnected listener, a SQLite change) or `key` (one key per count: a notification, `get_fresh`) |
//!
//! `backend` is `sqlite` or `postgres`.

use std::time::Duration;

pub(crate) fn store_write(backend: &'static str, outcome: &'static str, took: Duration) {
    metrics::counter!("drivekeep_store_writes_total", "backend" => backend, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("drivekeep_store_write_seconds", "backend" => backend)
        .record(took.as_secs_f64());
}

pub(crate) fn cache_reload(backend: &'static str, scope: &'static str, count: u64) {
    metrics::counter!("drivekeep_store_cache_reloads_total", "backend" => backend, "scope" => scope)
        .increment(count);
}
