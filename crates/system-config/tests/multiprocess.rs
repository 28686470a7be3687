//! Several OS processes updating one key of one database.

use serde_json::{Value, json};
use system_config::SystemConfig;
use test_support::{Children, backends, child_role, worker_done};

const WORKER: &str = "multiprocess::increment_worker";
const PROCESSES: usize = 8;
const INCREMENTS: i64 = 200;

/// Runs only inside a child process started by the test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increment_worker() -> anyhow::Result<()> {
    if child_role().as_deref() != Some(WORKER) {
        return Ok(());
    }
    let url = std::env::var("SC_TEST_URL")?;
    // Every child opens (and so migrates) concurrently with its siblings.
    let store = SystemConfig::open(&url).await?;
    for _ in 0..INCREMENTS {
        store
            .update("counter", |v| {
                json!(v.and_then(Value::as_i64).unwrap_or(0) + 1)
            })
            .await?;
    }
    worker_done();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_processes_increment_without_losing_one() -> anyhow::Result<()> {
    if child_role().is_some() {
        return Ok(());
    }
    for db in backends().await? {
        // The database is brand new: the children race to migrate it and to insert the key.
        Children::spawn(WORKER, PROCESSES, &[("SC_TEST_URL", &db.url)])?.wait()?;
        let store = SystemConfig::open(&db.url).await?;
        assert_eq!(
            store.get("counter")?,
            Some(json!(PROCESSES as i64 * INCREMENTS)),
            "{:?}",
            db.backend
        );
    }
    Ok(())
}
