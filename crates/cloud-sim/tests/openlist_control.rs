//! OpenList through the HTTP control paths, the shared fault registry, and the binary.

use std::process::Stdio;
use std::time::Duration;

use cloud_sim::{Fault, Malformed, RateLimitAnswer};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{client, json};
use crate::openlist_common::*;

const LOCKED: &str = "Too many unsuccessful sign-in attempts have been made using an incorrect username or password, Try again later.";

#[tokio::test]
async fn users_restart_tokens_and_settings_over_http() {
    let sim = sim_openlist().await;
    let c = client();
    let base = sim.base_url().to_owned();
    let ctl = |method: &str, path: &str, body: Value| {
        c.request(method.parse().unwrap(), format!("{base}/__sim{path}"))
            .json(&body)
            .send()
    };
    let u = json(
        ctl(
            "POST",
            "/users",
            json!({"username": "bob", "password": "pw1"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (u["username"].clone(), u["role"].clone()),
        (json!("bob"), json!(0))
    );
    let bob = token(&sim, &c, "bob", "pw1").await;
    ctl("POST", "/users/bob/password", json!({"password": "pw2"}))
        .await
        .unwrap();
    assert_eq!(
        me(&sim, &c, &bob).await["message"],
        "Password has been changed, login please"
    );
    let bob = token(&sim, &c, "bob", "pw2").await;
    let issued = json(ctl("POST", "/users/bob/token", json!({})).await.unwrap()).await;
    let issued = issued["token"].as_str().unwrap().to_owned();
    assert_eq!(me(&sim, &c, &issued).await["data"]["username"], "bob");

    let r = json(ctl("POST", "/restart", json!({})).await.unwrap()).await;
    assert_eq!(r["restarts"], 1);
    assert!(r["invalidated"].as_u64().unwrap() >= 1);
    assert_eq!(me(&sim, &c, &bob).await["message"], "token is invalidated");

    let permanent = json(ctl("GET", "/token", Value::Null).await.unwrap()).await;
    assert_eq!(permanent["token"], sim.permanent_token().as_str());
    let fresh = json(ctl("POST", "/token/reset", json!({})).await.unwrap()).await;
    assert_ne!(fresh["token"], permanent["token"]);
    assert_eq!(
        me(&sim, &c, fresh["token"].as_str().unwrap()).await["code"],
        200
    );

    let s = json(
        ctl(
            "POST",
            "/openlist",
            json!({"token_expires_in_secs": 60, "guest_enabled": true}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (
            s["token_expires_in_secs"].clone(),
            s["guest_enabled"].clone()
        ),
        (json!(60.0), json!(true))
    );
    let short = token(&sim, &c, "bob", "pw2").await;
    ctl("POST", "/clock/advance", json!({"secs": 61}))
        .await
        .unwrap();
    assert_eq!(me(&sim, &c, &short).await["message"], "token is expired");

    let u = json(
        ctl(
            "POST",
            "/users/bob",
            json!({"disabled": true, "base_path": "/x/"}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (u["disabled"].clone(), u["base_path"].clone()),
        (json!(true), json!("/x"))
    );
    let r = ctl("DELETE", "/users/bob", Value::Null).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        ctl("GET", "/users/bob", Value::Null)
            .await
            .unwrap()
            .status(),
        404
    );

    // Seeding files and signs over HTTP; stats match the handle.
    let r = ctl(
        "POST",
        "/files",
        json!({"account": "admin", "path": "/m/a.mkv", "content": "abc"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let sign = json(
        c.get(format!("{base}/__sim/sign?path=/m/a.mkv"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(sign["sign"], sim.sign("/m/a.mkv").as_str());
    let body = c
        .get(format!("{base}/d/m/a.mkv?sign={}", sim.sign("/m/a.mkv")))
        .send()
        .await
        .unwrap();
    assert_eq!(body.text().await.unwrap(), "abc");
    let stats = json(c.get(format!("{base}/__sim/stats")).send().await.unwrap()).await;
    assert_eq!(stats, serde_json::to_value(sim.stats()).unwrap());
    assert_eq!(stats["login_calls"], 3);
    assert_eq!(stats["token_rejections"]["invalidated"], 1);
}

#[tokio::test]
async fn faults_and_rate_limits_come_from_the_shared_registry() {
    let sim = sim_openlist().await;
    let c = client();
    let t = sim.permanent_token();
    sim.inject_fault("/api/fs/list", Fault::Status(503), 1);
    let resp = c
        .post(format!("{}/api/fs/list", sim.base_url()))
        .header("Authorization", &t)
        .json(&json!({"path": "/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], 503);
    assert_eq!(
        list(&sim, &c, &t, "/", 1, 0).await["code"],
        200,
        "one request only"
    );

    sim.inject_rate_limit("*", RateLimitAnswer::Http429 { reset_secs: 7 }, 1);
    let resp = c
        .get(format!("{}/api/me", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    sim.inject_rate_limit("/api/auth/login/hash", RateLimitAnswer::Quota770004, 1);
    let r = login_hash(&sim, &c, "admin", ADMIN_PW).await;
    assert_eq!(r, json!({"code": 429, "message": LOCKED, "data": null}));
    sim.inject_fault("/api/auth/login/hash", Fault::Malformed(Malformed::Html), 1);
    let resp = c
        .post(format!("{}/api/auth/login/hash", sim.base_url()))
        .json(&json!({"username": "admin", "password": static_hash(ADMIN_PW)}))
        .send()
        .await
        .unwrap();
    assert!(resp.text().await.unwrap().contains("502 Bad Gateway"));
    let stats = sim.stats();
    assert_eq!(
        stats.login_calls, 0,
        "faults answer before the server sees the login"
    );
    assert_eq!(stats.faults_injected, 4);
    assert_eq!(stats.rate_limited, 2);
    assert!(sim.timings().iter().any(|t| t.path == "/api/fs/list"));

    // A per-user limit (the real server has none; a proxy would answer 429).
    sim.set_rate_limit(Some(1));
    let mut limited = 0;
    for _ in 0..5 {
        let resp = c
            .get(format!("{}/api/me", sim.base_url()))
            .header("Authorization", &t)
            .send()
            .await
            .unwrap();
        limited += usize::from(resp.status() == 429);
    }
    assert!(limited >= 3, "{limited}");
}

#[tokio::test]
async fn binary_serves_openlist_with_users_and_control() {
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloud-sim"))
        .args([
            "openlist", "--port", "0", "--user", "bob:pw", "--flavor", "ol4_1",
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
    assert!(base.ends_with(&format!(
        ":{}",
        std::fs::read_to_string(&port_file).unwrap()
    )));
    let c = client();
    let login = |password: &str| {
        c.post(format!("{base}/api/auth/login/hash"))
            .json(&json!({"username": "bob", "password": static_hash(password)}))
            .send()
    };
    let r = json(login("wrong").await.unwrap()).await;
    assert_eq!(r["code"], 400, "ol4_1 keeps the v3 login errors: {r}");
    let r = json(login("pw").await.unwrap()).await;
    let t = r["data"]["token"].as_str().unwrap().to_owned();
    let me = |t: String| {
        c.get(format!("{base}/api/me"))
            .header("Authorization", t)
            .send()
    };
    assert_eq!(
        json(me(t.clone()).await.unwrap()).await["data"]["username"],
        "bob"
    );
    c.post(format!("{base}/__sim/restart"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(me(t).await.unwrap()).await["message"],
        "token is invalidated"
    );
    let stats = json(c.get(format!("{base}/__sim/stats")).send().await.unwrap()).await;
    assert_eq!(
        (stats["login_calls"].clone(), stats["logins_ok"].clone()),
        (json!(2), json!(1))
    );
    child.kill().await.unwrap();
}
