//! 115 QR device-code login: PKCE, the held status long-poll, expiry and cancellation.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use cloud_sim::{Config115, QrState, Sim115};
use sha1::Sha1;
use sha2::Digest;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_qr_login_with_held_long_poll() {
    let sim = sim115().await;
    let c = client();
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    assert_eq!(dc["state"], 1);
    assert_eq!(dc["code"], 0);
    let data = dc["data"].clone();
    let uid = data["uid"].as_str().unwrap().to_owned();
    assert!(data["qrcode"].as_str().unwrap().contains(&uid));
    assert!(data["sign"].as_str().unwrap().len() >= 32);

    // The first poll is held while nothing changes.
    let base = sim.base_url().to_owned();
    let poll = tokio::spawn({
        let (base, c, data) = (base.clone(), c.clone(), data.clone());
        async move { poll_status(&base, &c, &data).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !poll.is_finished(),
        "the long-poll must be held until the state changes"
    );
    sim.scan(&uid).unwrap();
    let scanned = poll.await.unwrap();
    assert_eq!(scanned["state"], 1);
    assert_eq!(scanned["data"]["status"], 1);

    // The next poll is held again until the confirmation.
    let poll = tokio::spawn({
        let (base, c, data) = (base.clone(), c.clone(), data.clone());
        async move { poll_status(&base, &c, &data).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!poll.is_finished());
    sim.confirm_as(&uid, "alice").unwrap();
    let confirmed = poll.await.unwrap();
    assert_eq!(confirmed["data"]["status"], 2);

    // Exchange the device code.
    let tok = post_form(
        &c,
        format!("{base}/open/deviceCodeToToken"),
        &[("uid", &uid), ("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(tok["state"], 1, "{tok}");
    assert_eq!(tok["code"], 0);
    let access = tok["data"]["access_token"].as_str().unwrap();
    let refresh = tok["data"]["refresh_token"].as_str().unwrap();
    assert_eq!(tok["data"]["expires_in"], 7200);
    assert!(access.len() >= 40 && refresh.len() >= 40 && access != refresh);
    assert_eq!(sim.live_refresh_token("alice").as_deref(), Some(refresh));

    // The token works on the resource host and belongs to alice.
    let info = get115(&sim, &c, "/open/user/info", access).await;
    assert_eq!(info["state"], true, "{info}");
    assert_eq!(
        info["data"]["user_id"],
        sim.account("alice").unwrap().user_id
    );
    assert!(
        info["data"]["rt_space_info"]["all_total"]["size"]
            .as_u64()
            .unwrap()
            > 0
    );

    // A device code is single-use.
    let again = post_form(
        &c,
        format!("{base}/open/deviceCodeToToken"),
        &[("uid", &uid), ("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(again["code"], 40140109);
    assert_eq!(sim.account_stats("alice").token_exchanges, 1);
    assert_eq!(sim.qr(&uid).unwrap().state, QrState::Consumed);
}

#[tokio::test]
async fn long_poll_times_out_with_waiting_status() {
    let sim = Sim115::start(Config115 {
        poll_timeout: Duration::from_millis(400),
        ..Config115::default()
    })
    .await
    .unwrap();
    let c = client();
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    let started = Instant::now();
    let answer = poll_status(sim.base_url(), &c, &dc["data"]).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(answer["state"], 1);
    assert_eq!(answer["data"]["status"], 0);
    assert_eq!(sim.stats().long_polls_held, 1);
}

#[tokio::test]
async fn expired_and_cancelled_qr_answer_state_zero() {
    let sim = sim115().await;
    let c = client();
    // Expiry through the clock wakes a held poll.
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    let poll = tokio::spawn({
        let (base, c, data) = (sim.base_url().to_owned(), c.clone(), dc["data"].clone());
        async move { poll_status(&base, &c, &data).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!poll.is_finished());
    sim.clock().advance(Duration::from_secs(301));
    let expired = poll.await.unwrap();
    assert_eq!(expired["state"], 0, "{expired}");
    assert_eq!(expired["data"]["status"], -1);
    // A code that expired cannot be exchanged, even if it is polled again.
    let again = poll_status(sim.base_url(), &c, &dc["data"]).await;
    assert_eq!(again["state"], 0);

    // Cancellation through the HTTP control path.
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    let uid = dc["data"]["uid"].as_str().unwrap();
    let resp = c
        .post(format!("{}/__sim/qr/{uid}/cancel", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cancelled = poll_status(sim.base_url(), &c, &dc["data"]).await;
    assert_eq!(cancelled["state"], 0);
    assert_eq!(cancelled["data"]["status"], -2);
    // Control path: expire / confirm of a gone session is a 409.
    let resp = c
        .post(format!("{}/__sim/qr/{uid}/confirm", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409);

    // Expire through the control handle.
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    let uid = dc["data"]["uid"].as_str().unwrap();
    sim.expire(uid).unwrap();
    assert_eq!(
        poll_status(sim.base_url(), &c, &dc["data"]).await["state"],
        0
    );
    let tok = post_form(
        &c,
        format!("{}/open/deviceCodeToToken", sim.base_url()),
        &[("uid", uid), ("code_verifier", VERIFIER)],
    )
    .await;
    assert_eq!(tok["code"], 40140109);
}

#[tokio::test]
async fn pkce_verifier_and_challenge_checks() {
    let sim = sim115().await;
    let c = client();
    let base = sim.base_url().to_owned();
    let exchange = |uid: String, verifier: String| {
        let (c, base) = (c.clone(), base.clone());
        async move {
            post_form(
                &c,
                format!("{base}/open/deviceCodeToToken"),
                &[("uid", &uid), ("code_verifier", &verifier)],
            )
            .await
        }
    };

    // Wrong verifier.
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    let uid = dc["data"]["uid"].as_str().unwrap().to_owned();
    sim.confirm(&uid).unwrap();
    let wrong = format!("{}x", &VERIFIER[..VERIFIER.len() - 1]);
    let r = exchange(uid.clone(), wrong).await;
    assert_eq!(r["state"], 0);
    assert_eq!(r["code"], 40140107, "{r}");
    // Too short a verifier.
    let r = exchange(uid.clone(), "short".into()).await;
    assert_eq!(r["code"], 40140106);
    // Missing verifier.
    let r = post_form(
        &c,
        format!("{base}/open/deviceCodeToToken"),
        &[("uid", &uid)],
    )
    .await;
    assert_eq!(r["code"], 40140100);
    // The right one still works afterwards.
    let r = exchange(uid.clone(), VERIFIER.into()).await;
    assert_eq!(r["code"], 0);

    // Not yet confirmed.
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    let r = exchange(dc["data"]["uid"].as_str().unwrap().into(), VERIFIER.into()).await;
    assert_eq!(r["code"], 40140108);

    // URL-safe unpadded sha256, padded URL-safe sha1, and md5 challenges are accepted.
    let sha1 = URL_SAFE.encode(Sha1::digest(VERIFIER.as_bytes()));
    let md5 = STANDARD.encode(md5::Md5::digest(VERIFIER.as_bytes()));
    for (challenge, method) in [(s256_url(VERIFIER), "sha256"), (sha1, "sha1"), (md5, "md5")] {
        let dc = device_code(&sim, &c, &challenge, method).await;
        assert_eq!(dc["code"], 0, "{method}: {dc}");
        let uid = dc["data"]["uid"].as_str().unwrap().to_owned();
        sim.confirm(&uid).unwrap();
        assert_eq!(exchange(uid, VERIFIER.into()).await["code"], 0, "{method}");
    }

    // Bad challenge method and malformed challenge.
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha512").await;
    assert_eq!(dc["code"], 40140102);
    let dc = device_code(&sim, &c, "not-base64!", "sha256").await;
    assert_eq!(dc["code"], 40140103);
    // A sha1-sized digest under sha256.
    let dc = device_code(&sim, &c, &STANDARD.encode([0u8; 20]), "sha256").await;
    assert_eq!(dc["code"], 40140103);
    // Missing client id.
    let r = post_form(&c, format!("{base}/open/authDeviceCode"), &[]).await;
    assert_eq!(r["code"], 40140100);
    // A wrong sign on the status poll.
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    let mut data = dc["data"].clone();
    data["sign"] = "0".repeat(40).into();
    assert_eq!(poll_status(&base, &c, &data).await["code"], 40140104);
}

#[tokio::test]
async fn auto_confirm_logs_in_the_default_account() {
    let sim = Sim115::start(Config115 {
        auto_confirm: Some(Duration::from_millis(200)),
        poll_timeout: Duration::from_secs(10),
        ..Config115::default()
    })
    .await
    .unwrap();
    let c = client();
    let dc = device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await;
    // The first answer may be "scanned" or "confirmed"; poll until confirmed.
    let mut status = 0;
    for _ in 0..5 {
        status = poll_status(sim.base_url(), &c, &dc["data"]).await["data"]["status"]
            .as_i64()
            .unwrap();
        if status == 2 {
            break;
        }
    }
    assert_eq!(status, 2);
    let uid = dc["data"]["uid"].as_str().unwrap();
    assert_eq!(sim.qr(uid).unwrap().account.as_deref(), Some("sim-user"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_long_polls() {
    let sim = Sim115::start(Config115 {
        poll_timeout: Duration::from_secs(60),
        ..Config115::default()
    })
    .await
    .unwrap();
    let c = client();
    let mut sessions = Vec::new();
    for _ in 0..200 {
        sessions.push(device_code(&sim, &c, &s256_std(VERIFIER), "sha256").await["data"].clone());
    }
    let mut polls = Vec::new();
    for data in &sessions {
        let (base, c, data) = (sim.base_url().to_owned(), c.clone(), data.clone());
        polls.push(tokio::spawn(
            async move { poll_status(&base, &c, &data).await },
        ));
    }
    // Wait until the server holds all of them.
    let started = Instant::now();
    while sim.stats().long_polls_waiting < 200 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            sim.stats().long_polls_waiting
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(polls.iter().all(|p| !p.is_finished()), "every poll is held");
    // Resolve them one by one in reverse order: even ones confirmed, odd ones expired,
    // every third scanned first.
    for (i, data) in sessions.iter().enumerate().rev() {
        let uid = data["uid"].as_str().unwrap();
        if i % 2 == 0 {
            sim.confirm(uid).unwrap();
        } else if i % 3 == 0 {
            sim.scan(uid).unwrap();
        } else {
            sim.expire(uid).unwrap();
        }
    }
    for (i, poll) in polls.into_iter().enumerate() {
        let answer = poll.await.unwrap();
        if i % 2 == 0 {
            assert_eq!(answer["state"], 1, "{i}");
            assert_eq!(answer["data"]["status"], 2, "{i}");
        } else if i % 3 == 0 {
            assert_eq!(answer["data"]["status"], 1, "{i}");
        } else {
            assert_eq!(answer["state"], 0, "{i}");
        }
    }
    assert_eq!(sim.stats().long_polls_held, 200);
    assert_eq!(sim.stats().long_polls_waiting, 0);
}
