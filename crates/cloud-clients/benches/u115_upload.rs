//! 115 upload benchmarks, each next to a baseline measured in the same run, rounds
//! interleaved, medians reported: `cargo bench -p cloud-clients --bench u115_upload` (or
//! `cargo xtask bench`).
//!
//! 1. `upload()` of a 256 MiB file to the 115 simulator (fresh content each round, so no
//!    instant upload: hashing, `init`, `resume`, `get_token`, InitiateMultipartUpload, 16
//!    signed UploadParts of 16 MiB, Complete with the callback) vs `curl -T FILE` of the
//!    same file as one `PUT` to the same simulator's OSS service — a PutObject of an object
//!    115 issued, signed (V1, STS token) by this benchmark and handed to curl as headers.
//!    Also our peak RSS growth (target ≤ two parts + 16 MiB = 48 MiB) and, for the record,
//!    the time the library's hashing of the file takes alone.
//! 2. Instant upload of a 1 GiB file the simulator already holds (`init`, the second
//!    verification, `init` again: no part byte is sent) vs hashing that file with the
//!    library's own SHA-1 (`cloud_clients::sha1_file`): target ≤ 1.1×.
//!
//! The simulator runs in a child process (this binary, re-run with `SIMULATOR_ENV` set) on a
//! runtime of its own, so it competes neither for the client's runtime nor for its memory.
//! Upload content is zeros with a per-round marker in the first and last 8 bytes: the
//! simulator keeps all-zero parts as a length only, so rounds do not pile up gigabytes in
//! it, while the client reads, hashes, checksums and sends every byte as it would any other.

use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use base64::Engine as _;
use cloud_clients::u115::{U115Client, U115Options};
use cloud_clients::{
    AccessToken, CloudStorage, Grant, HttpClient, HttpOptions, RefreshToken, UploadOptions,
};
use cloud_sim::{Config115, Sim115, SimFile};
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Map, Value, json};
use sha1::{Digest as _, Sha1};
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::bench::{Comparison, median, mib, mib_per_s, report, run};
use test_support::bench_process::{ChildServer, peak_rss_growth};

const ACCOUNT: &str = "bench";
const MIB: u64 = 1 << 20;
const UPLOAD_SIZE: u64 = 256 << 20;
const KNOWN_SIZE: u64 = 1 << 30;
const KNOWN_PATH: &str = "/known/zeros.bin";
/// Rounds per comparison (each runs ours once and the baseline once).
const ROUNDS: usize = 5;
/// Set in the child process that serves the simulator.
const SIMULATOR_ENV: &str = "CLOUD_CLIENTS_U115_BENCH_SIMULATOR";

/// Writes `len` zero bytes to `path` (real blocks, not a sparse file).
fn write_zeros(path: &Path, len: u64) -> Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let buf = vec![0u8; MIB as usize];
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB);
        file.write_all(&buf[..usize::try_from(n)?])?;
        left -= n;
    }
    file.into_inner()?.sync_all()?;
    Ok(())
}

/// When each phase of an upload ended (from its start).
#[derive(Debug, Default, Clone, Copy)]
struct Marks {
    hashed: Duration,
    sending: Duration,
    sent: Duration,
    done: Duration,
}

impl Marks {
    fn see(&mut self, start: Instant, phase: cloud_clients::TransferPhase, done: u64, total: u64) {
        use cloud_clients::TransferPhase::{Done, Hashing, Sending};
        let now = start.elapsed();
        match phase {
            Hashing => self.hashed = now,
            Sending if self.sending.is_zero() => self.sending = now,
            Sending if done == total => self.sent = now,
            Done => self.done = now,
            _ => {}
        }
    }
}

/// The child process: the 115 simulator on a current-thread runtime, a logged-in account
/// holding a 1 GiB file of zeros; one JSON line on stdout, then served until stdin closes.
fn simulator_process() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sim = Sim115::start(Config115::default()).await?;
        sim.create_account(ACCOUNT);
        let mut hasher = Sha1::new();
        let zeros = vec![0u8; MIB as usize];
        for _ in 0..KNOWN_SIZE / MIB {
            hasher.update(&zeros);
        }
        let sha1 = hex::encode_upper(hasher.finalize());
        sim.add_file(
            ACCOUNT,
            KNOWN_PATH,
            SimFile::sized(KNOWN_SIZE).with_sha1(sha1),
        )?;
        let pair = sim.login(ACCOUNT);
        let hello = json!({
            "base_url": sim.base_url(),
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_in": pair.expires_in,
        });
        ChildServer::serve(&hello).await
    })
}

/// The simulator process, seen from the benchmark.
struct Simulator {
    server: ChildServer,
}

impl Simulator {
    fn spawn() -> Result<Simulator> {
        Ok(Simulator {
            server: ChildServer::spawn(SIMULATOR_ENV)?,
        })
    }

    fn text(&self, key: &str) -> String {
        self.server.text(key)
    }

    async fn stats(&self, http: &reqwest::Client) -> Result<Value> {
        Ok(http
            .get(format!("{}/__sim/stats", self.text("base_url")))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    /// A 115 API call with the account's token; its `data`.
    async fn api(
        &self,
        http: &reqwest::Client,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<Value> {
        let url = format!("{}{path}", self.text("base_url"));
        let request = if form.is_empty() {
            http.get(url)
        } else {
            http.post(url).form(form)
        };
        let answer: Value = request
            .bearer_auth(self.text("access_token"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        ensure!(answer["state"] == json!(true), "{path} answered {answer}");
        Ok(answer["data"].clone())
    }
}

fn counter(stats: &Value, key: &str) -> u64 {
    stats[key].as_u64().unwrap_or(0)
}

/// curl's side: an object 115 issues for an upload (`init` of content it does not know),
/// fresh STS credentials, and `curl -T` of `file` as one PutObject signed with them. Only
/// the curl process is timed.
fn curl_put(
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    sim: &Simulator,
    file: &Path,
    round: usize,
) -> Result<Duration> {
    let (init, token) = runtime.block_on(async {
        let init = sim
            .api(
                http,
                "/open/upload/init",
                &[
                    ("file_name", format!("curl-{round}.bin")),
                    ("file_size", UPLOAD_SIZE.to_string()),
                    ("target", "U_1_0".into()),
                    ("fileid", format!("{:040X}", round + 1)),
                ],
            )
            .await?;
        let token = sim.api(http, "/open/upload/get_token", &[]).await?;
        anyhow::Ok((init, token))
    })?;
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let (bucket, object) = (text(&init, "bucket"), text(&init, "object"));
    let secret = text(&token, "AccessKeySecret");
    let security_token = text(&token, "SecurityToken");
    let date = run(Command::new("date").args(["-u", "+%a, %d %b %Y %H:%M:%S GMT"]))?
        .trim()
        .to_owned();
    let string_to_sign =
        format!("PUT\n\n\n{date}\nx-oss-security-token:{security_token}\n/{bucket}/{object}");
    let mut mac = hmac::Hmac::<Sha1>::new_from_slice(secret.as_bytes())?;
    mac.update(string_to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let url = format!(
        "{}/{bucket}/{}",
        text(&token, "endpoint").trim_end_matches('/'),
        object.replace('/', "%2F")
    );
    let mut curl = Command::new("curl");
    curl.args(["-s", "-f", "-g", "-w", "%{http_code}", "-o", "/dev/null"])
        .args(["-H", "Content-Type:", "-H", "Expect:"])
        .arg("-H")
        .arg(format!("Date: {date}"))
        .arg("-H")
        .arg(format!("x-oss-security-token: {security_token}"))
        .arg("-H")
        .arg(format!(
            "Authorization: OSS {}:{signature}",
            text(&token, "AccessKeyId")
        ))
        .arg("-T")
        .arg(file)
        .arg(url);
    let t = Instant::now();
    let code = run(&mut curl)?;
    let elapsed = t.elapsed();
    ensure!(code.trim() == "200", "PutObject answered {code}");
    Ok(elapsed)
}

#[allow(clippy::too_many_lines)]
fn main() -> Result<()> {
    if ChildServer::is_child(SIMULATOR_ENV) {
        return simulator_process();
    }
    let dir = tempfile::tempdir()?;
    let runtime = test_support::bench::runtime()?;
    let sim = Simulator::spawn()?;
    let library_http = HttpClient::new(HttpOptions::default())?;
    let http = library_http.client().clone();
    let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
    let client = runtime.block_on(async {
        let storages = StorageHelper::new(SystemConfig::open(&url).await?);
        let client = U115Client::with_http(
            &storages,
            U115Options::at(&sim.text("base_url")).requests_per_second(0.0),
            library_http,
        )?;
        client
            .accessor()
            .save_login(Grant {
                access_token: AccessToken::new(sim.text("access_token").as_str()),
                refresh_token: sim.server.hello["refresh_token"]
                    .as_str()
                    .map(RefreshToken::new),
                expires_in: sim.server.hello["expires_in"].as_u64().unwrap_or(7200),
                extra: Map::new(),
            })
            .await?;
        anyhow::Ok(client)
    })?;
    let root = client.root();
    let options = UploadOptions::default().session_dir(dir.path().join("sessions"));
    let mut results = Vec::new();
    let mut lines = Vec::new();

    // 1. 256 MiB upload vs curl -T.
    let local = dir.path().join("upload.bin");
    write_zeros(&local, UPLOAD_SIZE)?;
    let (mut ours, mut curl, mut growth, mut hashing) = (vec![], vec![], vec![], vec![]);
    let mut phases: Vec<Marks> = Vec::new();
    for round in 0..ROUNDS {
        let marker = (u64::try_from(round)? + 1).to_le_bytes();
        let file = std::fs::OpenOptions::new().write(true).open(&local)?;
        file.write_at(&marker, 0)?;
        file.write_at(&marker, UPLOAD_SIZE - 8)?;
        drop(file);
        let before = runtime.block_on(sim.stats(&http))?;
        let name = format!("ours-{round}.bin");
        let mut marks = Marks::default();
        let ((elapsed, uploaded), peak) = peak_rss_growth(|| {
            let t = Instant::now();
            let uploaded = runtime.block_on(client.upload(
                &local,
                &root,
                &name,
                &options,
                &mut |phase, done, total| marks.see(t, phase, done, total),
            ));
            (t.elapsed(), uploaded)
        });
        phases.push(marks);
        ensure!(uploaded?.size == Some(UPLOAD_SIZE));
        let after = runtime.block_on(sim.stats(&http))?;
        let sent = counter(&after, "oss_bytes_received") - counter(&before, "oss_bytes_received");
        ensure!(
            sent == UPLOAD_SIZE,
            "{sent} bytes reached OSS (an instant upload?)"
        );
        ours.push(elapsed);
        growth.push(peak.growth);
        curl.push(curl_put(&runtime, &http, &sim, &local, round)?);
        let t = Instant::now();
        cloud_clients::sha1_file(&local, &mut |_| {})?;
        hashing.push(t.elapsed());
    }
    let (ours, curl, hashing) = (median(ours), median(curl), median(hashing));
    let phase = |f: fn(&Marks) -> Duration| {
        test_support::bench::fmt(median(phases.iter().map(f).collect()))
    };
    lines.push(format!(
        "upload of 256 MiB, ours by phase (medians): hashing {}, init..initiate {}, parts {}, complete with callback {}",
        phase(|m| m.hashed),
        phase(|m| m.sending.saturating_sub(m.hashed)),
        phase(|m| m.sent.saturating_sub(m.sending)),
        phase(|m| m.done.saturating_sub(m.sent)),
    ));
    growth.sort_unstable();
    lines.push(format!(
        "upload of 256 MiB: ours {} ({} of it hashing the file for `init`) vs curl -T one PutObject {}; peak RSS growth during ours: median {}, max {} (target ≤ 48 MiB = two 16 MiB parts + 16 MiB)",
        mib_per_s(UPLOAD_SIZE, ours),
        test_support::bench::fmt(hashing),
        mib_per_s(UPLOAD_SIZE, curl),
        mib(growth[growth.len() / 2]),
        mib(growth.last().copied().unwrap_or(0)),
    ));
    results.push(Comparison {
        name: "u115 upload() of 256 MiB vs curl -T (one PutObject)".into(),
        subject: ours,
        baseline: curl,
        target: Some(1.0 / 0.8),
    });
    std::fs::remove_file(&local)?;

    // 2. Instant upload of a known 1 GiB file vs hashing it.
    let known = dir.path().join("known.bin");
    write_zeros(&known, KNOWN_SIZE)?;
    cloud_clients::sha1_file(&known, &mut |_| {})?; // into the page cache, for both sides
    let (mut instant, mut hash) = (vec![], vec![]);
    for round in 0..ROUNDS {
        let before = runtime.block_on(sim.stats(&http))?;
        let name = format!("known-{round}.bin");
        let t = Instant::now();
        let item =
            runtime.block_on(client.upload(&known, &root, &name, &options, &mut |_, _, _| {}))?;
        instant.push(t.elapsed());
        ensure!(item.size == Some(KNOWN_SIZE));
        let after = runtime.block_on(sim.stats(&http))?;
        ensure!(
            counter(&after, "instant_uploads") == counter(&before, "instant_uploads") + 1
                && counter(&after, "oss_bytes_received") == counter(&before, "oss_bytes_received"),
            "not an instant upload: {after}"
        );
        let t = Instant::now();
        cloud_clients::sha1_file(&known, &mut |_| {})?;
        hash.push(t.elapsed());
    }
    let (instant, hash) = (median(instant), median(hash));
    lines.push(format!(
        "instant upload of a known 1 GiB file (with the second verification): {} vs hashing it {} ({})",
        test_support::bench::fmt(instant),
        test_support::bench::fmt(hash),
        mib_per_s(KNOWN_SIZE, hash),
    ));
    results.push(Comparison {
        name: "u115 instant upload of 1 GiB vs sha1_file of it".into(),
        subject: instant,
        baseline: hash,
        target: Some(1.1),
    });

    report("115 upload (ratios: ours / baseline time)", &results);
    #[allow(clippy::print_stdout)]
    for line in lines {
        println!("{line}");
    }
    Ok(())
}
