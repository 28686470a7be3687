//! `token refresh --force` reports a failed refresh as a failure.

use cloud_sim::{Fault, Malformed, RateLimitAnswer};
use serde_json::{Map, Value};
use storage_helper::StorageHelper;
use system_config::SystemConfig;

use crate::{ACCOUNT, cloudctl, logged_in, ok, sim, stderr};

async fn stored_u115(url: &str) -> anyhow::Result<Map<String, Value>> {
    Ok(StorageHelper::new(SystemConfig::open(url).await?)
        .handle("u115")
        .get_conf()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_refresh_that_fails_exits_non_zero_and_keeps_the_tokens() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let url = db.url.as_str();
    let sim = sim().await;
    logged_in(url, &sim).await?;
    let before = stored_u115(url).await?;

    for fault in [
        Fault::Status(500),
        Fault::Reset,
        Fault::Malformed(Malformed::Html),
    ] {
        sim.clear_faults();
        sim.inject_fault("/open/refreshToken", fault.clone(), 100);
        let out = cloudctl(url, Some(&sim), &["token", "refresh", "u115", "--force"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "{fault:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{fault:?}: one error line: {err}");
        assert!(err.starts_with("error: "), "{fault:?}: {err}");
        assert!(
            !crate::stdout(&out).contains("valid"),
            "{fault:?}: {}",
            crate::stdout(&out)
        );
        let after = stored_u115(url).await?;
        for key in [
            "access_token",
            "refresh_token",
            "refresh_time",
            "expires_in",
        ] {
            assert_eq!(after.get(key), before.get(key), "{fault:?}: {key} changed");
        }
    }
    // The provider still accepts the stored login.
    sim.clear_faults();
    assert_eq!(sim.account_stats(ACCOUNT).refreshes_ok, 0);
    ok(cloudctl(
        url,
        Some(&sim),
        &["token", "refresh", "u115", "--force"],
    ));
    assert_eq!(sim.account_stats(ACCOUNT).refreshes_ok, 1);
    Ok(())
}

/// `2025-11-28T04:05:06Z` somewhere in `text`.
fn has_utc_time(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(20).any(|w| {
        w.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_reported_with_a_readable_time() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let url = db.url.as_str();
    let sim = sim().await;
    logged_in(url, &sim).await?;
    sim.inject_rate_limit(
        "/open/refreshToken",
        RateLimitAnswer::Http429 { reset_secs: 600 },
        100,
    );
    let out = cloudctl(url, Some(&sim), &["token", "refresh", "u115", "--force"]);
    let err = stderr(&out);
    // Whether the command reports the rate limit as its error or as a note beside a
    // still-valid token, the time is shown in UTC, not as a `SystemTime` debug dump.
    assert!(err.contains("rate-limited"), "{err}");
    assert!(has_utc_time(&err), "{err}");
    assert!(
        !err.contains("SystemTime") && !err.contains("tv_sec"),
        "{err}"
    );
    Ok(())
}
