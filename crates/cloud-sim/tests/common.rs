//! Helpers shared by the test modules: an HTTP client and the two QR login dances.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cloud_sim::{Config115, ConfigAlipan, Sim115, Sim115Handle, SimAlipan, SimAlipanHandle};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ";
pub const APP: &str = "sim-app-id";

/// Installs rustls' ring provider for reqwest, when none is installed: in workspace
/// builds reqwest has cloud-clients' `rustls-no-provider` and needs one to build a client.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

pub fn client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A 115 config with a short long-poll so tests never wait 25 s.
pub fn cfg115() -> Config115 {
    Config115 {
        poll_timeout: Duration::from_secs(10),
        ..Config115::default()
    }
}

pub async fn sim115() -> Sim115Handle {
    Sim115::start(cfg115()).await.unwrap()
}

pub async fn sim_alipan() -> SimAlipanHandle {
    SimAlipan::start(ConfigAlipan::default()).await.unwrap()
}

pub fn s256_std(verifier: &str) -> String {
    STANDARD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn s256_url(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub async fn json(resp: reqwest::Response) -> Value {
    resp.json::<Value>().await.unwrap()
}

/// Sends `req` and reads the answer as JSON.
pub async fn send_json(req: reqwest::RequestBuilder) -> Value {
    json(req.send().await.unwrap()).await
}

/// GETs `url` with a `Range: range` header.
pub async fn get_range(c: &reqwest::Client, url: &str, range: &str) -> reqwest::Response {
    c.get(url).header("range", range).send().await.unwrap()
}

pub async fn post_form(c: &reqwest::Client, url: String, form: &[(&str, &str)]) -> Value {
    json(c.post(url).form(form).send().await.unwrap()).await
}

/// 115 `authDeviceCode`; returns `(uid, time, sign)`.
pub async fn device_code(
    sim: &Sim115Handle,
    c: &reqwest::Client,
    challenge: &str,
    method: &str,
) -> Value {
    post_form(
        c,
        format!("{}/open/authDeviceCode", sim.base_url()),
        &[
            ("client_id", APP),
            ("code_challenge", challenge),
            ("code_challenge_method", method),
        ],
    )
    .await
}

pub async fn poll_status(base: &str, c: &reqwest::Client, data: &Value) -> Value {
    let resp = c
        .get(format!("{base}/get/status/"))
        .query(&[
            ("uid", data["uid"].as_str().unwrap().to_owned()),
            ("time", data["time"].to_string()),
            ("sign", data["sign"].as_str().unwrap().to_owned()),
        ])
        .send()
        .await
        .unwrap();
    json(resp).await
}

/// A whole 115 QR login as `account`; returns `(access_token, refresh_token)`.
pub async fn login115(sim: &Sim115Handle, c: &reqwest::Client, account: &str) -> (String, String) {
    let dc = device_code(sim, c, &s256_std(VERIFIER), "sha256").await;
    let uid = dc["data"]["uid"].as_str().unwrap().to_owned();
    sim.confirm_as(&uid, account).unwrap();
    let tok = post_form(
        c,
        format!("{}/open/deviceCodeToToken", sim.base_url()),
        &[("uid", &uid), ("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(tok["code"], 0, "{tok}");
    (
        tok["data"]["access_token"].as_str().unwrap().to_owned(),
        tok["data"]["refresh_token"].as_str().unwrap().to_owned(),
    )
}

pub async fn refresh115(sim: &Sim115Handle, c: &reqwest::Client, token: &str) -> Value {
    post_form(
        c,
        format!("{}/open/refreshToken", sim.base_url()),
        &[("refresh_token", token)],
    )
    .await
}

pub async fn get115(sim: &Sim115Handle, c: &reqwest::Client, path: &str, token: &str) -> Value {
    json(
        c.get(format!("{}{path}", sim.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn post115(
    sim: &Sim115Handle,
    c: &reqwest::Client,
    path: &str,
    token: &str,
    form: &[(&str, &str)],
) -> Value {
    json(
        c.post(format!("{}{path}", sim.base_url()))
            .bearer_auth(token)
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// An alipan QR login with a secret; returns the token answer.
pub async fn login_alipan_secret(
    sim: &SimAlipanHandle,
    c: &reqwest::Client,
    account: &str,
) -> Value {
    let base = sim.base_url();
    let qr = json(
        c.post(format!("{base}/oauth/authorize/qrcode"))
            .json(&serde_json::json!({"client_id": APP, "client_secret": "s3cret", "scopes": ["user:base", "file:all:read"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let sid = qr["sid"].as_str().unwrap().to_owned();
    sim.confirm_as(&sid, account).unwrap();
    let status = json(
        c.get(format!("{base}/oauth/qrcode/{sid}/status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status["status"], "LoginSuccess");
    let resp = c
        .post(format!("{base}/oauth/access_token"))
        .json(&serde_json::json!({
            "client_id": APP, "client_secret": "s3cret",
            "grant_type": "authorization_code", "code": status["authCode"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    json(resp).await
}

pub async fn alipan_post(
    sim: &SimAlipanHandle,
    c: &reqwest::Client,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let resp = c
        .post(format!("{}{path}", sim.base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, json(resp).await)
}

pub async fn alipan_refresh(
    sim: &SimAlipanHandle,
    c: &reqwest::Client,
    token: &str,
) -> (u16, Value) {
    let resp = c
        .post(format!("{}/oauth/access_token", sim.base_url()))
        .json(&serde_json::json!({
            "client_id": APP, "client_secret": "s3cret",
            "grant_type": "refresh_token", "refresh_token": token,
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, json(resp).await)
}
