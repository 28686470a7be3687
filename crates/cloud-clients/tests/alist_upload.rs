//! OpenList uploads (`PUT /api/fs/put`, the file streamed as one body) against the
//! simulator: a body slower to send than the idle timeout, a connection cut mid-body, a
//! stalled one, a lost answer, a session the server forgot, and the conflict policies. The
//! client's idle timeout is 1 s here, so what takes "too long" takes seconds.

use std::path::PathBuf;
use std::time::Duration;

use cloud_clients::alist::AlistClient;
use cloud_clients::{
    CloudStorage, Conflict, FileItem, HttpClient, HttpOptions, TransferPhase, UploadOptions,
};
use cloud_sim::Fault;
use sha1::{Digest as _, Sha1};
use test_support::TestDb;

use crate::alist::{AlistEnv, USER};

const MIB: usize = 1 << 20;
const PUT: &str = "/api/fs/put";

struct Up {
    env: AlistEnv,
    client: AlistClient,
    dir: tempfile::TempDir,
    _db: TestDb,
}

impl Up {
    async fn start() -> anyhow::Result<Up> {
        let db = TestDb::sqlite()?;
        let env = AlistEnv::new(&db.url).await?;
        env.login().await?;
        let http = HttpClient::new(HttpOptions::default().read_timeout(Duration::from_secs(1)))?;
        let client = AlistClient::with_http(&env.storages, env.options(), http)?;
        Ok(Up {
            env,
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

    async fn upload(
        &self,
        bytes: &[u8],
        name: &str,
        conflict: Conflict,
    ) -> cloud_clients::Result<FileItem> {
        let local = self
            .local(&format!("local-{name}"), bytes)
            .expect("local file");
        let root = self.client.root();
        let options = UploadOptions::default().conflict(conflict);
        self.client
            .upload(&local, &root, name, &options, &mut |_, _, _| {})
            .await
    }

    fn sha1_at(&self, path: &str) -> Option<String> {
        self.env.sim.stat(USER, path).map(|e| e.sha1)
    }
}

fn content(len: usize, seed: u32) -> Vec<u8> {
    test_support::content(len, seed * 2 + 1)
}

fn sha1_upper(bytes: &[u8]) -> String {
    hex::encode_upper(Sha1::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_idle_timeout_arrives_and_progress_moves() -> anyhow::Result<()> {
    let up = Up::start().await?;
    // 12 MiB at 4 MiB/s: three times the idle timeout, but the body never stops moving
    // (and is larger than what the socket buffers absorb at once, so progress shows).
    let bytes = content(12 * MIB, 1);
    let local = up.local("slow.mkv", &bytes)?;
    up.env.sim.set_transfer_rate(Some(4 << 20));
    let mut seen = Vec::new();
    let root = up.client.root();
    let item = up
        .client
        .upload(
            &local,
            &root,
            "slow.mkv",
            &UploadOptions::default(),
            &mut |phase, done, total| seen.push((phase, done, total)),
        )
        .await?;
    assert_eq!(
        (item.path.as_str(), item.size),
        ("/slow.mkv", Some(bytes.len() as u64))
    );
    assert_eq!(up.sha1_at("/slow.mkv"), Some(sha1_upper(&bytes)));
    assert_eq!(up.env.sim.path_count(PUT), 1, "sent once");
    assert_eq!(up.env.sim.stats().upload_bytes_received, bytes.len() as u64);
    let sending: Vec<u64> = seen
        .iter()
        .filter(|(phase, _, _)| *phase == TransferPhase::Sending)
        .map(|(_, done, _)| *done)
        .collect();
    assert!(sending.windows(2).all(|w| w[0] <= w[1]), "{sending:?}");
    assert!(
        sending.iter().any(|d| *d > 0 && *d < bytes.len() as u64),
        "progress in between: {sending:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&(TransferPhase::Done, bytes.len() as u64, bytes.len() as u64))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_body_is_sent_again_and_a_stalled_one_is_given_up() -> anyhow::Result<()> {
    let up = Up::start().await?;
    let bytes = content(2 * MIB, 2);
    // Cut after 1 MiB: nothing is stored, the file goes again, whole.
    up.env
        .sim
        .inject_fault(PUT, Fault::CutBody { after: 1 << 20 }, 1);
    let item = up.upload(&bytes, "cut.mkv", Conflict::Refuse).await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    assert_eq!(up.sha1_at("/cut.mkv"), Some(sha1_upper(&bytes)));
    assert_eq!(up.env.sim.path_count(PUT), 2);
    assert_eq!(
        up.env.sim.stats().upload_bytes_received,
        bytes.len() as u64,
        "stored once"
    );

    // A server that takes 20 bytes a second: once the socket buffers are full (a few MiB)
    // the body stops moving for longer than the idle second, three times.
    up.env.sim.set_transfer_rate(Some(20));
    let started = std::time::Instant::now();
    let err = up
        .upload(&content(16 * MIB, 3), "stalled.mkv", Conflict::Refuse)
        .await
        .expect_err("stalled");
    assert!(err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(text.contains("stalled"), "{text}");
    assert_eq!(up.env.sim.path_count(PUT), 5, "three attempts");
    assert!(started.elapsed() < Duration::from_secs(30));
    up.env.sim.set_transfer_rate(None);
    assert!(up.env.sim.stat(USER, "/stalled.mkv").is_none());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_and_a_forgotten_session_still_make_one_file() -> anyhow::Result<()> {
    let up = Up::start().await?;
    // The server stores the file, then holds the answer past the wait (for 100 kB: the
    // idle second plus 1 s for what may still be in flight): the client sends again,
    // hears "file exists", and finds its own file there.
    let bytes = content(100_000, 4);
    up.env
        .sim
        .inject_fault(PUT, Fault::DelayAnswer(Duration::from_secs(4)), 1);
    let item = up.upload(&bytes, "lost.mkv", Conflict::Refuse).await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    assert_eq!(up.env.sim.path_count(PUT), 2);
    assert_eq!(up.sha1_at("/lost.mkv"), Some(sha1_upper(&bytes)));

    // A restarted server forgot every session: one new login, and the file goes.
    let logins = up.env.logins();
    up.env.sim.restart();
    let other = content(MIB, 5);
    up.upload(&other, "after-restart.mkv", Conflict::Refuse)
        .await?;
    assert_eq!(up.env.logins(), logins + 1);
    assert_eq!(up.sha1_at("/after-restart.mkv"), Some(sha1_upper(&other)));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_refused_renamed_or_overwritten_only_after_success() -> anyhow::Result<()> {
    let up = Up::start().await?;
    let first = content(300_000, 6);
    up.upload(&first, "x.mkv", Conflict::Refuse).await?;

    // Refuse: a typed "already exists", and nothing is sent.
    let puts = up.env.sim.path_count(PUT);
    let err = up
        .upload(&content(1000, 7), "x.mkv", Conflict::Refuse)
        .await
        .expect_err("taken");
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(up.env.sim.path_count(PUT), puts);

    // Rename: the first free name.
    let renamed = up
        .upload(&content(1000, 8), "x.mkv", Conflict::Rename)
        .await?;
    assert_eq!(renamed.name, "x(1).mkv");

    // Overwrite that fails: the old file stays, and nothing else is left behind.
    up.env.sim.inject_fault(PUT, Fault::Status(500), 3);
    let newer = content(400_000, 9);
    let err = up
        .upload(&newer, "x.mkv", Conflict::Overwrite)
        .await
        .expect_err("the server keeps failing");
    assert!(err.is_transient(), "{err}");
    assert_eq!(up.sha1_at("/x.mkv"), Some(sha1_upper(&first)));
    let mut names = up.env.sim.list(USER, "/")?;
    names.sort();
    assert_eq!(names, ["x(1).mkv", "x.mkv"]);

    // Overwrite that succeeds: one `x.mkv`, with the new content.
    let item = up.upload(&newer, "x.mkv", Conflict::Overwrite).await?;
    assert_eq!(
        (item.path.as_str(), item.size),
        ("/x.mkv", Some(newer.len() as u64))
    );
    assert_eq!(up.sha1_at("/x.mkv"), Some(sha1_upper(&newer)));
    let mut names = up.env.sim.list(USER, "/")?;
    names.sort();
    assert_eq!(names, ["x(1).mkv", "x.mkv"]);
    Ok(())
}
