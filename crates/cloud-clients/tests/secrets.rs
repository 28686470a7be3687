//! No token appears in logs (at TRACE), `Debug` output or error texts.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloud_clients::Error;
use cloud_sim::Fault;

use crate::common::{ACCOUNT, env};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `scenario` on every backend with TRACE logs captured, then checks that none of the
/// secrets it returns appears in the logs or in any of the texts it returns (`Display`
/// and `Debug` output it produced). Returns the logs for further checks.
fn without_leaks<F, Fut>(scenario: F) -> anyhow::Result<String>
where
    F: FnOnce(Vec<test_support::TestDb>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<(Vec<String>, Vec<String>)>>,
{
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dbs = runtime.block_on(test_support::backends())?;
    let (secrets, shown) =
        tracing::subscriber::with_default(subscriber, || runtime.block_on(scenario(dbs)))?;
    let logs = String::from_utf8(
        captured
            .0
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .clone(),
    )?;
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
        for text in &shown {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into: {text}"
            );
        }
    }
    Ok(logs)
}

#[test]
fn login_refresh_and_requests_at_trace_never_show_a_token() -> anyhow::Result<()> {
    let logs = without_leaks(|dbs| async move {
        let mut secrets = Vec::new();
        let mut shown = Vec::new();
        for db in &dbs {
            let env = env(&db.url).await?;
            let first = env.login().await?;
            let client = env.client()?;
            client.user_info().await?;
            env.expire();
            let second = client.accessor().access_token().await?;
            // A request rejected for its token: refresh and retry once.
            env.sim.clock().advance(Duration::from_secs(7300));
            client.user_info().await?;
            let third = client.accessor().access_token().await?;
            // Errors: transient, then needs-login.
            env.expire();
            env.sim
                .inject_fault("/open/refreshToken", Fault::Status(500), 3);
            let transient = client.accessor().access_token().await.unwrap_err();
            env.sim.clear_faults();
            env.sim.revoke(ACCOUNT)?;
            env.advance(Duration::from_secs(5));
            let needs_login = client.accessor().access_token().await.unwrap_err();
            assert!(
                matches!(needs_login, Error::NeedsLogin { .. }),
                "{needs_login}"
            );

            for err in [&transient, &needs_login] {
                shown.push(format!("{err} {err:?}"));
            }
            shown.push(format!(
                "{client:?} {:?} {:?}",
                client.accessor(),
                client.accessor().state()
            ));
            shown.push(format!("{second:?} {second} {third:?}"));
            shown.push(format!(
                "{:?}",
                env.storages.handle("u115").get_fresh().await?
            ));
            secrets.extend([
                first.access_token.clone(),
                second.secret().to_owned(),
                third.secret().to_owned(),
            ]);
            secrets.extend(first.refresh_token.clone());
            secrets.extend(env.sim.live_refresh_token(ACCOUNT));
            secrets.push(env.stored_token("refresh_token").await?);
        }
        anyhow::Ok((secrets, shown))
    })?;
    assert!(
        logs.contains("access token refreshed"),
        "the capture works:\n{logs}"
    );
    // The spans are there, with their fields: refreshes, provider requests, store writes.
    for needle in [
        "outcome=\"refreshed\" lease_waited_ms=0}: cloud_clients::token::flight: token flight ended",
        "outcome=\"needs_login\" lease_waited_ms=0}: cloud_clients::token::flight: token flight ended",
        "outcome=\"transient\" lease_waited_ms=0}: cloud_clients::token::flight: token flight ended",
        "provider_request{provider=\"u115\" endpoint=/open/refreshToken status=\"2xx\" latency_ms=",
        "provider_request{provider=\"u115\" endpoint=/open/refreshToken status=\"5xx\" latency_ms=",
        "provider_request{provider=\"u115\" endpoint=/open/user/info status=\"2xx\" latency_ms=",
        "store_write{key=\"Storages\" operation=\"updating\" backend=\"sqlite\" changed=true outcome=\"ok\"}: system_config::txn: store write ended took_us=",
        "token_refresh{storage=u115 ahead=false}:provider_request{",
        "token_refresh{storage=u115 ahead=false}:store_write{",
    ] {
        assert!(logs.contains(needle), "no `{needle}` in:\n{logs}");
    }
    assert!(
        logs.lines().count() > 10,
        "TRACE output was captured:\n{logs}"
    );
    Ok(())
}

#[test]
fn alist_password_sessions_and_signed_links_never_show() -> anyhow::Result<()> {
    use cloud_clients::{CloudStorage, Password, PasswordLogin};
    use cloud_sim::Malformed;

    use crate::alist::{AlistEnv, PASSWORD, STORAGE, USER};

    let logs = without_leaks(|dbs| async move {
        let mut secrets = vec![PASSWORD.to_owned()];
        let mut shown = Vec::new();
        for db in &dbs {
            let env = AlistEnv::new(&db.url).await?;
            let client = env.client()?;
            let wrong = client
                .login_with_password(USER, &Password::new("wrong-password-123"))
                .await
                .expect_err("refused");
            secrets.push("wrong-password-123".into());
            env.login().await?;
            let first = client.access_token().await?;
            env.sim.add_file(USER, "/m.mkv", b"bytes".to_vec())?;
            let item = client.stat("/m.mkv").await?.expect("seeded");
            let link = client.download_url(&item).await?;
            // A restart: one re-login.
            env.sim.restart();
            client.stat("/m.mkv").await?;
            let second = client.access_token().await?;
            env.sim
                .inject_fault("/api/fs/get", Fault::Malformed(Malformed::Html), 1);
            let html = client.stat("/m.mkv").await.expect_err("HTML");
            for err in [&wrong, &html] {
                shown.push(format!("{err} {err:?}"));
            }
            shown.push(format!(
                "{client:?} {:?} {link:?} {item:?} {first:?} {second}",
                client.accessor()
            ));
            shown.push(format!(
                "{:?}",
                env.storages.handle(STORAGE).get_fresh().await?
            ));
            secrets.extend([
                first.secret().to_owned(),
                second.secret().to_owned(),
                link.url.clone(),
                env.sim.permanent_token(),
            ]);
            if let Some((_, sign)) = link.url.split_once("sign=") {
                secrets.push(sign.to_owned());
            }
        }
        anyhow::Ok((secrets, shown))
    })?;
    assert!(
        logs.lines().count() > 5,
        "TRACE output was captured:\n{logs}"
    );
    Ok(())
}

/// A 115 upload through OSS — a part answered 503, a failed callback, STS credentials that
/// expire and are fetched again — at TRACE: neither the STS secret nor its security token
/// nor any token shows in the logs, the errors or `Debug` output.
#[test]
fn a_115_upload_never_shows_sts_credentials() -> anyhow::Result<()> {
    const PATH: &str = "secrets::a_115_upload_never_shows_sts_credentials";
    // Run next to the other tests of this binary (which log without a subscriber), the
    // capture got nothing at all in 2 of 4 runs — tracing's process-wide level filter — so
    // the check runs alone, in a process of its own.
    if test_support::child_role().as_deref() != Some(PATH) {
        return test_support::Children::spawn(PATH, 1, &[])?.wait();
    }
    sts_scenario()?;
    test_support::worker_done();
    Ok(())
}

fn sts_scenario() -> anyhow::Result<()> {
    use cloud_clients::u115::U115Client;
    use cloud_clients::{CloudStorage, UploadOptions};
    use cloud_sim::{Config115, OssPartFault};

    use crate::common::env_with;

    let logs = without_leaks(|dbs| async move {
        let mut secrets = Vec::new();
        let mut shown = Vec::new();
        for db in &dbs {
            let env = env_with(&db.url, Config115::default()).await?;
            env.sim.create_account(ACCOUNT);
            let pair = env.login().await?;
            let client = U115Client::new(&env.storages, env.options().requests_per_second(0.0))?;
            let dir = tempfile::tempdir()?;
            let local = dir.path().join("film.mkv");
            std::fs::write(&local, test_support::content(3 << 20, 11))?;
            let options = UploadOptions::default().session_dir(dir.path().join("sessions"));
            let root = client.root();

            env.sim.inject_oss_part_fault(OssPartFault::Status(503), 1);
            env.sim.fail_next_callbacks(1);
            let failed = client
                .upload(&local, &root, "film.mkv", &options, &mut |_, _, _| {})
                .await
                .expect_err("the callback fails");
            env.sim.expire_sts_credentials();
            let item = client
                .upload(&local, &root, "film.mkv", &options, &mut |_, _, _| {})
                .await?;
            let token = client.accessor().access_token().await?;

            shown.push(format!("{failed} {failed:?}"));
            shown.push(format!("{client:?} {item:?} {:?}", client.accessor()));
            let issued = env.sim.issued_sts_credentials();
            anyhow::ensure!(issued.len() >= 2, "fresh credentials after the expiry");
            for [_, secret, security_token] in issued {
                secrets.extend([secret, security_token]);
            }
            secrets.push(pair.access_token.clone());
            secrets.extend(pair.refresh_token.clone());
            secrets.push(token.secret().to_owned());
        }
        anyhow::Ok((secrets, shown))
    })?;
    for needle in [
        "endpoint=/open/upload/init",
        "endpoint=/open/upload/get_token",
    ] {
        assert!(
            logs.contains(needle),
            "no `{needle}` in the captured logs:\n{}",
            logs.lines()
                .filter(|l| l.contains("provider_request"))
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(())
}
