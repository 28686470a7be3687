//! `cloudctl serve` as a real OS process against the simulators, on both database
//! backends: API keys (missing, wrong, revoked, created while running), console sessions
//! and CSRF, the token endpoint in an expiry storm (64 concurrent requests, and 8 `curl`
//! processes: one refresh), QR login through the API with progress on the event stream,
//! SIGKILL and restart (no new login), OpenList password login, rate limits, no secret in
//! standard error or in any answer but the token's, and SIGTERM during a refresh.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use cloud_sim::{Config115, ConfigOpenList, Fault, Sim115, SimOpenList};
use serde_json::{Value, json};

use crate::common_serve::{
    assert_error_only, client, eventually, get, logged_in_with, new_key, post, start, start_on,
};
use crate::{ACCOUNT, APP_ID, cloudctl, ok};

const REFRESH: &str = "/open/refreshToken";

fn u115(sim: &cloud_sim::Sim115Handle) -> Vec<String> {
    vec![format!("u115={}", sim.base_url())]
}

async fn on_both_backends<F, Fut>(scenario: F) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let dbs = test_support::backends().await?;
    let runs = dbs.iter().map(|db| scenario(db.url.clone()));
    for result in futures::future::join_all(runs).await {
        result?;
    }
    Ok(())
}

fn json_of(body: &str) -> Result<Value> {
    serde_json::from_str(body).with_context(|| format!("not JSON: {body}"))
}

fn u115_state(storages: &Value) -> Option<String> {
    storages["storages"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == "u115")
        .and_then(|s| s["state"]["state"].as_str())
        .map(str::to_owned)
}

async fn keys_and_sessions(db: String) -> Result<()> {
    let sim = crate::sim().await;
    let pair = logged_in_with(&db, &sim, 7200, 0).await?;
    let key_a = new_key(&db, "alpha")?;
    let listed = ok(cloudctl(&db, None, &["serve", "--list-keys"]));
    assert!(
        listed.contains("alpha") && !listed.contains(&key_a[3..]),
        "{listed}"
    );
    let server = start(&db, &u115(&sim))?;
    let one_time = server.one_time.clone();
    assert_eq!(one_time.len(), 64);
    let http = client()?;
    // Every answer but the token's, to look for secrets in.
    let mut answers = String::new();

    let storages = server.api("/storages");
    let wrong = format!("dk_{}", "0".repeat(64));
    for key in [None, Some(wrong.as_str()), Some(&key_a[..20]), Some("")] {
        let (status, body) = get(&http, &storages, key).await?;
        assert_eq!(status, 401, "{key:?}: {body}");
        assert_error_only(&body, "unauthorized")?;
        answers.push_str(&body);
    }
    let (status, body) = get(&http, &storages, Some(&key_a)).await?;
    assert_eq!(status, 200, "{body}");
    let listed = json_of(&body)?;
    assert_eq!(u115_state(&listed).as_deref(), Some("valid"), "{body}");
    answers.push_str(&body);
    let (status, body) = get(&http, &server.api("/storages/u115/token"), Some(&key_a)).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)?["access_token"], pair.access_token.as_str());
    let (status, body) = get(&http, &server.api("/storages/nope/token"), Some(&key_a)).await?;
    assert_eq!(status, 404, "{body}");
    answers.push_str(&body);

    // A key created by another process works without a restart; a revoked one stops.
    let key_b = new_key(&db, "beta")?;
    let works = eventually(Duration::from_secs(10), || async {
        Ok(get(&http, &storages, Some(&key_b)).await?.0 == 200)
    })
    .await?;
    assert!(works, "a key created while serving was not accepted");
    ok(cloudctl(&db, None, &["serve", "--revoke-key", "alpha"]));
    let refused = eventually(Duration::from_secs(10), || async {
        Ok(get(&http, &storages, Some(&key_a)).await?.0 == 401)
    })
    .await?;
    assert!(refused, "a revoked key still works");
    let (_, body) = get(&http, &storages, Some(&key_a)).await?;
    assert_error_only(&body, "unauthorized")?;
    let again = cloudctl(&db, None, &["serve", "--revoke-key", "alpha"]);
    assert_eq!(again.status.code(), Some(7));

    // The console: the one-time link signs in once; cookie flags; tokens never; CSRF.
    let response = http
        .post(server.api("/session"))
        .json(&json!({"one_time": server.one_time}))
        .send()
        .await?;
    assert_eq!(response.status().as_u16(), 204);
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .context("a cookie")?
        .to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().context("cookie")?.to_owned();
    let with_cookie = |method: reqwest::Method, path: &str| {
        http.request(method, server.api(path))
            .header("cookie", cookie.clone())
    };
    let status = with_cookie(reqwest::Method::GET, "/session")
        .send()
        .await?
        .status();
    assert_eq!(status, 200);
    let response = with_cookie(reqwest::Method::GET, "/storages")
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    answers.push_str(&response.text().await?);
    let response = with_cookie(reqwest::Method::GET, "/storages/u115/token")
        .send()
        .await?;
    assert_eq!(response.status(), 403, "the console never gets a token");
    answers.push_str(&response.text().await?);
    let response = with_cookie(reqwest::Method::POST, "/storages/u115/refresh")
        .send()
        .await?;
    assert_eq!(
        response.status(),
        403,
        "cookie POST without the CSRF header"
    );
    let reused = http
        .post(server.api("/session"))
        .json(&json!({"one_time": server.one_time}))
        .send()
        .await?;
    assert_eq!(reused.status(), 401, "the one-time link works once");
    let out = with_cookie(reqwest::Method::DELETE, "/session")
        .header("x-drivekeep-console", "1")
        .send()
        .await?;
    assert_eq!(out.status(), 204);
    let status = with_cookie(reqwest::Method::GET, "/session")
        .send()
        .await?
        .status();
    assert_eq!(status, 401, "signed out");

    // The console's files: content types and a CSP without inline script, on every answer.
    for (path, kind) in [
        ("/", "text/html"),
        ("/console.js", "text/javascript"),
        ("/console.css", "text/css"),
    ] {
        let response = http.get(format!("{}{path}", server.base)).send().await?;
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert!(
            header("content-type").starts_with(kind),
            "{path}: {}",
            header("content-type")
        );
        let csp = header("content-security-policy");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
    }

    // No state-changing GET.
    for path in [
        "/storages/u115/refresh",
        "/storages/u115/logout",
        "/storages/u115/login/qr",
    ] {
        assert_eq!(
            get(&http, &server.api(path), Some(&key_b)).await?.0,
            405,
            "{path}"
        );
    }
    // Every documented route exists: without credentials it is 401, not 404.
    let (status, body) = get(&http, &server.api("/openapi.json"), None).await?;
    assert_eq!(status, 200);
    let document = json_of(&body)?;
    answers.push_str(&body);
    let paths = document["paths"].as_object().context("paths")?;
    assert_eq!(paths.len(), 10);
    for (path, methods) in paths {
        if path == "/openapi.json" {
            continue;
        }
        let url = server.api(&path.replace("{name}", "u115").replace("{login_id}", "x1"));
        for method in methods.as_object().context("methods")?.keys() {
            if path == "/session" && method == "post" {
                continue;
            }
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            let status = http.request(method.clone(), &url).send().await?.status();
            assert_eq!(status, 401, "{method} {url}");
        }
    }
    // Failed authentications are rate-limited; a valid key still passes.
    let mut limited = None;
    for _ in 0..60 {
        let response = http.get(&storages).bearer_auth(&wrong).send().await?;
        if response.status() == 429 {
            limited = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            break;
        }
    }
    let retry = limited.context("no 429 after 60 failed authentications")?;
    assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "{retry}");
    assert_eq!(get(&http, &storages, Some(&key_b)).await?.0, 200);

    let (code, stderr) = server.terminate().await?;
    assert_eq!(code, Some(0), "{stderr}");
    let secrets = [
        key_a.as_str(),
        key_b.as_str(),
        &key_a[3..],
        pair.access_token.as_str(),
        pair.refresh_token.as_deref().unwrap_or("-"),
        one_time.as_str(),
    ];
    for secret in secrets {
        assert!(
            !stderr.contains(secret),
            "a secret on standard error: {stderr}"
        );
        assert!(!answers.contains(secret), "a secret in an answer");
    }
    assert!(
        stderr.contains("serve") || stderr.contains("SIGTERM"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_sessions_csrf_rate_limit_and_no_secrets() -> Result<()> {
    on_both_backends(keys_and_sessions).await
}

/// A login whose token expired a while ago, and a refresh answer the provider holds back:
/// every client asking meanwhile waits for the one refresh.
async fn storm_setup(db: &str) -> Result<(cloud_sim::Sim115Handle, String)> {
    let sim = Sim115::start(Config115 {
        client_id: Some(APP_ID.into()),
        ..Config115::default()
    })
    .await?;
    logged_in_with(db, &sim, 7200, 7300).await?;
    sim.reset_stats();
    sim.inject_fault(REFRESH, Fault::DelayAnswer(Duration::from_secs(3)), 1);
    let key = new_key(db, "storm")?;
    Ok((sim, key))
}

async fn storm_of_requests(db: String) -> Result<()> {
    let (sim, key) = storm_setup(&db).await?;
    let server = start(&db, &u115(&sim))?;
    let url = server.api("/storages/u115/token");
    let asks = (0..64).map(|_| {
        let (url, key) = (url.clone(), key.clone());
        tokio::spawn(async move {
            // One connection per client.
            let http = client()?;
            let (status, body) = get(&http, &url, Some(&key)).await?;
            anyhow::ensure!(status == 200, "{status}: {body}");
            Ok::<_, anyhow::Error>(json_of(&body)?["access_token"].as_str().map(str::to_owned))
        })
    });
    let mut tokens = std::collections::BTreeSet::new();
    for answer in futures::future::join_all(asks).await {
        tokens.insert(answer??.context("a token")?);
    }
    let stats = sim.account_stats(ACCOUNT);
    eprintln!("storm ({db}): {} distinct tokens, {stats:?}", tokens.len());
    assert_eq!(stats.refresh_calls, 1, "{stats:?}");
    assert_eq!(stats.refreshes_ok, 1);
    assert_eq!(tokens.len(), 1, "every client got the new token");
    let (code, stderr) = server.terminate().await?;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(&key) && !tokens.iter().any(|t| stderr.contains(t.as_str())));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_requests_across_an_expiry_make_one_refresh() -> Result<()> {
    on_both_backends(storm_of_requests).await
}

async fn storm_of_processes(db: String) -> Result<()> {
    let (sim, key) = storm_setup(&db).await?;
    let server = start(&db, &u115(&sim))?;
    let url = server.api("/storages/u115/token");
    let mut children = Vec::new();
    for _ in 0..8 {
        // The key goes in through standard input (`-H @-`), not the command line.
        let mut child = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "30", "-H", "@-", &url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        use std::io::Write as _;
        let mut stdin = child.stdin.take().context("stdin")?;
        writeln!(stdin, "Authorization: Bearer {key}")?;
        drop(stdin);
        children.push(child);
    }
    let mut tokens = std::collections::BTreeSet::new();
    for child in children {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body = String::from_utf8_lossy(&out.stdout).into_owned();
        tokens.insert(
            json_of(&body)?["access_token"]
                .as_str()
                .context("token")?
                .to_owned(),
        );
    }
    let stats = sim.account_stats(ACCOUNT);
    eprintln!(
        "8 processes ({db}): {} distinct tokens, {stats:?}",
        tokens.len()
    );
    assert_eq!(stats.refresh_calls, 1, "{stats:?}");
    assert_eq!(tokens.len(), 1);
    let (code, stderr) = server.terminate().await?;
    assert_eq!(code, Some(0), "{stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_client_processes_across_an_expiry_make_one_refresh() -> Result<()> {
    on_both_backends(storm_of_processes).await
}

/// Reads the event stream into a shared string until the task is dropped.
fn follow_events(http: reqwest::Client, url: String, key: String) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    tokio::spawn(async move {
        let Ok(mut response) = http.get(url).bearer_auth(key).send().await else {
            return;
        };
        while let Ok(Some(chunk)) = response.chunk().await {
            if let Ok(mut text) = sink.lock() {
                text.push_str(&String::from_utf8_lossy(&chunk));
            }
        }
    });
    text
}

fn seen(events: &Arc<Mutex<String>>, needle: &str) -> bool {
    events.lock().is_ok_and(|t| t.contains(needle))
}

async fn qr_login_and_restart(db: String) -> Result<()> {
    let sim = crate::sim().await;
    let helper = storage_helper::StorageHelper::new(system_config::SystemConfig::open(&db).await?);
    helper
        .handle("u115")
        .patch(json!({"client_id": APP_ID}))
        .await?;
    let key = new_key(&db, "qr")?;
    let server = start(&db, &u115(&sim))?;
    let http = client()?;
    let events = follow_events(http.clone(), server.api("/events"), key.clone());
    let first = eventually(Duration::from_secs(10), || async {
        Ok(seen(
            &events,
            r#"{"storage":"u115","state":{"state":"logged-out"}}"#,
        ))
    })
    .await?;
    assert!(first, "no initial state event");
    let (status, body) = post(
        &http,
        &server.api("/storages/u115/login/qr"),
        &key,
        json!({}),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let started = json_of(&body)?;
    assert!(
        started["qr_svg"]
            .as_str()
            .is_some_and(|s| s.contains("<svg"))
    );
    let login_id = started["login_id"].as_str().context("login_id")?.to_owned();
    let confirmed = format!(r#""login_id":"{login_id}","status":"confirmed""#);
    let done = eventually(Duration::from_secs(20), || async {
        Ok(seen(&events, &confirmed)
            && seen(&events, r#"{"storage":"u115","state":{"state":"valid""#))
    })
    .await?;
    let text = events.lock().map(|t| t.clone()).unwrap_or_default();
    assert!(
        done,
        "no confirmation and valid state on the event stream: {text}"
    );
    assert!(
        text.contains("event: login") && text.contains("event: state"),
        "{text}"
    );
    let stored = helper.handle("u115").get_conf_fresh().await?;
    for secret in ["access_token", "refresh_token"] {
        let value = stored
            .get(secret)
            .and_then(Value::as_str)
            .context("stored")?;
        assert!(!text.contains(value), "a token on the event stream");
    }
    let (_, body) = get(&http, &server.api("/storages"), Some(&key)).await?;
    assert_eq!(
        u115_state(&json_of(&body)?).as_deref(),
        Some("valid"),
        "{body}"
    );
    let (status, body) = get(&http, &server.api("/storages/u115/token"), Some(&key)).await?;
    assert_eq!(status, 200, "{body}");
    let token = json_of(&body)?["access_token"]
        .as_str()
        .context("token")?
        .to_owned();
    let qr_before = sim.stats().qr_sessions;

    // SIGKILL, restart: the login is intact, no new QR login.
    server.kill()?;
    let server = start(&db, &u115(&sim))?;
    let (status, body) = get(&http, &server.api("/storages/u115/token"), Some(&key)).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)?["access_token"], token.as_str());
    let (_, body) = get(&http, &server.api("/storages"), Some(&key)).await?;
    assert_eq!(
        u115_state(&json_of(&body)?).as_deref(),
        Some("valid"),
        "{body}"
    );
    assert_eq!(sim.stats().qr_sessions, qr_before, "no new QR login");

    // Cancel a QR login; log out.
    let (status, body) = post(
        &http,
        &server.api("/storages/u115/login/qr"),
        &key,
        json!({}),
    )
    .await?;
    if status == 200 {
        let id = json_of(&body)?["login_id"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let response = http
            .delete(server.api(&format!("/storages/u115/login/{id}")))
            .bearer_auth(&key)
            .send()
            .await?;
        // The simulator may confirm it first (auto-confirm after 300 ms).
        assert!([200, 404].contains(&response.status().as_u16()));
    }
    let (status, body) = post(&http, &server.api("/storages/u115/logout"), &key, json!({})).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)?["state"]["state"], "logged-out");
    let (status, body) = get(&http, &server.api("/storages/u115/token"), Some(&key)).await?;
    assert_eq!(status, 409, "{body}");
    let (code, stderr) = server.terminate().await?;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains(&token), "{stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn qr_login_through_the_api_survives_sigkill_without_a_new_login() -> Result<()> {
    on_both_backends(qr_login_and_restart).await
}

const PASSWORD: &str = "serve-pa55word";

async fn password_login(db: String) -> Result<()> {
    let sim = SimOpenList::start(ConfigOpenList::default()).await?;
    sim.add_user("mp", PASSWORD);
    let helper = storage_helper::StorageHelper::new(system_config::SystemConfig::open(&db).await?);
    helper.handle("alist").patch(json!({})).await?;
    let key = new_key(&db, "openlist")?;
    let server = start(&db, &[format!("alist={}", sim.base_url())])?;
    let http = client()?;
    let url = server.api("/storages/alist/login/password");
    let (status, body) = post(
        &http,
        &url,
        &key,
        json!({"username": "mp", "password": "wrong-one"}),
    )
    .await?;
    assert_eq!(status, 400, "{body}");
    assert_eq!(json_of(&body)?["error"]["kind"], "login_failed");
    assert!(!body.contains("wrong-one"));
    let (status, body) = post(
        &http,
        &url,
        &key,
        json!({"username": "mp", "password": PASSWORD}),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json_of(&body)?["state"]["state"], "valid", "{body}");
    let (status, body) = get(&http, &server.api("/storages/alist/token"), Some(&key)).await?;
    assert_eq!(status, 200, "{body}");
    let (_, body) = get(&http, &server.api("/storages"), Some(&key)).await?;
    let alist = json_of(&body)?["storages"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["name"] == "alist").cloned())
        .context("alist listed")?;
    assert_eq!(alist["logins"], json!(["password"]), "{alist}");
    assert!(!body.contains(PASSWORD));
    // A malformed body: 400 with the error object, and its values are not echoed.
    for bad in [
        json!({"username": "mp", "password": 98_765_432}),
        json!("{not json"),
    ] {
        let (status, body) = post(&http, &url, &key, bad).await?;
        assert_eq!(status, 400, "{body}");
        assert_error_only(&body, "bad_request")?;
        assert!(
            !body.contains("98765432") && !body.contains("not json"),
            "{body}"
        );
    }
    // Login attempts are rate-limited (5 at once, then one every 10 s): two used, three
    // more fail as wrong, the next is refused (one more if a slow machine let one refill).
    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) && statuses.len() < 8 {
        let wrong = json!({"username": "mp", "password": "x"});
        statuses.push(post(&http, &url, &key, wrong).await?.0);
    }
    let refills = usize::try_from(started.elapsed().as_secs() / 10).unwrap_or(8);
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(
        statuses[..statuses.len() - 1].iter().all(|s| *s == 400),
        "{statuses:?}"
    );
    assert!(
        (4..=4 + refills + 1).contains(&statuses.len()),
        "{statuses:?}"
    );
    let (code, stderr) = server.terminate().await?;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !stderr.contains(PASSWORD) && !stderr.contains("wrong-one"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn openlist_password_login_and_its_rate_limit() -> Result<()> {
    on_both_backends(password_login).await
}

async fn sigterm_during_refresh(db: String) -> Result<()> {
    let sim = crate::sim().await;
    logged_in_with(&db, &sim, 7200, 0).await?;
    let key = new_key(&db, "term")?;
    let server = start(&db, &u115(&sim))?;
    sim.reset_stats();
    sim.inject_fault(REFRESH, Fault::DelayAnswer(Duration::from_secs(2)), 1);
    let http = client()?;
    let refresh = {
        let (http, url, key) = (
            http.clone(),
            server.api("/storages/u115/refresh"),
            key.clone(),
        );
        tokio::spawn(async move { post(&http, &url, &key, json!({})).await })
    };
    let reached = eventually(Duration::from_secs(10), || async {
        Ok(sim.path_count(REFRESH) >= 1)
    })
    .await?;
    assert!(reached, "the refresh never reached the provider");
    let (code, stderr) = server.terminate().await?;
    let (status, body) = refresh.await??;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(status, 200, "the refresh under way was answered: {body}");
    assert_eq!(json_of(&body)?["state"]["state"], "valid");
    assert_eq!(sim.account_stats(ACCOUNT).refreshes_ok, 1);
    // The rotated tokens were saved before the exit: the stored refresh token is the live one.
    let stored = storage_helper::StorageHelper::new(system_config::SystemConfig::open(&db).await?)
        .handle("u115")
        .get_conf()?;
    assert_eq!(
        stored.get("refresh_token").and_then(Value::as_str),
        sim.live_refresh_token(ACCOUNT).as_deref()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_the_refresh_under_way_and_exits_0() -> Result<()> {
    on_both_backends(sigterm_during_refresh).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_address_is_served_with_a_warning() -> Result<()> {
    let db = test_support::TestDb::sqlite()?;
    system_config::SystemConfig::open(&db.url).await?;
    let server = start_on(&db.url, &[], "0.0.0.0:0")?;
    let http = client()?;
    assert_eq!(get(&http, &server.api("/openapi.json"), None).await?.0, 200);
    let (code, stderr) = server.terminate().await?;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("not a loopback address, without TLS"),
        "{stderr}"
    );
    // On loopback: no warning.
    let server = start(&db.url, &[])?;
    let (_, stderr) = server.terminate().await?;
    assert!(!stderr.contains("without TLS"), "{stderr}");
    Ok(())
}
