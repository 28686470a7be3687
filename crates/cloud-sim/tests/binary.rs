//! The standalone `cloud-sim` binary.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test]
async fn binary_prints_its_url_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloud-sim"))
        .args([
            "alipan",
            "--port",
            "0",
            "--rate-limit",
            "5/s",
            "--auto-confirm",
            "0.1",
        ])
        .arg("--port-file")
        .arg(&port_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(
        Duration::from_secs(20),
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .unwrap()
    .unwrap();
    let base = line.trim().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let port = std::fs::read_to_string(&port_file).unwrap();
    assert!(base.ends_with(&format!(":{port}")));
    let c = crate::common::client();
    let stats = crate::common::send_json(c.get(format!("{base}/__sim/stats"))).await;
    assert_eq!(stats["total_requests"], 0);
    child.kill().await.unwrap();
}
