//! Rate limits: per-account limits and injected quota answers.

use std::time::Duration;

use cloud_sim::{Config115, ConfigAlipan, RateLimitAnswer, RateLimitStyle115, Sim115, SimAlipan};
use serde_json::json;

use crate::common::*;

const PATH: &str = "/open/user/info";

#[tokio::test]
async fn u115_per_account_limit_answers_429_with_reset() {
    let sim = Sim115::start(Config115 {
        rate_limit_per_sec: Some(3),
        ..cfg115()
    })
    .await
    .unwrap();
    let c = client();
    let t = sim.login("alice").access_token;
    let other = sim.login("bob").access_token;
    // Freeze the window: the clock only moves with wall time, so send quickly and count
    // what was limited rather than asserting on a boundary.
    let mut limited = 0;
    let mut reset = None;
    for _ in 0..10 {
        let resp = c
            .get(format!("{}{PATH}", sim.base_url()))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            limited += 1;
            reset = Some(
                resp.headers()["x-ratelimit-reset"]
                    .to_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    assert!(limited >= 1, "at most 3 per second may pass");
    assert_eq!(reset.as_deref(), Some("1"));
    assert_eq!(sim.account_stats("alice").rate_limited, limited);
    // Another account has its own budget.
    assert_eq!(get115(&sim, &c, PATH, &other).await["code"], 0);
    // A new second (simulated clock) resets the window.
    sim.clock().advance(Duration::from_secs(1));
    assert_eq!(get115(&sim, &c, PATH, &t).await["code"], 0);
    // Lifting the limit.
    sim.set_rate_limit(None);
    for _ in 0..10 {
        assert_eq!(get115(&sim, &c, PATH, &t).await["code"], 0);
    }
}

#[tokio::test]
async fn u115_quota_style_answers_with_http_200() {
    let sim = Sim115::start(Config115 {
        rate_limit_per_sec: Some(1),
        rate_limit_style: RateLimitStyle115::Quota770004,
        ..cfg115()
    })
    .await
    .unwrap();
    let c = client();
    let t = sim.login("alice").access_token;
    let mut answers = Vec::new();
    for _ in 0..4 {
        let resp = c
            .get(format!("{}{PATH}", sim.base_url()))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        answers.push(json(resp).await);
    }
    let quota: Vec<_> = answers.iter().filter(|a| a["code"] == 770004).collect();
    assert!(!quota.is_empty());
    assert!(
        quota[0]["message"]
            .as_str()
            .unwrap()
            .contains("已达到当前访问上限")
    );
    assert_eq!(quota[0]["state"], false);
}

#[tokio::test]
async fn injected_rate_limit_answers() {
    let sim = sim115().await;
    let c = client();
    let t = sim.login("alice").access_token;
    sim.inject_rate_limit(PATH, RateLimitAnswer::Quota406, 1);
    sim.inject_rate_limit(PATH, RateLimitAnswer::Quota770004, 1);
    sim.inject_rate_limit(PATH, RateLimitAnswer::Http429 { reset_secs: 7 }, 1);
    let a = get115(&sim, &c, PATH, &t).await;
    assert_eq!(a["code"], 406);
    assert!(
        a["message"]
            .as_str()
            .unwrap()
            .contains("已达到当前访问上限")
    );
    let b = get115(&sim, &c, PATH, &t).await;
    assert_eq!(b["code"], 770004);
    let resp = c
        .get(format!("{}{PATH}", sim.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-ratelimit-reset"], "7");
    assert_eq!(get115(&sim, &c, PATH, &t).await["code"], 0);
    assert_eq!(sim.stats().rate_limited, 3);
}

#[tokio::test]
async fn alipan_too_many_requests() {
    let sim = SimAlipan::start(ConfigAlipan {
        rate_limit_per_sec: Some(2),
        ..ConfigAlipan::default()
    })
    .await
    .unwrap();
    let c = client();
    let t = sim.login("alice").access_token;
    let mut limited = 0;
    for _ in 0..8 {
        let (st, body) =
            alipan_post(&sim, &c, "/adrive/v1.0/user/getSpaceInfo", &t, json!({})).await;
        if st == 429 {
            assert_eq!(body["code"], "TooManyRequests");
            limited += 1;
        }
    }
    assert!(limited >= 1);
    assert_eq!(sim.account_stats("alice").rate_limited, limited);

    sim.set_rate_limit(None);
    sim.inject_rate_limit(
        "/adrive/v1.0/user/getSpaceInfo",
        RateLimitAnswer::Http429 { reset_secs: 4 },
        1,
    );
    let resp = c
        .post(format!("{}/adrive/v1.0/user/getSpaceInfo", sim.base_url()))
        .bearer_auth(&t)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-ratelimit-reset"], "4");
    assert_eq!(resp.headers()["retry-after"], "4");
    assert_eq!(json(resp).await["code"], "TooManyRequests");
}

#[tokio::test]
async fn alipan_min_refresh_interval_is_too_many_requests() {
    let sim = SimAlipan::start(ConfigAlipan {
        min_refresh_interval: Duration::from_secs(30),
        ..ConfigAlipan::default()
    })
    .await
    .unwrap();
    let c = client();
    let tok = login_alipan_secret(&sim, &c, "alice").await;
    let (st, r) = alipan_refresh(&sim, &c, tok["refresh_token"].as_str().unwrap()).await;
    assert_eq!(st, 200);
    let (st, r2) = alipan_refresh(&sim, &c, r["refresh_token"].as_str().unwrap()).await;
    assert_eq!(st, 429);
    assert_eq!(r2["code"], "TooManyRequests");
    assert_eq!(sim.account_stats("alice").too_frequent, 1);
}
