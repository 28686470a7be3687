//! Several OS processes, many tasks each, one database, one expired rotating token.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Duration;

use cloud_clients::u115::{U115Client, U115Options};
use cloud_sim::Fault;
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::{Children, backends, child_role, worker_done};

use crate::common::{ACCOUNT, env};

const WORKER: &str = "multiprocess::token_worker";
const PROCESSES: usize = 4;
const TASKS: usize = 50;

/// A fingerprint of a token, so test output never shows the token itself.
fn fingerprint(token: &str) -> u64 {
    let mut h = DefaultHasher::new();
    token.hash(&mut h);
    h.finish()
}

/// Runs only inside a child process started by the test below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_worker() -> anyhow::Result<()> {
    if child_role().as_deref() != Some(WORKER) {
        return Ok(());
    }
    let url = std::env::var("CC_TEST_URL")?;
    let sim = std::env::var("CC_TEST_SIM")?;
    let go = std::env::var("CC_TEST_GO")?;
    let storages = StorageHelper::new(SystemConfig::open(&url).await?);
    // The real clock: the stored token expired an hour ago.
    let client = U115Client::new(&storages, U115Options::at(&sim))?;
    // Start together.
    while !Path::new(&go).exists() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.accessor().access_token().await })
        })
        .collect();
    for task in tasks {
        let token = task.await??;
        println!("token {}", fingerprint(token.secret()));
    }
    worker_done();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_at_expiry_make_exactly_one_refresh() -> anyhow::Result<()> {
    if child_role().is_some() {
        return Ok(());
    }
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login_expired_an_hour_ago().await?;
        // Hold the refresh answer back so every process arrives while it is in flight.
        env.sim.inject_fault(
            "/open/refreshToken",
            Fault::Delay(Duration::from_millis(400)),
            1,
        );

        let dir = tempfile::tempdir()?;
        let go = dir.path().join("go");
        let go_str = go.display().to_string();
        let children = Children::spawn(
            WORKER,
            PROCESSES,
            &[
                ("CC_TEST_URL", &db.url),
                ("CC_TEST_SIM", env.sim.base_url()),
                ("CC_TEST_GO", &go_str),
            ],
        )?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        std::fs::write(&go, b"go")?;
        let outputs = children.wait_with_output()?;

        let stats = env.sim.account_stats(ACCOUNT);
        assert_eq!(
            stats.refresh_calls, 1,
            "{:?}: one refresh in total",
            db.backend
        );
        assert_eq!(stats.rejected_reuses, 0);
        let stored = env.stored().await?;
        let new = stored["access_token"].as_str().unwrap_or_default();
        assert_ne!(new, pair.access_token);
        assert_eq!(
            stored["refresh_token"].as_str(),
            env.sim.live_refresh_token(ACCOUNT).as_deref()
        );
        let expected = format!("token {}", fingerprint(new));
        // libtest may print its "test … ..." prefix on the same line as the first token.
        let lines: Vec<&str> = outputs
            .iter()
            .flat_map(|o| o.lines())
            .filter_map(|l| l.find("token ").map(|i| &l[i..]))
            .collect();
        assert_eq!(lines.len(), PROCESSES * TASKS);
        assert!(
            lines.iter().all(|l| *l == expected),
            "every caller in every process got the new token"
        );
    }
    Ok(())
}
