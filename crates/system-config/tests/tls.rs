//! PostgreSQL over TLS: `sslmode=require` in the URL gives encrypted connections, for the
//! store's pool and its listening connection alike.
//!
//! Needs a server with `ssl = on`: `cargo xtask pg start` (and `cargo xtask ci`) set one up
//! with a self-signed certificate. Under `DRIVEKEEP_REQUIRE_PG` (CI) TLS must work; otherwise
//! a server without TLS only skips this test, with a note.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::json;
use system_config::{StoreOptions, SystemConfig};
use test_support::{REQUIRE_PG_ENV, TestDb};

/// `url` with `sslmode` set to `mode`.
fn with_sslmode(url: &str, mode: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode={mode}")
}

/// Whether this session's connection is encrypted, as the server sees it.
async fn encrypted(db: &DatabaseConnection) -> anyhow::Result<bool> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no pg_stat_ssl row for this session"))?;
    Ok(row.try_get_by_index::<bool>(0)?)
}

/// Connections to the current database that are not encrypted, and those that are.
async fn connections_by_encryption(db: &DatabaseConnection) -> anyhow::Result<(i64, i64)> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT count(*) FILTER (WHERE NOT s.ssl), count(*) FILTER (WHERE s.ssl) \
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = current_database()",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_every_connection() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    let required = std::env::var_os(REQUIRE_PG_ENV).is_some();
    let url = with_sslmode(&db.url, "require");

    let conn = match system_config::connect(&url, &StoreOptions::default()).await {
        Ok(conn) => conn,
        Err(err) if !required => {
            eprintln!(
                "note: PostgreSQL with sslmode=require failed ({err}); TLS test skipped \
                 (the server needs ssl = on, as `cargo xtask pg start` sets up)"
            );
            return Ok(());
        }
        Err(err) => {
            return Err(anyhow::anyhow!(
                "sslmode=require failed under {REQUIRE_PG_ENV}: {err}"
            ));
        }
    };
    assert!(
        encrypted(&conn).await?,
        "sslmode=require gave a plain connection"
    );

    // The check can tell: the same server without TLS.
    let plain =
        system_config::connect(&with_sslmode(&db.url, "disable"), &StoreOptions::default()).await?;
    assert!(!encrypted(&plain).await?, "sslmode=disable gave TLS");
    plain.close().await?;

    // The store works over TLS, its listener included.
    let store = SystemConfig::open(&url).await?;
    store.set("tls.probe", json!({"over": "tls"})).await?;
    let other = SystemConfig::open(&url).await?;
    assert_eq!(
        other.get_fresh("tls.probe").await?,
        Some(json!({"over": "tls"}))
    );
    let (plain_connections, tls_connections) = connections_by_encryption(&conn).await?;
    assert_eq!(
        plain_connections, 0,
        "a connection of the store is not encrypted"
    );
    // This check's own, and at least a pool connection and a listener per store.
    assert!(tls_connections >= 5, "{tls_connections} TLS connections");
    drop((store, other));
    conn.close().await?;
    Ok(())
}
