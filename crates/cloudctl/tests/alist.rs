//! `cloudctl login alist --username … --password-stdin` and `cloudctl ls alist:/` against
//! the OpenList simulator.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use cloud_sim::{ConfigOpenList, SimOpenList, SimOpenListHandle};

use crate::{ok, stderr, stdout};

const PASSWORD: &str = "cli-pa55word";

/// Runs `cloudctl` with `stdin` as standard input (and the simulator as `alist`'s server
/// when `sim` is given).
fn run(
    db: &str,
    sim: Option<&SimOpenListHandle>,
    args: &[&str],
    stdin: &str,
) -> anyhow::Result<Output> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudctl"));
    cmd.arg("--database-url")
        .arg(db)
        .env_remove("DATABASE_URL")
        .env_remove("CLOUDCTL_ENDPOINTS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(sim) = sim {
        cmd.arg("--endpoint")
            .arg(format!("alist={}", sim.base_url()));
    }
    let mut child = cmd.args(args).spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_password_stdin_then_ls() -> anyhow::Result<()> {
    let sim = SimOpenList::start(ConfigOpenList::default()).await?;
    sim.add_user("mp", PASSWORD);
    sim.add_file("mp", "/movie.mkv", b"bytes".to_vec())?;
    for db in test_support::backends().await? {
        let url = db.url.as_str();
        let before = sim.stats().login_calls;
        // A wrong password: needs login (exit 3), says so, saves nothing.
        let out = run(
            url,
            Some(&sim),
            &["login", "alist", "--username", "mp", "--password-stdin"],
            "wrong\n",
        )?;
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("wrong user name or password"),
            "{}",
            stderr(&out)
        );

        let out = run(
            url,
            Some(&sim),
            &["login", "alist", "--username", "mp", "--password-stdin"],
            &format!("{PASSWORD}\n"),
        )?;
        let text = format!("{}{}", ok_ref(&out), stderr(&out));
        assert!(text.contains("logged in as mp"), "{text}");
        assert!(!text.contains(PASSWORD), "the password is never shown");
        assert_eq!(sim.stats().login_calls - before, 2);

        // `ls` uses the saved session: no further login.
        let listing = ok(run(url, Some(&sim), &["ls", "alist:/"], "")?);
        assert!(listing.contains("movie.mkv"), "{listing}");
        assert_eq!(sim.stats().login_calls - before, 2);

        // `storage show` redacts the password and the session.
        let shown = ok(run(url, None, &["storage", "show", "alist"], "")?);
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains("mp"), "{shown}");
    }
    sim.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_uses_the_configs_url_and_credentials() -> anyhow::Result<()> {
    let sim = SimOpenList::start(ConfigOpenList::default()).await?;
    sim.add_user("mp", PASSWORD);
    sim.add_folder("mp", "/tv")?;
    let db = test_support::TestDb::sqlite()?;
    // As MoviePilot's settings page saves it: no session yet.
    storage_helper::StorageHelper::new(system_config::SystemConfig::open(&db.url).await?)
        .handle("alist")
        .patch(serde_json::json!({"url": sim.base_url(), "username": "mp", "password": PASSWORD}))
        .await?;
    let listing = ok(run(&db.url, None, &["ls", "alist:/"], "")?);
    assert!(listing.contains("tv"), "{listing}");
    assert_eq!(sim.stats().login_calls, 1);
    let status = ok(run(&db.url, None, &["token", "status", "alist"], "")?);
    assert!(!status.contains(PASSWORD), "{status}");
    sim.shutdown().await;
    Ok(())
}

fn ok_ref(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
    stdout(out)
}
