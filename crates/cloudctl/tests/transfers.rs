//! `cloudctl upload` and `cloudctl download` against the alipan simulator: JSON progress
//! lines, conflicts, local errors, `--force`, and processes killed (SIGKILL) in the middle
//! of a transfer whose next run sends only what is missing — for 115's OSS multipart
//! upload too.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cloud_sim::{ConfigAlipan, DriveKind, SimAlipan, SimAlipanHandle, SimFile};
use serde_json::Value;
use storage_helper::StorageHelper;
use system_config::SystemConfig;

use crate::{ACCOUNT, stderr, stdout};

const APP: &str = "my-alipan-app";

struct Env {
    sim: SimAlipanHandle,
    db: test_support::TestDb,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> anyhow::Result<Env> {
        let sim = SimAlipan::start(ConfigAlipan {
            client_id: Some(APP.into()),
            ..ConfigAlipan::default()
        })
        .await?;
        sim.create_account(ACCOUNT);
        let pair = sim.login(ACCOUNT);
        let db = test_support::TestDb::sqlite()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        StorageHelper::new(SystemConfig::open(&db.url).await?)
            .handle("alipan")
            .patch(serde_json::json!({
                "access_token": pair.access_token, "refresh_token": pair.refresh_token,
                "expires_in": 7200, "refresh_time": now.as_secs(), "client_id": APP,
                "default_drive_id": sim.drive_id(ACCOUNT, DriveKind::Default),
            }))
            .await?;
        Ok(Env {
            sim,
            db,
            dir: tempfile::tempdir()?,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudctl"));
        cmd.arg("--database-url")
            .arg(&self.db.url)
            .env_remove("DATABASE_URL")
            .env_remove("CLOUDCTL_ENDPOINTS")
            // Upload sessions go here, not to the user's state folder.
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .args(["--endpoint", &format!("alipan={}", self.sim.base_url())])
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("cloudctl runs")
    }

    fn local(&self, name: &str, bytes: &[u8]) -> anyhow::Result<String> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes)?;
        Ok(path.display().to_string())
    }
}

use test_support::content;

fn json_lines(out: &Output) -> anyhow::Result<Vec<Value>> {
    Ok(stdout(out)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?)
}

/// Runs `args` in a child and SIGKILLs it once `ready` holds.
async fn kill_when(
    env: &Env,
    args: &[&str],
    mut ready: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let mut child = env
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !ready() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "never ready");
        anyhow::ensure!(child.try_wait()?.is_none(), "the transfer ended too early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_and_download_with_json_progress_conflicts_and_local_errors() -> anyhow::Result<()> {
    let env = Env::start().await?;
    let bytes = content(3 << 20, 1);
    let local = env.local("movie.mkv", &bytes)?;

    let out = env.run(&["--json", "upload", &local, "alipan:/"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = json_lines(&out)?;
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "progress" && l["phase"] == "sending")
    );
    let last = lines.last().cloned().unwrap_or_default();
    assert_eq!(last["event"], "done");
    assert_eq!(last["item"]["path"], "/movie.mkv");
    assert_eq!(last["item"]["size"], 3 << 20);

    // Taken: refused by default (a provider refusal, exit 4), renamed on request.
    let out = env.run(&["upload", &local, "alipan:/"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("exists"), "{}", stderr(&out));
    let out = env.run(&["upload", &local, "alipan:/", "--on-conflict", "rename"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A missing local file: exit 6, nothing asked of the provider.
    let creates = env.sim.path_count("/adrive/v1.0/openFile/create");
    let missing = env.dir.path().join("missing.mkv").display().to_string();
    let out = env.run(&["upload", &missing, "alipan:/"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(env.sim.path_count("/adrive/v1.0/openFile/create"), creates);

    // Download: an existing local file is not replaced without --force.
    let dest = env.dir.path().join("back.mkv");
    std::fs::write(&dest, b"mine")?;
    let dest_arg = dest.display().to_string();
    let out = env.run(&["download", "alipan:/movie.mkv", &dest_arg]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest)?, b"mine");
    let out = env.run(&[
        "--json",
        "download",
        "alipan:/movie.mkv",
        &dest_arg,
        "--force",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json_lines(&out)?.last().map(|l| l["bytes"].clone()),
        Some((3 << 20).into())
    );
    assert_eq!(std::fs::read(&dest)?, bytes);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_transfers_resume_and_send_only_what_is_missing() -> anyhow::Result<()> {
    let env = Env::start().await?;

    // Upload of 40 MiB (three parts), killed after the first part is stored.
    let bytes = content(40 << 20, 2);
    let local = env.local("big.mkv", &bytes)?;
    env.sim.set_transfer_rate(Some(32 << 20));
    kill_when(&env, &["upload", &local, "alipan:/"], || {
        env.sim.stats().upload_parts_received >= 1
    })
    .await?;
    env.sim.set_transfer_rate(None);
    let before = env.sim.stats();
    assert!(before.upload_parts_received < 3);
    let out = env.run(&["upload", &local, "alipan:/"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = env.sim.stats();
    assert_eq!(after.upload_bytes_received, 40 << 20, "each byte sent once");
    assert_eq!(after.upload_sessions, 1, "the session was resumed");
    assert_eq!(
        env.sim.stat(ACCOUNT, "/big.mkv").map(|e| e.size),
        Some(40 << 20)
    );

    // Download of 4 MiB, killed half-way; the next run asks for the rest only.
    let file = content(4 << 20, 3);
    env.sim
        .add_file(ACCOUNT, "/dl.bin", SimFile::from(file.clone()))?;
    let dest = env.dir.path().join("dl.bin");
    let dest_arg = dest.display().to_string();
    let part = env.dir.path().join("dl.bin.part");
    env.sim.set_transfer_rate(Some(2 << 20));
    kill_when(&env, &["download", "alipan:/dl.bin", &dest_arg], || {
        std::fs::metadata(&part).map_or(0, |m| m.len()) >= 1 << 20
    })
    .await?;
    env.sim.set_transfer_rate(None);
    let kept = std::fs::metadata(&part)?.len();
    env.sim.reset_stats();
    let out = env.run(&["download", "alipan:/dl.bin", &dest_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(&dest)?, file);
    assert_eq!(env.sim.stats().download_bytes_sent, (4 << 20) - kept);
    assert!(!Path::new(&part).exists());
    Ok(())
}

/// A 115 upload (init, STS credentials, OSS multipart) SIGKILLed once its first part is
/// stored: the next process picks the same multipart upload up (`resume`, new STS
/// credentials, `ListParts`) and sends only the missing parts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_115_upload_resumes_in_the_next_process() -> anyhow::Result<()> {
    let sim = crate::sim().await;
    let db = test_support::TestDb::sqlite()?;
    crate::logged_in(&db.url, &sim).await?;
    let dir = tempfile::tempdir()?;
    let command = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudctl"));
        cmd.arg("--database-url")
            .arg(&db.url)
            .env_remove("DATABASE_URL")
            .env_remove("CLOUDCTL_ENDPOINTS")
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .args(["--endpoint", &format!("u115={}", sim.base_url())])
            .args(args);
        cmd
    };
    let bytes = content(40 << 20, 5);
    let local = dir.path().join("film.mkv");
    std::fs::write(&local, &bytes)?;
    let local = local.display().to_string();

    // 8 MiB/s: a 16 MiB part takes 2 s, so the second part is far from whole at the kill
    // (a body that does not arrive whole is never stored).
    sim.set_transfer_rate(Some(8 << 20));
    let mut child = command(&["upload", &local, "u115:/"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while sim.stats().oss_parts_stored < 1 {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no part arrived");
        anyhow::ensure!(child.try_wait()?.is_none(), "the upload ended too early");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill()?;
    child.wait()?;
    sim.set_transfer_rate(None);
    let before = sim.stats();
    assert!(before.oss_parts_stored < 3, "killed before the end");
    assert_eq!(
        sim.list(ACCOUNT, "/")?,
        Vec::<String>::new(),
        "nothing registered yet"
    );

    let out = command(&["--json", "upload", &local, "u115:/"]).output()?;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = sim.stats();
    assert_eq!(
        after.oss_multipart_initiated, 1,
        "the multipart upload was resumed"
    );
    assert_eq!(
        sim.path_count("/open/upload/init"),
        1,
        "one init, by the first process"
    );
    assert_eq!(after.oss_bytes_received, 40 << 20, "each byte stored once");
    assert_eq!(after.oss_parts_stored, 3);
    assert_eq!(after.oss_callbacks_ok, 1);
    assert_eq!(
        sim.stat(ACCOUNT, "/film.mkv").map(|e| e.size),
        Some(40 << 20)
    );
    Ok(())
}
