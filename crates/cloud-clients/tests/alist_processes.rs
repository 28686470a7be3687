//! OpenList re-logins across 4 OS processes: at expiry and after a server restart, one
//! login request in total.

use std::path::Path;
use std::time::Duration;

use cloud_clients::CloudStorage;
use cloud_clients::alist::{AlistClient, AlistOptions};
use cloud_sim::Fault;
use serde_json::json;
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::{Children, backends, child_role, worker_done};

use crate::alist::{AlistEnv, STORAGE, USER};

const WORKER: &str = "alist_processes::session_worker";
const PROCESSES: usize = 4;
const TASKS: usize = 25;

/// Runs only inside a child process started by the tests below.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_worker() -> anyhow::Result<()> {
    if child_role().as_deref() != Some(WORKER) {
        return Ok(());
    }
    let url = std::env::var("CC_TEST_URL")?;
    let sim = std::env::var("CC_TEST_SIM")?;
    let go = std::env::var("CC_TEST_GO")?;
    let storages = StorageHelper::new(SystemConfig::open(&url).await?);
    let client = AlistClient::new(&storages, AlistOptions::at(&sim))?;
    while !Path::new(&go).exists() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.stat("/media").await })
        })
        .collect();
    for task in tasks {
        anyhow::ensure!(task.await??.is_some(), "/media is there");
    }
    let token = client.access_token().await?;
    println!("session {}", token.secret().len());
    worker_done();
    Ok(())
}

/// Starts the workers, lets them go together and returns after they finished.
async fn run_workers(env: &AlistEnv, url: &str) -> anyhow::Result<()> {
    // Hold the login answer back so every process arrives while it is in flight.
    env.sim.inject_fault(
        "/api/auth/login/hash",
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
            ("CC_TEST_URL", url),
            ("CC_TEST_SIM", env.sim.base_url()),
            ("CC_TEST_GO", &go_str),
        ],
    )?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&go, b"go")?;
    let outputs = children.wait_with_output()?;
    let lines = outputs
        .iter()
        .flat_map(|o| o.lines())
        .filter(|l| l.contains("session "))
        .count();
    anyhow::ensure!(lines == PROCESSES, "every worker finished: {outputs:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_at_expiry_log_in_once() -> anyhow::Result<()> {
    if child_role().is_some() {
        return Ok(());
    }
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        env.login().await?;
        env.sim.add_folder(USER, "/media")?;
        let old = env.stored().await?["access_token"].clone();
        // A JWT is a function of its claims: a login in the same second as the first
        // would yield the same token. The server's clock moves on.
        env.sim.clock().advance(Duration::from_secs(5));
        // Saved an hour ago with a 30-minute lifetime: due on the real clock.
        let an_hour_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            - 3600;
        env.storages
            .handle(STORAGE)
            .patch(json!({"expires_in": 1800, "refresh_time": an_hour_ago}))
            .await?;
        let before = env.logins();
        run_workers(&env, &db.url).await?;
        assert_eq!(
            env.logins() - before,
            1,
            "{:?}: one login request for 4 processes",
            db.backend
        );
        let stored = env.stored().await?;
        assert_ne!(stored["access_token"], old);
        assert!(stored.get("refresh_lease").is_none());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_processes_after_a_server_restart_log_in_once() -> anyhow::Result<()> {
    if child_role().is_some() {
        return Ok(());
    }
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        env.login().await?;
        env.sim.add_folder(USER, "/media")?;
        let old = env.stored().await?["access_token"].clone();
        // A restart long after the login (a JWT issued in the same second as the old one
        // would be the same token).
        env.sim.clock().advance(Duration::from_secs(5));
        assert_eq!(env.sim.restart(), 1, "the one session is gone");
        let before = env.logins();
        run_workers(&env, &db.url).await?;
        assert_eq!(
            env.logins() - before,
            1,
            "{:?}: one login request for 4 processes",
            db.backend
        );
        assert!(env.sim.stats().rejections("invalidated") >= 1);
        assert_ne!(env.stored().await?["access_token"], old);
    }
    Ok(())
}
