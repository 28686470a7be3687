//! Helpers of the OpenList tests: starting a simulator, the hash login, envelope calls.

use cloud_sim::{ConfigOpenList, SimOpenList, SimOpenListHandle};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const ADMIN_PW: &str = "admin-password";

pub async fn sim_openlist() -> SimOpenListHandle {
    SimOpenList::start(ConfigOpenList::default()).await.unwrap()
}

pub async fn sim_openlist_with(config: ConfigOpenList) -> SimOpenListHandle {
    SimOpenList::start(config).await.unwrap()
}

/// `sha256(password + "-https://github.com/alist-org/alist")`, lower-case hex.
pub fn static_hash(password: &str) -> String {
    hex::encode(Sha256::digest(format!(
        "{password}-https://github.com/alist-org/alist"
    )))
}

/// A raw call: HTTP status, content type and body text.
pub async fn raw(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, ct, resp.text().await.unwrap())
}

/// POSTs JSON with a raw `Authorization` (none when `token` is empty); asserts the
/// envelope comes on HTTP 200 and returns it.
pub async fn post(
    sim: &SimOpenListHandle,
    c: &reqwest::Client,
    path: &str,
    token: &str,
    body: Value,
) -> Value {
    let mut req = c.post(format!("{}{path}", sim.base_url())).json(&body);
    if !token.is_empty() {
        req = req.header("Authorization", token);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200, "every /api reply is HTTP 200");
    resp.json().await.unwrap()
}

/// `GET /api/me` with a raw `Authorization`.
pub async fn me(sim: &SimOpenListHandle, c: &reqwest::Client, token: &str) -> Value {
    let resp = c
        .get(format!("{}/api/me", sim.base_url()))
        .header("Authorization", token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// `/api/auth/login/hash`; returns the envelope.
pub async fn login_hash(
    sim: &SimOpenListHandle,
    c: &reqwest::Client,
    user: &str,
    password: &str,
) -> Value {
    let body = json!({"username": user, "password": static_hash(password)});
    post(sim, c, "/api/auth/login/hash", "", body).await
}

/// A successful hash login's token.
pub async fn token(
    sim: &SimOpenListHandle,
    c: &reqwest::Client,
    user: &str,
    password: &str,
) -> String {
    let r = login_hash(sim, c, user, password).await;
    assert_eq!(r["code"], 200, "{r}");
    r["data"]["token"].as_str().unwrap().to_owned()
}

/// `/api/fs/list` of `path` with paging.
pub async fn list(
    sim: &SimOpenListHandle,
    c: &reqwest::Client,
    token: &str,
    path: &str,
    page: i64,
    per_page: i64,
) -> Value {
    let body =
        json!({"path": path, "password": "", "page": page, "per_page": per_page, "refresh": false});
    post(sim, c, "/api/fs/list", token, body).await
}

/// Names of a list answer's `content` (empty for `null`).
pub fn names(list: &Value) -> Vec<String> {
    list["data"]["content"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}
