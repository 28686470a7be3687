//! Transfers against the simulators: downloads that outlive the API timeout, survive cut
//! connections and expired links and resume a `.part` from an earlier run; alipan uploads
//! with instant upload, resume after an interrupted run, URL renewal, token expiry in the
//! middle, bounded part retries and typed errors. Byte counts come from the simulator.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cloud_clients::alipan::{AlipanClient, AlipanDrive, AlipanOptions};
use cloud_clients::{
    AccessToken, CloudStorage, Conflict, Error, FileItem, Grant, HttpClient, HttpOptions,
    RefreshToken, TransferPhase, UploadOptions,
};
use cloud_sim::{ConfigAlipan, Fault, SimAlipan, SimAlipanHandle, SimFile};
use serde_json::Map;
use sha1::{Digest as _, Sha1};
use storage_helper::StorageHelper;
use system_config::SystemConfig;

const ACCOUNT: &str = "alice";
const APP: &str = "my-alipan-app";

fn content(len: usize, seed: u8) -> Vec<u8> {
    test_support::content(len, u32::from(seed))
}

fn sha1_upper(bytes: &[u8]) -> String {
    hex::encode_upper(Sha1::digest(bytes))
}

struct Alipan {
    sim: SimAlipanHandle,
    client: AlipanClient,
    dir: tempfile::TempDir,
    _db: test_support::TestDb,
}

impl Alipan {
    async fn start(config: ConfigAlipan) -> anyhow::Result<Alipan> {
        Self::start_with(
            config,
            HttpOptions::default().timeout(Duration::from_secs(2)),
        )
        .await
    }

    async fn start_with(config: ConfigAlipan, http: HttpOptions) -> anyhow::Result<Alipan> {
        let db = test_support::TestDb::sqlite()?;
        let sim = SimAlipan::start(ConfigAlipan {
            client_id: Some(APP.into()),
            ..config
        })
        .await?;
        sim.create_account(ACCOUNT);
        let storages = StorageHelper::new(SystemConfig::open(&db.url).await?);
        let http = HttpClient::new(http)?;
        let client = AlipanClient::with_http(
            &storages,
            // The default drive, which the simulator's helpers read.
            AlipanOptions::at(sim.base_url())
                .client_id(APP)
                .drive(AlipanDrive::Default)
                .requests_per_second(0.0),
            http,
        )?;
        let pair = sim.login(ACCOUNT);
        client
            .complete_login(Grant {
                access_token: AccessToken::new(pair.access_token.as_str()),
                refresh_token: pair.refresh_token.as_deref().map(RefreshToken::new),
                expires_in: pair.expires_in,
                extra: Map::new(),
            })
            .await?;
        Ok(Alipan {
            sim,
            client,
            dir: tempfile::tempdir()?,
            _db: db,
        })
    }

    fn local(&self, name: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    fn options(&self) -> UploadOptions {
        UploadOptions::default().session_dir(self.dir.path().join("sessions"))
    }

    async fn upload(
        &self,
        local: &Path,
        name: &str,
        options: &UploadOptions,
    ) -> cloud_clients::Result<FileItem> {
        let root = self.client.root();
        self.client
            .upload(local, &root, name, options, &mut |_, _, _| {})
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_then_instant_upload_of_the_same_content_sends_no_part_bytes() -> anyhow::Result<()>
{
    let env = Alipan::start(ConfigAlipan::default()).await?;
    let bytes = content(5 << 20, 1);
    let local = env.local("movie.mkv", &bytes)?;
    let mut phases = Vec::new();
    let item = env
        .client
        .upload(
            &local,
            &env.client.root(),
            "movie.mkv",
            &env.options(),
            &mut |phase, done, total| {
                phases.push((phase, done, total));
            },
        )
        .await?;
    assert_eq!(item.path, "/movie.mkv");
    assert_eq!(item.size, Some(bytes.len() as u64));
    let stored = env.sim.stat(ACCOUNT, "/movie.mkv").expect("uploaded");
    assert_eq!(stored.sha1, sha1_upper(&bytes));
    let stats = env.sim.stats();
    assert_eq!(stats.upload_bytes_received, bytes.len() as u64);
    assert_eq!(stats.instant_uploads, 0);
    assert_eq!(
        phases.last(),
        Some(&(TransferPhase::Done, 5 << 20, 5 << 20))
    );

    // The same content under another name: the provider has it, nothing is sent.
    let copy = env.local("copy.mkv", &bytes)?;
    let item = env.upload(&copy, "copy.mkv", &env.options()).await?;
    assert_eq!(item.name, "copy.mkv");
    let stats = env.sim.stats();
    assert_eq!(stats.instant_uploads, 1);
    assert_eq!(
        stats.upload_bytes_received,
        bytes.len() as u64,
        "0 more bytes"
    );
    assert_eq!(
        env.sim.stat(ACCOUNT, "/copy.mkv").map(|e| e.sha1),
        Some(sha1_upper(&bytes))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_upload_resumes_without_resending_stored_parts() -> anyhow::Result<()> {
    let env = Alipan::start(ConfigAlipan::default()).await?;
    // Three parts of 16 MiB (the last shorter).
    let bytes = content(40 << 20, 2);
    let local = env.local("big.mkv", &bytes)?;
    env.sim.set_transfer_rate(Some(64 << 20));
    let first = tokio::spawn({
        let client = env.client.clone();
        let local = local.clone();
        let options = env.options();
        async move {
            let root = client.root();
            client
                .upload(&local, &root, "big.mkv", &options, &mut |_, _, _| {})
                .await
        }
    });
    // Killed once the first part is stored (the task is aborted mid-way, as a killed
    // process would stop).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while env.sim.stats().upload_parts_received < 1 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no part arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.abort();
    let _ = first.await;
    env.sim.set_transfer_rate(None);
    let stored_parts = env.sim.stats().upload_parts_received;
    assert!(stored_parts < 3, "interrupted before the end");
    let received = env.sim.stats().upload_bytes_received;

    let item = env.upload(&local, "big.mkv", &env.options()).await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    let stats = env.sim.stats();
    assert_eq!(
        stats.upload_sessions, 1,
        "the session was resumed, not recreated"
    );
    assert_eq!(
        stats.upload_bytes_received,
        bytes.len() as u64,
        "every byte sent once ({received} before the interruption)"
    );
    assert_eq!(
        env.sim.stat(ACCOUNT, "/big.mkv").map(|e| e.sha1),
        Some(sha1_upper(&bytes))
    );
    // The session is gone: nothing left to resume.
    let sessions = env.dir.path().join("sessions");
    assert_eq!(std::fs::read_dir(&sessions)?.count(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_part_urls_are_renewed_and_5xx_parts_retried_then_reported() -> anyhow::Result<()> {
    let env = Alipan::start(ConfigAlipan::default()).await?;
    let bytes = content(40 << 20, 3);
    let local = env.local("a.mkv", &bytes)?;
    // URLs live 1 s on the simulator's clock; it moves 2 s after the first part.
    env.sim.inject_fault("/__sim/up", Fault::Status(503), 2);
    env.sim.set_upload_url_lifetime(Duration::from_secs(1));
    env.sim.clock().advance(Duration::from_secs(2));
    let item = env.upload(&local, "a.mkv", &env.options()).await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    assert!(env.sim.path_count("/adrive/v1.0/openFile/getUploadUrl") >= 1);
    assert_eq!(env.sim.stats().upload_bytes_received, bytes.len() as u64);

    // A part that keeps failing: a bounded number of attempts, then a clear error.
    env.sim.set_upload_url_lifetime(Duration::from_secs(3600));
    env.sim.inject_fault("/__sim/up", Fault::Status(500), 100);
    let other = env.local("b.mkv", &content(1 << 20, 4))?;
    let err = env
        .upload(&other, "b.mkv", &env.options())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("part 1 failed 4 times"), "{err}");
    assert_eq!(100 - env.sim.pending_faults(), 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_missing_files_and_unsupported_providers_are_typed_errors() -> anyhow::Result<()>
{
    let env = Alipan::start(ConfigAlipan::default()).await?;
    let local = env.local("x.mkv", &content(300_000, 5))?;
    env.upload(&local, "x.mkv", &env.options()).await?;
    // Refuse (the default): a typed "already exists", nothing sent.
    let sessions = env.sim.stats().upload_sessions;
    let err = env
        .upload(&local, "x.mkv", &env.options())
        .await
        .unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(env.sim.stats().upload_sessions, sessions);
    // Rename: a second file.
    let renamed = env
        .upload(&local, "x.mkv", &env.options().conflict(Conflict::Rename))
        .await?;
    assert_ne!(renamed.name, "x.mkv");
    // Overwrite: one file of that name, with the new content.
    let newer = content(300_000, 6);
    let changed = env.local("x2.mkv", &newer)?;
    env.upload(
        &changed,
        "x.mkv",
        &env.options().conflict(Conflict::Overwrite),
    )
    .await?;
    let names = env.sim.list(ACCOUNT, "/")?;
    assert_eq!(
        names.iter().filter(|n| *n == "x.mkv").count(),
        1,
        "{names:?}"
    );
    assert_eq!(
        env.sim.stat(ACCOUNT, "/x.mkv").map(|e| e.sha1),
        Some(sha1_upper(&newer))
    );
    // A missing local file: a local error, and no request reaches the provider.
    let creates = env.sim.path_count("/adrive/v1.0/openFile/create");
    let err = env
        .upload(&env.dir.path().join("nope.mkv"), "nope.mkv", &env.options())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LocalIo { .. }), "{err}");
    assert_eq!(env.sim.path_count("/adrive/v1.0/openFile/create"), creates);

    // A provider that cannot upload (OpenList) says so: the conformance suite checks it.
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_outlives_its_access_token_refreshes_once_and_completes()
-> anyhow::Result<()> {
    // Tokens live 4 s (due after 2 s); the upload takes about 3 s.
    let env = Alipan::start(ConfigAlipan {
        access_lifetime: Duration::from_secs(4),
        ..ConfigAlipan::default()
    })
    .await?;
    let bytes = content(3 << 20, 7);
    let local = env.local("slow.mkv", &bytes)?;
    env.sim.set_transfer_rate(Some(1 << 20));
    let item = env.upload(&local, "slow.mkv", &env.options()).await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    assert_eq!(env.sim.account_stats(ACCOUNT).refreshes_ok, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_slower_to_send_than_the_idle_timeout_arrives_and_a_stalled_one_is_given_up()
-> anyhow::Result<()> {
    // An idle timeout of 1 s: a part that takes 3 s to send must still arrive (it did not
    // while the timeout ran from the start of the request), and one that stops moving is
    // given up within seconds. Both are larger than what the socket buffers absorb.
    let env = Alipan::start_with(
        ConfigAlipan::default(),
        HttpOptions::default()
            .timeout(Duration::from_secs(2))
            .read_timeout(Duration::from_secs(1)),
    )
    .await?;
    let bytes = content(12 << 20, 20);
    let local = env.local("slow-part.mkv", &bytes)?;
    env.sim.set_transfer_rate(Some(4 << 20));
    let item = env.upload(&local, "slow-part.mkv", &env.options()).await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    assert_eq!(
        env.sim.stats().upload_bytes_received,
        bytes.len() as u64,
        "one part, sent once"
    );

    // 20 bytes a second: once the socket buffers are full the body stops moving; four
    // attempts, then a clear error.
    env.sim.set_transfer_rate(Some(20));
    let stalled = env.local("stalled.mkv", &content(16 << 20, 21))?;
    let started = std::time::Instant::now();
    let err = env
        .upload(&stalled, "stalled.mkv", &env.options())
        .await
        .expect_err("stalled");
    env.sim.set_transfer_rate(None);
    assert!(err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("part 1 failed 4 times") && text.contains("stalled"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(40));
    Ok(())
}

/// Downloads of a 2 MiB file from alipan's simulator.
async fn stored_file(env: &Alipan, bytes: &[u8]) -> anyhow::Result<FileItem> {
    env.sim
        .add_file(ACCOUNT, "/dl.bin", SimFile::from(bytes.to_vec()))?;
    env.client
        .stat("/dl.bin")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no /dl.bin"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_outlive_the_api_timeout_and_resume_after_cuts_and_expired_links()
-> anyhow::Result<()> {
    let env = Alipan::start(ConfigAlipan {
        download_lifetime: Duration::from_secs(900),
        ..ConfigAlipan::default()
    })
    .await?;
    let bytes = content(2 << 20, 8);
    let item = stored_file(&env, &bytes).await?;
    let dest = env.dir.path().join("out.bin");

    // 2 MiB at 512 KiB/s: 4 s, twice the client's 2 s API timeout.
    env.sim.set_transfer_rate(Some(512 << 10));
    env.client.download(&item, &dest, &mut |_, _| {}).await?;
    assert_eq!(std::fs::read(&dest)?, bytes);
    env.sim.set_transfer_rate(None);
    std::fs::remove_file(&dest)?;

    // Cut twice mid-body, and the link expires between the cuts: the download continues
    // from the offset each time, with a new link after the expiry.
    env.sim.reset_stats();
    env.sim
        .inject_fault("/__sim/dl", Fault::CutBody { after: 700_000 }, 2);
    let links = || env.sim.path_count("/adrive/v1.0/openFile/getDownloadUrl");
    let mut expired = false;
    let clock = env.sim.clock().clone();
    env.client
        .download(&item, &dest, &mut |done, _| {
            if done > 1_000_000 && !expired {
                // After the first cut: the link goes stale before the second one.
                expired = true;
                clock.advance(Duration::from_secs(901));
            }
        })
        .await?;
    assert_eq!(std::fs::read(&dest)?, bytes);
    assert_eq!(links(), 2, "one new link after the expiry");
    let sent = env.sim.stats().download_bytes_sent;
    assert!(
        sent < bytes.len() as u64 + 256 * 1024,
        "{sent} bytes sent for {}",
        bytes.len()
    );
    assert!(!dest.with_extension("bin.part").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_file_from_an_earlier_run_is_continued_and_a_bad_checksum_is_refused()
-> anyhow::Result<()> {
    let env = Alipan::start(ConfigAlipan::default()).await?;
    let bytes = content(2 << 20, 9);
    let item = stored_file(&env, &bytes).await?;
    let dest = env.dir.path().join("movie.bin");

    // The first run is stopped (its task aborted) after about half the file.
    env.sim.set_transfer_rate(Some(1 << 20));
    let part = PathBuf::from(format!("{}.part", dest.display()));
    let run = tokio::spawn({
        let client = env.client.clone();
        let item = item.clone();
        let dest = dest.clone();
        async move { client.download(&item, &dest, &mut |_, _| {}).await }
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 1 << 20 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    run.abort();
    let _ = run.await;
    let kept = std::fs::metadata(&part)?.len();
    env.sim.set_transfer_rate(None);
    env.sim.reset_stats();

    // The second run asks only for the rest.
    let mut first_report = None;
    env.client
        .download(&item, &dest, &mut |done, _| {
            first_report.get_or_insert(done);
        })
        .await?;
    assert_eq!(std::fs::read(&dest)?, bytes);
    assert_eq!(first_report, Some(kept));
    let sent = env.sim.stats().download_bytes_sent;
    assert_eq!(sent, bytes.len() as u64 - kept, "only the missing bytes");

    // The provider's SHA-1 disagrees: an error, and nothing half-written stays.
    let mut wrong = item.clone();
    wrong
        .extra
        .insert("content_hash".into(), "0".repeat(40).into());
    let other = env.dir.path().join("wrong.bin");
    let err = env
        .client
        .download(&wrong, &other, &mut |_, _| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SHA-1"), "{err}");
    assert!(!other.exists());
    assert!(!PathBuf::from(format!("{}.part", other.display())).exists());
    Ok(())
}
