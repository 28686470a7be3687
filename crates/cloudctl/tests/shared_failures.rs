//! Failure states live in the database: separate `cloudctl` processes do not call the
//! provider again with a refused refresh token or during a rate limit, and the status
//! commands say so.

use cloud_sim::RateLimitAnswer;
use serde_json::{Value, json};
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::backends;

use crate::{ACCOUNT, cloudctl, logged_in, ok, sim, stderr};

const REFRESH: &str = "/open/refreshToken";

/// Makes the stored login due for refresh (saved two hours ago, 1800 s lifetime).
async fn make_due(url: &str) -> anyhow::Result<()> {
    let two_hours_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        - 7200;
    StorageHelper::new(SystemConfig::open(url).await?)
        .handle("u115")
        .patch(json!({"expires_in": 1800, "refresh_time": two_hours_ago}))
        .await?;
    Ok(())
}

/// `cloudctl --json token status u115`, run as its own process.
fn u115_status(url: &str) -> anyhow::Result<Value> {
    let status: Value = serde_json::from_str(&ok(cloudctl(
        url,
        None,
        &["--json", "token", "status", "u115"],
    )))?;
    Ok(status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_is_not_retried_by_other_processes() -> anyhow::Result<()> {
    for db in backends().await? {
        let sim = sim().await;
        logged_in(&db.url, &sim).await?;
        make_due(&db.url).await?;
        sim.revoke(ACCOUNT)?;
        for _ in 0..3 {
            let out = cloudctl(&db.url, Some(&sim), &["token", "print", "u115"]);
            assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        }
        assert_eq!(
            sim.path_count(REFRESH),
            1,
            "{:?}: 3 runs, 1 call",
            db.backend
        );

        let status = u115_status(&db.url)?;
        assert_eq!(status["u115"]["state"], "needs-login", "{status}");
        assert_eq!(status["u115"]["refreshable"], false);
        assert!(status["u115"]["reason"].is_string());
        let list = ok(cloudctl(&db.url, None, &["storage", "list"]));
        assert!(
            list.lines()
                .any(|l| l.starts_with("u115") && l.contains("needs-login")),
            "{list}"
        );
        // A new login clears the state for everyone.
        logged_in(&db.url, &sim).await?;
        ok(cloudctl(&db.url, Some(&sim), &["token", "print", "u115"]));
        let status = u115_status(&db.url)?;
        assert_eq!(status["u115"]["state"], "valid", "{status}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_hint_is_honoured_by_other_processes() -> anyhow::Result<()> {
    for db in backends().await? {
        let sim = sim().await;
        logged_in(&db.url, &sim).await?;
        make_due(&db.url).await?;
        sim.inject_rate_limit(REFRESH, RateLimitAnswer::Http429 { reset_secs: 30 }, 1);
        for _ in 0..5 {
            let out = cloudctl(&db.url, Some(&sim), &["token", "print", "u115"]);
            assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
            assert!(stderr(&out).contains("rate-limited"), "{}", stderr(&out));
        }
        assert_eq!(
            sim.path_count(REFRESH),
            1,
            "{:?}: 5 runs, 1 call",
            db.backend
        );
        let status = u115_status(&db.url)?;
        assert_eq!(status["u115"]["state"], "rate-limited", "{status}");
        assert!(status["u115"]["rate_limited_until"].is_string());
    }
    Ok(())
}
