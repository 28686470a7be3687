//! Database migrations for the key → JSON `systemconfig` table.
//!
//! The schema is MoviePilot's (`id` integer primary key, `key` text, `value` JSON) plus the
//! unique index `ux_systemconfig_key`. A database that MoviePilot already created is
//! *adopted*: the table is kept, duplicate keys are resolved by keeping the row with the
//! highest `id`, and every removed row is copied to `systemconfig_duplicates` first. No
//! column of MoviePilot's is altered: inserts allocate `id` the way the column allows
//! ([`IdAllocation`]).
//!
//! Run them with [`run_up`], which serialises concurrent migrators (several processes
//! opening one database at once) and returns a [`MigrationReport`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), sea_orm_migration::sea_orm::DbErr> {
//! use sea_orm_migration::sea_orm::Database;
//! let db = Database::connect("sqlite://data/user.db?mode=rwc").await?;
//! let report = migrations::run_up(&db).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod ids;
pub use ids::{
    IdAllocation, PG_INSERT_DEFAULT, PG_INSERT_SHARED_SEQUENCE, SQLITE_INSERT, id_allocation,
};
mod m20250101_000001_systemconfig;
mod m20250101_000002_seed_storages;
pub use m20250101_000002_seed_storages::{DEFAULT_STORAGES, STORAGES_KEY, Seeded, seed};
mod runner;

pub use runner::{MigrationReport, Migrator, run_down, run_fresh, run_up, status};
pub use sea_orm_migration;

/// Name of the configuration table (MoviePilot's).
pub const TABLE: &str = "systemconfig";
/// Name of the unique index on `systemconfig.key`.
pub const UNIQUE_INDEX: &str = "ux_systemconfig_key";
/// Table that keeps every row removed while resolving duplicate keys.
pub const DUPLICATES_TABLE: &str = "systemconfig_duplicates";
/// Table that records what the adoption migration did.
pub const REPORT_TABLE: &str = "systemconfig_migration_report";
