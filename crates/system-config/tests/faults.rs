//! Bad rows, locked and unreachable databases.

use std::time::Duration;

use serde_json::{Value, json};
use system_config::{Error, StoreOptions, SystemConfig};
use test_support::{Backend, TestDb, backends};

use crate::{exec, raw, scalar};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_row_gives_typed_error_and_is_never_rewritten_by_reads() -> anyhow::Result<()> {
    for db in backends().await? {
        SystemConfig::open(&db.url)
            .await?
            .set("Good", json!([1]))
            .await?;
        let conn = raw(&db.url).await?;
        if db.backend == Backend::Postgres {
            // PostgreSQL's json column refuses invalid JSON; older deployments used text.
            exec(
                &conn,
                "ALTER TABLE systemconfig ALTER COLUMN value TYPE text",
            )
            .await?;
        }
        exec(
            &conn,
            "INSERT INTO systemconfig (\"key\", value) VALUES ('Broken', '{\"a\": [1,')",
        )
        .await?;

        let store = SystemConfig::open(&db.url).await?;
        let err = store.get("Broken").unwrap_err();
        assert!(
            matches!(&err, Error::CorruptValue { key, .. } if key == "Broken"),
            "{err}"
        );
        assert!(err.to_string().contains("Broken"));
        assert_eq!(store.get("Good")?, Some(json!([1])));
        assert_eq!(store.corrupt_keys(), ["Broken"]);
        assert!(!store.all().contains_key("Broken"));

        let err = store
            .update("Broken", |_| json!("overwritten"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::CorruptValue { .. }), "{err}");
        store.refresh().await?;
        let _ = store.get_fresh("Broken").await;
        let stored = scalar(
            &conn,
            "SELECT CAST(value AS TEXT) FROM systemconfig WHERE \"key\" = 'Broken'",
        )
        .await?;
        assert_eq!(stored.as_deref(), Some("{\"a\": [1,"), "{:?}", db.backend);

        // An explicit set repairs the row.
        store.set("Broken", json!({"fixed": true})).await?;
        assert_eq!(
            SystemConfig::open(&db.url).await?.get("Broken")?,
            Some(json!({"fixed": true}))
        );
    }
    Ok(())
}

/// SQLite only: PostgreSQL writers wait on row locks rather than failing with "busy".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_sqlite_gives_typed_error_after_busy_timeout() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let store = SystemConfig::open_with(
        &db.url,
        StoreOptions::default().busy_timeout(Duration::from_millis(200)),
    )
    .await?;
    store.set("k", json!(1)).await?;

    // Another connection takes the write lock and keeps it.
    let pool = sea_orm::sqlx::SqlitePool::connect(&db.url).await?;
    let mut holder = pool.acquire().await?;
    sea_orm::sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await?;

    let err = store.set("k", json!(2)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Locked { key: Some(k), .. } if k == "k"),
        "{err}"
    );
    assert!(err.to_string().contains("locked"), "{err}");
    assert_eq!(store.get("k")?, Some(json!(1)));

    sea_orm::sqlx::query("ROLLBACK")
        .execute(&mut *holder)
        .await?;
    store.set("k", json!(2)).await?;
    assert_eq!(store.get("k")?, Some(json!(2)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_error_never_shows_the_password() -> anyhow::Result<()> {
    let secret = "pa55-w0rd-XYZ";
    let url = format!("postgres://moviepilot:{secret}@127.0.0.1:1/moviepilot");
    let err = SystemConfig::open_with(
        &url,
        StoreOptions::default().connect_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");

    // A garbage URL is not echoed either.
    let err = SystemConfig::open(&format!("postgres//moviepilot:{secret}@x"))
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(secret), "{text}");

    // A SQLite file in a folder that cannot be created.
    let err = SystemConfig::open("sqlite:///proc/no/such/dir/user.db?mode=rwc")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    Ok(())
}

/// PostgreSQL only: the database disappears under a running store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_gone_gives_typed_error_and_keeps_the_cache() -> anyhow::Result<()> {
    let Some(db) = TestDb::postgres().await? else {
        return Ok(());
    };
    let store = SystemConfig::open_with(
        &db.url,
        StoreOptions::default().connect_timeout(Duration::from_secs(3)),
    )
    .await?;
    store.set("k", json!("v")).await?;
    let name = db.url.rsplit('/').next().unwrap_or_default().to_owned();
    let admin = raw(&std::env::var(test_support::PG_URL_ENV)?).await?;
    exec(&admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await?;

    let err = store.set("k", json!("w")).await.unwrap_err();
    assert!(
        matches!(err, Error::Database { .. } | Error::Connect { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("`k`"), "{err}");
    assert_eq!(store.get("k")?, Some(Value::from("v")));
    assert!(store.refresh().await.is_err());
    Ok(())
}
