//! Cache coherence between two OS processes: how long after a `set` in one process the
//! value is visible to `get` in the other, on a SQLite file and (when
//! `DRIVEKEEP_TEST_PG_URL` names a server) on PostgreSQL; and what the machinery costs
//! while nothing changes.
//!
//! Run with `cargo bench -p system-config --bench coherence` (also part of
//! `cargo xtask bench`). The bench runs itself again as the writer process.
//!
//! The writer sets 500 distinct keys one after the other, 5 ms apart, and prints when each
//! `set` was called and when it returned (wall clock, shared by both processes on one
//! host). The reader — default options, so `Coherence::Auto` — stamps each key when its
//! change event arrives, which is when `get` starts returning it. Latency is measured from
//! the return of `set` (the writer knows it committed); a value that arrived before its
//! `set` had returned counts as 0.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use serde_json::json;
use system_config::SystemConfig;
use test_support::TestDb;

const ROLE_ENV: &str = "SC_COHERENCE_BENCH_ROLE";
const URL_ENV: &str = "SC_COHERENCE_BENCH_URL";
const WRITES: usize = 500;
const PACE: Duration = Duration::from_millis(5);
const IDLE: Duration = Duration::from_secs(2);

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if std::env::var(ROLE_ENV).as_deref() == Ok("writer") {
        return runtime.block_on(writer());
    }
    runtime.block_on(run())
}

/// The writer process: one line `n called returned` per `set`.
#[allow(clippy::print_stdout)]
async fn writer() -> Result<()> {
    let store = SystemConfig::open(&std::env::var(URL_ENV)?).await?;
    for n in 0..WRITES {
        let called = now_ns();
        store.set(format!("bench.{n}"), json!(n)).await?;
        let returned = now_ns();
        println!("{n} {called} {returned}");
        tokio::time::sleep(PACE).await;
    }
    Ok(())
}

struct Figures {
    backend: &'static str,
    p50: Duration,
    p99: Duration,
    max: Duration,
    p99_from_call: Duration,
    early: usize,
    idle: String,
}

#[allow(clippy::print_stdout)]
async fn run() -> Result<()> {
    let mut figures = vec![measure("SQLite", &TestDb::sqlite()?).await?];
    match TestDb::postgres().await? {
        Some(db) => figures.push(measure("PostgreSQL", &db).await?),
        None => println!("(PostgreSQL skipped: DRIVEKEEP_TEST_PG_URL is not set)"),
    }
    println!("\n== system-config coherence: {WRITES} sets in one process, visible in another ==");
    for f in &figures {
        let target = match f.backend {
            "PostgreSQL" => format!(
                " (target p99 ≤ 50 ms: {})",
                if f.p99 <= Duration::from_millis(50) {
                    "met"
                } else {
                    "MISSED"
                }
            ),
            _ => " (bound: check interval 250 ms + one table read)".to_owned(),
        };
        println!(
            "{:<11} p50 {:>9}  p99 {:>9}  max {:>9}  (p99 from the call of set {:>9}; {} seen before set returned){target}",
            f.backend,
            fmt(f.p50),
            fmt(f.p99),
            fmt(f.max),
            fmt(f.p99_from_call),
            f.early,
        );
        println!("{:<11} idle {IDLE:?}: {}", "", f.idle);
    }
    Ok(())
}

fn fmt(d: Duration) -> String {
    test_support::bench::fmt(d)
}

async fn measure(backend: &'static str, db: &TestDb) -> Result<Figures> {
    let reader = SystemConfig::open(&db.url).await?;
    let mut changes = reader.subscribe();
    let collector = tokio::spawn(async move {
        let mut seen: HashMap<usize, u128> = HashMap::with_capacity(WRITES);
        while seen.len() < WRITES {
            let Ok(change) = changes.recv().await else {
                break;
            };
            let at = now_ns();
            if let Some(n) = change
                .key
                .strip_prefix("bench.")
                .and_then(|n| n.parse().ok())
            {
                seen.entry(n).or_insert(at);
            }
        }
        seen
    });

    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .env(ROLE_ENV, "writer")
        .env(URL_ENV, &db.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the writer process")?;
    let stdout = child.stdout.take().context("the writer's output")?;
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
            .collect::<Vec<_>>()
    })
    .await?;
    let status = child.wait()?;
    if !status.success() {
        bail!("{backend}: the writer process failed: {status}");
    }
    let seen = tokio::time::timeout(Duration::from_secs(30), collector)
        .await
        .context("not every write became visible within 30 s")??;

    let mut latencies = Vec::with_capacity(WRITES);
    let mut from_call = Vec::with_capacity(WRITES);
    let mut early = 0;
    for line in &lines {
        let fields: Vec<u128> = line
            .split(' ')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .with_context(|| format!("writer line {line:?}"))?;
        let [n, called, returned] = fields[..] else {
            bail!("writer line {line:?}");
        };
        let at = *seen
            .get(&usize::try_from(n)?)
            .with_context(|| format!("{backend}: write {n} never became visible"))?;
        if at < returned {
            early += 1;
        }
        latencies.push(Duration::from_nanos(
            u64::try_from(at.saturating_sub(returned)).unwrap_or(u64::MAX),
        ));
        from_call.push(Duration::from_nanos(
            u64::try_from(at.saturating_sub(called)).unwrap_or(u64::MAX),
        ));
    }
    if latencies.len() != WRITES {
        bail!("{backend}: {} writes reported", latencies.len());
    }
    latencies.sort();
    from_call.sort();
    let pct = |v: &[Duration], p: usize| v[(v.len() * p / 100).min(v.len() - 1)];

    // Idle cost, from the store's own counters: nothing changes for two seconds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = reader.coherence_stats();
    let start = Instant::now();
    tokio::time::sleep(IDLE).await;
    let after = reader.coherence_stats();
    let elapsed = start.elapsed();
    let idle = format!(
        "{} data_version checks, {} reloads, {} notifications, {} key reads ({:.1} checks/s)",
        after.data_version_checks - before.data_version_checks,
        after.reloads - before.reloads,
        after.notifications - before.notifications,
        after.key_reads - before.key_reads,
        (after.data_version_checks - before.data_version_checks) as f64 / elapsed.as_secs_f64(),
    );
    Ok(Figures {
        backend,
        p50: pct(&latencies, 50),
        p99: pct(&latencies, 99),
        max: latencies[latencies.len() - 1],
        p99_from_call: pct(&from_call, 99),
        early,
        idle,
    })
}
