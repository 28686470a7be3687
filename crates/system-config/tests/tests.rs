//! Integration tests of the configuration store, on a SQLite file and (when configured,
//! mandatory in CI) a real PostgreSQL server.

mod coherence;
mod commit_failures;
mod faults;
mod messages;
mod migrate;
mod moviepilot_compat;
mod multiprocess;
mod store;
mod tls;
mod undecodable;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// A raw connection beside the store, for arranging and inspecting rows.
pub async fn raw(url: &str) -> anyhow::Result<DatabaseConnection> {
    Ok(Database::connect(url).await?)
}

/// Runs `sql` on a raw connection.
pub async fn exec(db: &DatabaseConnection, sql: &str) -> anyhow::Result<()> {
    db.execute_unprepared(sql).await?;
    Ok(())
}

/// The first column of the first row of `sql` as text.
pub async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Option<String>> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get_by_index::<Option<String>>(0)?,
        None => None,
    })
}

/// The first column of the first row of `sql` as an integer.
pub async fn count(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row for {sql}"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}
