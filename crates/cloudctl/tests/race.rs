//! Two `cloudctl token print` processes racing at expiry: one refresh, both succeed.

use std::process::Command;
use std::time::Duration;

use cloud_sim::Fault;
use serde_json::json;
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::backends;

use crate::{ACCOUNT, sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_token_print_processes_at_expiry_share_one_refresh() -> anyhow::Result<()> {
    for db in backends().await? {
        let sim = sim().await;
        let pair = sim.login(ACCOUNT);
        let an_hour_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            - 3600;
        StorageHelper::new(SystemConfig::open(&db.url).await?)
            .handle("u115")
            .patch(
                json!({"access_token": pair.access_token, "refresh_token": pair.refresh_token,
                          "expires_in": 1800, "refresh_time": an_hour_ago}),
            )
            .await?;
        sim.inject_fault(
            "/open/refreshToken",
            Fault::Delay(Duration::from_millis(500)),
            1,
        );
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_cloudctl"))
                .args([
                    "--database-url",
                    &db.url,
                    "--endpoint",
                    &format!("u115={}", sim.base_url()),
                    "token",
                    "print",
                    "u115",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        };
        let (a, b) = (spawn()?, spawn()?);
        let (a, b) = (a.wait_with_output()?, b.wait_with_output()?);
        assert!(a.status.success() && b.status.success(), "{a:?} {b:?}");
        assert_eq!(a.stdout, b.stdout, "both print the same token");
        let stats = sim.account_stats(ACCOUNT);
        assert_eq!(
            (stats.refresh_calls, stats.rejected_reuses),
            (1, 0),
            "{:?}",
            db.backend
        );
        assert_ne!(String::from_utf8_lossy(&a.stdout).trim(), pair.access_token);
    }
    Ok(())
}
