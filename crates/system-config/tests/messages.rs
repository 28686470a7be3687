//! What error texts show: the database's message, never the driver's or the server's
//! source line numbers.

use std::time::Duration;

use sea_orm::sqlx::{self, Connection as _};
use serde_json::json;
use system_config::{Error, StoreOptions, SystemConfig};
use test_support::TestDb;

use crate::{exec, raw};

/// sqlx prints a PostgreSQL error as "<message> at line <N>", N being a line in the
/// server's C source. The report saw "… at line 3211" in the store's errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_errors_carry_no_source_line_numbers() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    // The leak is real in the driver: the same kind of error, straight from sqlx.
    let mut conn = sqlx::PgConnection::connect(&db.url).await?;
    let driver = sqlx::query("SELECT * FROM no_such_table")
        .execute(&mut conn)
        .await
        .unwrap_err()
        .to_string();
    assert!(driver.contains(" at line "), "{driver}");
    conn.close().await?;

    let store = SystemConfig::open(&db.url).await?;
    store.set("k", json!(1)).await?;
    let conn = raw(&db.url).await?;
    // A statement error (raised by a trigger) and a commit error (a deferred one).
    exec(
        &conn,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'refused by trigger'; END $$",
    )
    .await?;
    exec(
        &conn,
        "CREATE TRIGGER refuse BEFORE UPDATE ON systemconfig FOR EACH ROW \
         WHEN (NEW.value::text = '2') EXECUTE FUNCTION refuse()",
    )
    .await?;
    exec(
        &conn,
        "CREATE CONSTRAINT TRIGGER refuse_late AFTER UPDATE ON systemconfig \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW \
         WHEN (NEW.value::text = '3') EXECUTE FUNCTION refuse()",
    )
    .await?;
    let mut texts = Vec::new();
    for value in [2, 3] {
        let err = store.set("k", json!(value)).await.unwrap_err();
        assert!(matches!(err, Error::Database { .. }), "{err:?}");
        texts.push(err.to_string());
    }
    // A connection error from the server (unknown database).
    let mut url = url::Url::parse(&db.url)?;
    url.set_path("/no_such_database_here");
    let err = SystemConfig::open_with(
        url.as_str(),
        StoreOptions::default().connect_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    texts.push(err.to_string());
    // A failing migration (its text comes through sea-orm's error type).
    exec(&conn, "DROP TABLE seaql_migrations").await?;
    exec(&conn, "CREATE TABLE seaql_migrations (version INTEGER)").await?;
    let err = SystemConfig::open(&db.url).await.unwrap_err();
    texts.push(err.to_string());

    for text in &texts {
        assert!(!text.contains("at line"), "{text}");
        assert!(text.contains("SQLSTATE"), "{text}");
    }
    assert!(texts[0].contains("refused by trigger"), "{}", texts[0]);
    assert!(texts[1].contains("refused by trigger"), "{}", texts[1]);
    assert!(texts[2].contains("no_such_database_here"), "{}", texts[2]);
    Ok(())
}
