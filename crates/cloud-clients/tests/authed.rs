//! Requests made with the token: a rejected token is refreshed once and the request
//! repeated once; a fixed token is served as handed in.

use std::time::Duration;

use cloud_clients::{AccessToken, Call, Error, TokenAccessor};
use test_support::backends;

use crate::common::{ACCOUNT, env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_a_rejected_token_refreshes_and_retries_once() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        let pair = env.login().await?;
        let client = env.client()?;
        client.user_info().await?;
        // The provider expires the token early (our clock still calls it valid).
        env.sim.clock().advance(Duration::from_secs(7300));
        let info = client.user_info().await?;
        assert!(info.get("user_id").is_some() || info.is_object(), "{info}");
        let stats = env.sim.account_stats(ACCOUNT);
        assert_eq!(
            (stats.refresh_calls, stats.expired_access),
            (1, 1),
            "{:?}",
            db.backend
        );
        assert_ne!(
            client.accessor().access_token().await?.secret(),
            pair.access_token
        );
        // Many concurrent requests hitting the rejection still refresh once.
        env.sim.clock().advance(Duration::from_secs(7300));
        let calls: Vec<_> = (0..20)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.user_info().await })
            })
            .collect();
        for call in calls {
            call.await??;
        }
        assert_eq!(env.sim.account_stats(ACCOUNT).refresh_calls, 2);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_idempotent_requests_are_not_repeated() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env(&db.url).await?;
        env.login().await?;
        let accessor = env.client()?.accessor().clone();
        let mut attempts = 0;
        let result: Result<(), Error> = accessor
            .with_token(false, |_| {
                attempts += 1;
                async { Ok(Call::TokenRejected) }
            })
            .await;
        assert!(matches!(result, Err(Error::Transient { .. })), "{result:?}");
        assert_eq!(attempts, 1);
        assert_eq!(
            env.sim.account_stats(ACCOUNT).refresh_calls,
            1,
            "the token was still renewed"
        );
    }
    Ok(())
}

#[tokio::test]
async fn fixed_tokens_are_served_as_handed_in() {
    let accessor = TokenAccessor::fixed("u115", AccessToken::new("handed-in"));
    assert_eq!(accessor.access_token().await.unwrap().secret(), "handed-in");
    let mut attempts = 0;
    let result: Result<(), Error> = accessor
        .with_token(true, |token| {
            attempts += 1;
            assert_eq!(token.secret(), "handed-in");
            async { Ok(Call::TokenRejected) }
        })
        .await;
    assert!(
        matches!(result, Err(Error::FixedTokenRejected { .. })),
        "{result:?}"
    );
    assert_eq!(attempts, 1);
    assert!(matches!(
        accessor.access_token().await,
        Err(Error::FixedTokenRejected { .. })
    ));
}
