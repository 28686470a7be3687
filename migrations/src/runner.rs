//! The migrator and the functions that run it safely from several processes at once.

use std::fmt;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};

use crate::{REPORT_TABLE, m20250101_000001_systemconfig, m20250101_000002_seed_storages};

/// Every migration of this workspace, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_systemconfig::Migration),
            Box::new(m20250101_000002_seed_storages::Migration),
        ]
    }
}

/// Key of the PostgreSQL advisory lock that serialises migrators.
const PG_MIGRATION_LOCK: i64 = 0x6472_6976_656b_6570; // "drivekep"

/// What a migration run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    /// Names of the migrations applied (or rolled back) by this run, in order.
    pub applied: Vec<String>,
    /// Set when this run created or adopted `systemconfig`: `true` if the table existed.
    pub adopted_existing: Option<bool>,
    /// Rows in `systemconfig` before duplicates were resolved.
    pub rows_before: i64,
    /// Duplicate rows moved to `systemconfig_duplicates`.
    pub duplicates_removed: i64,
    /// Migrations still pending after the run.
    pub pending: Vec<String>,
    /// The `systemconfig` table was missing although its migrations were recorded as
    /// applied (someone dropped it): this run recreated it, empty, and ran the migrations
    /// again.
    pub recreated_dropped_table: bool,
}

impl fmt::Display for MigrationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.recreated_dropped_table {
            write!(
                f,
                "the systemconfig table was missing although its migrations were recorded as \
                 applied; "
            )?;
        }
        if self.applied.is_empty() {
            write!(f, "no migrations to run")?;
        } else {
            write!(f, "ran {}", self.applied.join(", "))?;
        }
        if let Some(adopted) = self.adopted_existing {
            if adopted {
                write!(
                    f,
                    "; adopted the existing systemconfig table ({} rows, {} duplicate rows moved to systemconfig_duplicates)",
                    self.rows_before, self.duplicates_removed
                )?;
            } else if self.recreated_dropped_table {
                write!(f, "; recreated the systemconfig table (empty)")?;
            } else {
                write!(f, "; created the systemconfig table")?;
            }
        }
        if !self.pending.is_empty() {
            write!(f, "; still pending: {}", self.pending.join(", "))?;
        }
        Ok(())
    }
}

/// Starts a transaction that excludes every other migrator on the same database.
async fn locked(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            db.begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
        }
        backend => {
            let txn = db.begin().await?;
            if backend == DbBackend::Postgres {
                txn.execute_raw(Statement::from_string(
                    backend,
                    format!("SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"),
                ))
                .await?;
            }
            Ok(txn)
        }
    }
}

fn names(list: &[sea_orm_migration::Migration]) -> Vec<String> {
    list.iter().map(|m| m.name().to_owned()).collect()
}

/// Name of the migration that creates `systemconfig`.
const SYSTEMCONFIG_MIGRATION: &str = "m20250101_000001_systemconfig";

/// When `systemconfig` is gone although the migration that creates it is recorded as
/// applied (the table was dropped by hand), forgets this workspace's migration records so
/// that they run again and recreate it. Returns whether it did.
async fn forget_if_table_dropped(txn: &DatabaseTransaction) -> Result<bool, DbErr> {
    let applied = names(&Migrator::get_applied_migrations(txn).await?);
    if !applied.iter().any(|name| name == SYSTEMCONFIG_MIGRATION)
        || SchemaManager::new(txn).has_table(crate::TABLE).await?
    {
        return Ok(false);
    }
    let ours = names(&Migrator::get_migration_files());
    let forget = Query::delete()
        .from_table(Migrator::migration_table_name())
        .and_where(Expr::col(Alias::new("version")).is_in(ours))
        .to_owned();
    txn.execute(&forget).await?;
    tracing::warn!(
        "the systemconfig table was missing although its migrations were recorded as applied; \
         recreating it"
    );
    Ok(true)
}

/// Applies every pending migration, serialised against concurrent migrators.
///
/// A `systemconfig` table that was dropped after its migrations had been applied is
/// recreated (empty, with the default storages), and the report says so.
pub async fn run_up(db: &DatabaseConnection) -> Result<MigrationReport, DbErr> {
    let txn = locked(db).await?;
    let recreated_dropped_table = forget_if_table_dropped(&txn).await?;
    let pending = names(&Migrator::get_pending_migrations(&txn).await?);
    Migrator::up(&txn, None).await?;
    let mut report = MigrationReport {
        applied: pending,
        recreated_dropped_table,
        ..Default::default()
    };
    if report
        .applied
        .iter()
        .any(|name| name == SYSTEMCONFIG_MIGRATION)
    {
        read_report(&txn, &mut report).await?;
    }
    report.pending = names(&Migrator::get_pending_migrations(&txn).await?);
    txn.commit().await?;
    Ok(report)
}

async fn read_report(txn: &DatabaseTransaction, report: &mut MigrationReport) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let row = txn
        .query_one_raw(Statement::from_string(
            backend,
            format!(
                "SELECT adopted_existing, rows_before, duplicates_removed \
                 FROM {REPORT_TABLE} ORDER BY ran_at DESC LIMIT 1"
            ),
        ))
        .await?;
    if let Some(row) = row {
        report.adopted_existing = Some(row.try_get_by_index::<i32>(0)? != 0);
        report.rows_before = i64::from(row.try_get_by_index::<i32>(1)?);
        report.duplicates_removed = i64::from(row.try_get_by_index::<i32>(2)?);
    }
    Ok(())
}

/// Rolls back `steps` applied migrations (all of them when `None`).
///
/// Rolling back the first migration of an *adopted* MoviePilot database keeps its table and
/// puts the backed-up duplicate rows back; a table this project created is dropped.
pub async fn run_down(
    db: &DatabaseConnection,
    steps: Option<u32>,
) -> Result<MigrationReport, DbErr> {
    let txn = locked(db).await?;
    let before = names(&Migrator::get_applied_migrations(&txn).await?);
    Migrator::down(&txn, steps).await?;
    let after = names(&Migrator::get_applied_migrations(&txn).await?);
    let pending = names(&Migrator::get_pending_migrations(&txn).await?);
    txn.commit().await?;
    Ok(MigrationReport {
        applied: before
            .into_iter()
            .filter(|n| !after.contains(n))
            .rev()
            .collect(),
        pending,
        ..Default::default()
    })
}

/// Rolls back every migration of this workspace and applies them again.
///
/// Unlike sea-orm's own `fresh`, this never drops a table it did not create, so it is safe
/// on a database shared with MoviePilot.
pub async fn run_fresh(db: &DatabaseConnection) -> Result<MigrationReport, DbErr> {
    run_down(db, None).await?;
    run_up(db).await
}

/// Each migration's name and whether it is applied.
pub async fn status(db: &DatabaseConnection) -> Result<Vec<(String, bool)>, DbErr> {
    let list = Migrator::get_migration_with_status(db).await?;
    Ok(list
        .iter()
        .map(|m| {
            (
                m.name().to_owned(),
                m.status() == sea_orm_migration::MigrationStatus::Applied,
            )
        })
        .collect())
}
