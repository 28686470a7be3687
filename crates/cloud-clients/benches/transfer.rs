//! Transfer benchmarks, each next to a standard tool measured in the same run, rounds
//! interleaved (ours, then the tool), medians reported:
//! `cargo bench -p cloud-clients --bench transfer` (or `cargo xtask bench`).
//!
//! 1. SHA-1 of a 1 GiB file (in the page cache) vs `openssl sha1 FILE`. Ours is the loop of
//!    `transfer::hash::sha1_file` (crate-private), replicated here: 1 MiB reads into
//!    `sha1::Sha1` (SHA-NI picked at run time).
//! 2. `download()` of a 256 MiB file from the alipan simulator vs `curl -s -o OUT URL` of a
//!    link from `download_url()` (and, for the record, curl followed by `sync OUT`: ours
//!    fsyncs before the rename); and our peak RSS growth meanwhile.
//! 3. `upload()` of a 256 MiB file (fresh content each round: no instant upload) vs
//!    `curl -T FILE` of the same bytes as one `PUT` to a single-part upload URL of the same
//!    simulator — and, for the record, that PUT + `complete`, and the library's 16 PUTs of
//!    16 MiB made by curl + `complete`; the time the library's reading and hashing of the
//!    parts takes alone; our peak RSS growth, and how often the file was read (`rchar` of
//!    `/proc/self/io`: bytes read through `read`/`pread`; socket receives do not count).
//!
//! The simulator runs in a child process (this binary, re-run with `SIMULATOR_ENV` set) on a
//! runtime of its own: it competes for neither the client's runtime nor its memory — it
//! keeps every uploaded byte, which would otherwise show up in our RSS.
//!
//! The shared harness reports time ratios (ours / the tool's, lower is better): a
//! throughput target of "at least 0.9× the tool's" is a time ratio of at most 1/0.9.

use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use cloud_clients::alipan::{AlipanClient, AlipanDrive, AlipanOptions};
use cloud_clients::{
    AccessToken, CloudStorage, FileItem, Grant, HttpClient, HttpOptions, RefreshToken,
    UploadOptions,
};
use cloud_sim::{ConfigAlipan, DriveKind, SimAlipan, SimFile};
use serde_json::{Map, Value, json};
use sha1::{Digest as _, Sha1};
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::bench::{Comparison, fmt, median, mib, mib_per_s, report, run};
use test_support::bench_process::{ChildServer, peak_rss_growth, status_bytes};

const ACCOUNT: &str = "bench";
const APP: &str = "bench-app";
const MIB: u64 = 1 << 20;
const HASH_SIZE: u64 = 1 << 30;
const TRANSFER_SIZE: u64 = 256 << 20;
/// The library's alipan part size (`providers/alipan/upload.rs`).
const PART_SIZE: u64 = 16 << 20;
const REMOTE: &str = "/bench/download.bin";
/// Rounds per comparison (each runs ours once and the tool once).
const ROUNDS: usize = 5;
/// Set in the child process that serves the simulator.
const SIMULATOR_ENV: &str = "CLOUD_CLIENTS_TRANSFER_BENCH_SIMULATOR";
/// Runs only the named sections (comma-separated: `sha1`, `download`, `upload`); all when
/// unset. For profiling one of them.
const ONLY_ENV: &str = "TRANSFER_BENCH_ONLY";

/// Whether section `name` runs.
fn wanted(name: &str) -> bool {
    std::env::var(ONLY_ENV).map_or(true, |only| only.split(',').any(|s| s.trim() == name))
}

/// Deterministic bytes that compress badly (xorshift64).
fn fill(buf: &mut [u8], state: &mut u64) {
    for chunk in buf.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

fn content(len: u64, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
    let mut state = seed | 1;
    fill(&mut bytes, &mut state);
    bytes
}

/// Writes `len` pseudo-random bytes to `path` in 1 MiB chunks.
fn write_random(path: &Path, len: u64, seed: u64) -> Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut buf = vec![0u8; MIB as usize];
    let mut state = seed | 1;
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB) as usize;
        fill(&mut buf[..n], &mut state);
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.into_inner()?.sync_all()?;
    Ok(())
}

/// The library's own file hash (`cloud_clients::sha1_file`).
fn sha1_file(path: &Path) -> Result<(String, u64)> {
    Ok(cloud_clients::sha1_file(path, &mut |_| {})?)
}

/// Bytes this process passed to `read`/`pread` so far (`rchar`; sockets read with `recv`
/// do not count).
fn rchar() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|line| line.strip_prefix("rchar:")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Cuts `path` into files of `part` bytes in `dir`.
fn split(path: &Path, dir: &Path, part: u64) -> Result<Vec<PathBuf>> {
    let mut file = std::fs::File::open(path)?;
    let mut parts = Vec::new();
    loop {
        let mut bytes = Vec::new();
        (&mut file).take(part).read_to_end(&mut bytes)?;
        if bytes.is_empty() {
            return Ok(parts);
        }
        let name = dir.join(format!("part-{}.bin", parts.len() + 1));
        std::fs::write(&name, &bytes)?;
        parts.push(name);
    }
}

/// `curl -T` of each file to its URL, in one curl (one connection), then `complete`:
/// the time of the PUTs and the time of `complete`.
fn curl_put(
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    sim: &Simulator,
    files: &[PathBuf],
    urls: &[String],
    ids: &Value,
) -> Result<(Duration, Duration)> {
    ensure!(files.len() == urls.len());
    let mut curl = Command::new("curl");
    // No URL globbing; no Content-Type (the simulator, like OSS, refuses one); no
    // `Expect: 100-continue` round trip.
    curl.args(["-s", "-f", "-g", "-w", "%{http_code}\\n"])
        .args(["-H", "Content-Type:", "-H", "Expect:"]);
    for (file, url) in files.iter().zip(urls) {
        curl.arg("-T").arg(file).args(["-o", "/dev/null"]).arg(url);
    }
    let t = Instant::now();
    let codes = run(&mut curl)?;
    let put = t.elapsed();
    ensure!(
        codes.lines().filter(|c| c.trim() == "200").count() == files.len(),
        "the part PUTs answered {codes}"
    );
    let t = Instant::now();
    let completed: Value = runtime.block_on(async {
        anyhow::Ok(
            http.post(format!("{}/adrive/v1.0/openFile/complete", sim.base_url))
                .bearer_auth(sim.text("access_token"))
                .json(ids)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?,
        )
    })?;
    let complete = t.elapsed();
    ensure!(
        completed["size"].as_u64() == Some(TRANSFER_SIZE),
        "complete answered {completed}"
    );
    Ok((put, complete))
}

/// The child process: the alipan simulator on a current-thread runtime, a logged-in
/// account and a 256 MiB file; one JSON line on stdout, then served until stdin closes.
fn simulator_process() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sim = SimAlipan::start(ConfigAlipan {
            client_id: Some(APP.into()),
            ..ConfigAlipan::default()
        })
        .await?;
        sim.create_account(ACCOUNT);
        sim.add_file(
            ACCOUNT,
            REMOTE,
            SimFile::from(content(TRANSFER_SIZE, 0x5eed)),
        )?;
        let pair = sim.login(ACCOUNT);
        let hello = json!({
            "base_url": sim.base_url(),
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_in": pair.expires_in,
            "drive_id": sim.drive_id(ACCOUNT, DriveKind::Default),
        });
        ChildServer::serve(&hello).await
    })
}

/// The simulator process, seen from the benchmark.
struct Simulator {
    server: ChildServer,
    base_url: String,
}

impl Simulator {
    fn spawn() -> Result<Simulator> {
        let server = ChildServer::spawn(SIMULATOR_ENV)?;
        let base_url = server.text("base_url");
        Ok(Simulator { server, base_url })
    }

    fn text(&self, key: &str) -> String {
        self.server.text(key)
    }

    async fn stats(&self, http: &reqwest::Client) -> Result<Value> {
        Ok(http
            .get(format!("{}/__sim/stats", self.base_url))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }
}

async fn logged_in_client(dir: &Path, sim: &Simulator, http: HttpClient) -> Result<AlipanClient> {
    let url = format!("sqlite://{}/user.db?mode=rwc", dir.display());
    let storages = StorageHelper::new(SystemConfig::open(&url).await?);
    let client = AlipanClient::with_http(
        &storages,
        AlipanOptions::at(&sim.base_url)
            .client_id(APP)
            .drive(AlipanDrive::Default)
            .requests_per_second(0.0),
        http,
    )?;
    client
        .complete_login(Grant {
            access_token: AccessToken::new(sim.text("access_token").as_str()),
            refresh_token: sim.server.hello["refresh_token"]
                .as_str()
                .map(RefreshToken::new),
            expires_in: sim.server.hello["expires_in"].as_u64().unwrap_or(7200),
            extra: Map::new(),
        })
        .await?;
    Ok(client)
}

/// An upload session of `size` bytes in `parts` parts made through the simulator's API, as
/// the library's `create` would make it: the parts' upload URLs and the ids to complete it.
async fn upload_session(
    http: &reqwest::Client,
    sim: &Simulator,
    name: &str,
    size: u64,
    parts: usize,
) -> Result<(Vec<String>, Value)> {
    let numbers: Vec<Value> = (1..=parts).map(|n| json!({ "part_number": n })).collect();
    let created: Value = http
        .post(format!("{}/adrive/v1.0/openFile/create", sim.base_url))
        .bearer_auth(sim.text("access_token"))
        .json(&json!({
            "drive_id": sim.text("drive_id"),
            "parent_file_id": "root",
            "name": name,
            "type": "file",
            "check_name_mode": "auto_rename",
            "size": size,
            "part_info_list": numbers,
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let urls = (0..parts)
        .map(|i| {
            created["part_info_list"][i]["upload_url"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("no upload_url {i} in {created}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let ids = json!({
        "drive_id": created["drive_id"],
        "file_id": created["file_id"],
        "upload_id": created["upload_id"],
    });
    Ok((urls, ids))
}

fn sha1_comparison(dir: &Path, lines: &mut Vec<String>) -> Result<Option<Comparison>> {
    let path = dir.join("hash.bin");
    write_random(&path, HASH_SIZE, 0x1234_5678)?;
    // Warm the page cache (and check that both tools agree).
    let (ours, size) = sha1_file(&path)?;
    ensure!(size == HASH_SIZE);
    let openssl = match Command::new("openssl").arg("sha1").arg(&path).output() {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_uppercase(),
        _ => {
            lines.push("SHA-1: openssl not found or failed; skipped".into());
            return Ok(None);
        }
    };
    ensure!(
        ours == openssl,
        "SHA-1 differs: ours {ours}, openssl {openssl}"
    );
    let (mut subject, mut baseline) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(sha1_file(&path)?);
        subject.push(t.elapsed());
        let t = Instant::now();
        run(Command::new("openssl").arg("sha1").arg(&path))?;
        baseline.push(t.elapsed());
    }
    let (subject, baseline) = (median(subject), median(baseline));
    lines.push(format!(
        "SHA-1 of 1 GiB: ours {} vs openssl {}",
        mib_per_s(HASH_SIZE, subject),
        mib_per_s(HASH_SIZE, baseline)
    ));
    std::fs::remove_file(&path)?;
    Ok(Some(Comparison {
        name: "SHA-1 of a 1 GiB file vs openssl sha1".into(),
        subject,
        baseline,
        target: Some(1.0 / 0.9),
    }))
}

#[allow(clippy::too_many_lines)]
fn main() -> Result<()> {
    if ChildServer::is_child(SIMULATOR_ENV) {
        return simulator_process();
    }
    let dir = tempfile::tempdir()?;
    let mut results = Vec::new();
    let mut lines = Vec::new();

    // 1. SHA-1.
    if wanted("sha1") {
        results.extend(sha1_comparison(dir.path(), &mut lines)?);
    }

    // Set-up for the transfers: the simulator in its own process, a logged-in client.
    let runtime = test_support::bench::runtime()?;
    let sim = Simulator::spawn()?;
    // The library's HTTP client; its pool also serves the benchmark's own API calls.
    let library_http = HttpClient::new(HttpOptions::default())?;
    let http = library_http.client().clone();
    let client = runtime.block_on(logged_in_client(dir.path(), &sim, library_http))?;
    let item: FileItem = runtime
        .block_on(client.stat(REMOTE))?
        .context("the seeded file is missing")?;
    ensure!(item.size == Some(TRANSFER_SIZE));

    if wanted("download") {
        // 2. Download. Ours first, so the process-wide high-water mark (VmHWM) still tells
        // about our first download.
        let dest = dir.path().join("download.bin");
        let out = dir.path().join("curl.bin");
        let hwm_before = status_bytes("VmHWM");
        let rss_before = status_bytes("VmRSS");
        let (mut subject, mut baseline, mut growth) = (Vec::new(), Vec::new(), Vec::new());
        let mut synced = Vec::new();
        let mut hwm_growth = String::new();
        for round in 0..ROUNDS {
            let _ = std::fs::remove_file(&dest);
            let ((elapsed, size), peak) = peak_rss_growth(|| {
                let t = Instant::now();
                let size = runtime.block_on(client.download(&item, &dest, &mut |_, _| {}));
                (t.elapsed(), size)
            });
            ensure!(size? == TRANSFER_SIZE);
            if round == 0 {
                let hwm_after = status_bytes("VmHWM");
                hwm_growth = if hwm_after > hwm_before {
                    mib(hwm_after - rss_before)
                } else {
                    // The peak stayed under the earlier high-water mark.
                    format!("≤ {}", mib(hwm_before.saturating_sub(rss_before)))
                };
            }
            subject.push(elapsed);
            growth.push(peak.growth);

            let link = runtime.block_on(client.download_url(&item))?;
            ensure!(
                link.user_agent.is_none(),
                "alipan links are not bound to a User-Agent"
            );
            let _ = std::fs::remove_file(&out);
            let t = Instant::now();
            run(Command::new("curl")
                .args(["-s", "-f", "-o"])
                .arg(&out)
                .arg(&link.url))?;
            baseline.push(t.elapsed());
            // Ours ends with an fsync of the file (`fdatasync` before the rename); curl does
            // not. The same fsync after curl, for the record.
            run(Command::new("sync").arg(&out))?;
            synced.push(t.elapsed());
            ensure!(std::fs::metadata(&out)?.len() == TRANSFER_SIZE);
        }
        let (subject, baseline, synced) = (median(subject), median(baseline), median(synced));
        lines.push(format!(
        "download of 256 MiB: ours {} vs curl {} (curl + sync FILE {}); peak RSS growth during ours (VmRSS sampled every ms): median {}, max {} (target ≤ 32 MiB); VmHWM over the RSS before the first download: {}",
        mib_per_s(TRANSFER_SIZE, subject),
        mib_per_s(TRANSFER_SIZE, baseline),
        mib_per_s(TRANSFER_SIZE, synced),
        mib(median(growth.clone())),
        mib(growth.iter().copied().max().unwrap_or(0)),
        hwm_growth,
    ));
        results.push(Comparison {
            name: "download() of 256 MiB vs curl -o".into(),
            subject,
            baseline,
            target: Some(1.0 / 0.9),
        });
        results.push(Comparison {
            name: "download() of 256 MiB vs curl -o + sync FILE".into(),
            subject,
            baseline: synced,
            target: None,
        });
        let _ = std::fs::remove_file(&dest);
        let _ = std::fs::remove_file(&out);
    }
    if wanted("upload") {
        // 3. Upload.
        let local = dir.path().join("upload.bin");
        write_random(&local, TRANSFER_SIZE, 0xabcd)?;
        // The same bytes cut into the library's 16 MiB parts, for the multi-part baseline.
        let part_files = split(&local, dir.path(), PART_SIZE)?;
        let options = UploadOptions::default().session_dir(dir.path().join("sessions"));
        let root = client.root();
        let mut ours = Vec::new();
        let (mut single_put, mut single_complete) = (Vec::new(), Vec::new());
        let (mut parts_put, mut parts_complete) = (Vec::new(), Vec::new());
        let (mut growth, mut reads) = (Vec::new(), Vec::new());
        let mut between_parts = Vec::new();
        for round in 0..ROUNDS {
            // Fresh content each round (the first bytes change, so the pre-hash matches
            // nothing the simulator holds and the upload sends every byte).
            let marker = u64::try_from(round)? + 1;
            std::fs::OpenOptions::new()
                .write(true)
                .open(&local)?
                .write_at(&marker.to_le_bytes(), 0)?;
            let received = runtime.block_on(sim.stats(&http))?["upload_bytes_received"]
                .as_u64()
                .unwrap_or(0);
            let name = format!("ours-{round}.bin");
            let read_before = rchar();
            let ((elapsed, uploaded), peak) = peak_rss_growth(|| {
                let t = Instant::now();
                let uploaded = runtime.block_on(client.upload(
                    &local,
                    &root,
                    &name,
                    &options,
                    &mut |_, _, _| {},
                ));
                (t.elapsed(), uploaded)
            });
            let read = rchar()
                .saturating_sub(read_before)
                .saturating_sub(peak.sampler_read);
            let uploaded = uploaded?;
            ensure!(uploaded.size == Some(TRANSFER_SIZE));
            let stats = runtime.block_on(sim.stats(&http))?;
            let sent = stats["upload_bytes_received"].as_u64().unwrap_or(0) - received;
            ensure!(
                sent == TRANSFER_SIZE,
                "{sent} bytes reached the simulator (an instant upload?)"
            );
            ours.push(elapsed);
            growth.push(peak.growth);
            reads.push(read);

            // What the library does between two part PUTs, without sending: read the part
            // (`parts::read_part`: a zeroed 16 MiB buffer, `read_exact`) and hash it.
            let t = Instant::now();
            let mut hasher = Sha1::new();
            for number in 0..TRANSFER_SIZE.div_ceil(PART_SIZE) {
                let mut file = std::fs::File::open(&local)?;
                file.seek(std::io::SeekFrom::Start(number * PART_SIZE))?;
                let mut buf = vec![0u8; usize::try_from(PART_SIZE)?];
                file.read_exact(&mut buf)?;
                hasher.update(&buf);
            }
            std::hint::black_box(hasher.finalize());
            between_parts.push(t.elapsed());

            // curl: the whole file as one PUT to a one-part session, then `complete`.
            let (urls, ids) = runtime.block_on(upload_session(
                &http,
                &sim,
                &format!("curl-{round}.bin"),
                TRANSFER_SIZE,
                1,
            ))?;
            let (put, complete) = curl_put(
                &runtime,
                &http,
                &sim,
                std::slice::from_ref(&local),
                &urls,
                &ids,
            )?;
            single_put.push(put);
            single_complete.push(complete);

            // curl: the same 16 PUTs of 16 MiB as ours (one connection), then `complete`.
            let (urls, ids) = runtime.block_on(upload_session(
                &http,
                &sim,
                &format!("curl-parts-{round}.bin"),
                TRANSFER_SIZE,
                part_files.len(),
            ))?;
            let (put, complete) = curl_put(&runtime, &http, &sim, &part_files, &urls, &ids)?;
            parts_put.push(put);
            parts_complete.push(complete);
        }
        let ours = median(ours);
        let (single_put, single_complete) = (median(single_put), median(single_complete));
        let (parts_put, parts_complete) = (median(parts_put), median(parts_complete));
        let read = median(reads);
        #[allow(clippy::cast_precision_loss)]
        let times_read = read as f64 / TRANSFER_SIZE as f64;
        lines.push(format!(
        "upload of 256 MiB: ours {} (simulator's `complete` included) vs curl one PUT {} (+ complete {}: {}), curl 16 PUTs of 16 MiB {} (+ complete {}: {})",
        mib_per_s(TRANSFER_SIZE, ours),
        mib_per_s(TRANSFER_SIZE, single_put),
        fmt(single_complete),
        mib_per_s(TRANSFER_SIZE, single_put + single_complete),
        mib_per_s(TRANSFER_SIZE, parts_put),
        fmt(parts_complete),
        mib_per_s(TRANSFER_SIZE, parts_put + parts_complete),
    ));
        lines.push(format!(
        "upload: reading and hashing the 16 parts alone, one after the other as the library does (not overlapped with sending): {}",
        fmt(median(between_parts))
    ));
        lines.push(format!(
        "upload: peak RSS growth during ours per round: {} (target ≤ 48 MiB); the file was read {times_read:.3} times ({} through read/pread, the RSS sampler's own reads taken out)",
        growth.iter().map(|g| mib(*g)).collect::<Vec<_>>().join(", "),
        mib(read),
    ));
        results.push(Comparison {
            name: "upload() of 256 MiB vs curl -T (one PUT)".into(),
            subject: ours,
            baseline: single_put,
            target: Some(1.0 / 0.8),
        });
        results.push(Comparison {
            name: "upload() of 256 MiB vs curl one PUT + complete".into(),
            subject: ours,
            baseline: single_put + single_complete,
            target: None,
        });
        results.push(Comparison {
            name: "upload() of 256 MiB vs curl 16 PUTs + complete".into(),
            subject: ours,
            baseline: parts_put + parts_complete,
            target: None,
        });
    }
    report(
        "cloud-clients: transfers (time ratios; targets as 1/throughput ratio)",
        &results,
    );
    #[allow(clippy::print_stdout)]
    {
        for line in lines {
            println!("{line}");
        }
        println!("(medians of {ROUNDS} interleaved rounds)");
    }
    drop(sim);
    Ok(())
}
