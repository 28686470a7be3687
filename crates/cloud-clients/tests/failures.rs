//! Each failure class leaves the stored login intact and the state right.

use std::time::Duration;

use cloud_clients::{Error, HttpClient, HttpOptions, TokenState};
use cloud_sim::{Config115, Fault, Malformed, RateLimitAnswer};
use test_support::backends;

use crate::common::{ACCOUNT, env, env_with};

const REFRESH: &str = "/open/refreshToken";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_refresh_token_needs_login_and_stops_refreshing() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login().await?;
        let client = env.client()?;
        env.sim.revoke(ACCOUNT)?;
        env.expire();
        let err = client.accessor().access_token().await.unwrap_err();
        assert!(
            matches!(&err, Error::NeedsLogin { reason, .. } if reason.contains("40140116")),
            "{err}"
        );
        assert!(err.needs_login());
        assert!(matches!(
            client.accessor().state(),
            TokenState::NeedsLogin { .. }
        ));
        // The stored login is untouched, and no further refresh is attempted.
        assert_eq!(
            Some(env.stored_token("refresh_token").await?),
            pair.refresh_token
        );
        for _ in 0..5 {
            assert!(
                client
                    .accessor()
                    .access_token()
                    .await
                    .unwrap_err()
                    .needs_login()
            );
        }
        assert_eq!(env.sim.path_count(REFRESH), 1, "{:?}", db.backend);

        // A new login (here: by another process) lifts the state.
        env.login().await?;
        env.advance(Duration::from_secs(2)); // past the once-a-second store check
        let token = client.accessor().access_token().await?;
        assert_eq!(token.secret(), env.stored_token("access_token").await?);
        assert!(matches!(
            client.accessor().state(),
            TokenState::Valid { .. }
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_refresh_token_needs_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env_with(
            &db.url,
            Config115 {
                refresh_lifetime: Duration::from_secs(3 * 3600),
                ..Config115::default()
            },
        )
        .await?;
        let pair = env.login().await?;
        env.advance(Duration::from_secs(4 * 3600));
        let err = env.client()?.accessor().access_token().await.unwrap_err();
        assert!(
            matches!(&err, Error::NeedsLogin { reason, .. } if reason.contains("40140119")),
            "{err}"
        );
        assert_eq!(
            Some(env.stored_token("refresh_token").await?),
            pair.refresh_token
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_refresh_token_with_nothing_newer_needs_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login().await?;
        // Someone outside this project rotates the token and keeps the result to itself.
        cloud_clients::install_crypto_provider();
        let http = reqwest::Client::new();
        let answer: serde_json::Value = http
            .post(format!("{}{REFRESH}", env.sim.base_url()))
            .form(&[(
                "refresh_token",
                pair.refresh_token.clone().unwrap_or_default(),
            )])
            .send()
            .await?
            .json()
            .await?;
        assert_eq!(answer["code"], 0);
        env.expire();
        let err = env.client()?.accessor().access_token().await.unwrap_err();
        assert!(
            matches!(&err, Error::NeedsLogin { reason, .. } if reason.contains("already used")),
            "{err}"
        );
        assert_eq!(env.sim.account_stats(ACCOUNT).rejected_reuses, 1);
        assert_eq!(
            Some(env.stored_token("refresh_token").await?),
            pair.refresh_token,
            "{:?}",
            db.backend
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_refresh_token_adopts_what_another_refresher_saved() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login().await?;
        let client = env.client()?;
        env.expire();
        // Our refresh is held back; meanwhile a refresher that ignores our lease (a
        // MoviePilot plugin, say) rotates the token and saves the result.
        env.sim
            .inject_fault(REFRESH, Fault::Delay(Duration::from_millis(600)), 1);
        let ours = tokio::spawn({
            let client = client.clone();
            async move { client.accessor().access_token().await }
        });
        // Wait until our refresh request is held at the provider.
        while env.sim.stats().faults_injected == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cloud_clients::install_crypto_provider();
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{}{REFRESH}", env.sim.base_url()))
            .form(&[(
                "refresh_token",
                pair.refresh_token.clone().unwrap_or_default(),
            )])
            .send()
            .await?
            .json()
            .await?;
        let theirs = &answer["data"];
        env.storages
            .handle("u115")
            .patch(serde_json::json!({
                "access_token": theirs["access_token"],
                "refresh_token": theirs["refresh_token"],
                "expires_in": theirs["expires_in"],
                "refresh_time": env.sim.clock().now_unix(),
            }))
            .await?;
        let token = ours.await??;
        assert_eq!(
            Some(token.secret()),
            theirs["access_token"].as_str(),
            "{:?}",
            db.backend
        );
        let stats = env.sim.account_stats(ACCOUNT);
        assert_eq!((stats.refresh_calls, stats.rejected_reuses), (2, 1));
        assert!(matches!(
            client.accessor().state(),
            TokenState::Valid { .. }
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_keep_serving_a_still_valid_token_and_back_off() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login().await?;
        let client = env.client()?;
        // Due for refresh (inside the 720 s margin) but not expired.
        env.advance(Duration::from_secs(7200 - 300));
        for (i, answer) in [
            RateLimitAnswer::Http429 { reset_secs: 120 },
            RateLimitAnswer::Quota770004,
            RateLimitAnswer::Quota406,
        ]
        .into_iter()
        .enumerate()
        {
            env.sim.inject_rate_limit(REFRESH, answer, 1);
            let token = client.accessor().access_token().await?;
            assert_eq!(
                token.secret(),
                pair.access_token,
                "the old token is still served"
            );
            assert!(matches!(
                client.accessor().state(),
                TokenState::RateLimited { .. }
            ));
            // Within the back-off: no new attempt.
            client.accessor().access_token().await?;
            assert_eq!(
                env.sim.path_count(REFRESH),
                i as u64 + 1,
                "{:?}",
                db.backend
            );
            assert_eq!(
                env.stored_token("refresh_token").await?,
                pair.refresh_token.clone().unwrap_or_default()
            );
            // Past the back-off (the 429 said 120 s; quota answers use the 60 s default).
            env.advance(Duration::from_secs(121));
        }
        let token = client.accessor().access_token().await?;
        assert_ne!(
            token.secret(),
            pair.access_token,
            "refreshed once the back-off ended"
        );
        assert!(matches!(
            client.accessor().state(),
            TokenState::Valid { .. }
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshed_too_often_is_a_rate_limit() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        env.login().await?;
        let client = env.client()?;
        // One refresh, then the provider forbids another for a day.
        env.advance(Duration::from_secs(7200 - 300));
        let second = client.accessor().access_token().await?;
        env.sim
            .set_min_refresh_interval(Duration::from_secs(24 * 3600));
        env.advance(Duration::from_secs(7200 - 300));
        assert_eq!(
            client.accessor().access_token().await?,
            second,
            "the still-valid token is served"
        );
        assert_eq!(env.sim.account_stats(ACCOUNT).too_frequent, 1);
        assert!(matches!(
            client.accessor().state(),
            TokenState::RateLimited { .. }
        ));
        // Once expired and still limited, the caller is told when to come back.
        env.advance(Duration::from_secs(301));
        let err = client.accessor().access_token().await.unwrap_err();
        assert!(matches!(err, Error::RateLimited { .. }), "{err}");
        assert_eq!(env.sim.account_stats(ACCOUNT).too_frequent, 2);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_retry_with_backoff_and_touch_nothing() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login().await?;
        env.expire();
        let short = HttpClient::new(HttpOptions::default().timeout(Duration::from_millis(500)))?;
        let client =
            cloud_clients::u115::U115Client::with_http(&env.storages, env.options(), short)?;

        // Two failures, then success: the retries absorb them.
        env.sim.inject_fault(REFRESH, Fault::Status(502), 2);
        client.accessor().access_token().await?;
        assert_eq!(env.sim.path_count(REFRESH), 3);
        assert_ne!(
            Some(env.stored_token("refresh_token").await?),
            pair.refresh_token
        );

        // Every transient kind, outlasting the retries: the caller gets a typed error and
        // the stored login is exactly as it was, still the provider's live one.
        for fault in [
            Fault::Status(503),
            Fault::Reset,
            Fault::Malformed(Malformed::TruncatedJson),
            Fault::Malformed(Malformed::Html),
            Fault::Hang,
        ] {
            env.expire();
            env.sim.clear_faults();
            env.sim.inject_fault(REFRESH, fault.clone(), 3);
            let before = env.stored().await?;
            let err = client.accessor().access_token().await.unwrap_err();
            assert!(matches!(err, Error::Transient { .. }), "{fault:?}: {err}");
            assert_eq!(env.stored().await?, before, "{fault:?}");
            assert_eq!(
                env.sim.live_refresh_token(ACCOUNT).as_deref(),
                before["refresh_token"].as_str(),
                "{fault:?}"
            );
            // The back-off passes; the next call refreshes normally.
            env.sim.clear_faults();
            env.advance(Duration::from_secs(2));
            client.accessor().access_token().await?;
            assert_ne!(
                env.stored().await?["refresh_token"],
                before["refresh_token"]
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_failed_code_is_transient_and_retried() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login().await?;
        env.expire();
        // 40140121 "refresh failed", as 115 sends it: HTTP 200 with the code.
        let answer = r#"{"state":0,"code":40140121,"message":"refresh failed","data":null}"#;
        env.sim.inject_fault(
            REFRESH,
            Fault::Malformed(Malformed::Custom(answer.into())),
            2,
        );
        let token = env.client()?.accessor().access_token().await?;
        assert_eq!(env.sim.path_count(REFRESH), 3, "two retries, then success");
        assert_ne!(token.secret(), pair.access_token);
        assert_eq!(
            Some(env.stored_token("refresh_token").await?),
            env.sim.live_refresh_token(ACCOUNT),
            "{:?}",
            db.backend
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn callers_waiting_on_a_failed_refresh_share_its_answer() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        env.login().await?;
        env.sim.revoke(ACCOUNT)?;
        env.expire();
        env.sim
            .inject_fault(REFRESH, Fault::Delay(Duration::from_millis(200)), 1);
        let client = env.client()?;
        let calls: Vec<_> = (0..200)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.accessor().access_token().await })
            })
            .collect();
        for call in calls {
            let err = call.await?.unwrap_err();
            assert!(err.needs_login(), "{err}");
        }
        assert_eq!(
            env.sim.path_count(REFRESH),
            1,
            "{:?}: one refresh answered everyone",
            db.backend
        );
    }
    Ok(())
}

/// Callers that go away mid-refresh (a dropped future, an aborted request) never tear it:
/// the request already sent is answered, saved and served to whoever still waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_caller_does_not_tear_the_refresh() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        env.login().await?;
        env.expire();
        env.sim
            .inject_fault(REFRESH, Fault::Delay(Duration::from_millis(600)), 1);
        let client = env.client()?;
        let first = tokio::spawn({
            let client = client.clone();
            async move { client.accessor().access_token().await }
        });
        // Wait until the first caller's refresh request is held at the provider.
        while env.sim.stats().faults_injected == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let second = tokio::spawn({
            let client = client.clone();
            async move { client.accessor().access_token().await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The caller that started the refresh goes away while its request is in flight.
        first.abort();
        let token = tokio::time::timeout(Duration::from_secs(10), second).await???;
        assert_eq!(token.secret(), env.stored_token("access_token").await?);
        assert_eq!(
            env.sim.path_count(REFRESH),
            1,
            "{:?}: one refresh",
            db.backend
        );

        // Now with nobody left waiting: every caller is dropped mid-request, and the
        // rotated tokens still reach the database.
        env.expire();
        env.sim
            .inject_fault(REFRESH, Fault::Delay(Duration::from_millis(300)), 1);
        let faults = env.sim.stats().faults_injected;
        let lone = tokio::spawn({
            let client = client.clone();
            async move { client.accessor().access_token().await }
        });
        while env.sim.stats().faults_injected == faults {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        lone.abort();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while Some(env.stored_token("refresh_token").await?) != env.sim.live_refresh_token(ACCOUNT)
        {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{:?}: the abandoned refresh was not saved",
                db.backend
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(env.sim.path_count(REFRESH), 2);
    }
    Ok(())
}

/// SQLite only: a second connection holds the write lock while our refresh is answered, so
/// the save fails; the rotated tokens must survive in memory and be saved on the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_save_keeps_the_rotated_tokens_and_saves_them_next_time() -> anyhow::Result<()> {
    use cloud_clients::u115::U115Client;
    use storage_helper::StorageHelper;
    use system_config::{StoreOptions, SystemConfig};

    let db = test_support::TestDb::sqlite()?;
    let env = env(&db.url).await?;
    env.login().await?;
    let impatient = SystemConfig::open_with(
        &db.url,
        StoreOptions::default().busy_timeout(Duration::from_millis(100)),
    )
    .await?;
    let mut options = env.options();
    options.accessor = options.accessor.save_patience(Duration::from_millis(300));
    let client = U115Client::new(&StorageHelper::new(impatient), options)?;
    env.expire();
    env.sim
        .inject_fault(REFRESH, Fault::Delay(Duration::from_millis(400)), 1);
    let refreshing = tokio::spawn({
        let client = client.clone();
        async move { client.accessor().access_token().await }
    });
    // While the provider answers, another writer takes the database and keeps it.
    while env.sim.stats().faults_injected == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pool = system_config::sea_orm::sqlx::SqlitePool::connect(&db.url).await?;
    let mut holder = pool.acquire().await?;
    system_config::sea_orm::sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *holder)
        .await?;
    let err = refreshing.await?.unwrap_err();
    assert!(matches!(err, Error::SaveFailed { .. }), "{err}");
    // The provider rotated; the store still holds the old (now dead) refresh token.
    assert_ne!(
        Some(env.stored_token("refresh_token").await.unwrap_or_default()),
        env.sim.live_refresh_token(ACCOUNT)
    );
    system_config::sea_orm::sqlx::query("ROLLBACK")
        .execute(&mut *holder)
        .await?;
    drop(holder);

    // The next call saves the rotated tokens before anything else, without a new refresh.
    let token = client.accessor().access_token().await?;
    assert_eq!(env.sim.path_count(REFRESH), 1);
    assert_eq!(token.secret(), env.stored_token("access_token").await?);
    assert_eq!(
        Some(env.stored_token("refresh_token").await?),
        env.sim.live_refresh_token(ACCOUNT)
    );
    Ok(())
}
