//! 115 token lifecycle: rotation, reuse rejection, expiry, revocation, refresh interval.

use std::time::Duration;

use cloud_sim::{Config115, Sim115};

use crate::common::*;

#[tokio::test]
async fn refresh_rotates_and_reuse_is_rejected_with_40140120() {
    let sim = sim115().await;
    let c = client();
    let (access1, refresh1) = login115(&sim, &c, "alice").await;

    let r = refresh115(&sim, &c, &refresh1).await;
    assert_eq!(r["state"], 1);
    assert_eq!(r["code"], 0, "{r}");
    let refresh2 = r["data"]["refresh_token"].as_str().unwrap().to_owned();
    let access2 = r["data"]["access_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh1);
    assert_ne!(access2, access1);
    assert_eq!(r["data"]["expires_in"], 7200);
    assert_eq!(sim.live_refresh_token("alice"), Some(refresh2.clone()));

    // The rotated token is dead: HTTP 200 with 40140120.
    let resp = c
        .post(format!("{}/open/refreshToken", sim.base_url()))
        .form(&[("refresh_token", refresh1.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reuse = json(resp).await;
    assert_eq!(reuse["state"], 0);
    assert_eq!(reuse["code"], 40140120);
    // ... and did not disturb the live one.
    assert_eq!(sim.live_refresh_token("alice"), Some(refresh2.clone()));
    let r = refresh115(&sim, &c, &refresh2).await;
    assert_eq!(r["code"], 0);

    // Both access tokens still work until their own expiry.
    assert_eq!(
        get115(&sim, &c, "/open/user/info", &access1).await["code"],
        0
    );
    assert_eq!(
        get115(&sim, &c, "/open/user/info", &access2).await["code"],
        0
    );

    let s = sim.account_stats("alice");
    assert_eq!(s.refresh_calls, 3);
    assert_eq!(s.refreshes_ok, 2);
    assert_eq!(s.rejected_reuses, 1);
    assert_eq!(s.token_exchanges, 1);
    assert_eq!(sim.path_count("/open/refreshToken"), 3);

    // A token that was never issued.
    let r = refresh115(&sim, &c, "never-issued").await;
    assert_eq!(r["code"], 40140116);
    assert_eq!(sim.stats().unknown_refresh_tokens, 1);
    // Missing parameter.
    let r = post_form(&c, format!("{}/open/refreshToken", sim.base_url()), &[]).await;
    assert_eq!(r["code"], 40140100);
}

#[tokio::test]
async fn refresh_keeps_the_original_validity() {
    let sim = Sim115::start(Config115 {
        refresh_lifetime: Duration::from_secs(1000),
        ..cfg115()
    })
    .await
    .unwrap();
    let c = client();
    let (_, refresh1) = login115(&sim, &c, "alice").await;
    let expires_at = sim.account("alice").unwrap().refresh_expires_at.unwrap();
    sim.clock().advance(Duration::from_secs(600));
    let r = refresh115(&sim, &c, &refresh1).await;
    assert_eq!(r["code"], 0);
    let refresh2 = r["data"]["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        sim.account("alice").unwrap().refresh_expires_at,
        Some(expires_at),
        "rotation must not extend the validity"
    );
    // 1100 s after login: past the original expiry although the token is 500 s old.
    sim.clock().advance(Duration::from_secs(500));
    let r = refresh115(&sim, &c, &refresh2).await;
    assert_eq!(r["code"], 40140119, "{r}");
    assert_eq!(sim.account_stats("alice").refresh_rejected_other, 1);
}

#[tokio::test]
async fn revoked_authorisation() {
    let sim = sim115().await;
    let c = client();
    let (access, refresh) = login115(&sim, &c, "alice").await;
    sim.revoke("alice").unwrap();
    assert_eq!(refresh115(&sim, &c, &refresh).await["code"], 40140116);
    assert_eq!(
        get115(&sim, &c, "/open/user/info", &access).await["code"],
        40140125
    );
    // A new login works again.
    let (access, _) = login115(&sim, &c, "alice").await;
    assert_eq!(
        get115(&sim, &c, "/open/user/info", &access).await["code"],
        0
    );
}

#[tokio::test]
async fn min_refresh_interval_answers_40140117() {
    let sim = Sim115::start(Config115 {
        min_refresh_interval: Duration::from_secs(60),
        ..cfg115()
    })
    .await
    .unwrap();
    let c = client();
    let (_, refresh1) = login115(&sim, &c, "alice").await;
    // The first refresh after login is allowed.
    let r = refresh115(&sim, &c, &refresh1).await;
    assert_eq!(r["code"], 0);
    let refresh2 = r["data"]["refresh_token"].as_str().unwrap().to_owned();
    // Too soon.
    let r = refresh115(&sim, &c, &refresh2).await;
    assert_eq!(r["code"], 40140117, "{r}");
    assert!(r["message"].as_str().unwrap().contains("frequently"));
    // The token survived the rejection.
    assert_eq!(sim.live_refresh_token("alice"), Some(refresh2.clone()));
    sim.clock().advance(Duration::from_secs(61));
    assert_eq!(refresh115(&sim, &c, &refresh2).await["code"], 0);
    let s = sim.account_stats("alice");
    assert_eq!((s.too_frequent, s.refreshes_ok, s.refresh_calls), (1, 2, 3));
}

#[tokio::test]
async fn expired_access_token_answers_40140125() {
    let sim = sim115().await;
    let c = client();
    let (access, refresh) = login115(&sim, &c, "alice").await;
    assert_eq!(
        get115(&sim, &c, "/open/user/info", &access).await["code"],
        0
    );
    sim.clock().advance(Duration::from_secs(7201));
    let r = get115(&sim, &c, "/open/user/info", &access).await;
    assert_eq!(r["state"], false);
    assert_eq!(r["code"], 40140125);
    assert_eq!(sim.account_stats("alice").expired_access, 1);
    // Refreshing gives a working token.
    let r = refresh115(&sim, &c, &refresh).await;
    let access2 = r["data"]["access_token"].as_str().unwrap();
    assert_eq!(
        get115(&sim, &c, "/open/user/info", access2).await["code"],
        0
    );
    // Unknown and missing tokens.
    assert_eq!(
        get115(&sim, &c, "/open/user/info", "nope").await["code"],
        40140126
    );
    let r = json(
        c.get(format!("{}/open/user/info", sim.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r["code"], 40140126);
}

#[tokio::test]
async fn direct_login_and_unknown_paths() {
    let sim = sim115().await;
    let c = client();
    let pair = sim.login("bob");
    assert_eq!(pair.expires_in, 7200);
    assert_eq!(sim.live_refresh_token("bob"), pair.refresh_token);
    assert_eq!(
        get115(&sim, &c, "/open/user/info", &pair.access_token).await["code"],
        0
    );
    // A second direct login kills the previous refresh token.
    let pair2 = sim.login("bob");
    let old = pair.refresh_token.unwrap();
    assert_eq!(refresh115(&sim, &c, &old).await["code"], 40140120);
    assert_ne!(pair2.refresh_token.as_deref(), Some(old.as_str()));

    let resp = c
        .get(format!("{}/open/no/such/thing", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body = json(resp).await;
    assert_eq!(body["state"], false);
    assert_eq!(body["code"], 404);
    // Wrong method.
    let resp = c
        .get(format!("{}/open/refreshToken", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(json(resp).await["code"], 405);
}
