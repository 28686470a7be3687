//! Integration tests of the storage helper, on a SQLite file and (when configured,
//! mandatory in CI) a real PostgreSQL server.

mod api;
mod bad_input;
mod events;
mod multiprocess;

use storage_helper::StorageHelper;
use system_config::SystemConfig;

/// A helper on a freshly opened (and migrated, so seeded) store.
pub async fn helper(url: &str) -> anyhow::Result<StorageHelper> {
    Ok(StorageHelper::new(SystemConfig::open(url).await?))
}

/// The `Storages` row's text as stored, read with a raw connection.
pub async fn raw_storages(url: &str) -> anyhow::Result<Option<String>> {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(url).await?;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(value AS TEXT) FROM systemconfig WHERE \"key\" = 'Storages'",
        ))
        .await?;
    let text = match row {
        Some(row) => row.try_get_by_index::<Option<String>>(0)?,
        None => None,
    };
    db.close().await?;
    Ok(text)
}
