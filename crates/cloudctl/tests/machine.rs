//! Where the database is (no accidental databases, MoviePilot config folders), the machine
//! interface (`--json` errors with a stable `kind`, `login --json` lines, exit code 7 for
//! "not found"), and the generated completions and manual pages.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use system_config::SystemConfig;

use crate::{APP_ID, sim, stderr, stdout};

/// `cloudctl` in `cwd` with no database flag and a clean environment (plus `env`).
fn bare(cwd: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudctl"));
    cmd.current_dir(cwd)
        .env_remove("CLOUDCTL_DATABASE_URL")
        .env_remove("CLOUDCTL_MOVIEPILOT_CONFIG")
        .env_remove("CLOUDCTL_ENDPOINTS")
        .env_remove("DB_TYPE");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.args(args).output().expect("cloudctl runs")
}

fn one_json(out: &Output) -> anyhow::Result<Value> {
    let text = stdout(out);
    anyhow::ensure!(text.lines().count() == 1, "one line: {text}");
    Ok(serde_json::from_str(&text)?)
}

#[test]
fn commands_that_need_a_database_create_none() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A `DATABASE_URL` left by another program is not ours to use.
    let env = [("DATABASE_URL", "postgres://someone:else@127.0.0.1:1/theirs")];
    for args in [
        vec!["token", "status"],
        vec!["config", "list"],
        vec!["storage", "list"],
        vec!["ls", "u115:/"],
    ] {
        let out = bare(dir.path(), &env, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("data/user.db") && err.contains("cloudctl migrate"),
            "{err}"
        );
        assert!(
            !dir.path().join("data").exists(),
            "{args:?} created a database"
        );
    }
    // The same under --json: one object with a stable kind.
    let out = bare(dir.path(), &env, &["--json", "token", "status"]);
    let error = one_json(&out)?;
    assert_eq!(error["error"]["kind"], "usage");
    assert_eq!(error["error"]["exit_code"], 2);
    // `migrate` creates it; then the others work.
    let out = bare(dir.path(), &env, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("data/user.db").exists());
    let out = bare(dir.path(), &env, &["token", "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moviepilot_config_folders_are_found_on_sqlite_and_postgresql() -> anyhow::Result<()> {
    // SQLite: `user.db` in the folder, by flag and by environment variable.
    let config = tempfile::tempdir()?;
    let folder = config.path().display().to_string();
    let cwd = tempfile::tempdir()?;
    let out = bare(
        cwd.path(),
        &[],
        &["--moviepilot-config", &folder, "migrate"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = bare(
        cwd.path(),
        &[],
        &[
            "--moviepilot-config",
            &folder,
            "config",
            "set",
            "Found",
            "1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let store = SystemConfig::open(&format!(
        "sqlite://{}?mode=rw",
        config.path().join("user.db").display()
    ))
    .await?;
    assert_eq!(store.get("Found")?, Some(1.into()));
    let out = bare(
        cwd.path(),
        &[("CLOUDCTL_MOVIEPILOT_CONFIG", folder.as_str())],
        &["config", "get", "Found"],
    );
    assert_eq!(stdout(&out).trim(), "1", "{}", stderr(&out));

    // PostgreSQL through app.env, as MoviePilot reads it.
    let Some(db) = test_support::TestDb::postgres().await? else {
        return Ok(());
    };
    let url = url::Url::parse(&db.url)?;
    let pg = tempfile::tempdir()?;
    std::fs::write(
        pg.path().join("app.env"),
        format!(
            "DB_TYPE=postgresql\nDB_POSTGRESQL_HOST={}\nDB_POSTGRESQL_PORT={}\n\
             DB_POSTGRESQL_DATABASE={}\nDB_POSTGRESQL_USERNAME={}\n",
            url.host_str().unwrap_or("127.0.0.1"),
            url.port().unwrap_or(5432),
            url.path().trim_start_matches('/'),
            url.username()
        ),
    )?;
    let pg_folder = pg.path().display().to_string();
    for args in [
        vec!["--moviepilot-config", &pg_folder, "migrate"],
        vec![
            "--moviepilot-config",
            &pg_folder,
            "config",
            "set",
            "OnPg",
            "true",
        ],
    ] {
        let out = bare(cwd.path(), &[], &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(
        SystemConfig::open(&db.url).await?.get("OnPg")?,
        Some(true.into())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_login_lines_and_not_found() -> anyhow::Result<()> {
    let sim = sim().await;
    let db = test_support::TestDb::sqlite()?;
    let url = db.url.as_str();
    // login --json: the QR payload, every status change, then the stored login.
    let out = crate::cloudctl(
        url,
        Some(&sim),
        &["--json", "login", "u115", "--client-id", APP_ID],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    assert_eq!(lines[0]["event"], "qr");
    assert!(
        lines[0]["qr_payload"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["event"] == "status" && l["status"] == "confirmed")
    );
    let last = lines.last().cloned().unwrap_or_default();
    assert_eq!(last["event"], "done");
    assert_eq!(last["login"]["state"], "valid");
    assert!(
        last["login"]["expires_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.contains('T')),
        "RFC 3339: {last}"
    );

    // Not found: exit 7, kind not_found.
    let out = crate::cloudctl(url, Some(&sim), &["--json", "stat", "u115:/nothing/here"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(one_json(&out)?["error"]["kind"], "not_found");
    let out = crate::cloudctl(url, Some(&sim), &["--json", "token", "status", "u115-work"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    // A usage error.
    let out = crate::cloudctl(
        url,
        None,
        &["--json", "--endpoint", "nonsense", "token", "status"],
    );
    let error = one_json(&out)?;
    assert_eq!(error["error"]["kind"], "usage");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PROVIDER=URL"))
    );
    // Items carry RFC 3339 times.
    sim.add_file(
        "sim-user",
        "/a.mkv",
        cloud_sim::SimFile::from(vec![1u8; 10]),
    )?;
    let out = crate::cloudctl(url, Some(&sim), &["--json", "stat", "u115:/a.mkv"]);
    let item: Value = serde_json::from_str(&stdout(&out))?;
    assert!(
        item["modified"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{item}"
    );
    Ok(())
}

#[test]
fn completions_manual_pages_and_exit_codes_in_help() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    for shell in ["bash", "zsh", "fish"] {
        let out = bare(dir.path(), &[], &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(
            script.contains("cloudctl") && script.contains("keepalive"),
            "{shell}"
        );
    }
    let out = bare(dir.path(), &[], &["man"]);
    assert!(stdout(&out).starts_with(".ie") || stdout(&out).contains(".TH cloudctl"));
    let pages = dir.path().join("man");
    let out = bare(
        dir.path(),
        &[],
        &["man", "--dir", &pages.display().to_string()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for page in ["cloudctl.1", "cloudctl-upload.1", "cloudctl-keepalive.1"] {
        assert!(pages.join(page).exists(), "{page}");
    }
    // Nothing of this needed a database.
    assert!(!dir.path().join("data").exists());
    let help = stdout(&bare(dir.path(), &[], &["--help"]));
    assert!(
        help.contains("Exit codes") && help.contains("not_found"),
        "{help}"
    );
    Ok(())
}

/// Output into a pipe whose reader is gone (`cloudctl … | head -0`): no panic, and the exit
/// code is the command's own (success here, `not_found` for the error case).
#[test]
fn a_closed_stdout_pipe_is_not_a_panic() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let run = |args: &[&str]| -> anyhow::Result<Output> {
        // The read end is closed before the process starts, so every write fails with EPIPE.
        let (reader, writer) = std::io::pipe()?;
        drop(reader);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudctl"));
        cmd.arg("--database-url")
            .arg(&db)
            .env_remove("CLOUDCTL_ENDPOINTS")
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped());
        Ok(cmd.spawn()?.wait_with_output()?)
    };
    let out = run(&["migrate"])?;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&["--json", "storage", "list"])?;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let out = run(&["--json", "token", "status", "no-such-storage"])?;
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    Ok(())
}
