//! A refresher killed (SIGKILL) while it holds the refresh lease.

use std::time::Duration;

use cloud_clients::u115::{U115Client, U115Options};
use cloud_clients::{AccessorOptions, Error, LEASE_MEMBER};
use cloud_sim::Fault;
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::{Children, backends, child_role, worker_done};

use crate::common::{ACCOUNT, env};

const WORKER: &str = "kill::refreshing_worker";
const LEASE: Duration = Duration::from_secs(2);

fn options(sim: &str) -> U115Options {
    U115Options::at(sim).accessor(AccessorOptions::default().lease_ttl(LEASE))
}

/// Runs only inside a child process: starts a refresh that the simulator holds back, and
/// waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshing_worker() -> anyhow::Result<()> {
    if child_role().as_deref() != Some(WORKER) {
        return Ok(());
    }
    let storages = StorageHelper::new(SystemConfig::open(&std::env::var("CC_TEST_URL")?).await?);
    let client = U115Client::new(&storages, options(&std::env::var("CC_TEST_SIM")?))?;
    let _ = client.accessor().access_token().await;
    worker_done();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_lease_holder_is_taken_over_and_the_login_survives() -> anyhow::Result<()> {
    if child_role().is_some() {
        return Ok(());
    }
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login_expired_an_hour_ago().await?;
        env.sim.inject_fault(
            "/open/refreshToken",
            Fault::Delay(Duration::from_secs(30)),
            1,
        );
        let child = Children::spawn(
            WORKER,
            1,
            &[
                ("CC_TEST_URL", &db.url),
                ("CC_TEST_SIM", env.sim.base_url()),
            ],
        )?;

        // Wait until the child holds the lease and its refresh request is in flight.
        let handle = env.storages.handle("u115");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let leased = handle
                .get_fresh()
                .await?
                .is_some_and(|e| e.extra.contains_key(LEASE_MEMBER));
            if leased && env.sim.path_count("/open/refreshToken") == 1 {
                break;
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the child never took the lease"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill_all()?;

        // The stored login is untouched by the crash; another process takes over once the
        // lease runs out.
        assert_eq!(
            env.stored_token("refresh_token").await?,
            pair.refresh_token.clone().unwrap_or_default()
        );
        let started = std::time::Instant::now();
        let survivor = StorageHelper::new(SystemConfig::open(&db.url).await?);
        let client = U115Client::new(&survivor, options(env.sim.base_url()))?;
        let rotated_by_the_dead = env.sim.live_refresh_token(ACCOUNT) != pair.refresh_token;
        match client.accessor().access_token().await {
            Ok(token) => {
                assert!(!rotated_by_the_dead);
                assert_eq!(token.secret(), env.stored_token("access_token").await?);
                assert_eq!(
                    Some(env.stored_token("refresh_token").await?),
                    env.sim.live_refresh_token(ACCOUNT)
                );
            }
            // Only possible when the provider rotated for the dead process before it could
            // save: the one window the protocol makes unavoidable. It must be reported.
            Err(Error::NeedsLogin { .. }) => assert!(rotated_by_the_dead, "{:?}", db.backend),
            Err(other) => anyhow::bail!("{:?}: {other}", db.backend),
        }
        assert!(
            started.elapsed() < LEASE + Duration::from_secs(5),
            "took over within the lease"
        );
        assert!(
            !handle
                .get_fresh()
                .await?
                .is_some_and(|e| e.extra.contains_key(LEASE_MEMBER))
        );
    }
    Ok(())
}
