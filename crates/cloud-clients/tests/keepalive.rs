//! The keep-alive service on the real clock with short token lifetimes: it refreshes ahead
//! of the due time, waits out rate limits and needs-login states instead of hammering the
//! provider, resumes on a new login made by another process, and rides out a database
//! outage (every connection cut, new ones refused) without a new login or a storm of
//! refreshes.

use std::time::Duration;

use cloud_clients::u115::{U115Client, U115Options};
use cloud_clients::{KeepAlive, KeepAliveOptions, TokenAccessor, TokenState};
use cloud_sim::{Config115, RateLimitAnswer, Sim115, Sim115Handle};
use storage_helper::StorageHelper;
use system_config::SystemConfig;

use crate::common::ACCOUNT;

/// Due after 4 s (half the lifetime), refreshed by the keep-alive after 2 s of the whole
/// seconds MoviePilot stores (1–2 s after issue).
const LIFETIME: Duration = Duration::from_secs(8);
const WAIT: Duration = Duration::from_secs(30);

async fn sim() -> anyhow::Result<Sim115Handle> {
    Ok(Sim115::start(Config115 {
        access_lifetime: LIFETIME,
        ..Config115::default()
    })
    .await?)
}

/// Logs `ACCOUNT` in at the simulator and stores the tokens through `storages`.
async fn store_login(storages: &StorageHelper, sim: &Sim115Handle) -> anyhow::Result<String> {
    let pair = sim.login(ACCOUNT);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    storages
        .handle("u115")
        .patch(serde_json::json!({
            "access_token": pair.access_token, "refresh_token": pair.refresh_token,
            "expires_in": LIFETIME.as_secs(), "refresh_time": now.as_secs(),
        }))
        .await?;
    Ok(pair.access_token)
}

async fn wait_for(
    accessor: &TokenAccessor,
    what: &str,
    mut done: impl FnMut(&TokenState) -> bool,
) -> anyhow::Result<TokenState> {
    let mut states = accessor.watch();
    let found = tokio::time::timeout(WAIT, states.wait_for(|s| done(s))).await;
    match found {
        Ok(Ok(state)) => Ok(state.clone()),
        _ => anyhow::bail!("no {what} within {WAIT:?}: {:?}", accessor.state()),
    }
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no {what} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn rate_limit_and_needs_login(url: &str) -> anyhow::Result<()> {
    let sim = sim().await?;
    let storages = StorageHelper::new(SystemConfig::open(url).await?);
    store_login(&storages, &sim).await?;
    let client = U115Client::new(&storages, U115Options::at(sim.base_url()))?;
    let accessor = client.accessor().clone();

    // The first keep-alive refresh is rate limited for 2 s: one more attempt after it.
    sim.inject_rate_limit(
        "/open/refreshToken",
        RateLimitAnswer::Http429 { reset_secs: 2 },
        1,
    );
    let keepalive = KeepAlive::start([accessor.clone()], KeepAliveOptions::default());
    wait_for(&accessor, "rate limit", |s| {
        matches!(s, TokenState::RateLimited { .. })
    })
    .await?;
    assert!(
        accessor.cached().is_some(),
        "the valid token is still served"
    );
    wait_until("refresh after the limit", || {
        sim.account_stats(ACCOUNT).refreshes_ok == 1
    })
    .await?;
    assert_eq!(
        (
            sim.path_count("/open/refreshToken"),
            sim.stats().rate_limited
        ),
        (2, 1),
        "one limited attempt, one after the limit ended"
    );

    // The login is revoked: the next keep-alive refresh finds it, and then nothing is
    // attempted until a new login.
    sim.revoke(ACCOUNT)?;
    wait_for(&accessor, "needs-login", |s| {
        matches!(s, TokenState::NeedsLogin { .. })
    })
    .await?;
    let calls = sim.path_count("/open/refreshToken");
    // Two keep-alive periods with the login dead.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(sim.path_count("/open/refreshToken"), calls);

    // Another process logs in: the keep-alive sees it through the store and goes on.
    let other = StorageHelper::new(SystemConfig::open(url).await?);
    let new_token = store_login(&other, &sim).await?;
    wait_for(&accessor, "the new login", |s| {
        matches!(s, TokenState::Valid { .. })
    })
    .await?;
    // The new login is refreshed ahead of its due time, and served from memory.
    wait_until("a refresh of the new login", || {
        accessor
            .cached()
            .is_some_and(|t| t.secret() != new_token.as_str())
    })
    .await?;
    assert_eq!(sim.account_stats(ACCOUNT).refreshes_ok, 2);
    keepalive.stop(Duration::from_secs(10)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_waits_out_rate_limits_and_needs_login_and_resumes_on_a_new_login()
-> anyhow::Result<()> {
    for db in test_support::backends().await? {
        rate_limit_and_needs_login(&db.url).await?;
    }
    Ok(())
}

/// PostgreSQL taken away (through a proxy, so other tests keep their server) for longer
/// than the keep-alive's next refresh point, then given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_rides_out_a_database_outage_without_a_new_login_or_a_refresh_storm()
-> anyhow::Result<()> {
    let Some(db) = test_support::TestDb::postgres().await? else {
        return Ok(());
    };
    let mut url = url::Url::parse(&db.url)?;
    let target = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let proxy = test_support::proxy::Proxy::start(target).await?;
    url.set_port(Some(proxy.addr().port()))
        .map_err(|()| anyhow::anyhow!("no port in the URL"))?;

    let sim = sim().await?;
    store_login(
        &StorageHelper::new(SystemConfig::open(&db.url).await?),
        &sim,
    )
    .await?;
    let storages = StorageHelper::new(SystemConfig::open(url.as_str()).await?);
    let client = U115Client::new(&storages, U115Options::at(sim.base_url()))?;
    let accessor = client.accessor().clone();
    let mut options = KeepAliveOptions::default();
    options.retry_base = Duration::from_millis(500);
    let keepalive = KeepAlive::start([accessor.clone()], options);

    wait_until("the first refresh", || {
        sim.account_stats(ACCOUNT).refreshes_ok == 1
    })
    .await?;
    // Down for 3 s from right after a refresh: the next refresh point (1–2 s later) falls
    // inside the outage.
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        sim.account_stats(ACCOUNT).refreshes_ok,
        1,
        "no lease, no refresh"
    );
    proxy.restore();
    let back = tokio::time::Instant::now();
    wait_until("a refresh after the outage", || {
        sim.account_stats(ACCOUNT).refreshes_ok == 2
    })
    .await?;
    // Then the normal rhythm for one more lifetime.
    tokio::time::sleep(LIFETIME).await;
    let stats = sim.account_stats(ACCOUNT);
    let elapsed = back.elapsed().as_secs();
    assert_eq!(
        stats.token_exchanges, 1,
        "the login at the start and no other: {stats:?}"
    );
    assert_eq!(stats.rejected_reuses, 0, "{stats:?}");
    assert_eq!(stats.refresh_calls, stats.refreshes_ok, "{stats:?}");
    // One refresh per 1–2 s cycle at most: no catching up, no storm.
    assert!(
        stats.refreshes_ok <= 2 + elapsed + 1,
        "{} refreshes in {elapsed} s after the outage",
        stats.refreshes_ok
    );
    assert!(matches!(accessor.state(), TokenState::Valid { .. }));
    assert!(accessor.cached().is_some());
    keepalive.stop(Duration::from_secs(10)).await;
    Ok(())
}

/// Another process logs the storage out (`cloudctl storage reset`) while the keep-alive
/// holds a valid token: the token leaves memory at once, the state becomes logged-out, and
/// nothing is refreshed until a new login.
async fn logout_elsewhere(url: &str) -> anyhow::Result<()> {
    let sim = sim().await?;
    let storages = StorageHelper::new(SystemConfig::open(url).await?);
    let token = store_login(&storages, &sim).await?;
    let client = U115Client::new(&storages, U115Options::at(sim.base_url()))?;
    let accessor = client.accessor().clone();
    let keepalive = KeepAlive::start([accessor.clone()], KeepAliveOptions::default());
    wait_until("the stored login in memory", || {
        accessor
            .cached()
            .is_some_and(|t| t.secret() == token.as_str())
    })
    .await?;

    let other = StorageHelper::new(SystemConfig::open(url).await?);
    assert!(other.reset("u115").await?, "the entry had tokens");
    wait_for(&accessor, "logged-out", |s| {
        matches!(s, TokenState::LoggedOut)
    })
    .await?;
    assert!(
        accessor.cached().is_none(),
        "no token served after a logout"
    );
    let err = tokio::time::timeout(WAIT, accessor.access_token())
        .await?
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(err, cloud_clients::Error::LoggedOut { .. }),
        "{err}"
    );
    // Two lifetimes: nothing is refreshed for a logged-out storage.
    let calls = sim.path_count("/open/refreshToken");
    tokio::time::sleep(2 * LIFETIME).await;
    assert_eq!(sim.path_count("/open/refreshToken"), calls);

    // A new login made elsewhere is served again.
    let new_token = store_login(&other, &sim).await?;
    wait_until("the new login in memory", || {
        accessor
            .cached()
            .is_some_and(|t| t.secret() == new_token.as_str())
            || sim.account_stats(ACCOUNT).refreshes_ok > 0
    })
    .await?;
    keepalive.stop(Duration::from_secs(10)).await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_by_another_process_drops_the_token_from_memory() -> anyhow::Result<()> {
    for db in test_support::backends().await? {
        logout_elsewhere(&db.url).await?;
    }
    Ok(())
}
