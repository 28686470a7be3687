//! End-to-end runs of the `cloudctl` binary against the 115 simulator, on a SQLite file and
//! (when configured, mandatory in CI) PostgreSQL.

mod alist;
mod cli;
mod common_serve;
mod console;
mod downloads;
mod exits;
mod keepalive;
mod login;
mod machine;
mod race;
mod read_only;
mod redaction;
mod refresh;
mod serve;
mod shared_failures;
mod signals;
mod transfers;

use std::process::{Command, Output};

use cloud_sim::{Config115, Sim115, Sim115Handle};

/// The APP ID the simulator expects.
pub const APP_ID: &str = "test-app-id";
/// An account logged in directly through the simulator.
pub const ACCOUNT: &str = "alice";

/// Runs `cloudctl` with the database and simulator given.
pub fn cloudctl(db: &str, sim: Option<&Sim115Handle>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudctl"));
    cmd.arg("--database-url")
        .arg(db)
        .env_remove("DATABASE_URL")
        .env_remove("CLOUDCTL_ENDPOINTS");
    if let Some(sim) = sim {
        cmd.arg("--endpoint")
            .arg(format!("u115={}", sim.base_url()));
    }
    cmd.args(args).output().expect("cloudctl runs")
}

/// Standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// A 115 simulator that expects [`APP_ID`] and confirms QR codes by itself.
pub async fn sim() -> Sim115Handle {
    let sim = Sim115::start(Config115 {
        client_id: Some(APP_ID.into()),
        auto_confirm: Some(std::time::Duration::from_millis(300)),
        ..Config115::default()
    })
    .await
    .expect("simulator starts");
    sim.create_account("sim-user");
    sim
}

/// Logs [`ACCOUNT`] in on `sim` and stores its fresh tokens (valid for two hours) in the
/// `u115` storage of `url`.
pub async fn logged_in(url: &str, sim: &Sim115Handle) -> anyhow::Result<()> {
    let pair = sim.login(ACCOUNT);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    storage_helper::StorageHelper::new(system_config::SystemConfig::open(url).await?)
        .handle("u115")
        .patch(serde_json::json!({
            "access_token": pair.access_token, "refresh_token": pair.refresh_token,
            "expires_in": 7200, "refresh_time": now, "client_id": APP_ID,
        }))
        .await?;
    Ok(())
}

/// Every key and value of the database at `url`, read through a fresh store (file bytes are
/// not stable under WAL; values are).
pub async fn fingerprint(
    url: &str,
) -> anyhow::Result<(
    std::collections::BTreeMap<String, serde_json::Value>,
    Vec<String>,
)> {
    let store = system_config::SystemConfig::open(url).await?;
    Ok((store.all(), store.corrupt_keys()))
}
