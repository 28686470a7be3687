//! Reads, writes, notifications and cross-store visibility.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use system_config::{
    Coherence, Error, SetOutcome, StoreOptions, SystemConfig, SystemConfigKey, Write, plugin_key,
};
use test_support::backends;

use crate::{exec, raw};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_set_delete_all() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        assert_eq!(store.get("NoSuchKey")?, None, "{:?}", db.backend);

        let dl = json!([{"name": "qb", "type": "qbittorrent", "config": {"host": "h"}}]);
        assert_eq!(
            store.set(SystemConfigKey::Downloaders, dl.clone()).await?,
            SetOutcome::Changed
        );
        assert_eq!(
            store.set(SystemConfigKey::Downloaders, dl.clone()).await?,
            SetOutcome::Unchanged
        );
        assert_eq!(store.get(SystemConfigKey::Downloaders)?, Some(dl.clone()));
        store
            .set(plugin_key("AutoSignIn"), json!({"enabled": true}))
            .await?;
        store.set("any free-form key ✓", json!(1.5)).await?;

        let all = store.all();
        assert_eq!(all.get("Downloaders"), Some(&dl));
        assert_eq!(
            all.get("plugin.AutoSignIn"),
            Some(&json!({"enabled": true}))
        );
        assert_eq!(all.get("any free-form key ✓"), Some(&json!(1.5)));

        assert!(store.delete("plugin.AutoSignIn").await?);
        assert!(!store.delete("plugin.AutoSignIn").await?);
        assert_eq!(store.get("plugin.AutoSignIn")?, None);

        // A second store on the same database reads what the first committed.
        let other = SystemConfig::open(&db.url).await?;
        assert_eq!(other.get(SystemConfigKey::Downloaders)?, Some(dl));
        assert_eq!(other.get("plugin.AutoSignIn")?, None);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falsy_values_are_stored_not_deleted() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        for (i, falsy) in [
            json!([]),
            json!({}),
            json!(""),
            json!(0),
            json!(false),
            Value::Null,
        ]
        .into_iter()
        .enumerate()
        {
            let key = format!("falsy{i}");
            store.set(&key, json!("something")).await?;
            assert!(store.set(&key, falsy.clone()).await?.is_changed());
            let reopened = SystemConfig::open(&db.url).await?;
            assert_eq!(reopened.get(&key)?, Some(falsy), "{:?} {key}", db.backend);
        }
    }
    Ok(())
}

#[derive(Debug, serde::Deserialize, serde::Serialize, PartialEq)]
struct Css {
    theme: String,
    size: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_reads_and_writes() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let css = Css {
            theme: "dark".into(),
            size: 3,
        };
        store.set_as("Typed", &css).await?;
        assert_eq!(store.get_as::<Css>("Typed")?, Some(css));
        assert_eq!(store.get_as::<Css>("Missing")?, None);

        let err = store.get_as::<Vec<u8>>("Typed").unwrap_err();
        assert!(
            matches!(&err, Error::Decode { key, .. } if key == "Typed"),
            "{err}"
        );

        // MoviePilot v1 kept JSON text inside a JSON string.
        store
            .set("V1", json!("{\"theme\":\"light\",\"size\":1}"))
            .await?;
        assert_eq!(
            store.get_as::<Css>("V1")?,
            Some(Css {
                theme: "light".into(),
                size: 1
            })
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_reads_inside_the_transaction_and_errors_write_nothing() -> anyhow::Result<()> {
    for db in backends().await? {
        let a = SystemConfig::open(&db.url).await?;
        // Without cache coherence b's cache certainly misses a's write.
        let b = SystemConfig::open_with(&db.url, StoreOptions::default().coherence(Coherence::Off))
            .await?;
        a.set("n", json!(10)).await?;
        // b's cache has not seen the write; its update must still start from 10.
        let _ = b.get("n")?;
        let updated = b
            .update("n", |v| json!(v.and_then(Value::as_i64).unwrap_or(0) + 1))
            .await?;
        assert_eq!(updated.value, json!(11));
        assert!(updated.changed);

        #[derive(Debug, thiserror::Error)]
        enum AppError {
            #[error("refused")]
            Refused,
            #[error(transparent)]
            Store(#[from] Error),
        }
        let refused: Result<((), bool), AppError> =
            a.try_update("n", |_| Err(AppError::Refused)).await;
        assert!(matches!(refused, Err(AppError::Refused)));
        assert_eq!(b.get_fresh("n").await?, Some(json!(11)));

        let (seen, changed) = a
            .try_update("n", |v| Ok::<_, Error>((Write::Keep, v.cloned())))
            .await?;
        assert_eq!((seen, changed), (Some(json!(11)), false));
        // Keep still refreshed a's cache with what the transaction read.
        assert_eq!(a.get("n")?, Some(json!(11)));
        let ((), deleted) = a
            .try_update("n", |_| Ok::<_, Error>((Write::Delete, ())))
            .await?;
        assert!(deleted);
        assert_eq!(b.get_fresh("n").await?, None);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reads_never_touch_the_database() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        store.set("Cached", json!({"a": 1})).await?;
        // Take the table away behind the store's back: reads keep working from memory,
        // writes report the missing schema.
        let conn = raw(&db.url).await?;
        exec(&conn, "DROP TABLE systemconfig").await?;
        for _ in 0..3 {
            assert_eq!(store.get("Cached")?, Some(json!({"a": 1})));
        }
        let err = store.set("Cached", json!(2)).await.unwrap_err();
        assert!(
            matches!(err, Error::SchemaMissing),
            "{:?}: {err}",
            db.backend
        );
        assert_eq!(
            store.get("Cached")?,
            Some(json!({"a": 1})),
            "a failed write must not touch the cache"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_hear_committed_changes_only() -> anyhow::Result<()> {
    for db in backends().await? {
        let store = SystemConfig::open(&db.url).await?;
        let mut one = store.subscribe_key("Watched");
        let mut all = store.subscribe();

        store.set("Other", json!(1)).await?;
        store.set("Watched", json!({"v": 1})).await?;
        let change = tokio::time::timeout(Duration::from_secs(5), one.recv()).await??;
        assert_eq!(change.key, "Watched");
        assert_eq!(change.value.as_deref(), Some(&json!({"v": 1})));
        assert_eq!(all.recv().await?.key, "Other");
        assert_eq!(all.recv().await?.key, "Watched");

        // Unchanged sets and failed updates announce nothing.
        store.set("Watched", json!({"v": 1})).await?;
        let _ = store
            .try_update("Watched", |_| Err::<(Write, ()), _>(Error::SchemaMissing))
            .await;
        store.delete("Watched").await?;
        let change = one.recv().await?;
        assert_eq!((change.key.as_str(), change.value), ("Watched", None));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_of_other_stores_arrive_by_refresh_and_sync() -> anyhow::Result<()> {
    for db in backends().await? {
        // Without cache coherence, to see the other ways in (see `coherence.rs` for it).
        let off = StoreOptions::default().coherence(Coherence::Off);
        let writer = SystemConfig::open(&db.url).await?;
        let manual = SystemConfig::open_with(&db.url, off.clone()).await?;
        let synced =
            SystemConfig::open_with(&db.url, off.sync_interval(Duration::from_millis(50))).await?;
        let mut watch = synced.subscribe_key("Shared");

        writer.set("Shared", json!("v1")).await?;
        assert_eq!(
            manual.get("Shared")?,
            None,
            "no refresh yet: the cache is stale"
        );
        assert_eq!(manual.refresh().await?, 1);
        assert_eq!(manual.get("Shared")?, Some(json!("v1")));

        let change = tokio::time::timeout(Duration::from_secs(5), watch.recv()).await??;
        assert_eq!(change.value.as_deref(), Some(&json!("v1")));
        assert_eq!(synced.get("Shared")?, Some(json!("v1")));

        writer.delete("Shared").await?;
        let change = tokio::time::timeout(Duration::from_secs(5), watch.recv()).await??;
        assert_eq!(change.value, None);
        assert_eq!(manual.get_fresh("Shared").await?, None);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_in_one_process_lose_nothing() -> anyhow::Result<()> {
    for db in backends().await? {
        // Two stores (two pools) in one process, 32 tasks, all starting on a missing key so
        // the first inserts race.
        let stores = [
            SystemConfig::open(&db.url).await?,
            SystemConfig::open(&db.url).await?,
        ];
        let barrier = Arc::new(tokio::sync::Barrier::new(32));
        let mut tasks = Vec::new();
        for t in 0..32 {
            let store = stores[t % 2].clone();
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                for _ in 0..25 {
                    store
                        .update("counter", |v| {
                            json!(v.and_then(Value::as_i64).unwrap_or(0) + 1)
                        })
                        .await?;
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        assert_eq!(
            stores[0].get_fresh("counter").await?,
            Some(json!(800)),
            "{:?}",
            db.backend
        );
    }
    Ok(())
}
