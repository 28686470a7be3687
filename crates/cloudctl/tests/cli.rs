//! Every command, as a user or a script runs it.

use serde_json::Value;
use test_support::backends;

use crate::{APP_ID, cloudctl, ok, sim, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_config_and_storage_commands() -> anyhow::Result<()> {
    for db in backends().await? {
        let url = db.url.as_str();
        assert!(
            ok(cloudctl(url, None, &["migrate"])).contains("ran m20250101_000001_systemconfig")
        );
        let status = ok(cloudctl(url, None, &["migrate", "status"]));
        assert!(
            status.contains("m20250101_000002_seed_storages: applied"),
            "{status}"
        );

        ok(cloudctl(
            url,
            None,
            &["config", "set", "UserCustomCSS", "\"body{}\""],
        ));
        assert_eq!(
            ok(cloudctl(url, None, &["config", "get", "UserCustomCSS"])).trim(),
            "\"body{}\""
        );
        assert!(
            ok(cloudctl(url, None, &["config", "set", "Directories", "[]"])).contains("changed")
        );
        let list: Value =
            serde_json::from_str(&ok(cloudctl(url, None, &["--json", "config", "list"])))?;
        let keys = list["keys"].as_array().cloned().unwrap_or_default();
        assert!(keys.contains(&"Storages".into()) && keys.contains(&"Directories".into()));
        assert!(
            ok(cloudctl(url, None, &["config", "delete", "UserCustomCSS"])).contains("deleted")
        );
        // A missing key: "not found", exit 7.
        assert_eq!(
            cloudctl(url, None, &["config", "get", "UserCustomCSS"])
                .status
                .code(),
            Some(7)
        );

        // Storages: secrets redacted unless asked for.
        ok(cloudctl(
            url,
            None,
            &[
                "storage",
                "patch",
                "u115",
                r#"{"access_token":"SECRET-AT","expires_in":7200}"#,
            ],
        ));
        let shown = ok(cloudctl(url, None, &["storage", "show", "u115"]));
        assert!(
            !shown.contains("SECRET-AT") && shown.contains("[redacted]") && shown.contains("7200"),
            "{shown}"
        );
        let listed = ok(cloudctl(url, None, &["--json", "storage", "list"]));
        assert!(!listed.contains("SECRET-AT"), "{listed}");
        assert!(
            ok(cloudctl(
                url,
                None,
                &["storage", "show", "u115", "--show-secrets"]
            ))
            .contains("SECRET-AT")
        );
        ok(cloudctl(
            url,
            None,
            &["storage", "add", "smb", "--name", "NAS"],
        ));
        assert_eq!(
            cloudctl(url, None, &["storage", "add", "smb"])
                .status
                .code(),
            Some(2)
        );
        assert!(ok(cloudctl(url, None, &["storage", "list"])).contains("NAS"));
        ok(cloudctl(url, None, &["storage", "reset", "u115"]));
        assert!(
            !ok(cloudctl(
                url,
                None,
                &["storage", "show", "u115", "--show-secrets"]
            ))
            .contains("SECRET-AT")
        );
        assert!(ok(cloudctl(url, None, &["storage", "remove", "smb"])).contains("removed"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_tokens_and_files() -> anyhow::Result<()> {
    for db in backends().await? {
        let url = db.url.as_str();
        let sim = sim().await;
        sim.add_folder("sim-user", "/Movies")?;
        sim.add_file("sim-user", "/Movies/Dune.mkv", b"x".repeat(3000))?;

        // QR login: the code is shown, the simulator confirms, tokens are saved.
        let out = cloudctl(url, Some(&sim), &["login", "u115", "--client-id", APP_ID]);
        let (text, err) = (ok(out.clone()), stderr(&out));
        assert!(
            err.contains("115.com/scan") && err.contains("█") && err.contains("confirmed"),
            "{err}"
        );
        assert!(text.contains("u115: valid"), "{text}");

        let status: Value = serde_json::from_str(&ok(cloudctl(
            url,
            Some(&sim),
            &["--json", "token", "status", "u115"],
        )))?;
        assert_eq!(status["u115"]["state"], "valid");
        assert!(status["u115"]["seconds_left"].as_i64().unwrap_or(0) > 7000);
        let token = ok(cloudctl(url, Some(&sim), &["token", "print", "u115"]));
        assert!(!token.trim().is_empty());
        assert!(
            !status.to_string().contains(token.trim()),
            "status never shows the token"
        );
        ok(cloudctl(
            url,
            Some(&sim),
            &["token", "refresh", "u115", "--force"],
        ));
        let rotated = ok(cloudctl(url, Some(&sim), &["token", "print", "u115"]));
        assert_ne!(rotated, token);
        assert_eq!(sim.account_stats("sim-user").refresh_calls, 1);

        // Files.
        let ls = ok(cloudctl(url, Some(&sim), &["ls", "u115:/Movies"]));
        assert!(ls.contains("Dune.mkv"), "{ls}");
        let item: Value = serde_json::from_str(&ok(cloudctl(
            url,
            Some(&sim),
            &["--json", "stat", "u115:/Movies/Dune.mkv"],
        )))?;
        assert_eq!(item["size"], 3000);
        ok(cloudctl(url, Some(&sim), &["mkdir", "u115:/Archive/2021"]));
        assert!(sim.stat("sim-user", "/Archive/2021").is_some());
        ok(cloudctl(
            url,
            Some(&sim),
            &["cp", "u115:/Movies/Dune.mkv", "u115:/Archive"],
        ));
        ok(cloudctl(
            url,
            Some(&sim),
            &["mv", "u115:/Archive/Dune.mkv", "u115:/Archive/2021"],
        ));
        assert!(sim.stat("sim-user", "/Archive/2021/Dune.mkv").is_some());
        ok(cloudctl(
            url,
            Some(&sim),
            &["rm", "u115:/Archive/2021/Dune.mkv"],
        ));
        assert!(sim.stat("sim-user", "/Archive/2021/Dune.mkv").is_none());
        assert!(
            ok(cloudctl(url, Some(&sim), &["url", "u115:/Movies/Dune.mkv"])).starts_with("http")
        );
        assert!(ok(cloudctl(url, Some(&sim), &["usage", "u115"])).contains("used of"));
        let dir = tempfile::tempdir()?;
        let out = cloudctl(
            url,
            Some(&sim),
            &[
                "download",
                "u115:/Movies/Dune.mkv",
                &dir.path().display().to_string(),
            ],
        );
        assert!(stderr(&out).contains("100%"), "{}", stderr(&out));
        ok(out);
        assert_eq!(
            std::fs::read(dir.path().join("Dune.mkv"))?,
            b"x".repeat(3000)
        );
    }
    Ok(())
}

#[test]
fn demo_runs_end_to_end_and_leaves_nothing_behind() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/data/user.db?mode=rwc", dir.path().display());
    let out = cloudctl(&url, None, &["demo", "--tasks", "100"]);
    let text = ok(out.clone());
    assert!(
        text.contains("100 concurrent requests, 1 refresh request, 0 rejected reuses"),
        "{text}"
    );
    assert!(text.contains("login survived"), "{text}");
    // It ran on the file it was given, and the login is there.
    let storages = ok(cloudctl(&url, None, &["storage", "list"]));
    assert!(
        storages.contains("u115-demo") && storages.contains("logged in"),
        "{storages}"
    );
    // Run again: a second login replaces the first, still one refresh.
    assert!(ok(cloudctl(&url, None, &["demo", "--tasks", "10"])).contains("1 refresh request"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_a_login_cleanly() -> anyhow::Result<()> {
    use std::io::Read;
    let db = test_support::TestDb::sqlite()?;
    // No auto-confirm: the login waits until interrupted.
    let sim = cloud_sim::Sim115::start(cloud_sim::Config115 {
        client_id: Some(APP_ID.into()),
        ..cloud_sim::Config115::default()
    })
    .await?;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cloudctl"))
        .args([
            "--database-url",
            &db.url,
            "--endpoint",
            &format!("u115={}", sim.base_url()),
        ])
        .args(["login", "u115", "--client-id", APP_ID])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Wait until the QR code is out and the poll is running.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sim.stats().long_polls_waiting == 0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the login never started polling"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    assert!(status.success());
    let code = child.wait()?.code();
    let mut err = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut err)?;
    }
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    // Nothing was saved.
    let shown = ok(cloudctl(
        &db.url,
        None,
        &["storage", "show", "u115", "--show-secrets"],
    ));
    assert!(!shown.contains("access_token"), "{shown}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alipan_login_and_listing() -> anyhow::Result<()> {
    for db in backends().await? {
        let url = db.url.as_str();
        let sim = cloud_sim::SimAlipan::start(cloud_sim::ConfigAlipan {
            client_id: Some(APP_ID.into()),
            auto_confirm: Some(std::time::Duration::from_millis(300)),
            ..cloud_sim::ConfigAlipan::default()
        })
        .await?;
        sim.create_account("sim-user");
        let run = |args: &[&str]| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cloudctl"));
            cmd.args([
                "--database-url",
                url,
                "--endpoint",
                &format!("alipan={}", sim.base_url()),
            ]);
            cmd.args(args).output().expect("cloudctl runs")
        };
        let out = run(&["login", "alipan", "--client-id", APP_ID]);
        assert!(stderr(&out).contains("Aliyun Drive"), "{}", stderr(&out));
        assert!(ok(out).contains("alipan: valid"));
        // Drive ids were saved with the tokens.
        let shown: Value = serde_json::from_str(&ok(run(&["storage", "show", "alipan"])))?;
        assert!(shown["config"]["default_drive_id"].is_string(), "{shown}");
        sim.add_file_in_drive(
            "sim-user",
            cloud_sim::DriveKind::Resource,
            "/Shows/Pilot.mkv",
            b"abc".to_vec(),
        )?;
        assert!(ok(run(&["ls", "alipan:/Shows"])).contains("Pilot.mkv"));
        assert!(ok(run(&["--json", "stat", "alipan:/Shows/Pilot.mkv"])).contains("\"size\": 3"));
    }
    Ok(())
}
