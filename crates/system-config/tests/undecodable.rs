//! Rows whose value cannot be decoded as text (bytes that are not UTF-8, BLOBs): only that
//! key is affected, on every path that reads rows.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;
use system_config::{Error, SystemConfig};
use test_support::{Backend, TestDb, backends};

use crate::{exec, raw, scalar};

fn assert_corrupt(result: system_config::Result<Option<serde_json::Value>>, key: &str) {
    match result {
        Err(Error::CorruptValue { key: k, reason }) => {
            assert_eq!(k, key);
            assert!(!reason.is_empty());
        }
        other => panic!("{key}: expected CorruptValue, got {other:?}"),
    }
}

/// Checks every read and write path against a database holding the rows listed in
/// `corrupt` (undecodable values) beside the readable row `Good`.
async fn check_isolated(url: &str, corrupt: &[&str], raw_value_sql: &str) -> anyhow::Result<()> {
    // Opening loads every row: before the fix this failed for every key with
    // "invalid utf-8 … key `PluginX`".
    let store = SystemConfig::open(url).await?;
    assert_eq!(store.get("Good")?, Some(json!({"ok": true})));
    assert_eq!(store.corrupt_keys(), corrupt);
    for key in corrupt {
        assert_corrupt(store.get(key), key);
        let err = store.get(key).unwrap_err();
        assert!(err.to_string().contains(key), "{err}");
        assert!(!store.all().contains_key(*key));
    }
    assert_eq!(store.all().get("Good"), Some(&json!({"ok": true})));

    store.refresh().await?;
    assert_eq!(store.get("Good")?, Some(json!({"ok": true})));
    assert_eq!(store.get_fresh("Good").await?, Some(json!({"ok": true})));
    let key = corrupt[0];
    assert_corrupt(store.get_fresh(key).await, key);

    // The write transaction reads the row too: `update` refuses and leaves it as it is,
    // writes of other keys work.
    let before = scalar(&raw(url).await?, raw_value_sql).await?;
    let err = store
        .update(key, |_| json!("overwritten"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::CorruptValue { key: k, .. } if k == key),
        "{err:?}"
    );
    assert_eq!(scalar(&raw(url).await?, raw_value_sql).await?, before);
    store.update("Good", |_| json!({"ok": "still"})).await?;
    store.set("New", json!(1)).await?;

    // An explicit set repairs the row; a delete removes another.
    assert!(
        store
            .set(key, json!({"repaired": true}))
            .await?
            .is_changed()
    );
    if let Some(other) = corrupt.get(1) {
        assert!(store.delete(*other).await?);
    }
    let reopened = SystemConfig::open(url).await?;
    assert_eq!(reopened.get(key)?, Some(json!({"repaired": true})));
    assert_eq!(reopened.get("Good")?, Some(json!({"ok": "still"})));
    assert_eq!(reopened.corrupt_keys(), Vec::<String>::new());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_value_that_is_not_utf8_is_isolated_to_its_key() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    SystemConfig::open(&db.url)
        .await?
        .set("Good", json!({"ok": true}))
        .await?;
    let conn = raw(&db.url).await?;
    for sql in [
        // The report's row: TEXT whose bytes are not UTF-8.
        "INSERT INTO systemconfig (\"key\", value) VALUES ('PluginX', CAST(X'fffe7b' AS TEXT))",
        // A BLOB that is not UTF-8 either.
        "INSERT INTO systemconfig (\"key\", value) VALUES ('BlobKey', X'c328ff')",
        // Other storage classes are read as their text: valid JSON, so readable.
        "INSERT INTO systemconfig (\"key\", value) VALUES ('IntKey', 42)",
        "INSERT INTO systemconfig (\"key\", value) VALUES ('RealKey', 1.5)",
        "INSERT INTO systemconfig (\"key\", value) VALUES ('BlobJson', CAST('{\"a\":1}' AS BLOB))",
        // A key nobody can name: skipped, never fatal.
        "INSERT INTO systemconfig (\"key\", value) VALUES (CAST(X'ff' AS TEXT), '1')",
    ] {
        exec(&conn, sql).await?;
    }
    let store = SystemConfig::open(&db.url).await?;
    assert_eq!(store.get("IntKey")?, Some(json!(42)));
    assert_eq!(store.get("RealKey")?, Some(json!(1.5)));
    assert_eq!(store.get("BlobJson")?, Some(json!({"a": 1})));
    assert_corrupt(store.get("PluginX"), "PluginX");
    let err = store.get("PluginX").unwrap_err().to_string();
    assert!(err.contains("UTF-8"), "{err}");
    drop(store);
    // Other than the integer/real/JSON-blob rows above (readable), the undecodable ones
    // are the only keys affected.
    for key in ["IntKey", "RealKey", "BlobJson"] {
        exec(
            &conn,
            &format!("DELETE FROM systemconfig WHERE \"key\" = '{key}'"),
        )
        .await?;
    }
    check_isolated(
        &db.url,
        &["BlobKey", "PluginX"],
        "SELECT hex(value) FROM systemconfig WHERE \"key\" = 'BlobKey'",
    )
    .await
}

/// PostgreSQL validates text against the database encoding, so in an ordinary (UTF8)
/// database a value that is not UTF-8 cannot exist — the server refuses it, as asserted
/// below. A database created with `ENCODING 'SQL_ASCII'` stores bytes unchecked, and there
/// the report's situation is real; the server then even refuses to *send* such a row to a
/// UTF-8 client, so reading it as text failed the whole table load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_value_that_is_not_utf8_is_isolated_to_its_key() -> anyhow::Result<()> {
    let Some(utf8) = TestDb::postgres().await? else {
        return Ok(());
    };
    let conn = raw(&utf8.url).await?;
    SystemConfig::open(&utf8.url).await?;
    let refused = exec(
        &conn,
        "INSERT INTO systemconfig (\"key\", value) \
         VALUES ('PluginX', convert_from('\\x22fffe22'::bytea, 'SQL_ASCII')::json)",
    )
    .await;
    assert!(refused.is_err(), "a UTF8 database accepted invalid UTF-8");

    // A SQL_ASCII database beside it.
    let admin = std::env::var(test_support::PG_URL_ENV)?;
    let name = format!(
        "t_ascii_{}_{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos()
    );
    exec(
        &raw(&admin).await?,
        &format!(
            "CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 \
             LC_COLLATE 'C' LC_CTYPE 'C'"
        ),
    )
    .await?;
    let mut url = url::Url::parse(&admin)?;
    url.set_path(&format!("/{name}"));
    let url = url.to_string();
    SystemConfig::open(&url)
        .await?
        .set("Good", json!({"ok": true}))
        .await?;
    let conn = raw(&url).await?;
    for sql in [
        // Valid JSON syntax (a string), but its bytes are not UTF-8.
        "INSERT INTO systemconfig (\"key\", value) \
         VALUES ('PluginX', convert_from('\\x22fffe22'::bytea, 'SQL_ASCII')::json)",
        "INSERT INTO systemconfig (\"key\", value) \
         VALUES ('PluginY', convert_from('\\x5b22c328225d'::bytea, 'SQL_ASCII')::json)",
        // Non-ASCII UTF-8 stored in SQL_ASCII is fine.
        "INSERT INTO systemconfig (\"key\", value) VALUES ('Utf8', '\"115网盘\"')",
    ] {
        exec(&conn, sql).await?;
    }
    assert_eq!(
        SystemConfig::open(&url).await?.get("Utf8")?,
        Some(json!("115网盘"))
    );
    check_isolated(
        &url,
        &["PluginX", "PluginY"],
        "SELECT encode(convert_to(value::text, 'SQL_ASCII'), 'hex') FROM systemconfig \
         WHERE \"key\" = 'PluginX'",
    )
    .await?;
    assert_eq!(utf8.backend, Backend::Postgres);
    Ok(())
}

/// Values that *are* text keep working on both backends, including every falsy value and
/// non-ASCII text (the bytes path must decode exactly what the text path did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_values_round_trip_through_the_bytes_path() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let values = [
            json!(null),
            json!(""),
            json!("115网盘 ✓ \u{1F600}"),
            json!({"nested": ["a", 1, 2.5, false, null]}),
            json!("line\nbreak \"quoted\" \\ backslash"),
        ];
        for (i, value) in values.iter().enumerate() {
            store.set(format!("v{i}"), value.clone()).await?;
        }
        let other = SystemConfig::open(&db.url).await?;
        for (i, value) in values.iter().enumerate() {
            assert_eq!(
                other.get(format!("v{i}"))?.as_ref(),
                Some(value),
                "{:?}",
                db.backend
            );
            assert_eq!(
                other.get_fresh(format!("v{i}")).await?.as_ref(),
                Some(value)
            );
        }
        // SQL NULL in the column reads as JSON null, as before.
        exec(
            &raw(&db.url).await?,
            "INSERT INTO systemconfig (\"key\", value) VALUES ('NullKey', NULL)",
        )
        .await?;
        other.refresh().await?;
        assert_eq!(other.get("NullKey")?, Some(json!(null)));
    }
    Ok(())
}
