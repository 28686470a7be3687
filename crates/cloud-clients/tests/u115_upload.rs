//! 115 uploads against the simulator (its 115 upload endpoints and its Aliyun OSS service,
//! which verifies V1 signatures, STS expiry on its clock, part rules and the callback):
//! full uploads read back, instant uploads with and without the second verification, STS
//! credentials and access tokens that expire in the middle, a killed upload resumed (ListParts
//! followed page by page), callback failures, a Complete whose answer is lost, a clock behind
//! OSS's, conflicts and bounded part retries. Byte and request counts come from the
//! simulator; where the token store is involved, both database backends run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cloud_clients::u115::U115Client;
use cloud_clients::{CloudStorage, Conflict, Error, FileItem, TransferPhase, UploadOptions};
use cloud_sim::{Config115, OssPartFault};
use futures::TryStreamExt as _;
use sha1::{Digest as _, Sha1};
use test_support::{TestDb, backends};

use crate::common::{ACCOUNT, Env, LIFETIME, env_with};

const MIB: usize = 1 << 20;

/// Distinct content per seed (`test_support::content` uses `seed | 1`).
fn content(len: usize, seed: u32) -> Vec<u8> {
    test_support::content(len, seed * 2 + 1)
}

fn sha1_upper(bytes: &[u8]) -> String {
    hex::encode_upper(Sha1::digest(bytes))
}

struct Up {
    env: Env,
    client: U115Client,
    dir: tempfile::TempDir,
}

impl Up {
    async fn start(url: &str) -> anyhow::Result<Up> {
        let env = env_with(url, Config115::default()).await?;
        env.sim.create_account(ACCOUNT);
        env.login().await?;
        let client = U115Client::new(&env.storages, env.options().requests_per_second(0.0))?;
        Ok(Up {
            env,
            client,
            dir: tempfile::tempdir()?,
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

    fn sessions_left(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("sessions")).map_or(0, Iterator::count)
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

    /// Downloads `item` and returns its bytes.
    async fn read_back(&self, item: &FileItem) -> anyhow::Result<Vec<u8>> {
        let dest = self.dir.path().join(format!("back-{}", item.file_id));
        self.client.download(item, &dest, &mut |_, _| {}).await?;
        Ok(std::fs::read(dest)?)
    }

    async fn names(&self) -> anyhow::Result<Vec<String>> {
        let root = self.client.root();
        Ok(self
            .client
            .list(&root)
            .map_ok(|i| i.name)
            .try_collect()
            .await?)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_upload_is_listed_and_downloads_back_byte_for_byte() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = Up::start(&db.url).await?;
        // Three parts of 16 MiB (the last shorter).
        let bytes = content(40 * MIB, 1);
        let local = env.local("movie.mkv", &bytes)?;
        let movies = env.client.make_path("/Movies").await?;
        let mut phases = Vec::new();
        let item = env
            .client
            .upload(
                &local,
                &movies,
                "movie.mkv",
                &env.options(),
                &mut |phase, done, total| phases.push((phase, done, total)),
            )
            .await?;
        assert_eq!(
            (item.path.as_str(), item.size, item.is_folder()),
            ("/Movies/movie.mkv", Some(bytes.len() as u64), false)
        );
        assert_eq!(item.parent_id.as_deref(), Some(movies.file_id.as_str()));
        let size = bytes.len() as u64;
        assert_eq!(phases.first().map(|p| p.0), Some(TransferPhase::Hashing));
        assert!(phases.contains(&(TransferPhase::Hashing, size, size)));
        assert!(phases.contains(&(TransferPhase::Sending, size, size)));
        assert_eq!(phases.last(), Some(&(TransferPhase::Done, size, size)));

        // Listed, with 115's SHA-1; and back again, byte for byte.
        let listed = env.client.stat("/Movies/movie.mkv").await?.expect("listed");
        assert_eq!(listed.file_id, item.file_id);
        assert_eq!(
            listed.extra.get("sha1").and_then(|v| v.as_str()),
            Some(sha1_upper(&bytes).as_str())
        );
        let back = env.read_back(&listed).await?;
        assert_eq!(sha1_upper(&back), sha1_upper(&bytes));
        assert!(back == bytes);

        let stats = env.env.sim.stats();
        assert_eq!(stats.oss_bytes_received, size, "every byte once");
        assert_eq!(stats.oss_parts_stored, 3);
        assert_eq!(
            (stats.oss_multipart_initiated, stats.oss_multipart_completed),
            (1, 1)
        );
        assert_eq!((stats.oss_callbacks_ok, stats.oss_callbacks_failed), (1, 0));
        assert_eq!(stats.oss_signature_failures, 0);
        assert_eq!((stats.instant_uploads, stats.u115_sts_issued), (0, 1));
        assert_eq!(env.env.sim.oss_open_uploads(), 0);
        assert_eq!(env.sessions_left(), 0, "the session is gone");
        drop(db);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_uploads_send_no_byte_with_and_without_second_verification() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = Up::start(&db.url).await?;
    let sim = &env.env.sim;
    // Under 1 MiB: no verification.
    let small = content(600_000, 2);
    sim.add_file(ACCOUNT, "/old/small.bin", small.clone())?;
    let local = env.local("small.bin", &small)?;
    let item = env.upload(&local, "small-copy.bin", &env.options()).await?;
    assert_eq!(
        (item.name.as_str(), item.size),
        ("small-copy.bin", Some(600_000))
    );
    let stats = sim.stats();
    assert_eq!((stats.instant_uploads, stats.u115_sign_challenges), (1, 0));
    assert_eq!(stats.oss_bytes_received + stats.u115_sts_issued, 0);
    assert_eq!(
        sim.stat(ACCOUNT, "/small-copy.bin").map(|e| e.sha1),
        Some(sha1_upper(&small))
    );

    // 3 MiB: 115 asks for the SHA-1 of a byte range first.
    let big = content(3 * MIB, 3);
    sim.add_file(ACCOUNT, "/old/big.bin", big.clone())?;
    let local = env.local("big.bin", &big)?;
    let item = env.upload(&local, "big-copy.bin", &env.options()).await?;
    let stats = sim.stats();
    assert_eq!(
        (
            stats.instant_uploads,
            stats.u115_sign_challenges,
            stats.u115_sign_failures
        ),
        (2, 1, 0)
    );
    assert_eq!(stats.oss_bytes_received, 0, "no byte sent");
    assert_eq!(sim.path_count("/open/upload/init"), 3, "one verification");
    assert_eq!(sim.path_count("/open/upload/get_token"), 0);
    assert!(env.read_back(&item).await? == big);
    assert_eq!(env.sessions_left(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_changes_during_the_verification_is_refused_and_nothing_is_registered()
-> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = Up::start(&db.url).await?;
    let sim = &env.env.sim;
    let known = content(2 * MIB, 4);
    sim.add_file(ACCOUNT, "/old/known.bin", known.clone())?;
    let other = content(2 * MIB, 5);
    let local = env.local("known.bin", &known)?;

    // Changed right after it was hashed: the range 115 asks for no longer matches (702).
    // The modification time moved, so nothing is sent.
    let root = env.client.root();
    let changed = |restore_mtime: bool| {
        let local = local.clone();
        let other = other.clone();
        move |phase: TransferPhase, done: u64, total: u64| {
            if phase == TransferPhase::Hashing && done == total {
                let mtime = std::fs::metadata(&local).and_then(|m| m.modified()).ok();
                std::fs::write(&local, &other).expect("rewrite");
                if restore_mtime && let Some(mtime) = mtime {
                    std::fs::File::options()
                        .write(true)
                        .open(&local)
                        .and_then(|f| f.set_modified(mtime))
                        .expect("mtime");
                }
            }
        }
    };
    let mut progress = changed(false);
    let err = env
        .client
        .upload(&local, &root, "new.bin", &env.options(), &mut progress)
        .await
        .expect_err("changed");
    assert!(matches!(err, Error::LocalIo { .. }), "{err}");
    assert!(err.to_string().contains("changed"), "{err}");
    let stats = sim.stats();
    assert_eq!(
        (stats.u115_sign_challenges, stats.u115_sign_failures),
        (1, 1)
    );
    assert_eq!(stats.oss_bytes_received + stats.oss_multipart_initiated, 0);
    assert!(sim.stat(ACCOUNT, "/new.bin").is_none());

    // The same with the modification time put back, so the change cannot be seen locally:
    // 115's 702 answer says where to send the bytes (spec §2.4), so they are sent; the
    // callback makes 115 compare the object's SHA-1 with `init`'s, it fails (203), and
    // nothing is registered.
    std::fs::write(&local, &known)?;
    let mut progress = changed(true);
    let err = env
        .client
        .upload(&local, &root, "new.bin", &env.options(), &mut progress)
        .await
        .expect_err("changed");
    assert!(
        matches!(&err, Error::Provider { code, .. } if code == "CallbackFailed"),
        "{err}"
    );
    let stats = sim.stats();
    assert_eq!(stats.u115_sign_failures, 2);
    assert_eq!((stats.oss_callbacks_failed, stats.oss_callbacks_ok), (1, 0));
    assert!(sim.stat(ACCOUNT, "/new.bin").is_none());
    assert_eq!(env.sessions_left(), 0);
    Ok(())
}

/// Uploads 40 MiB (three parts) and calls `after_part(n)` once part `n` is stored.
async fn upload_with_hook(
    env: &Up,
    name: &str,
    bytes: &[u8],
    after_part: impl Fn(u64) + Send + Sync,
) -> anyhow::Result<FileItem> {
    let local = env.local(name, bytes)?;
    let root = env.client.root();
    let part = 16 << 20;
    let mut seen = 0;
    let item = env
        .client
        .upload(
            &local,
            &root,
            name,
            &env.options(),
            &mut |phase, done, _| {
                if phase == TransferPhase::Sending && done / part > seen {
                    seen = done / part;
                    after_part(seen);
                }
            },
        )
        .await?;
    Ok(item)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sts_credentials_that_expire_mid_upload_are_renewed_and_no_part_is_sent_twice()
-> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = Up::start(&db.url).await?;
    let sim = &env.env.sim;
    sim.set_sts_lifetime(Duration::from_secs(600));
    let bytes = content(40 * MIB, 6);
    let item = upload_with_hook(&env, "sts.bin", &bytes, |part| match part {
        // After part 1 the clocks move past the credentials' expiry: renewed before the
        // next request. After part 2 the simulator expires them early: OSS refuses the
        // next part with SecurityTokenExpired, and new ones are fetched.
        1 => env.env.advance(Duration::from_secs(601)),
        2 => sim.expire_sts_credentials(),
        _ => {}
    })
    .await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    let stats = sim.stats();
    assert_eq!(stats.u115_sts_issued, 3, "two renewals");
    assert_eq!(stats.oss_error("SecurityTokenExpired"), 1);
    assert_eq!(stats.oss_bytes_received, bytes.len() as u64);
    assert_eq!(stats.oss_parts_stored, 3, "no part sent twice");
    assert_eq!(stats.oss_signature_failures, 0);
    assert!(env.read_back(&item).await? == bytes);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_access_token_that_expires_mid_upload_is_refreshed_once() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = Up::start(&db.url).await?;
        let sim = &env.env.sim;
        sim.set_sts_lifetime(Duration::from_secs(600));
        let bytes = content(40 * MIB, 7);
        // After part 1 both clocks move past the access token's expiry (and so past the
        // STS credentials'): `get_token` needs a new access token.
        let item = upload_with_hook(&env, "token.bin", &bytes, |part| {
            if part == 1 {
                env.env.advance(LIFETIME + Duration::from_secs(1));
            }
        })
        .await?;
        assert_eq!(item.size, Some(bytes.len() as u64));
        assert_eq!(env.env.refresh_calls(), 1, "exactly one refresh");
        assert_eq!(sim.account_stats(ACCOUNT).refreshes_ok, 1);
        let stats = sim.stats();
        assert_eq!(stats.u115_sts_issued, 2);
        assert_eq!(stats.oss_bytes_received, bytes.len() as u64);
        drop(db);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_upload_resumes_without_resending_stored_parts() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = Up::start(&db.url).await?;
        let sim = &env.env.sim;
        let bytes = content(40 * MIB, 8);
        let local = env.local("big.mkv", &bytes)?;
        // 8 MiB/s: a part takes 2 s, so when the upload is killed right after part 1 is
        // stored, part 2 is far from complete (a body that does not arrive whole is never
        // stored, and no part can finish on the server after the restart looked).
        sim.set_transfer_rate(Some(8 << 20));
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
        // Killed once the first part is stored (the task is aborted, as a killed process
        // stops: no clean-up runs).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while sim.stats().oss_parts_stored < 1 {
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "no part arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        first.abort();
        let _ = first.await;
        sim.set_transfer_rate(None);
        // An aborted task is not a dead process: the HTTP connection it opened may go on
        // sending the part it had started. Wait until no part body is on the wire (stored
        // or dropped), as after a real kill; the SIGKILL case is
        // `cloudctl/tests/transfers.rs`.
        while sim.oss_parts_in_flight() > 0 {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "a part stayed in flight"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stored = sim.stats().oss_parts_stored;
        assert!(stored < 3, "interrupted before the end");
        // OSS lists the stored parts one per page: the resume must follow the pages.
        sim.set_oss_list_parts_page_size(1);
        assert_eq!(env.sessions_left(), 1, "the session survives the kill");

        let item = env.upload(&local, "big.mkv", &env.options()).await?;
        assert_eq!(item.size, Some(bytes.len() as u64));
        let stats = sim.stats();
        assert_eq!(
            (
                stats.oss_multipart_initiated,
                sim.path_count("/open/upload/init")
            ),
            (1, 1),
            "resumed, not started again"
        );
        assert_eq!(
            stats.oss_bytes_received,
            bytes.len() as u64,
            "every byte stored once"
        );
        assert_eq!(stats.oss_parts_stored, 3);
        assert_eq!(
            stats.oss_list_parts_pages, stored,
            "one page per stored part"
        );
        assert_eq!(stats.oss_signature_failures, 0);
        assert!(env.read_back(&item).await? == bytes);
        assert_eq!(env.sessions_left(), 0);
        drop(db);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_callback_is_a_clear_error_and_the_retry_creates_one_file() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = Up::start(&db.url).await?;
    let sim = &env.env.sim;
    let bytes = content(2 * MIB, 9);
    let local = env.local("cb.bin", &bytes)?;
    sim.fail_next_callbacks(1);
    let err = env
        .upload(&local, "cb.bin", &env.options())
        .await
        .expect_err("callback failed");
    assert!(
        matches!(&err, Error::Provider { code, .. } if code == "CallbackFailed"),
        "{err}"
    );
    assert!(err.to_string().contains("did not register"), "{err}");
    assert!(sim.stat(ACCOUNT, "/cb.bin").is_none());
    assert_eq!(env.sessions_left(), 0, "nothing left to resume");

    // Again: one file, no duplicate.
    let item = env.upload(&local, "cb.bin", &env.options()).await?;
    assert_eq!(item.name, "cb.bin");
    let names = env.names().await?;
    assert_eq!(
        names.iter().filter(|n| n.starts_with("cb")).count(),
        1,
        "{names:?}"
    );
    let stats = sim.stats();
    assert_eq!((stats.oss_callbacks_failed, stats.oss_callbacks_ok), (1, 1));
    assert!(env.read_back(&item).await? == bytes);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_refused_renamed_or_overwritten_after_success() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = Up::start(&db.url).await?;
    let sim = &env.env.sim;
    let first = content(300_000, 10);
    let local = env.local("x.mkv", &first)?;
    let original = env.upload(&local, "x.mkv", &env.options()).await?;

    // Refuse (the default): a typed "already exists", and 115 hears nothing of it.
    let inits = sim.path_count("/open/upload/init");
    let err = env
        .upload(&local, "x.mkv", &env.options())
        .await
        .expect_err("taken");
    assert!(err.is_already_exists(), "{err}");
    assert_eq!(sim.path_count("/open/upload/init"), inits);

    // Rename: a free name.
    let other = env.local("y.mkv", &content(300_000, 11))?;
    let renamed = env
        .upload(&other, "x.mkv", &env.options().conflict(Conflict::Rename))
        .await?;
    assert_eq!(renamed.name, "x(1).mkv");

    // Overwrite: one `x.mkv`, with the new content; the old file went after the new one
    // was complete.
    let newer = content(300_000, 12);
    let changed = env.local("z.mkv", &newer)?;
    let item = env
        .upload(
            &changed,
            "x.mkv",
            &env.options().conflict(Conflict::Overwrite),
        )
        .await?;
    assert_eq!(item.path, "/x.mkv");
    assert_ne!(item.file_id, original.file_id);
    let mut names = env.names().await?;
    names.sort();
    assert_eq!(names, ["x(1).mkv", "x.mkv"]);
    assert_eq!(
        sim.stat(ACCOUNT, "/x.mkv").map(|e| (e.id, e.sha1)),
        Some((item.file_id.clone(), sha1_upper(&newer)))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_failures_are_retried_a_bounded_number_of_times() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = Up::start(&db.url).await?;
    let sim = &env.env.sim;
    let bytes = content(2 * MIB, 13);
    let local = env.local("r.bin", &bytes)?;
    // A 503 and a cut connection: retried, every byte stored once.
    sim.inject_oss_part_fault(OssPartFault::Status(503), 1);
    sim.inject_oss_part_fault(OssPartFault::CutBody { after: 500_000 }, 1);
    let item = env.upload(&local, "r.bin", &env.options()).await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    assert_eq!(sim.stats().oss_bytes_received, bytes.len() as u64);

    // A part that keeps failing: four attempts, then a clear error; the session is kept.
    let other = env.local("s.bin", &content(MIB, 14))?;
    sim.inject_oss_part_fault(OssPartFault::Status(500), 100);
    let err = env
        .upload(&other, "s.bin", &env.options())
        .await
        .expect_err("keeps failing");
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("failed 4 times"), "{err}");
    assert_eq!(env.sessions_left(), 1);

    // A missing local file: a local error before any request.
    let inits = sim.path_count("/open/upload/init");
    let err = env
        .upload(&env.dir.path().join("nope.bin"), "nope.bin", &env.options())
        .await
        .expect_err("missing");
    assert!(matches!(err, Error::LocalIo { .. }), "{err}");
    assert_eq!(sim.path_count("/open/upload/init"), inits);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_whose_answer_is_lost_yields_the_one_file_it_made() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = Up::start(&db.url).await?;
    let sim = &env.env.sim;
    let bytes = content(2 * MIB, 15);
    let local = env.local("lost.bin", &bytes)?;
    // OSS completes the upload and 115 registers the file, but the answer never arrives:
    // the repeated Complete finds no upload, and the file 115 has is the answer.
    sim.lose_next_complete_answers(1);
    let item = env.upload(&local, "lost.bin", &env.options()).await?;
    assert_eq!(
        (item.name.as_str(), item.size),
        ("lost.bin", Some(bytes.len() as u64))
    );
    assert_eq!(
        sim.stat(ACCOUNT, "/lost.bin").map(|f| (f.id, f.sha1)),
        Some((item.file_id.clone(), sha1_upper(&bytes)))
    );
    let names = env.names().await?;
    assert_eq!(names, ["lost.bin"], "one file, no duplicate");
    let stats = sim.stats();
    assert_eq!(
        stats.oss_error("NoSuchUpload"),
        1,
        "Complete was repeated once"
    );
    assert_eq!(
        (stats.oss_multipart_completed, stats.oss_callbacks_ok),
        (1, 1)
    );
    assert_eq!(stats.oss_bytes_received, bytes.len() as u64);
    assert_eq!(env.sessions_left(), 0);
    assert!(env.read_back(&item).await? == bytes);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_20_minutes_behind_oss_is_corrected_after_one_refusal() -> anyhow::Result<()> {
    let db = TestDb::sqlite()?;
    let env = Up::start(&db.url).await?;
    let sim = &env.env.sim;
    // Only the simulator's clock moves: ours is 20 minutes behind, past OSS's 15-minute
    // limit, and every signed `Date` of ours is refused until the client takes the
    // offset from OSS's own `Date`.
    sim.clock().advance(Duration::from_secs(20 * 60));
    let bytes = content(20 * MIB, 16);
    let local = env.local("skew.bin", &bytes)?;
    let item = env.upload(&local, "skew.bin", &env.options()).await?;
    assert_eq!(item.size, Some(bytes.len() as u64));
    let stats = sim.stats();
    assert_eq!(stats.oss_error("RequestTimeTooSkewed"), 1, "corrected once");
    assert_eq!(stats.oss_signature_failures, 0);
    assert_eq!(stats.oss_parts_stored, 2);
    assert_eq!(stats.oss_bytes_received, bytes.len() as u64);
    assert!(env.read_back(&item).await? == bytes);
    Ok(())
}
