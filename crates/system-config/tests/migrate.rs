//! Creating the schema, and adopting a database laid out by MoviePilot.

use serde_json::{Value, json};
use system_config::{StoreOptions, SystemConfig};
use test_support::{Backend, backends};

use crate::{count, exec, raw, scalar};

fn index_query(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'ux_systemconfig_key'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'ux_systemconfig_key'"
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_database_gets_table_unique_index_and_default_storages() -> anyhow::Result<()> {
    for db in backends().await? {
        let conn = raw(&db.url).await?;
        let report = migrations::run_up(&conn).await?;
        assert_eq!(report.applied.len(), 2, "{report}");
        assert_eq!(report.adopted_existing, Some(false));
        assert!(report.pending.is_empty());
        assert_eq!(count(&conn, index_query(db.backend)).await?, 1);
        // The index is unique.
        exec(
            &conn,
            "INSERT INTO systemconfig (\"key\", value) VALUES ('x', '1')",
        )
        .await?;
        assert!(
            exec(
                &conn,
                "INSERT INTO systemconfig (\"key\", value) VALUES ('x', '2')"
            )
            .await
            .is_err()
        );

        let store =
            SystemConfig::open_with(&db.url, StoreOptions::default().migrate(false)).await?;
        let storages = store.get("Storages")?.expect("seeded");
        let types: Vec<&str> = storages
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|s| s["type"].as_str())
            .collect();
        assert_eq!(types, ["local", "alipan", "u115", "rclone", "alist"]);
        assert_eq!(
            storages[2],
            json!({"type": "u115", "name": "115网盘", "config": {}})
        );

        // Idempotent.
        assert!(migrations::run_up(&conn).await?.applied.is_empty());
        assert_eq!(
            migrations::status(&conn)
                .await?
                .iter()
                .filter(|(_, applied)| *applied)
                .count(),
            2
        );

        // down → up on a table this project created starts empty again.
        migrations::run_down(&conn, None).await?;
        let missing =
            SystemConfig::open_with(&db.url, StoreOptions::default().migrate(false)).await;
        assert!(
            matches!(missing, Err(system_config::Error::SchemaMissing)),
            "{missing:?}"
        );
        let report = migrations::run_fresh(&conn).await?;
        assert_eq!(report.adopted_existing, Some(false));
    }
    Ok(())
}

/// Builds a database the way MoviePilot does (raw SQL), including duplicate `Storages` rows
/// and tables with foreign keys this project knows nothing about.
async fn moviepilot_database(
    conn: &sea_orm::DatabaseConnection,
    backend: Backend,
) -> anyhow::Result<()> {
    let (id_col, next_id) = match backend {
        // SQLAlchemy's Sequence('id') is ignored on SQLite; on PostgreSQL it creates the
        // sequence and supplies nextval('id') itself, leaving the column without a default.
        Backend::Sqlite => ("id INTEGER NOT NULL", "NULL"),
        Backend::Postgres => ("id INTEGER NOT NULL", "nextval('id')"),
    };
    if backend == Backend::Postgres {
        exec(conn, "CREATE SEQUENCE id").await?;
    }
    exec(
        conn,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL)",
    )
    .await?;
    exec(
        conn,
        "CREATE TABLE subscribe (id INTEGER PRIMARY KEY, name VARCHAR, \
         user_id INTEGER NOT NULL REFERENCES users (id))",
    )
    .await?;
    exec(
        conn,
        &format!(
            "CREATE TABLE systemconfig ({id_col}, \"key\" VARCHAR, value JSON, PRIMARY KEY (id))"
        ),
    )
    .await?;
    exec(
        conn,
        "CREATE INDEX ix_systemconfig_key ON systemconfig (\"key\")",
    )
    .await?;
    exec(conn, "INSERT INTO users (id, name) VALUES (1, 'admin')").await?;
    exec(
        conn,
        "INSERT INTO subscribe (id, name, user_id) VALUES (1, 'Dune', 1)",
    )
    .await?;
    let rows = [
        (
            "Storages",
            r#"[{"type": "u115", "name": "115网盘", "config": {"access_token": "old"}}]"#,
        ),
        (
            "Downloaders",
            r#"[{"name": "qb", "type": "qbittorrent", "default": true, "config": {"host": "http://qb:8080"}}]"#,
        ),
        (
            "Storages",
            r#"[{"type": "u115", "name": "115网盘", "config": {"access_token": "middle"}}]"#,
        ),
        (
            "plugin.AutoSignIn",
            r#"{"enabled": true, "cron": "0 8 * * *"}"#,
        ),
        ("UserCustomCSS", r#""body { color: red }""#),
        (
            "Storages",
            r#"[{"type": "u115", "name": "115网盘", "config": {"access_token": "newest", "refresh_token": "r", "expires_in": 7200, "refresh_time": 1700000000}, "unknown_field": [1, 2]}, {"type": "local", "name": "本地", "config": {}}]"#,
        ),
        ("Directories", "[]"),
    ];
    for (key, value) in rows {
        exec(
            conn,
            &format!("INSERT INTO systemconfig (id, \"key\", value) VALUES ({next_id}, '{key}', '{value}')"),
        )
        .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adopts_a_moviepilot_database_without_losing_a_row() -> anyhow::Result<()> {
    for db in backends().await? {
        let conn = raw(&db.url).await?;
        moviepilot_database(&conn, db.backend).await?;

        let report = migrations::run_up(&conn).await?;
        assert_eq!(report.adopted_existing, Some(true), "{report}");
        assert_eq!(report.rows_before, 7);
        assert_eq!(report.duplicates_removed, 2);
        if db.backend == Backend::Postgres {
            // Adoption leaves MoviePilot's `id` as it was: no default, no identity.
            assert_eq!(
                count(
                    &conn,
                    "SELECT COUNT(*) FROM information_schema.columns \
                     WHERE table_name = 'systemconfig' AND column_name = 'id' \
                     AND column_default IS NULL AND is_identity = 'NO'"
                )
                .await?,
                1
            );
        }
        assert!(report.to_string().contains("2 duplicate rows"), "{report}");

        let store = SystemConfig::open(&db.url).await?;
        // The newest Storages row won; seeding appended the missing defaults after it.
        let storages = store.get("Storages")?.expect("kept");
        assert_eq!(storages[0]["config"]["access_token"], "newest");
        assert_eq!(storages[0]["unknown_field"], json!([1, 2]));
        assert_eq!(storages[1]["type"], "local");
        let types: Vec<&str> = storages
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["type"].as_str())
            .collect();
        assert_eq!(types, ["u115", "local", "alipan", "rclone", "alist"]);
        assert_eq!(
            store.get("Downloaders")?.expect("kept")[0]["config"]["host"],
            "http://qb:8080"
        );
        assert_eq!(
            store.get("plugin.AutoSignIn")?,
            Some(json!({"enabled": true, "cron": "0 8 * * *"}))
        );
        assert_eq!(
            store.get("UserCustomCSS")?,
            Some(json!("body { color: red }"))
        );
        assert_eq!(store.get("Directories")?, Some(json!([])));

        // The losing rows are kept, with their data, in the backup table.
        let backups = store_values(
            &conn,
            "SELECT CAST(value AS TEXT) FROM systemconfig_duplicates ORDER BY id",
        )
        .await?;
        let tokens: Vec<&Value> = backups
            .iter()
            .map(|v| &v[0]["config"]["access_token"])
            .collect();
        assert_eq!(tokens, [&json!("old"), &json!("middle")]);

        // Tables this project does not know are untouched.
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM subscribe WHERE user_id = 1").await?,
            1
        );
        assert_eq!(
            scalar(&conn, "SELECT name FROM users").await?.as_deref(),
            Some("admin")
        );

        // New keys get ids (PostgreSQL: from MoviePilot's own sequence).
        store.set("NewKey", json!({"n": 1})).await?;
        let ids = count(&conn, "SELECT COUNT(DISTINCT id) FROM systemconfig").await?;
        assert_eq!(
            ids,
            count(&conn, "SELECT COUNT(*) FROM systemconfig").await?
        );

        // Rolling back gives MoviePilot its table back, duplicates included.
        migrations::run_down(&conn, None).await?;
        assert_eq!(
            count(
                &conn,
                "SELECT COUNT(*) FROM systemconfig WHERE \"key\" = 'Storages'"
            )
            .await?,
            3
        );
        assert_eq!(count(&conn, index_query(db.backend)).await?, 0);
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM subscribe").await?, 1);
    }
    Ok(())
}

async fn store_values(conn: &sea_orm::DatabaseConnection, sql: &str) -> anyhow::Result<Vec<Value>> {
    use sea_orm::ConnectionTrait;
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            sql,
        ))
        .await?;
    rows.iter()
        .map(|row| Ok(serde_json::from_str(&row.try_get_by_index::<String>(0)?)?))
        .collect()
}

/// The report: with `systemconfig` dropped, the store said "run the migrations" while
/// `migrate` said "no migrations to run" (their records were still there). Now the error
/// names both causes, and running the migrations — by hand or on open — recreates the
/// table, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_table_is_reported_truthfully_and_migrate_recreates_it() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        store.set("Lost", json!("with the table")).await?;
        let conn = raw(&db.url).await?;
        exec(&conn, "DROP TABLE systemconfig").await?;
        // The migrations are still recorded as applied: the state the report describes.
        assert!(
            migrations::status(&conn)
                .await?
                .iter()
                .all(|(_, applied)| *applied),
            "{:?}",
            db.backend
        );

        // Opening without migrating, and writing through a running store: the same error,
        // which says the table may have been dropped and that migrating recreates it.
        let err = SystemConfig::open_with(&db.url, StoreOptions::default().migrate(false))
            .await
            .unwrap_err();
        assert!(
            matches!(err, system_config::Error::SchemaMissing),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("dropped"), "{text}");
        assert!(text.contains("recorded as applied"), "{text}");
        assert!(text.contains("recreate"), "{text}");
        let err = store.set("Lost", json!(2)).await.unwrap_err();
        assert!(
            matches!(err, system_config::Error::SchemaMissing),
            "{err:?}"
        );

        // And migrating does what the message promises.
        let report = migrations::run_up(&conn).await?;
        assert!(report.recreated_dropped_table, "{report}");
        assert_eq!(report.applied.len(), 2, "{report}");
        assert_eq!(report.adopted_existing, Some(false), "{report}");
        let shown = report.to_string();
        assert!(!shown.contains("no migrations to run"), "{shown}");
        assert!(
            shown.contains("recreated the systemconfig table"),
            "{shown}"
        );
        assert_eq!(count(&conn, index_query(db.backend)).await?, 1);

        // The running store writes again; the table came back empty but for the defaults.
        store.set("Lost", json!("again")).await?;
        let reopened =
            SystemConfig::open_with(&db.url, StoreOptions::default().migrate(false)).await?;
        assert_eq!(reopened.get("Lost")?, Some(json!("again")));
        assert!(reopened.get("Storages")?.is_some());

        // Opening with migrations on repairs it as well; a second run is a no-op.
        exec(&conn, "DROP TABLE systemconfig").await?;
        let repaired = SystemConfig::open(&db.url).await?;
        assert_eq!(repaired.get("Lost")?, None);
        assert!(repaired.get("Storages")?.is_some());
        let report = migrations::run_up(&conn).await?;
        assert!(!report.recreated_dropped_table);
        assert_eq!(report.to_string(), "no migrations to run");
    }
    Ok(())
}
