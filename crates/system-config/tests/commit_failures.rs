//! Writes whose transaction fails — at a statement or at `COMMIT` itself — on a real full
//! disk (SQLite on a small tmpfs) and by injected failures (both backends).
//!
//! The guarantee under test: a failed write is rolled back and reported; it changes neither
//! the database, nor the cache, nor subscribers; the connection it ran on is either verified
//! clean or closed, so no retry can ever report success for a write that did not reach the
//! database and no lock outlives the failed write.

use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sea_orm::sqlx::{self, Connection as _};
use serde_json::{Value, json};
use system_config::{Error, StoreOptions, SystemConfig};
use test_support::{Backend, backends};

use crate::{exec, raw, scalar};

/// A tmpfs mounted on a temporary folder for the duration of a test, unmounted on drop (also
/// when the test fails).
struct Tmpfs {
    dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `2m`). `None` when this is not root and mounting is
    /// not permitted (the caller skips); as root a failed mount is an error.
    fn mount(size: &str) -> anyhow::Result<Option<Tmpfs>> {
        let dir = tempfile::tempdir()?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0)?;
        match out {
            Ok(out) if out.status.success() => Ok(Some(Tmpfs { dir: Some(dir) })),
            Ok(out) if root => anyhow::bail!(
                "mounting a tmpfs failed as root: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(err) if root => anyhow::bail!("running mount failed as root: {err}"),
            _ => {
                eprintln!(
                    "note: cannot mount a tmpfs (not root); the real full-disk test is skipped \
                     (CI runs it as root)"
                );
                Ok(None)
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        // The pools of dropped stores close their connections in background tasks; give
        // them a moment before unmounting.
        let mut ok = false;
        for _ in 0..20 {
            ok = Command::new("umount")
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !ok {
            // Something still has a file open: detach it now, it goes when the file closes.
            let _ = Command::new("umount").arg("-l").arg(dir.path()).status();
        }
        drop(dir);
    }
}

/// Fills the file system holding `dir` with a filler file until a write fails with "no
/// space left"; returns the filler's path.
fn fill_disk(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path)?;
    for chunk in [64 * 1024, 4096, 512, 1] {
        let buf = vec![0xA5u8; chunk];
        loop {
            match file.write_all(&buf) {
                Ok(()) => {}
                Err(err) if err.raw_os_error() == Some(28) => break, // ENOSPC
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(path)
}

/// The value of `key` as text, read through a brand-new connection (not the store's pool).
async fn fresh_sqlite_read(url: &str, key: &str) -> anyhow::Result<Option<String>> {
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT CAST(value AS TEXT) FROM systemconfig WHERE \"key\" = ?")
            .bind(key)
            .fetch_optional(&mut conn)
            .await?;
    conn.close().await?;
    Ok(row.and_then(|(v,)| v))
}

fn is_disk_full(err: &Error) -> bool {
    matches!(err, Error::DiskFull { .. })
}

/// The changes subscribers received so far (waits briefly for stragglers).
async fn drain(sub: &mut system_config::Subscription) -> Vec<system_config::Change> {
    let mut out = Vec::new();
    while let Ok(Ok(change)) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await {
        out.push(change);
    }
    out
}

/// The report's reproduction: a logged-in SQLite database on a tiny tmpfs, the disk fills
/// up, a token rotation is written. Every attempt must fail while the disk is full (before
/// the fix, a later attempt "succeeded" on a connection left inside the failed transaction,
/// and that connection kept the write lock), nothing may reach the cache or subscribers,
/// and once space is freed this store and a second one (another pool, as another process
/// would have) write normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_never_reports_a_lost_write_as_saved() -> anyhow::Result<()> {
    let Some(fs) = Tmpfs::mount("2m")? else {
        return Ok(());
    };
    let url = format!("sqlite://{}/user.db?mode=rwc", fs.path().display());
    let result = full_disk_scenario(&url, fs.path()).await;
    drop(fs);
    result
}

async fn full_disk_scenario(url: &str, dir: &Path) -> anyhow::Result<()> {
    let store = SystemConfig::open_with(
        url,
        StoreOptions::default().busy_timeout(Duration::from_secs(2)),
    )
    .await?;
    store.set("Login", json!({"token": "old"})).await?;
    let mut events = store.subscribe();

    let filler = fill_disk(dir)?;
    // Far larger than what the WAL has already allocated, so the commit needs new blocks.
    let big = json!({"token": "new", "pad": "x".repeat(600 * 1024)});
    for attempt in 1..=8 {
        let result = store.set("Login", big.clone()).await;
        let err = match result {
            Ok(outcome) => anyhow::bail!(
                "attempt {attempt} reported {outcome:?} although the disk is full; stored: {:?}",
                fresh_sqlite_read(url, "Login").await?.map(|t| t.len())
            ),
            Err(err) => err,
        };
        assert!(is_disk_full(&err), "attempt {attempt}: {err:?}");
        assert!(err.to_string().contains("`Login`"), "{err}");
        assert_eq!(store.get("Login")?, Some(json!({"token": "old"})));
        assert_eq!(
            fresh_sqlite_read(url, "Login").await?.as_deref(),
            Some(r#"{"token":"old"}"#),
            "attempt {attempt}"
        );
    }
    // A small write on a full disk fails the same clean way, or fits; either way it is
    // truthful.
    match store.set("Small", json!(1)).await {
        Ok(_) => assert_eq!(fresh_sqlite_read(url, "Small").await?.as_deref(), Some("1")),
        Err(err) => {
            assert!(is_disk_full(&err), "{err:?}");
            assert_eq!(fresh_sqlite_read(url, "Small").await?, None);
        }
    }
    assert_eq!(store.get("Login")?, Some(json!({"token": "old"})));
    // What reached subscribers: at most the small key, never the failed token.
    for change in drain(&mut events).await {
        assert_eq!(change.key, "Small", "{change:?}");
    }
    assert_eq!(
        store.get_fresh("Login").await?,
        Some(json!({"token": "old"}))
    );

    // Space comes back.
    std::fs::remove_file(&filler)?;

    // Another pool (another process) must not find a lingering write lock.
    let other = SystemConfig::open_with(
        url,
        StoreOptions::default().busy_timeout(Duration::from_secs(2)),
    )
    .await?;
    other.set("Other", json!("written")).await?;
    assert_eq!(
        fresh_sqlite_read(url, "Other").await?.as_deref(),
        Some("\"written\"")
    );

    // The same store writes on the same pool.
    assert!(store.set("Login", big.clone()).await?.is_changed());
    assert_eq!(store.get("Login")?, Some(big.clone()));
    let stored = fresh_sqlite_read(url, "Login").await?.unwrap_or_default();
    assert_eq!(serde_json::from_str::<Value>(&stored)?, big);
    // The other store's `Other` may reach this one by cache coherence; `Login` changed once.
    let changes: Vec<_> = drain(&mut events)
        .await
        .into_iter()
        .filter(|c| c.key != "Other")
        .collect();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].key, "Login");

    // And the other store sees it and writes again.
    assert_eq!(other.get_fresh("Login").await?, Some(big));
    other.set("Other", json!("again")).await?;
    drop(store);
    drop(other);
    Ok(())
}

/// Installs triggers that make a write fail for marker values: `boom-commit` fails at
/// `COMMIT` (the statement itself succeeds), `boom-statement` fails the statement.
async fn install_faults(
    conn: &sea_orm::DatabaseConnection,
    backend: Backend,
) -> anyhow::Result<()> {
    match backend {
        Backend::Sqlite => {
            // SQLite checks a DEFERRABLE INITIALLY DEFERRED foreign key at COMMIT (sqlx turns
            // `foreign_keys` on for every connection): a trigger inserts an orphan child row
            // for the marker, so the UPDATE succeeds and the COMMIT fails — and, unlike a
            // failure such as SQLITE_FULL, leaves the transaction open.
            for sql in [
                "CREATE TABLE fault_parent (id INTEGER PRIMARY KEY)",
                "CREATE TABLE fault_child (parent INTEGER REFERENCES fault_parent (id) \
                 DEFERRABLE INITIALLY DEFERRED)",
                "CREATE TRIGGER fault_commit_u AFTER UPDATE ON systemconfig \
                 WHEN NEW.value LIKE '%boom-commit%' \
                 BEGIN INSERT INTO fault_child (parent) VALUES (42); END",
                "CREATE TRIGGER fault_commit_i AFTER INSERT ON systemconfig \
                 WHEN NEW.value LIKE '%boom-commit%' \
                 BEGIN INSERT INTO fault_child (parent) VALUES (42); END",
                "CREATE TRIGGER fault_stmt_u BEFORE UPDATE ON systemconfig \
                 WHEN NEW.value LIKE '%boom-statement%' \
                 BEGIN SELECT RAISE(ABORT, 'injected statement failure'); END",
                "CREATE TRIGGER fault_stmt_i BEFORE INSERT ON systemconfig \
                 WHEN NEW.value LIKE '%boom-statement%' \
                 BEGIN SELECT RAISE(ABORT, 'injected statement failure'); END",
            ] {
                exec(conn, sql).await?;
            }
        }
        Backend::Postgres => {
            // A deferred constraint trigger runs at COMMIT; raising there makes COMMIT fail.
            for sql in [
                "CREATE FUNCTION fault_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.value::text LIKE '%boom-commit%' THEN \
                 RAISE EXCEPTION 'injected commit failure'; END IF; RETURN NULL; END $$",
                "CREATE CONSTRAINT TRIGGER fault_commit AFTER INSERT OR UPDATE ON systemconfig \
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fault_commit()",
                "CREATE FUNCTION fault_stmt() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.value::text LIKE '%boom-statement%' THEN \
                 RAISE EXCEPTION 'injected statement failure'; END IF; RETURN NEW; END $$",
                "CREATE TRIGGER fault_stmt BEFORE INSERT OR UPDATE ON systemconfig \
                 FOR EACH ROW EXECUTE FUNCTION fault_stmt()",
                // The connection dies in the middle of the transaction: its state cannot be
                // verified, so the store must close it and carry on with a new one.
                "CREATE FUNCTION fault_kill() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.value::text LIKE '%boom-kill%' THEN \
                 PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$",
                "CREATE TRIGGER fault_kill BEFORE INSERT OR UPDATE ON systemconfig \
                 FOR EACH ROW EXECUTE FUNCTION fault_kill()",
            ] {
                exec(conn, sql).await?;
            }
        }
    }
    Ok(())
}

/// A failed COMMIT and a failed statement, again and again on a one-connection pool (so
/// every attempt reuses the connection the previous failure ran on): every attempt reports
/// the failure, nothing reaches the database, the cache or subscribers, and afterwards the
/// same store and a second store write normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_commit_and_statement_failures_write_nothing_and_leave_no_trace()
-> anyhow::Result<()> {
    for db in backends().await? {
        let options = StoreOptions::default()
            .max_connections(1)
            .busy_timeout(Duration::from_secs(2));
        let store = SystemConfig::open_with(&db.url, options.clone()).await?;
        store.set("Login", json!({"token": "old"})).await?;
        let conn = raw(&db.url).await?;
        install_faults(&conn, db.backend).await?;
        let mut events = store.subscribe();
        let stored = |key: &'static str| {
            let conn = conn.clone();
            async move {
                let text = scalar(
                    &conn,
                    &format!(
                        "SELECT CAST(value AS TEXT) FROM systemconfig WHERE \"key\" = '{key}'"
                    ),
                )
                .await?;
                anyhow::Ok(
                    text.map(|t| serde_json::from_str::<Value>(&t))
                        .transpose()?,
                )
            }
        };

        let markers: &[&str] = match db.backend {
            Backend::Sqlite => &["boom-commit", "boom-statement"],
            Backend::Postgres => &["boom-commit", "boom-statement", "boom-kill"],
        };
        for &marker in markers {
            let bad = json!({"token": marker});
            for attempt in 1..=4 {
                // An update of an existing row, an insert of a new key, an update().
                let results = [
                    store.set("Login", bad.clone()).await.map(|_| ()),
                    store.set("Fresh", bad.clone()).await.map(|_| ()),
                    store.update("Login", |_| bad.clone()).await.map(|_| ()),
                ];
                for result in results {
                    let Err(err) = result else {
                        anyhow::bail!(
                            "{:?} {marker} attempt {attempt}: a failed write reported success",
                            db.backend
                        );
                    };
                    let text = err.to_string();
                    assert!(!text.contains("at line"), "{text}");
                    if marker == "boom-kill" {
                        assert!(
                            matches!(err, Error::Database { .. } | Error::Connect { .. }),
                            "{err:?}"
                        );
                    } else {
                        assert!(matches!(err, Error::Database { .. }), "{err:?}");
                    }
                    if db.backend == Backend::Postgres && marker != "boom-kill" {
                        assert!(text.contains("injected"), "{text}");
                    }
                }
                assert_eq!(stored("Login").await?, Some(json!({"token": "old"})));
                assert_eq!(stored("Fresh").await?, None);
                assert_eq!(store.get("Login")?, Some(json!({"token": "old"})));
                assert_eq!(store.get("Fresh")?, None);
            }
        }
        assert_eq!(drain(&mut events).await, [], "{:?}", db.backend);

        // The one connection is clean: the same store writes, and a second pool finds no
        // lock held.
        assert!(
            store
                .set("Login", json!({"token": "new"}))
                .await?
                .is_changed()
        );
        assert_eq!(stored("Login").await?, Some(json!({"token": "new"})));
        let other = SystemConfig::open_with(&db.url, options).await?;
        other.set("Other", json!(1)).await?;
        other.update("Login", |_| json!({"token": "newer"})).await?;
        assert_eq!(
            store.get_fresh("Login").await?,
            Some(json!({"token": "newer"}))
        );
        // This store's own write, and the other store's update of the key (through cache
        // coherence or `get_fresh`, announced once); `Other` may arrive by coherence too.
        let changes: Vec<_> = drain(&mut events)
            .await
            .into_iter()
            .filter(|c| c.key == "Login")
            .collect();
        assert_eq!(changes.len(), 2, "{changes:?}");
    }
    Ok(())
}

/// A write whose future is dropped mid-transaction ends its transaction by closing the
/// connection: nothing is written, no lock lingers, the cache is untouched and the store
/// keeps working. A trigger makes the write's UPDATE slow, so the drop certainly comes
/// while the UPDATE runs — before `COMMIT` is sent (a `COMMIT` already sent may of course
/// still commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_cancelled_mid_transaction_leaves_no_lock_and_no_write() -> anyhow::Result<()> {
    for db in backends().await? {
        let options = StoreOptions::default()
            .max_connections(1)
            .busy_timeout(Duration::from_secs(5));
        let store = SystemConfig::open_with(&db.url, options.clone()).await?;
        store.set("k", json!("old")).await?;
        let conn = raw(&db.url).await?;
        match db.backend {
            Backend::Sqlite => {
                exec(
                    &conn,
                    "CREATE TRIGGER slow BEFORE UPDATE ON systemconfig \
                     WHEN NEW.value = '\"never\"' BEGIN SELECT count(*) FROM \
                     (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                     WHERE x < 2000000) SELECT x FROM c); END",
                )
                .await?
            }
            Backend::Postgres => {
                exec(
                    &conn,
                    "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN IF NEW.value::text = '\"never\"' THEN PERFORM pg_sleep(0.3); \
                     END IF; RETURN NEW; END $$",
                )
                .await?;
                exec(
                    &conn,
                    "CREATE TRIGGER slow BEFORE UPDATE ON systemconfig \
                     FOR EACH ROW EXECUTE FUNCTION slow()",
                )
                .await?;
            }
        }
        let mut changes = store.subscribe();
        let sql = "SELECT CAST(value AS TEXT) FROM systemconfig WHERE \"key\" = 'k'";
        for attempt in 1..=3 {
            let reached = std::sync::Arc::new(tokio::sync::Notify::new());
            let signal = std::sync::Arc::clone(&reached);
            let write = store.update("k", move |_| {
                // Inside the transaction, just before the (slow) UPDATE.
                signal.notify_one();
                json!("never")
            });
            tokio::select! {
                () = reached.notified() => {}
                result = write => anyhow::bail!("{:?}: the write finished: {result:?}", db.backend),
            }
            assert_eq!(store.get("k")?, Some(json!("old")));
            assert_eq!(
                scalar(&conn, sql).await?.as_deref(),
                Some("\"old\""),
                "{:?} attempt {attempt}",
                db.backend
            );
        }
        let other = SystemConfig::open_with(&db.url, options).await?;
        other.set("k", json!("other")).await?;
        assert_eq!(store.get_fresh("k").await?, Some(json!("other")));
        store.set("k", json!("mine")).await?;
        assert_eq!(other.get_fresh("k").await?, Some(json!("mine")));
        assert_eq!(scalar(&conn, sql).await?.as_deref(), Some("\"mine\""));
        let seen: Vec<_> = drain(&mut changes)
            .await
            .into_iter()
            .map(|c| c.value)
            .collect();
        assert_eq!(
            seen,
            [Some(json!("other").into()), Some(json!("mine").into())],
            "{:?}",
            db.backend
        );
    }
    Ok(())
}

/// `SQLITE_FULL` without a real full disk (runs without root): a pool whose connections
/// may not grow the file past a page limit. The big write fails inside the transaction;
/// the small one afterwards, on the same single connection, must commit for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_page_limit_full_error_is_typed_and_leaves_the_connection_clean()
-> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let store = SystemConfig::open(&db.url).await?;
    store.set("Login", json!({"token": "old"})).await?;
    let pages: i64 = crate::count(&raw(&db.url).await?, "PRAGMA page_count").await?;
    drop(store);

    let mut options = sea_orm::ConnectOptions::new(db.url.clone());
    options
        .sqlx_logging(false)
        .max_connections(1)
        .map_sqlx_sqlite_opts(move |o| o.pragma("max_page_count", (pages + 4).to_string()));
    let limited = SystemConfig::from_connection(
        sea_orm::Database::connect(options).await?,
        StoreOptions::default(),
    )
    .await?;
    let mut events = limited.subscribe();
    let big = json!({"token": "new", "pad": "x".repeat(256 * 1024)});
    for _ in 0..4 {
        let err = limited.set("Login", big.clone()).await.unwrap_err();
        assert!(is_disk_full(&err), "{err:?}");
        assert_eq!(limited.get("Login")?, Some(json!({"token": "old"})));
        assert_eq!(
            fresh_sqlite_read(&db.url, "Login").await?.as_deref(),
            Some(r#"{"token":"old"}"#)
        );
    }
    assert_eq!(drain(&mut events).await, []);
    limited.set("Login", json!({"token": "small"})).await?;
    assert_eq!(
        fresh_sqlite_read(&db.url, "Login").await?.as_deref(),
        Some(r#"{"token":"small"}"#)
    );
    SystemConfig::open_with(
        &db.url,
        StoreOptions::default().busy_timeout(Duration::from_secs(2)),
    )
    .await?
    .set("Other", json!(1))
    .await?;
    Ok(())
}
