//! OpenList upload benchmark, next to a baseline measured in the same run, rounds
//! interleaved, medians reported: `cargo bench -p cloud-clients --bench alist_upload` (or
//! `cargo xtask bench`).
//!
//! `upload()` of a 256 MiB file to the OpenList simulator (`PUT /api/fs/put`, the file
//! streamed as one body from the upload client under the stall watch, then the result
//! looked up) vs `curl -T FILE` of the same file to the same endpoint with the same
//! headers and the session token. Also our peak RSS growth: the file is streamed, so it
//! must not grow with the file (it is reported against 16 MiB, a fraction of the file).
//!
//! The simulator runs in a child process (this binary, re-run with `SIMULATOR_ENV` set) on a
//! runtime of its own, so it competes neither for the client's runtime nor for its memory
//! (it keeps every uploaded byte).

use std::os::unix::fs::FileExt as _;
use std::process::Command;
use std::time::Instant;

use anyhow::{Result, ensure};
use cloud_clients::alist::{AlistClient, AlistOptions};
use cloud_clients::{
    CloudStorage, HttpClient, HttpOptions, Password, PasswordLogin, UploadOptions,
};
use cloud_sim::{ConfigOpenList, SimOpenList};
use serde_json::json;
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::bench::{Comparison, median, mib, mib_per_s, report, run};
use test_support::bench_process::{ChildServer, peak_rss_growth};

const USER: &str = "bench";
const PASSWORD: &str = "bench-password";
const UPLOAD_SIZE: u64 = 256 << 20;
/// Rounds (each runs ours once and curl once).
const ROUNDS: usize = 5;
/// Set in the child process that serves the simulator.
const SIMULATOR_ENV: &str = "CLOUD_CLIENTS_ALIST_BENCH_SIMULATOR";

/// The child process: the OpenList simulator with one user; one JSON line on stdout, then
/// served until stdin closes.
fn simulator_process() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sim = SimOpenList::start(ConfigOpenList::default()).await?;
        sim.add_user(USER, PASSWORD);
        ChildServer::serve(&json!({ "base_url": sim.base_url() })).await
    })
}

/// `curl -T` of `file` to `/api/fs/put` as `path`, with the headers the library sends.
fn curl_put(base_url: &str, token: &str, file: &std::path::Path, path: &str) -> Result<()> {
    let mut curl = Command::new("curl");
    curl.args(["-s", "-f", "-g", "-o", "/dev/null", "-w", "%{http_code}"])
        .args([
            "-H",
            "Expect:",
            "-H",
            "As-Task: false",
            "-H",
            "Overwrite: false",
        ])
        .args(["-H", "Content-Type: application/octet-stream"])
        .arg("-H")
        .arg(format!("Authorization: {token}"))
        .arg("-H")
        .arg(format!("File-Path: {path}"))
        .arg("-T")
        .arg(file)
        .arg(format!("{base_url}/api/fs/put"));
    let code = run(&mut curl)?;
    ensure!(code.trim() == "200", "curl's PUT answered {code}");
    Ok(())
}

fn main() -> Result<()> {
    if ChildServer::is_child(SIMULATOR_ENV) {
        return simulator_process();
    }
    let dir = tempfile::tempdir()?;
    let runtime = test_support::bench::runtime()?;
    let sim = ChildServer::spawn(SIMULATOR_ENV)?;
    let base_url = sim.text("base_url");
    let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
    let client = runtime.block_on(async {
        let storages = StorageHelper::new(SystemConfig::open(&url).await?);
        let client = AlistClient::with_http(
            &storages,
            AlistOptions::at(&base_url).requests_per_second(0.0),
            HttpClient::new(HttpOptions::default())?,
        )?;
        client
            .login_with_password(USER, &Password::new(PASSWORD))
            .await?;
        anyhow::Ok(client)
    })?;
    let root = client.root();
    let options = UploadOptions::default();
    let local = dir.path().join("upload.bin");
    std::fs::write(
        &local,
        test_support::content(usize::try_from(UPLOAD_SIZE)?, 0x0a15),
    )?;

    let (mut ours, mut curl, mut growth) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // Fresh content each round.
        let marker = (u64::try_from(round)? + 1).to_le_bytes();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&local)?
            .write_at(&marker, 0)?;
        let name = format!("ours-{round}.bin");
        let ((elapsed, uploaded), peak) = peak_rss_growth(|| {
            let t = Instant::now();
            let uploaded =
                runtime.block_on(client.upload(&local, &root, &name, &options, &mut |_, _, _| {}));
            (t.elapsed(), uploaded)
        });
        ensure!(uploaded?.size == Some(UPLOAD_SIZE));
        ours.push(elapsed);
        growth.push(peak.growth);

        let token = runtime.block_on(client.access_token())?;
        let path = format!("/curl-{round}.bin");
        let t = Instant::now();
        curl_put(&base_url, token.secret(), &local, &path)?;
        curl.push(t.elapsed());
        let stored = runtime.block_on(client.stat(&path))?;
        ensure!(stored.and_then(|i| i.size) == Some(UPLOAD_SIZE));
    }
    let (ours, curl) = (median(ours), median(curl));
    growth.sort_unstable();
    let lines = vec![
        format!(
            "upload of 256 MiB: ours {} vs curl -T {}; peak RSS growth during ours: median {}, max {} (streamed: reported against 16 MiB)",
            mib_per_s(UPLOAD_SIZE, ours),
            mib_per_s(UPLOAD_SIZE, curl),
            mib(median(growth.clone())),
            mib(growth.last().copied().unwrap_or(0)),
        ),
        format!("(medians of {ROUNDS} interleaved rounds)"),
    ];
    report(
        "cloud-clients: OpenList upload (time ratio: ours / curl)",
        &[Comparison {
            name: "alist upload() of 256 MiB vs curl -T (one PUT)".into(),
            subject: ours,
            baseline: curl,
            target: Some(1.0 / 0.8),
        }],
    );
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
