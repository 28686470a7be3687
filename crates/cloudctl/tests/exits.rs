//! Every exit code, with one clear error line.

use cloud_sim::Fault;
use serde_json::json;
use storage_helper::StorageHelper;
use system_config::SystemConfig;

use crate::{ACCOUNT, cloudctl, sim, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let url = db.url.as_str();
    let sim = sim().await;

    // 2: usage.
    assert_eq!(
        cloudctl(url, None, &["no-such-command"]).status.code(),
        Some(2)
    );
    let out = cloudctl(url, None, &["ls", "no-colon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("TYPE:/path"));
    assert_eq!(
        cloudctl(url, None, &["ls", "dropbox:/"]).status.code(),
        Some(2)
    );
    assert_eq!(
        cloudctl(url, None, &["--endpoint", "nonsense", "token", "status"])
            .status
            .code(),
        Some(2)
    );
    // A missing APP ID is a configuration error, named as such.
    let out = cloudctl(url, Some(&sim), &["login", "u115", "--timeout", "5"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("APP ID"));

    // 3: needs login (nothing stored; then a revoked login).
    let out = cloudctl(url, Some(&sim), &["token", "print", "u115"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not logged in"));
    let pair = sim.login(ACCOUNT);
    let storages = StorageHelper::new(SystemConfig::open(url).await?);
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        - 3600;
    storages
        .handle("u115")
        .patch(
            json!({"access_token": pair.access_token, "refresh_token": pair.refresh_token,
                      "expires_in": 1800, "refresh_time": an_hour_ago}),
        )
        .await?;
    sim.revoke(ACCOUNT)?;
    let out = cloudctl(url, Some(&sim), &["token", "print", "u115"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("needs a new login"));
    assert_eq!(
        stderr(&out).lines().count(),
        1,
        "one clear error line: {}",
        stderr(&out)
    );

    // 4: provider errors (the provider keeps failing).
    let fresh = sim.login(ACCOUNT);
    storages
        .handle("u115")
        .patch(
            json!({"access_token": fresh.access_token, "refresh_token": fresh.refresh_token,
                      "expires_in": 7200, "refresh_time": an_hour_ago + 3600}),
        )
        .await?;
    sim.inject_fault("/open/user/info", Fault::Status(503), 10);
    let out = cloudctl(url, Some(&sim), &["usage", "u115"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    sim.clear_faults();

    // 5: database errors, with the password kept out of the message.
    let out = cloudctl(
        "postgres://mp:hunter2-secret@127.0.0.1:1/mp",
        None,
        &["config", "list"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(!stderr(&out).contains("hunter2-secret"), "{}", stderr(&out));
    Ok(())
}
