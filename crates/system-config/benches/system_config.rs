//! Benchmarks of the configuration store, each next to a bare baseline measured in the
//! same run: run with `cargo bench -p system-config` (or `cargo xtask bench`).

use std::collections::HashMap;
use std::hint::black_box;

use anyhow::Result;
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use serde_json::{Value, json};
use system_config::{SystemConfig, SystemConfigKey};
use test_support::bench::{compare_async, compare_sync, report};

/// A `Storages` value of realistic size: five drives, two of them logged in.
fn storages() -> Value {
    json!([
        {"type": "local", "name": "本地", "config": {}},
        {"type": "alipan", "name": "阿里云盘", "config": {
            "token_type": "Bearer", "access_token": "a".repeat(800), "refresh_token": "r".repeat(32),
            "expires_in": 7200, "refresh_time": 1_764_000_000, "user_id": "u1", "name": "me",
            "avatar": "https://img.example/a.png", "default_drive_id": "1", "resource_drive_id": "2",
            "backup_drive_id": "3"}},
        {"type": "u115", "name": "115网盘", "config": {
            "access_token": "b".repeat(64), "refresh_token": "c".repeat(64), "expires_in": 7200,
            "refresh_time": 1_764_000_000}},
        {"type": "rclone", "name": "RClone", "config": {}},
        {"type": "alist", "name": "AList", "config": {}}
    ])
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
    let store = SystemConfig::open(&url).await?;
    let value = storages();
    store.set(SystemConfigKey::Storages, value.clone()).await?;

    let mut results = Vec::new();

    // Cached get (a deep copy, like MoviePilot's) vs HashMap lookup + clone.
    let mut map: HashMap<String, Value> = HashMap::new();
    map.insert("Storages".into(), value.clone());
    results.push(compare_sync(
        "get (cached, deep copy) vs HashMap get + clone",
        Some(3.0),
        15,
        20_000,
        || {
            black_box(store.get(black_box("Storages")).ok().flatten());
        },
        || {
            black_box(map.get(black_box("Storages")).cloned());
        },
    ));
    results.push(compare_sync(
        "get_arc (cached, shared) vs HashMap get + Arc clone",
        Some(3.0),
        15,
        200_000,
        || {
            black_box(store.get_arc(black_box("Storages")).ok().flatten());
        },
        {
            let shared: HashMap<String, std::sync::Arc<Value>> =
                [("Storages".to_owned(), std::sync::Arc::new(value.clone()))].into();
            move || {
                black_box(shared.get(black_box("Storages")).cloned());
            }
        },
    ));

    // Writes on the same WAL file, same durability (synchronous=FULL), vs raw sqlx.
    let path = dir.path().join("user.db");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&path)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(std::time::Duration::from_secs(10)),
        )
        .await?;
    let small = |n: u32| json!({"n": n, "token": "t".repeat(64)});
    store.set("bench", small(0)).await?;
    let text = |n: u32| small(n).to_string();
    let raw_update = |n: u32| {
        let pool = pool.clone();
        async move {
            sea_orm::sqlx::query("UPDATE systemconfig SET value = ? WHERE \"key\" = ?")
                .bind(text(n))
                .bind("bench")
                .execute(&pool)
                .await
                .ok();
        }
    };
    results.push(
        compare_async(
            "set (changed value, WAL, sync=FULL) vs raw sqlx UPDATE",
            Some(1.5),
            9,
            200,
            |n| {
                let store = store.clone();
                async move {
                    store.set("bench", small(n)).await.ok();
                }
            },
            raw_update,
        )
        .await,
    );
    results.push(
        compare_async(
            "update (read-modify-write) vs raw sqlx UPDATE",
            Some(1.5),
            9,
            200,
            |n| {
                let store = store.clone();
                async move {
                    store.update("bench", |_| small(n)).await.ok();
                }
            },
            raw_update,
        )
        .await,
    );
    report("system-config", &results);
    Ok(())
}
