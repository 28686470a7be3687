//! The metrics emitted through the `metrics` facade, read back with a debugging recorder
//! installed for this thread only (the runtime is single-threaded, so the token core's
//! tasks, the HTTP client and the simulator all run under it). Counts are exact.

use std::collections::BTreeMap;

use cloud_sim::RateLimitAnswer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

use crate::common::env;

/// `name{label=value,…}` → counter value, or the number of samples of a histogram, since
/// the last reading (the debugging recorder hands out what it gathered and starts over).
fn readings(snapshotter: &Snapshotter) -> BTreeMap<String, u64> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (name, labels) = (key.key().name().to_owned(), key.key().labels());
            let mut labels: Vec<String> = labels
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            let reading = match value {
                DebugValue::Counter(n) => n,
                DebugValue::Histogram(samples) => samples.len() as u64,
                DebugValue::Gauge(_) => 0,
            };
            (format!("{name}{{{}}}", labels.join(",")), reading)
        })
        .collect()
}

fn get(readings: &BTreeMap<String, u64>, key: &str) -> u64 {
    readings.get(key).copied().unwrap_or(0)
}

#[test]
fn refreshes_requests_rate_limits_and_store_writes_are_counted_exactly() -> anyhow::Result<()> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let db = test_support::TestDb::sqlite()?;
        let env = env(&db.url).await?;
        env.login().await?;
        let client = env.client()?;
        client.user_info().await?;
        let before = readings(&snapshotter);

        // One refresh; one request rate-limited once and repeated.
        env.expire();
        env.sim.inject_rate_limit(
            "/open/user/info",
            RateLimitAnswer::Http429 { reset_secs: 0 },
            1,
        );
        client.user_info().await?;
        let after = readings(&snapshotter);
        let delta = |key: &str| get(&after, key);

        assert_eq!(
            delta("drivekeep_token_refreshes_total{outcome=ok,storage=u115}"),
            1
        );
        assert_eq!(
            delta("drivekeep_token_refresh_seconds{storage=u115}"),
            1,
            "{after:#?}"
        );
        assert_eq!(
            delta("drivekeep_token_flights_total{outcome=refreshed,storage=u115}"),
            1
        );
        assert_eq!(
            delta("drivekeep_provider_requests_total{endpoint=/open/refreshToken,provider=u115,status=2xx}"),
            env.sim.path_count("/open/refreshToken")
        );
        assert_eq!(
            delta("drivekeep_provider_requests_total{endpoint=/open/user/info,provider=u115,status=429}"),
            1,
            "{after:#?}"
        );
        assert_eq!(
            delta("drivekeep_provider_requests_total{endpoint=/open/user/info,provider=u115,status=2xx}"),
            1
        );
        let user_info = "drivekeep_provider_requests_total{endpoint=/open/user/info,provider=u115,status=2xx}";
        assert_eq!(
            get(&before, user_info) + delta(user_info) + 1,
            env.sim.path_count("/open/user/info"),
            "every request to the provider is counted once"
        );
        assert_eq!(
            delta("drivekeep_provider_request_seconds{endpoint=/open/user/info,provider=u115}"),
            2
        );
        assert_eq!(
            delta("drivekeep_rate_limit_backoffs_total{source=request,storage=u115}"),
            1
        );
        // The refresh wrote twice: the lease, then the tokens (releasing the lease).
        assert_eq!(
            delta("drivekeep_store_writes_total{backend=sqlite,outcome=ok}"),
            2
        );
        assert_eq!(delta("drivekeep_store_write_seconds{backend=sqlite}"), 2);
        // The token read path emits nothing: a thousand reads change no reading.
        for _ in 0..1_000 {
            client.accessor().access_token().await?;
        }
        let quiet = readings(&snapshotter);
        assert!(quiet.values().all(|n| *n == 0), "{quiet:#?}");
        // The store's open loaded the whole table once.
        assert_eq!(
            get(
                &before,
                "drivekeep_store_cache_reloads_total{backend=sqlite,scope=all}"
            ),
            1
        );
        anyhow::Ok(())
    })?;
    Ok(())
}
