//! The HTTP control surface and counters.

use std::time::Duration;

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn stats_and_live_token_over_http_match_the_handle() {
    let sim = sim115().await;
    let c = client();
    let base = sim.base_url();
    // Log in over HTTP.
    let pair = json(
        c.post(format!("{base}/__sim/accounts/carol/login"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let refresh1 = pair["refresh_token"].as_str().unwrap().to_owned();
    let access = pair["access_token"].as_str().unwrap().to_owned();
    let r = refresh115(&sim, &c, &refresh1).await;
    let refresh2 = r["data"]["refresh_token"].as_str().unwrap().to_owned();
    refresh115(&sim, &c, &refresh1).await;
    get115(&sim, &c, "/open/user/info", &access).await;

    let acct = json(
        c.get(format!("{base}/__sim/accounts/carol"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(acct["live_refresh_token"], refresh2.as_str());
    assert_eq!(sim.live_refresh_token("carol"), Some(refresh2));

    let stats = json(c.get(format!("{base}/__sim/stats")).send().await.unwrap()).await;
    assert_eq!(stats, serde_json::to_value(sim.stats()).unwrap());
    assert_eq!(stats["total_requests"], 3);
    assert_eq!(stats["paths"]["/open/refreshToken"], 2);
    assert_eq!(stats["paths"]["/open/user/info"], 1);
    let carol = &stats["accounts"]["carol"];
    assert_eq!(carol["refresh_calls"], 2);
    assert_eq!(carol["refreshes_ok"], 1);
    assert_eq!(carol["rejected_reuses"], 1);
    assert_eq!(carol["token_exchanges"], 1);
    assert_eq!(carol["requests"], 3);

    // Reset, revoke and an unknown account over HTTP.
    assert_eq!(
        c.post(format!("{base}/__sim/stats/reset"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(sim.stats().total_requests, 0);
    assert_eq!(
        c.post(format!("{base}/__sim/accounts/carol/revoke"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(sim.account("carol").unwrap().revoked);
    assert_eq!(
        c.get(format!("{base}/__sim/accounts/nobody"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn clock_qr_and_seeding_over_http() {
    let sim = sim115().await;
    let c = client();
    let base = sim.base_url();
    let before = sim.clock().now_unix();
    let r = json(
        c.post(format!("{base}/__sim/clock/advance"))
            .json(&json!({"secs": 3600}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(r["now"].as_u64().unwrap() >= before + 3600);
    assert!(sim.clock().offset() >= Duration::from_secs(3600));

    // QR sessions listed and confirmed over HTTP.
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    let uid = dc["data"]["uid"].as_str().unwrap();
    let list = json(c.get(format!("{base}/__sim/qr")).send().await.unwrap()).await;
    assert_eq!(list[0]["id"], uid);
    assert_eq!(list[0]["state"], "waiting");
    let r = json(
        c.post(format!("{base}/__sim/qr/{uid}/confirm?account=dave"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r["state"], "confirmed");
    assert_eq!(r["account"], "dave");
    assert_eq!(
        c.post(format!("{base}/__sim/qr/nope/scan"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Seeding files over HTTP.
    let r = c
        .post(format!("{base}/__sim/files"))
        .json(&json!({"account": "dave", "path": "/m/a.mkv", "content": "abc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{base}/__sim/files/bulk"))
        .json(&json!({"account": "dave", "folder": "/bulk", "count": 25}))
        .send()
        .await
        .unwrap();
    assert_eq!(json(r).await["created"], 25);
    assert_eq!(sim.list("dave", "/bulk").unwrap().len(), 25);
    assert_eq!(sim.stat("dave", "/m/a.mkv").unwrap().size, 3);
    // Control requests are not counted as provider requests.
    assert_eq!(sim.stats().total_requests, 1);
}
