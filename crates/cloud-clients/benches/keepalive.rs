//! Keep-alive benchmark: `cargo bench -p cloud-clients --bench keepalive` (or
//! `cargo xtask bench`).
//!
//! Four keep-alive instances (each on its own store, as separate processes would be) and an
//! application with its own accessor and keep-alive share one SQLite file, against a
//! provider whose tokens live 6 s, for three lifetimes. The application thread reads its
//! token the whole time, each read timed, interleaved with a bare atomic-pointer load
//! (`arc_swap::ArcSwap`, the least a shared replaceable token can cost) timed the same
//! way: the latency distributions side by side, and how many refreshes reached the
//! provider. A read that would wait panics (the future must be ready at once).

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Result;
use cloud_clients::u115::{U115Client, U115Options};
use cloud_clients::{AccessToken, KeepAlive, KeepAliveOptions};
use cloud_sim::{Config115, Sim115};
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::bench::{fmt, ready};

const LIFETIME: Duration = Duration::from_secs(6);
const INSTANCES: usize = 4;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() -> Result<()> {
    let runtime = test_support::bench::runtime()?;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
    let (sim, keepalives, app) = runtime.block_on(async {
        let sim = Sim115::start(Config115 {
            access_lifetime: LIFETIME,
            ..Config115::default()
        })
        .await?;
        let pair = sim.login("bench");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        StorageHelper::new(SystemConfig::open(&url).await?)
            .handle("u115")
            .patch(serde_json::json!({
                "access_token": pair.access_token, "refresh_token": pair.refresh_token,
                "expires_in": LIFETIME.as_secs(), "refresh_time": now.as_secs(),
            }))
            .await?;
        let mut keepalives = Vec::new();
        let mut app = None;
        for _ in 0..=INSTANCES {
            let storages = StorageHelper::new(SystemConfig::open(&url).await?);
            let client = U115Client::new(&storages, U115Options::at(sim.base_url()))?;
            keepalives.push(KeepAlive::start(
                [client.accessor().clone()],
                KeepAliveOptions::default(),
            ));
            app = Some(client);
        }
        sim.reset_stats();
        anyhow::Ok((sim, keepalives, app))
    })?;
    let Some(app) = app else {
        anyhow::bail!("no application client")
    };
    let accessor = app.accessor().clone();
    let swap = arc_swap::ArcSwap::from_pointee(AccessToken::new("baseline"));

    let mut subject = Vec::new();
    let mut baseline = Vec::new();
    let end = Instant::now() + LIFETIME * 3;
    let mut tokens = std::collections::BTreeSet::new();
    while Instant::now() < end {
        for _ in 0..100 {
            let t = Instant::now();
            let token = black_box(ready(black_box(&accessor).access_token()))?;
            subject.push(t.elapsed());
            let t = Instant::now();
            black_box(AccessToken::clone(&black_box(&swap).load()));
            baseline.push(t.elapsed());
            if subject.len() % 1000 == 0 {
                tokens.insert(token.secret().to_owned());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    subject.sort();
    baseline.sort();
    let stats = sim.account_stats("bench");
    runtime.block_on(async {
        for keepalive in keepalives {
            keepalive.stop(Duration::from_secs(5)).await;
        }
    });
    #[allow(clippy::print_stdout)]
    {
        println!(
            "\n== cloud-clients: access_token() while {INSTANCES}+1 keep-alives refresh a 6 s token for 18 s =="
        );
        for (name, p) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)] {
            let (s, b) = (percentile(&subject, p), percentile(&baseline, p));
            println!(
                "{name:>6}: access_token() {} vs atomic-pointer load {} ({:.2}x)",
                fmt(s),
                fmt(b),
                s.as_secs_f64() / b.as_secs_f64().max(1e-12)
            );
        }
        println!(
            "{} timed reads, none waited; refreshes at the provider: {} ok of {} attempts ({} rejected reuses, {} too frequent); {} distinct tokens seen",
            subject.len(),
            stats.refreshes_ok,
            stats.refresh_calls,
            stats.rejected_reuses,
            stats.too_frequent,
            tokens.len()
        );
    }
    Ok(())
}
