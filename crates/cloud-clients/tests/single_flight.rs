//! Many callers at expiry: one refresh, one token, saved before use, reused by new processes.

use std::sync::Arc;
use std::time::Duration;

use cloud_clients::TokenState;
use cloud_sim::Fault;
use test_support::backends;

use crate::common::{ACCOUNT, env};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_callers_at_expiry_make_exactly_one_refresh() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let first = env.login().await?;
        let client = env.client()?;
        assert_eq!(
            client.accessor().access_token().await?.secret(),
            first.access_token
        );

        env.expire();
        // The refresh answer is held back so every caller arrives while it is in flight.
        env.sim.inject_fault(
            "/open/refreshToken",
            Fault::Delay(Duration::from_millis(50)),
            1,
        );
        let barrier = Arc::new(tokio::sync::Barrier::new(1000));
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let (client, barrier) = (client.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    client.accessor().access_token().await
                })
            })
            .collect();
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await??);
        }
        assert_eq!(env.refresh_calls(), 1, "{:?}", db.backend);
        assert_eq!(env.sim.account_stats(ACCOUNT).rejected_reuses, 0);
        let new_access = env.stored_token("access_token").await?;
        assert_ne!(new_access, first.access_token);
        assert!(
            tokens.iter().all(|t| t.secret() == new_access),
            "every caller got the saved token"
        );
        // The saved refresh token is the provider's live one; the lease is gone.
        assert_eq!(
            Some(env.stored_token("refresh_token").await?),
            env.sim.live_refresh_token(ACCOUNT)
        );
        let entry = env
            .storages
            .handle("u115")
            .get_fresh()
            .await?
            .expect("u115 exists");
        assert!(!entry.extra.contains_key(cloud_clients::LEASE_MEMBER));
        assert!(matches!(
            client.accessor().state(),
            TokenState::Valid {
                expires_at: Some(_)
            }
        ));

        // A fresh process (new store, new client) uses the persisted token: no refresh.
        let reopened = env.fresh_client(env.options()).await?;
        assert_eq!(
            reopened.accessor().access_token().await?.secret(),
            new_access
        );
        assert_eq!(env.refresh_calls(), 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_is_served_without_database_or_network() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login().await?;
        let client = env.client()?;
        assert_eq!(
            client.accessor().access_token().await?.secret(),
            pair.access_token
        );
        // Take the database and the provider away: the valid token is still served.
        use system_config::sea_orm::{ConnectionTrait, Database};
        let conn = Database::connect(db.url.as_str()).await?;
        conn.execute_unprepared("DROP TABLE systemconfig").await?;
        let requests = env.sim.stats().total_requests;
        for _ in 0..100 {
            assert_eq!(
                client.accessor().access_token().await?.secret(),
                pair.access_token
            );
        }
        assert_eq!(env.sim.stats().total_requests, requests);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_saved_by_another_process_is_adopted_not_refreshed() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        env.login().await?;
        let ours = env.client()?;
        ours.accessor().access_token().await?;
        env.expire();
        // Another process refreshes first.
        let theirs = env.fresh_client(env.options()).await?;
        let new = theirs.accessor().access_token().await?;
        assert_eq!(env.refresh_calls(), 1);
        // Ours re-reads the store before refreshing and adopts it.
        assert_eq!(ours.accessor().access_token().await?, new);
        assert_eq!(env.refresh_calls(), 1, "{:?}", db.backend);
        assert_eq!(env.sim.account_stats(ACCOUNT).rejected_reuses, 0);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_are_announced() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let client = env.client()?;
        let err = client.accessor().access_token().await.unwrap_err();
        assert!(
            matches!(err, cloud_clients::Error::LoggedOut { .. }),
            "{err}"
        );
        assert_eq!(client.accessor().state(), TokenState::LoggedOut);

        env.login().await?;
        let mut watch = client.accessor().watch();
        client.accessor().access_token().await?;
        assert_eq!(client.accessor().state().label(), "valid");
        env.expire();
        env.sim.inject_fault(
            "/open/refreshToken",
            Fault::Delay(Duration::from_millis(300)),
            1,
        );
        let task = tokio::spawn({
            let client = client.clone();
            async move { client.accessor().access_token().await }
        });
        let mut seen = Vec::new();
        while seen.last() != Some(&"valid") || seen.len() < 2 {
            tokio::time::timeout(Duration::from_secs(5), watch.changed()).await??;
            seen.push(watch.borrow_and_update().label());
        }
        task.await??;
        assert!(seen.contains(&"refreshing"), "{seen:?}");
    }
    Ok(())
}
