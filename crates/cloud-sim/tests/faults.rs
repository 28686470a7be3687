//! Fault injection: delay, 5xx, connection reset, no answer, malformed bodies.

use std::time::{Duration, Instant};

use cloud_sim::{Fault, Malformed};
use serde_json::json;

use crate::common::*;

const PATH: &str = "/open/user/info";

#[tokio::test]
async fn delay_then_normal() {
    let sim = sim115().await;
    let c = client();
    let t = sim.login("alice").access_token;
    sim.inject_fault(PATH, Fault::Delay(Duration::from_millis(400)), 1);
    let started = Instant::now();
    assert_eq!(get115(&sim, &c, PATH, &t).await["code"], 0);
    assert!(started.elapsed() >= Duration::from_millis(350));
    assert_eq!(sim.pending_faults(), 0);
    assert_eq!(sim.stats().faults_injected, 1);
}

#[tokio::test]
async fn server_errors_for_the_next_n_requests() {
    let sim = sim115().await;
    let c = client();
    let t = sim.login("alice").access_token;
    sim.inject_fault(PATH, Fault::Status(503), 2);
    for _ in 0..2 {
        let resp = c
            .get(format!("{}{PATH}", sim.base_url()))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 503);
    }
    // Other paths are not affected, and the third request is normal.
    let resp = c
        .get(format!("{}{PATH}", sim.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.stats().faults_injected, 2);
    assert_eq!(sim.path_count(PATH), 3);

    // alipan shape.
    let ali = sim_alipan().await;
    ali.inject_fault("/oauth/access_token", Fault::Status(500), 1);
    let resp = c
        .post(format!("{}/oauth/access_token", ali.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(json(resp).await["code"], "InternalError");
}

#[tokio::test]
async fn connection_reset_without_answer() {
    let sim = sim115().await;
    let c = client();
    let t = sim.login("alice").access_token;
    sim.inject_fault("/open/refreshToken", Fault::Reset, 1);
    let live = sim.live_refresh_token("alice").unwrap();
    let err = c
        .post(format!("{}/open/refreshToken", sim.base_url()))
        .form(&[("refresh_token", live.as_str())])
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err:?}");
    assert!(err.status().is_none());
    // The request was not processed: the refresh token is untouched.
    assert_eq!(sim.live_refresh_token("alice"), Some(live));
    // The server still answers afterwards.
    assert_eq!(get115(&sim, &c, PATH, &t).await["code"], 0);
}

#[tokio::test]
async fn hang_until_the_client_gives_up() {
    let sim = sim115().await;
    let t = sim.login("alice").access_token;
    sim.inject_fault(PATH, Fault::Hang, 1);
    crate::common::install_crypto_provider();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = c
        .get(format!("{}{PATH}", sim.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(get115(&sim, &client(), PATH, &t).await["code"], 0);
    // Shutting down releases the hung request's task.
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies() {
    let sim = sim115().await;
    let c = client();
    let t = sim.login("alice").access_token;
    sim.inject_fault(PATH, Fault::Malformed(Malformed::TruncatedJson), 1);
    sim.inject_fault(PATH, Fault::Malformed(Malformed::Html), 1);
    let resp = c
        .get(format!("{}{PATH}", sim.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(text, "{\"state\":");
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err());
    let resp = c
        .get(format!("{}{PATH}", sim.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(resp.text().await.unwrap().contains("<html>"));
    assert_eq!(get115(&sim, &c, PATH, &t).await["code"], 0);
}

#[tokio::test]
async fn faults_and_delay_through_the_control_paths() {
    let sim = sim115().await;
    let c = client();
    let t = sim.login("alice").access_token;
    let base = sim.base_url();
    let resp = c
        .post(format!("{base}/__sim/faults"))
        .json(&json!({"path": PATH, "fault": "status", "status": 502, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(resp).await["pending"], 1);
    let resp = c
        .get(format!("{base}{PATH}"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    // Route templates match too (alipan status path with a sid).
    let resp = c
        .post(format!("{base}/__sim/faults"))
        .json(&json!({"path": "*", "fault": "malformed", "body": "html", "times": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(resp).await["pending"], 3);
    let resp = c
        .delete(format!("{base}/__sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(sim.pending_faults(), 0);
    // Global per-request delay.
    let resp = c
        .post(format!("{base}/__sim/settings"))
        .json(&json!({"request_delay_ms": 300}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(resp).await["request_delay_ms"], 300);
    let started = Instant::now();
    assert_eq!(get115(&sim, &c, PATH, &t).await["code"], 0);
    assert!(started.elapsed() >= Duration::from_millis(250));
    sim.set_request_delay(Duration::ZERO);
    // A bad fault spec is a 400.
    let resp = c
        .post(format!("{base}/__sim/faults"))
        .json(&json!({"path": PATH, "fault": "explode"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn template_paths_match_alipan_status() {
    let sim = sim_alipan().await;
    let c = client();
    sim.inject_fault("/oauth/qrcode/{sid}/status", Fault::Status(503), 1);
    let resp = c
        .get(format!("{}/oauth/qrcode/abc/status", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(sim.path_count("/oauth/qrcode/{sid}/status"), 1);
}
