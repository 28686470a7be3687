//! Fixtures shared by the workspace's test suites (not shipped).
//!
//! * [`backends`]: a fresh SQLite file, and a fresh PostgreSQL database when the server in
//!   [`PG_URL_ENV`] is configured. When [`REQUIRE_PG_ENV`] is set (CI does), a missing
//!   server fails the test instead of skipping PostgreSQL.
//! * [`Children`]: runs the current test binary again as several OS processes, each running
//!   one named test function as a worker.
#![allow(clippy::print_stderr)]

pub mod bench;
pub mod bench_process;
pub mod proxy;

use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};
use sea_orm::{ConnectionTrait, Database};

/// Admin URL of a throwaway PostgreSQL server, e.g. `postgres://postgres@127.0.0.1:55432/postgres`.
pub const PG_URL_ENV: &str = "DRIVEKEEP_TEST_PG_URL";
/// When set to anything, PostgreSQL is mandatory: a missing [`PG_URL_ENV`] is an error.
pub const REQUIRE_PG_ENV: &str = "DRIVEKEEP_REQUIRE_PG";
/// Set in a child process: the test it should run as a worker.
pub const CHILD_ROLE_ENV: &str = "DRIVEKEEP_CHILD_ROLE";
/// Set in a child process: its index among its siblings.
pub const CHILD_INDEX_ENV: &str = "DRIVEKEEP_CHILD_INDEX";

/// Which database engine a [`TestDb`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary folder.
    Sqlite,
    /// A database created on the configured PostgreSQL server.
    Postgres,
}

/// A fresh, empty database for one test.
#[derive(Debug)]
pub struct TestDb {
    /// The engine.
    pub backend: Backend,
    /// The URL to open it with.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh SQLite file.
    pub fn sqlite() -> Result<TestDb> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
        Ok(TestDb {
            backend: Backend::Sqlite,
            url,
            _dir: Some(dir),
        })
    }

    /// A fresh database on the configured PostgreSQL server; `None` when none is configured
    /// and PostgreSQL is not required.
    pub async fn postgres() -> Result<Option<TestDb>> {
        let Ok(admin) = std::env::var(PG_URL_ENV) else {
            if std::env::var_os(REQUIRE_PG_ENV).is_some() {
                bail!(
                    "{REQUIRE_PG_ENV} is set but {PG_URL_ENV} is not: no PostgreSQL server to test against"
                );
            }
            eprintln!(
                "note: {PG_URL_ENV} unset, PostgreSQL part of this test skipped (cargo xtask ci runs it)"
            );
            return Ok(None);
        };
        let name = format!("t_{:016x}", rand::random::<u64>());
        let conn = Database::connect(admin.as_str())
            .await
            .with_context(|| format!("connecting to the test PostgreSQL server ({PG_URL_ENV})"))?;
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .context("creating a test database")?;
        conn.close().await.ok();
        let mut url = url::Url::parse(&admin)?;
        url.set_path(&format!("/{name}"));
        Ok(Some(TestDb {
            backend: Backend::Postgres,
            url: url.to_string(),
            _dir: None,
        }))
    }
}

/// One fresh database per available backend: SQLite always, PostgreSQL when configured
/// (mandatory under [`REQUIRE_PG_ENV`]).
pub async fn backends() -> Result<Vec<TestDb>> {
    let mut dbs = vec![TestDb::sqlite()?];
    dbs.extend(TestDb::postgres().await?);
    Ok(dbs)
}

/// The role this process was started for, if it is a child worker.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ROLE_ENV).ok()
}

/// The child's index among its siblings (0 in the parent).
pub fn child_index() -> usize {
    std::env::var(CHILD_INDEX_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// OS processes running one test function of the current test binary as workers.
#[derive(Debug)]
pub struct Children {
    children: Vec<(usize, Child)>,
}

impl Children {
    /// Starts `count` copies of this test binary, each running only the test `test_path`
    /// (its full path, e.g. `multiprocess::worker`) with `envs` and the child variables set.
    pub fn spawn(test_path: &str, count: usize, envs: &[(&str, &str)]) -> Result<Children> {
        let exe = std::env::current_exe()?;
        let mut children = Vec::with_capacity(count);
        for index in 0..count {
            let mut cmd = Command::new(&exe);
            cmd.args([test_path, "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ROLE_ENV, test_path)
                .env(CHILD_INDEX_ENV, index.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            for (k, v) in envs {
                cmd.env(k, v);
            }
            children.push((index, cmd.spawn().context("spawning a child test process")?));
        }
        Ok(Children { children })
    }

    /// Waits for every child; fails with their output when any of them failed or did not
    /// actually run the worker (it must print `worker done`).
    pub fn wait(self) -> Result<()> {
        self.wait_with_output().map(|_| ())
    }

    /// Like [`wait`](Self::wait), returning each child's standard output.
    pub fn wait_with_output(self) -> Result<Vec<String>> {
        let mut outputs = Vec::new();
        let mut failures = Vec::new();
        for (index, child) in self.children {
            let out = child.wait_with_output()?;
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() || !stdout.contains("worker done") {
                failures.push(format!(
                    "child {index} ({}):\n{stdout}\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            outputs.push(stdout);
        }
        if failures.is_empty() {
            Ok(outputs)
        } else {
            bail!(
                "{} child process(es) failed:\n{}",
                failures.len(),
                failures.join("\n")
            )
        }
    }

    /// The OS process ids of the children.
    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|(_, c)| c.id()).collect()
    }

    /// Kills every child with SIGKILL and reaps it.
    pub fn kill_all(mut self) -> Result<()> {
        for (_, child) in &mut self.children {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

/// Marks a worker as finished (the parent checks for this line).
#[allow(clippy::print_stdout)]
pub fn worker_done() {
    println!("worker done");
}

/// `len` deterministic bytes that compress badly (xorshift), different for each `seed`:
/// file content for transfer tests.
pub fn content(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_be_bytes()[0]
        })
        .collect()
}
