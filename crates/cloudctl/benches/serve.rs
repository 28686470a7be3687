//! `cloudctl serve`'s token endpoint under load: 10,000 `GET /api/v1/storages/u115/token`
//! requests on a valid token from 64 concurrent keep-alive connections, against the real
//! `cloudctl serve` binary (its whole router: security headers, API-key check, timeout,
//! the token from memory) and against a bare axum handler returning a constant, served the
//! same way (its own process, a default multi-threaded Tokio runtime). Rounds alternate;
//! the best round of each side is reported. Target: throughput ≥ 0.5× the bare handler.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::BufRead as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

const REQUESTS: usize = 10_000;
const CONNECTIONS: usize = 64;
const ROUNDS: usize = 3;
const PATH: &str = "/api/v1/storages/u115/token";
const ROLE: &str = "DRIVEKEEP_SERVE_BENCH_BASELINE";

/// The baseline server (in a child process of this bench).
fn baseline_server() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = axum::Router::new().route(
            PATH,
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({"access_token": "constant", "expires_at": null}))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// Reads `listening on URL` from a child's standard output.
fn base_url(child: &mut Child) -> Result<String> {
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().context("the server ended")??;
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    Ok(url)
}

struct Round {
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Round {
    fn throughput(&self) -> f64 {
        REQUESTS as f64 / self.wall.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }
}

/// 64 clients, one keep-alive connection each, sharing `REQUESTS` requests.
async fn load(clients: &[reqwest::Client], url: &str, key: &str, requests: usize) -> Result<Round> {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            let (client, url, key, next) =
                (client.clone(), url.to_owned(), key.to_owned(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                    let asked = Instant::now();
                    let response = client.get(&url).bearer_auth(&key).send().await?;
                    anyhow::ensure!(response.status() == 200, "status {}", response.status());
                    response.bytes().await?;
                    latencies.push(asked.elapsed());
                }
                Ok::<_, anyhow::Error>(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let wall = started.elapsed();
    latencies.sort();
    Ok(Round { wall, latencies })
}

fn clients() -> Result<Vec<reqwest::Client>> {
    (0..CONNECTIONS)
        .map(|_| {
            Ok(reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()?)
        })
        .collect()
}

async fn bench() -> Result<()> {
    cloud_clients::install_crypto_provider();
    let db = test_support::TestDb::sqlite()?;
    let sim = cloud_sim::Sim115::start(cloud_sim::Config115 {
        client_id: Some("bench-app".into()),
        ..Default::default()
    })
    .await?;
    let pair = sim.login("bench");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    storage_helper::StorageHelper::new(system_config::SystemConfig::open(&db.url).await?)
        .handle("u115")
        .patch(serde_json::json!({
            "access_token": pair.access_token, "refresh_token": pair.refresh_token,
            "expires_in": 7200, "refresh_time": now.as_secs(), "client_id": "bench-app",
        }))
        .await?;
    let cloudctl = env!("CARGO_BIN_EXE_cloudctl");
    let out = Command::new(cloudctl)
        .args(["--database-url", &db.url, "serve", "--new-key", "bench"])
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = String::from_utf8(out.stdout)?.trim().to_owned();

    let mut serve = Command::new(cloudctl)
        .args(["--database-url", &db.url, "--endpoint"])
        .arg(format!("u115={}", sim.base_url()))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut bare = Command::new(std::env::current_exe()?)
        .env(ROLE, "1")
        .stdout(Stdio::piped())
        .spawn()?;
    let result = async {
        let serve_url = format!("{}{PATH}", base_url(&mut serve)?);
        let bare_url = format!("{}{PATH}", base_url(&mut bare)?);
        let serve_clients = clients()?;
        let bare_clients = clients()?;
        // Warm-up: connections open, caches warm.
        load(&serve_clients, &serve_url, &key, 2_000).await?;
        load(&bare_clients, &bare_url, &key, 2_000).await?;
        let (mut best_serve, mut best_bare): (Option<Round>, Option<Round>) = (None, None);
        for _ in 0..ROUNDS {
            let s = load(&serve_clients, &serve_url, &key, REQUESTS).await?;
            let b = load(&bare_clients, &bare_url, &key, REQUESTS).await?;
            if best_serve.as_ref().is_none_or(|x| s.wall < x.wall) {
                best_serve = Some(s);
            }
            if best_bare.as_ref().is_none_or(|x| b.wall < x.wall) {
                best_bare = Some(b);
            }
        }
        Ok::<_, anyhow::Error>((best_serve.context("rounds")?, best_bare.context("rounds")?))
    }
    .await;
    let _ = serve.kill();
    let _ = bare.kill();
    let _ = serve.wait();
    let _ = bare.wait();
    let (s, b) = result?;
    let ratio = s.throughput() / b.throughput();
    println!(
        "\n== cloudctl serve: token endpoint, {REQUESTS} requests, {CONNECTIONS} keep-alive connections (best of {ROUNDS}) =="
    );
    for (name, round) in [
        ("cloudctl serve (real router)", &s),
        ("bare axum handler (constant)", &b),
    ] {
        println!(
            "{name:<32} {:>9.0} req/s   p50 {:>9}   p99 {:>9}",
            round.throughput(),
            test_support::bench::fmt(round.percentile(0.50)),
            test_support::bench::fmt(round.percentile(0.99)),
        );
    }
    println!(
        "throughput ratio serve / bare: {ratio:.2}× (target ≥ 0.5×: {})",
        if ratio >= 0.5 { "met" } else { "MISSED" }
    );
    Ok(())
}

fn main() -> Result<()> {
    if std::env::var_os(ROLE).is_some() {
        return baseline_server();
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench())
}
