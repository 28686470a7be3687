//! `cloudctl keepalive` in four OS processes on one database, over three token lifetimes:
//! one refresh per token, none early, none repeated, and an application in a fifth
//! process (the library's `KeepAlive` beside its `access_token()` calls) that never finds
//! its token due.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cloud_clients::{KeepAlive, KeepAliveOptions, OpenOptions, TokenState};
use cloud_sim::{Config115, Sim115, Sim115Handle};
use storage_helper::StorageHelper;
use system_config::SystemConfig;

use crate::{ACCOUNT, APP_ID};

/// Token lifetime in the simulator. The default margin makes a token due after half of
/// it (6 s); the keep-alive refreshes a quarter-lifetime earlier (after 3 s of the whole
/// seconds MoviePilot stores, so 2–3 s after it was issued).
const LIFETIME: Duration = Duration::from_secs(12);
const PROCESSES: usize = 4;

fn spawn_keepalive(url: &str, sim: &Sim115Handle) -> std::io::Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_cloudctl"))
        .arg("--database-url")
        .arg(url)
        .env_remove("DATABASE_URL")
        .env_remove("CLOUDCTL_ENDPOINTS")
        .args(["--endpoint", &format!("u115={}", sim.base_url())])
        .args(["--json", "keepalive", "u115"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

fn terminate(child: &Child) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill -TERM failed");
    Ok(())
}

async fn scenario(url: &str) -> anyhow::Result<()> {
    let sim = Sim115::start(Config115 {
        client_id: Some(APP_ID.into()),
        access_lifetime: LIFETIME,
        // Refreshing a token less than 2 s old is "too frequent" (40140117): an early
        // refresh by any process would show in the counters.
        min_refresh_interval: Duration::from_secs(2),
        ..Config115::default()
    })
    .await?;
    let pair = sim.login(ACCOUNT);
    let helper = StorageHelper::new(SystemConfig::open(url).await?);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    helper
        .handle("u115")
        .patch(serde_json::json!({
            "access_token": pair.access_token, "refresh_token": pair.refresh_token,
            "expires_in": LIFETIME.as_secs(), "refresh_time": now.as_secs(), "client_id": APP_ID,
        }))
        .await?;
    sim.reset_stats();

    let mut children = Vec::new();
    for _ in 0..PROCESSES {
        children.push(spawn_keepalive(url, &sim)?);
    }

    // The application: its own accessor, kept alive in-process, asked every 10 ms.
    let drive = cloud_clients::open(
        &helper,
        "u115",
        &OpenOptions::default().endpoint("u115", sim.base_url()),
    )?;
    let accessor = drive.accessor().clone();
    let keepalive = KeepAlive::start([accessor.clone()], KeepAliveOptions::default());
    let mut tokens = BTreeSet::new();
    let mut misses = 0;
    let mut calls = 0;
    let mut slowest = Duration::ZERO;
    let mut states = BTreeSet::new();
    let end = Instant::now() + LIFETIME * 3;
    while Instant::now() < end {
        if accessor.cached().is_none() {
            misses += 1;
        }
        let asked = Instant::now();
        let token = accessor.access_token().await?;
        slowest = slowest.max(asked.elapsed());
        calls += 1;
        tokens.insert(token.secret().to_owned());
        states.insert(accessor.state().label());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    keepalive.stop(Duration::from_secs(10)).await;
    for child in &children {
        terminate(child)?;
    }
    let mut outputs = Vec::new();
    for child in children {
        outputs.push(tokio::task::spawn_blocking(move || child.wait_with_output()).await??);
    }

    // A refresh may land between the end of the reads and the processes' exit: the token
    // it saved counts as seen.
    let last = StorageHelper::new(SystemConfig::open(url).await?)
        .handle("u115")
        .get_conf()?;
    if let Some(token) = last.get("access_token").and_then(|t| t.as_str()) {
        tokens.insert(token.to_owned());
    }
    let stats = sim.account_stats(ACCOUNT);
    eprintln!(
        "keepalive ({url}): {calls} application calls, slowest {slowest:?}, {} tokens, {stats:?}",
        tokens.len()
    );
    for (i, out) in outputs.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "process {i}: {stderr}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Every line is a JSON state change; the login is valid from start to end.
        let lines: Vec<serde_json::Value> = stdout
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        assert!(
            lines
                .iter()
                .all(|l| l["storage"] == "u115" && l["state"]["state"] != "needs-login"),
            "process {i}: {stdout}"
        );
    }
    assert_eq!(
        misses, 0,
        "the application found its token due {misses} times"
    );
    assert_eq!(
        stats.rejected_reuses, 0,
        "a rotated refresh token was sent again"
    );
    assert_eq!(stats.too_frequent, 0, "a token was refreshed early");
    assert_eq!(stats.refresh_rejected_other, 0);
    assert_eq!(
        stats.refresh_calls, stats.refreshes_ok,
        "every refresh attempt succeeded"
    );
    // Each token the provider issued was refreshed exactly once (the last one not yet),
    // and the application saw every one of them.
    assert_eq!(tokens.len() as u64, stats.refreshes_ok + 1, "{stats:?}");
    // Three lifetimes of 12 s with a refresh every 2–3 s.
    assert!(
        (11..=18).contains(&stats.refreshes_ok),
        "{} refreshes",
        stats.refreshes_ok
    );
    // "refreshing" while another instance holds the lease; never anything worse.
    assert!(
        states.iter().all(|s| ["valid", "refreshing"].contains(s)),
        "{states:?}"
    );
    assert!(matches!(accessor.state(), TokenState::Valid { .. }));
    // Nothing left behind: no lease, no failure marks.
    let entry = helper.get("u115")?.map(|c| c.extra).unwrap_or_default();
    assert!(
        entry.get(cloud_clients::LEASE_MEMBER).is_none(),
        "{entry:?}"
    );
    assert!(
        entry.get(cloud_clients::LOGIN_STATE_MEMBER).is_none(),
        "{entry:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_keepalive_processes_refresh_each_token_once_and_the_application_never_waits()
-> anyhow::Result<()> {
    let backends = test_support::backends().await?;
    let runs = backends.iter().map(|db| scenario(&db.url));
    for result in futures::future::join_all(runs).await {
        result?;
    }
    Ok(())
}
