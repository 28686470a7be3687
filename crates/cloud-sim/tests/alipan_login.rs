//! alipan QR login (plain / S256 PKCE, client secret), token rotation and expiry.

use std::time::Duration;

use cloud_sim::{ConfigAlipan, DriveKind, SimAlipan};
use serde_json::json;

use crate::common::*;

async fn pkce_login(
    sim: &cloud_sim::SimAlipanHandle,
    c: &reqwest::Client,
    challenge: &str,
    method: &str,
    verifier: &str,
) -> (u16, serde_json::Value) {
    let base = sim.base_url();
    let resp = c
        .post(format!("{base}/oauth/authorize/qrcode"))
        .json(&json!({
            "client_id": APP, "scopes": ["user:base", "file:all:read", "file:all:write"],
            "code_challenge": challenge, "code_challenge_method": method,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let qr = json(resp).await;
    assert!(qr["qrCodeUrl"].as_str().unwrap().starts_with(base));
    let sid = qr["sid"].as_str().unwrap().to_owned();
    let status = |c: reqwest::Client, sid: String| async move {
        json(
            c.get(format!("{base}/oauth/qrcode/{sid}/status"))
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    assert_eq!(status(c.clone(), sid.clone()).await["status"], "WaitLogin");
    sim.scan(&sid).unwrap();
    assert_eq!(
        status(c.clone(), sid.clone()).await["status"],
        "ScanSuccess"
    );
    sim.confirm_as(&sid, "alice").unwrap();
    let done = status(c.clone(), sid.clone()).await;
    assert_eq!(done["status"], "LoginSuccess");
    let code = done["authCode"].as_str().unwrap();
    let resp = c
        .post(format!("{base}/oauth/access_token"))
        .json(&json!({
            "client_id": APP, "grant_type": "authorization_code",
            "code": code, "code_verifier": verifier,
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, json(resp).await)
}

#[tokio::test]
async fn pkce_plain_and_s256_logins_have_no_refresh_token() {
    let sim = sim_alipan().await;
    let c = client();
    for (challenge, method) in [(VERIFIER.to_owned(), "plain"), (s256_url(VERIFIER), "S256")] {
        let (status, tok) = pkce_login(&sim, &c, &challenge, method, VERIFIER).await;
        assert_eq!(status, 200, "{method}: {tok}");
        assert_eq!(tok["token_type"], "Bearer");
        assert_eq!(tok["expires_in"], 30 * 24 * 3600, "{method}");
        assert!(tok.get("refresh_token").is_none(), "{method}: {tok}");
        assert!(sim.live_refresh_token("alice").is_none());
        let access = tok["access_token"].as_str().unwrap();
        let (st, info) = alipan_post(
            &sim,
            &c,
            "/adrive/v1.0/user/getDriveInfo",
            access,
            json!({}),
        )
        .await;
        assert_eq!(st, 200);
        assert_eq!(
            info["default_drive_id"],
            sim.drive_id("alice", DriveKind::Default).unwrap()
        );
        assert_eq!(
            info["resource_drive_id"],
            sim.drive_id("alice", DriveKind::Resource).unwrap()
        );
        assert_eq!(info["backup_drive_id"], info["default_drive_id"]);
        assert_eq!(info["user_id"], sim.account("alice").unwrap().user_id);
        assert_eq!(info["name"], "alice");
        assert!(info["avatar"].is_string());
    }
    assert_eq!(sim.account_stats("alice").token_exchanges, 2);
}

#[tokio::test]
async fn wrong_pkce_verifier_is_rejected() {
    let sim = sim_alipan().await;
    let c = client();
    let wrong = VERIFIER.replace('v', "w");
    let (status, body) = pkce_login(&sim, &c, &s256_url(VERIFIER), "S256", &wrong).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "InvalidParameter.CodeVerifier");
    assert!(body["requestId"].is_string());
    let (status, body) = pkce_login(&sim, &c, VERIFIER, "plain", &wrong).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "InvalidParameter.CodeVerifier");
    // Unknown method and missing client_id.
    let resp = c
        .post(format!("{}/oauth/authorize/qrcode", sim.base_url()))
        .json(&json!({"client_id": APP, "code_challenge": "x", "code_challenge_method": "S512"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = c
        .post(format!("{}/oauth/authorize/qrcode", sim.base_url()))
        .json(&json!({"code_challenge": VERIFIER}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        json(resp).await["code"]
            .as_str()
            .unwrap()
            .starts_with("InvalidParameter")
    );
}

#[tokio::test]
async fn client_secret_login_rotation_and_reuse() {
    let sim = sim_alipan().await;
    let c = client();
    let tok = login_alipan_secret(&sim, &c, "alice").await;
    assert_eq!(tok["expires_in"], 7200);
    let access1 = tok["access_token"].as_str().unwrap().to_owned();
    let refresh1 = tok["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(sim.live_refresh_token("alice"), Some(refresh1.clone()));

    let (st, r) = alipan_refresh(&sim, &c, &refresh1).await;
    assert_eq!(st, 200, "{r}");
    let refresh2 = r["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh1);
    assert_eq!(sim.live_refresh_token("alice"), Some(refresh2.clone()));

    // Reuse of the rotated token: HTTP 400 InvalidParameter.RefreshToken.
    let (st, r) = alipan_refresh(&sim, &c, &refresh1).await;
    assert_eq!(st, 400);
    assert_eq!(r["code"], "InvalidParameter.RefreshToken");
    // The previous access token stays valid until its own expiry.
    let (st, _) = alipan_post(
        &sim,
        &c,
        "/adrive/v1.0/user/getSpaceInfo",
        &access1,
        json!({}),
    )
    .await;
    assert_eq!(st, 200);
    sim.clock().advance(Duration::from_secs(7201));
    let (st, r) = alipan_post(
        &sim,
        &c,
        "/adrive/v1.0/user/getSpaceInfo",
        &access1,
        json!({}),
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(r["code"], "AccessTokenExpired");
    let (st, r) = alipan_post(
        &sim,
        &c,
        "/adrive/v1.0/user/getSpaceInfo",
        "bogus",
        json!({}),
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(r["code"], "AccessTokenInvalid");

    // Secret required on refresh.
    let resp = c
        .post(format!("{}/oauth/access_token", sim.base_url()))
        .json(&json!({"client_id": APP, "grant_type": "refresh_token", "refresh_token": refresh2}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        json(resp).await["code"],
        "InvalidParameterMissing.ClientSecret"
    );
    // Missing refresh token.
    let resp = c
        .post(format!("{}/oauth/access_token", sim.base_url()))
        .json(&json!({"client_id": APP, "grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json(resp).await["code"],
        "InvalidParameterMissing.RefreshToken"
    );

    let s = sim.account_stats("alice");
    assert_eq!(
        (
            s.refresh_calls,
            s.refreshes_ok,
            s.rejected_reuses,
            s.refresh_rejected_other
        ),
        (3, 1, 1, 1)
    );
    // The authorisation code is single-use (already consumed by the login).
    assert_eq!(sim.path_count("/oauth/access_token"), 5);
}

#[tokio::test]
async fn expired_refresh_token_and_fresh_validity_on_rotation() {
    let sim = SimAlipan::start(ConfigAlipan {
        refresh_lifetime: Duration::from_secs(1000),
        ..ConfigAlipan::default()
    })
    .await
    .unwrap();
    let c = client();
    let tok = login_alipan_secret(&sim, &c, "alice").await;
    let refresh1 = tok["refresh_token"].as_str().unwrap().to_owned();
    sim.clock().advance(Duration::from_secs(600));
    let (_, r) = alipan_refresh(&sim, &c, &refresh1).await;
    let refresh2 = r["refresh_token"].as_str().unwrap().to_owned();
    // alipan rotation gives a fresh validity: 1100 s after login the new token still works.
    sim.clock().advance(Duration::from_secs(500));
    let (st, r) = alipan_refresh(&sim, &c, &refresh2).await;
    assert_eq!(st, 200, "{r}");
    let refresh3 = r["refresh_token"].as_str().unwrap().to_owned();
    sim.clock().advance(Duration::from_secs(1001));
    let (st, r) = alipan_refresh(&sim, &c, &refresh3).await;
    assert_eq!(st, 400);
    assert_eq!(r["code"], "RefreshTokenExpired");
}

#[tokio::test]
async fn qr_expiry_and_wrong_secret() {
    let sim = SimAlipan::start(ConfigAlipan {
        client_secret: Some("s3cret".into()),
        ..ConfigAlipan::default()
    })
    .await
    .unwrap();
    let c = client();
    let base = sim.base_url();
    let resp = c
        .post(format!("{base}/oauth/authorize/qrcode"))
        .json(&json!({"client_id": APP, "client_secret": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["code"], "InvalidParameter.ClientSecret");

    let qr = json(
        c.post(format!("{base}/oauth/authorize/qrcode"))
            .json(&json!({"client_id": APP, "client_secret": "s3cret"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let sid = qr["sid"].as_str().unwrap();
    sim.clock().advance(Duration::from_secs(301));
    let st = json(
        c.get(format!("{base}/oauth/qrcode/{sid}/status"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st["status"], "QRCodeExpired");
    assert!(sim.confirm(sid).is_err());
}
