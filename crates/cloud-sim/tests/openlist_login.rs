//! OpenList login, token lifetime and invalidation, over HTTP.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cloud_sim::{ConfigOpenList, Flavor};
use serde_json::{Value, json};

use crate::common::{client, send_json};
use crate::openlist_common::*;

const INVALID: &str = "Invalid username or password";
const LOCKED: &str = "Too many unsuccessful sign-in attempts have been made using an incorrect username or password, Try again later.";

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn password_and_hash_login_issue_a_jwt_counted_exactly() {
    let sim = sim_openlist().await;
    let c = client();
    let plain = post(
        &sim,
        &c,
        "/api/auth/login",
        "",
        json!({"username": "admin", "password": ADMIN_PW}),
    )
    .await;
    assert_eq!(plain["code"], 200);
    assert_eq!(plain["message"], "success");
    let token = plain["data"]["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    let cl = claims(token);
    assert_eq!(cl["username"], "admin");
    assert_eq!(
        cl["pwd_ts"], 0,
        "the bootstrap admin has password timestamp 0"
    );
    assert_eq!(
        cl["exp"].as_u64().unwrap() - cl["iat"].as_u64().unwrap(),
        48 * 3600
    );
    assert_eq!(me(&sim, &c, token).await["data"]["role"], 2);

    let hashed = token_of(&sim, &c).await;
    assert_eq!(me(&sim, &c, &hashed).await["data"]["username"], "admin");

    // Refusals: the envelope on HTTP 200, exact OpenList ≥ 4.2 messages.
    let upper = static_hash(ADMIN_PW).to_uppercase();
    let body = json!({"username": "admin", "password": upper});
    let r = post(&sim, &c, "/api/auth/login/hash", "", body).await;
    assert_eq!(r, json!({"code": 401, "message": INVALID, "data": null}));
    assert_eq!(login_hash(&sim, &c, "admin", "wrong").await["code"], 401);
    assert_eq!(
        login_hash(&sim, &c, "nobody", ADMIN_PW).await["message"],
        INVALID
    );
    let r = post(
        &sim,
        &c,
        "/api/auth/login/hash",
        "",
        json!({"password": "x"}),
    )
    .await;
    assert_eq!(r["code"], 400);
    assert_eq!(
        r["message"],
        "Key: 'LoginReq.Username' Error:Field validation for 'Username' failed on the 'required' tag"
    );
    // Not JSON: gin binds the form, which has no username.
    let resp = c
        .post(format!("{}/api/auth/login", sim.base_url()))
        .body(json!({"username": "admin", "password": ADMIN_PW}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(raw(resp).await.0, 200);

    let stats = sim.stats();
    assert_eq!(stats.login_calls, 7);
    assert_eq!(stats.logins_ok, 2);
    assert_eq!(stats.logins_failed, 5);
    assert_eq!(stats.path("/api/auth/login/hash"), 5);
    let admin = sim.account_stats("admin");
    assert_eq!(admin.token_exchanges, 2);
    assert_eq!(
        admin.logins_failed, 2,
        "only refusals of a known user count for it"
    );
    assert_eq!(admin.requests, 2);
}

async fn token_of(sim: &cloud_sim::SimOpenListHandle, c: &reqwest::Client) -> String {
    token(sim, c, "admin", ADMIN_PW).await
}

#[tokio::test]
async fn v3_flavors_answer_400_and_2fa_answers_402() {
    let sim = sim_openlist_with(ConfigOpenList {
        flavor: Flavor::Al338,
        ..ConfigOpenList::default()
    })
    .await;
    let c = client();
    let r = login_hash(&sim, &c, "nobody", "x").await;
    assert_eq!(
        r,
        json!({"code": 400, "message": "failed find user: record not found", "data": null})
    );
    assert_eq!(
        login_hash(&sim, &c, "admin", "x").await["message"],
        "password is incorrect"
    );
    let r = post(
        &sim,
        &c,
        "/api/auth/login/hash",
        "",
        json!({"username": "admin", "password": ""}),
    )
    .await;
    assert_eq!(
        (r["code"].clone(), r["message"].clone()),
        (json!(400), json!("password is empty"))
    );
    assert!(sim.permanent_token().starts_with("alist-"));

    let sim = sim_openlist().await;
    let r = post(
        &sim,
        &c,
        "/api/auth/login/hash",
        "",
        json!({"username": "admin", "password": ""}),
    )
    .await;
    assert_eq!(
        r["code"], 401,
        "OpenList 4.2 folds every credential error into 401"
    );
    assert!(sim.permanent_token().starts_with("openlist-"));
    sim.set_otp("admin", Some("123456")).unwrap();
    let r = login_hash(&sim, &c, "admin", ADMIN_PW).await;
    assert_eq!(
        (r["code"].clone(), r["message"].clone()),
        (json!(402), json!("Invalid 2FA code"))
    );
    let body =
        json!({"username": "admin", "password": static_hash(ADMIN_PW), "otp_code": "123456"});
    assert_eq!(
        post(&sim, &c, "/api/auth/login/hash", "", body).await["code"],
        200
    );
    assert_eq!(sim.stats().logins_ok, 1);
}

#[tokio::test]
async fn lockout_after_five_failures_rearms_and_expires_on_the_clock() {
    let sim = sim_openlist().await;
    let c = client();
    for _ in 0..5 {
        assert_eq!(login_hash(&sim, &c, "admin", "wrong").await["code"], 401);
    }
    // Locked: even the right password is refused, and each try re-arms five minutes.
    let r = login_hash(&sim, &c, "admin", ADMIN_PW).await;
    assert_eq!(r, json!({"code": 429, "message": LOCKED, "data": null}));
    sim.clock().advance(Duration::from_secs(290));
    assert_eq!(login_hash(&sim, &c, "admin", ADMIN_PW).await["code"], 429);
    // Another client IP (gin trusts X-Forwarded-For) is not locked.
    let body = json!({"username": "admin", "password": static_hash(ADMIN_PW)});
    let other = send_json(
        c.post(format!("{}/api/auth/login/hash", sim.base_url()))
            .header("X-Forwarded-For", "10.0.0.9")
            .json(&body),
    )
    .await;
    assert_eq!(other["code"], 200);
    // Past the first lock's five minutes, but the last try re-armed it.
    sim.clock().advance(Duration::from_secs(20));
    assert_eq!(
        login_hash(&sim, &c, "admin", ADMIN_PW).await["code"],
        429,
        "re-armed"
    );
    sim.clock().advance(Duration::from_secs(310));
    assert_eq!(login_hash(&sim, &c, "admin", ADMIN_PW).await["code"], 200);
    let stats = sim.stats();
    assert_eq!(stats.login_calls, 10);
    assert_eq!(stats.logins_failed, 8);
    assert_eq!(stats.rate_limited, 3);
}

#[tokio::test]
async fn tokens_expire_on_the_simulated_clock() {
    let c = client();
    let sim = sim_openlist().await;
    let t = token_of(&sim, &c).await;
    sim.clock().advance(Duration::from_secs(48 * 3600 - 60));
    assert_eq!(me(&sim, &c, &t).await["code"], 200);
    sim.clock().advance(Duration::from_secs(60));
    let r = me(&sim, &c, &t).await;
    assert_eq!(
        r,
        json!({"code": 401, "message": "token is expired", "data": null})
    );

    let sim = sim_openlist_with(ConfigOpenList {
        token_expires_in: Duration::from_secs(3600),
        ..ConfigOpenList::default()
    })
    .await;
    let t = token_of(&sim, &c).await;
    sim.clock().advance(Duration::from_secs(3590));
    assert_eq!(me(&sim, &c, &t).await["code"], 200);
    sim.clock().advance(Duration::from_secs(10));
    assert_eq!(me(&sim, &c, &t).await["message"], "token is expired");
    assert_eq!(sim.stats().rejections("expired"), 1);
    assert_eq!(sim.account_stats("admin").expired_access, 1);
    // A fresh login works again.
    let t = token_of(&sim, &c).await;
    assert_eq!(me(&sim, &c, &t).await["code"], 200);
}

#[tokio::test]
async fn restart_invalidates_every_login_token_but_not_the_permanent_one() {
    let sim = sim_openlist().await;
    let c = client();
    sim.add_user("bob", "bob-pw");
    let admin = token_of(&sim, &c).await;
    let bob = token(&sim, &c, "bob", "bob-pw").await;
    assert_eq!(sim.valid_tokens(), 2);
    assert_eq!(sim.restart(), 2);
    for t in [&admin, &bob] {
        let r = me(&sim, &c, t).await;
        assert_eq!(
            r,
            json!({"code": 401, "message": "token is invalidated", "data": null})
        );
    }
    assert_eq!(
        me(&sim, &c, &sim.permanent_token()).await["data"]["username"],
        "admin"
    );
    sim.clock().advance(Duration::from_secs(1));
    let again = token(&sim, &c, "bob", "bob-pw").await;
    assert_ne!(again, bob);
    assert_eq!(me(&sim, &c, &again).await["data"]["username"], "bob");
    assert_eq!(sim.stats().rejections("invalidated"), 2);
    assert_eq!(sim.stats().login_calls, 3);
}

#[tokio::test]
async fn password_change_invalidates_the_users_tokens() {
    let sim = sim_openlist().await;
    let c = client();
    sim.add_user("bob", "old-pw");
    let bob = token(&sim, &c, "bob", "old-pw").await;
    let admin = token_of(&sim, &c).await;
    sim.set_password("bob", "new-pw").unwrap();
    let r = me(&sim, &c, &bob).await;
    assert_eq!(r["code"], 401);
    assert_eq!(r["message"], "Password has been changed, login please");
    assert_eq!(
        me(&sim, &c, &admin).await["code"],
        200,
        "other users keep their tokens"
    );
    assert_eq!(login_hash(&sim, &c, "bob", "old-pw").await["code"], 401);
    let fresh = token(&sim, &c, "bob", "new-pw").await;
    assert_eq!(me(&sim, &c, &fresh).await["code"], 200);
    assert_eq!(sim.stats().rejections("password_changed"), 1);
    assert_eq!(sim.account_stats("bob").expired_access, 1);
}

#[tokio::test]
async fn permanent_token_never_expires_and_reset_replaces_it() {
    let sim = sim_openlist().await;
    let c = client();
    let permanent = sim.permanent_token();
    sim.clock().advance(Duration::from_secs(10 * 365 * 86_400));
    assert_eq!(me(&sim, &c, &permanent).await["data"]["role"], 2);
    sim.add_user("bob", "pw");
    let bob = token(&sim, &c, "bob", "pw").await;
    let r = post(&sim, &c, "/api/admin/setting/reset_token", &bob, json!({})).await;
    assert_eq!(
        r,
        json!({"code": 403, "message": "You are not an admin", "data": null})
    );
    let r = post(
        &sim,
        &c,
        "/api/admin/setting/reset_token",
        &permanent,
        json!({}),
    )
    .await;
    let fresh = r["data"].as_str().unwrap().to_owned();
    assert_ne!(fresh, permanent);
    assert_eq!(sim.permanent_token(), fresh);
    assert_eq!(
        me(&sim, &c, &permanent).await["message"],
        "token is invalidated"
    );
    assert_eq!(me(&sim, &c, &fresh).await["code"], 200);
}

#[tokio::test]
async fn bearer_garbage_and_foreign_tokens_are_invalidated() {
    let sim = sim_openlist().await;
    let other = sim_openlist().await;
    let c = client();
    let t = token_of(&sim, &c).await;
    let foreign = token_of(&other, &c).await;
    for value in [format!("Bearer {t}"), "garbage".to_owned(), foreign] {
        let r = me(&sim, &c, &value).await;
        assert_eq!(
            r,
            json!({"code": 401, "message": "token is invalidated", "data": null})
        );
    }
    // The permanent token is compared raw too.
    let r = me(&sim, &c, &format!("Bearer {}", sim.permanent_token())).await;
    assert_eq!(r["code"], 401);
    let resp = c
        .get(format!("{}/api/me", sim.base_url()))
        .send()
        .await
        .unwrap();
    let r: Value = resp.json().await.unwrap();
    assert_eq!(r["message"], "Guest user is disabled, login please");
    assert_eq!(me(&sim, &c, &t).await["code"], 200);
    let stats = sim.stats();
    assert_eq!(stats.rejections("invalidated"), 4);
    assert_eq!(stats.rejections("guest_disabled"), 1);
    assert_eq!(stats.account("admin").requests, 1);
}

#[tokio::test]
async fn logout_disable_and_delete_end_a_login() {
    let sim = sim_openlist().await;
    let c = client();
    sim.add_user("bob", "pw");
    sim.add_user("carol", "pw");
    let bob = token(&sim, &c, "bob", "pw").await;
    let carol = token(&sim, &c, "carol", "pw").await;
    let resp = c
        .get(format!("{}/api/auth/logout", sim.base_url()))
        .header("Authorization", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], 200);
    assert_eq!(me(&sim, &c, &bob).await["message"], "token is invalidated");

    sim.set_disabled("carol", true).unwrap();
    let r = me(&sim, &c, &carol).await;
    assert_eq!(r["message"], "Current user is disabled, replace please");
    sim.set_disabled("carol", false).unwrap();
    sim.remove_user("carol").unwrap();
    assert_eq!(
        me(&sim, &c, &carol).await["message"],
        "failed find user: record not found"
    );

    // Guest: enabled, it reads but has no write permission.
    sim.set_guest_enabled(true);
    let r = post(&sim, &c, "/api/fs/list", "", json!({"path": "/"})).await;
    assert_eq!(r["code"], 200, "{r}");
    let r = post(&sim, &c, "/api/fs/mkdir", "", json!({"path": "/x"})).await;
    assert_eq!(
        r,
        json!({"code": 403, "message": "permission denied", "data": null})
    );
}
