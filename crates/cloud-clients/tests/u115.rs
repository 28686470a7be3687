//! The 115 client: the shared conformance suite, and 115's own rules (APP ID, rate limits,
//! error codes).

use std::time::{Duration, Instant};

use cloud_clients::u115::U115Client;
use cloud_clients::{CloudStorage, Error};
use cloud_sim::{Config115, RateLimitAnswer};
use serde_json::{Map, Value};
use test_support::backends;

use crate::common::{ACCOUNT, Env, env_with};
use crate::conformance::{self, Harness};

const APP_ID: &str = "my-115-app-id";

struct U115Harness {
    env: Env,
    client: U115Client,
}

impl U115Harness {
    async fn new(url: &str) -> anyhow::Result<Self> {
        let env = env_with(
            url,
            Config115 {
                client_id: Some(APP_ID.into()),
                ..Config115::default()
            },
        )
        .await?;
        env.sim.create_account(ACCOUNT);
        let client = U115Client::new(
            &env.storages,
            env.options().client_id(APP_ID).page_size(1000),
        )?;
        Ok(Self { env, client })
    }

    /// Logged in as a QR login would leave it.
    async fn logged_in(url: &str) -> anyhow::Result<Self> {
        let h = Self::new(url).await?;
        h.env.login().await?;
        Ok(h)
    }

    fn latest(&self) -> String {
        self.env.sim.latest_qr().map(|q| q.id).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl Harness for U115Harness {
    fn storage(&self) -> &dyn CloudStorage {
        &self.client
    }
    fn seed_folder(&self, path: &str) {
        self.env.sim.add_folder(ACCOUNT, path).expect("seed folder");
    }
    fn seed_file(&self, path: &str, bytes: Vec<u8>) {
        self.env
            .sim
            .add_file(ACCOUNT, path, bytes)
            .expect("seed file");
    }
    fn seed_files(&self, folder: &str, count: usize) {
        self.env
            .sim
            .add_files(ACCOUNT, folder, count, "episode", 1)
            .expect("seed files");
    }
    fn exists(&self, path: &str) -> bool {
        self.env.sim.stat(ACCOUNT, path).is_some()
    }
    fn scan_latest_qr(&self) {
        self.env.sim.scan(&self.latest()).expect("scan");
    }
    fn confirm_latest_qr(&self) {
        self.env
            .sim
            .confirm_as(&self.latest(), ACCOUNT)
            .expect("confirm");
    }
    fn expire_latest_qr(&self) {
        self.env.sim.expire(&self.latest()).expect("expire");
    }
    fn cancel_latest_qr(&self) {
        self.env.sim.cancel(&self.latest()).expect("cancel");
    }
    fn expire_access_token_on_server(&self) {
        self.env.sim.clock().advance(Duration::from_secs(7300));
    }
    fn refresh_calls(&self) -> u64 {
        self.env.refresh_calls()
    }
    async fn stored_config(&self) -> anyhow::Result<Map<String, Value>> {
        self.env.stored().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_qr_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let h = U115Harness::new(&db.url).await?;
        conformance::qr_login(&h).await?;
        conformance::qr_expired_and_cancelled(
            &U115Harness::new(&test_support::TestDb::sqlite()?.url).await?,
        )
        .await?;
        // Exactly one device-code exchange, one status request per poll.
        assert_eq!(h.env.sim.account_stats(ACCOUNT).token_exchanges, 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_file_operations() -> anyhow::Result<()> {
    for db in backends().await? {
        let h = U115Harness::logged_in(&db.url).await?;
        conformance::file_operations(&h).await?;
        conformance::transfers(&h).await?;
        // The request shapes the simulator accepted, by path.
        let sim = &h.env.sim;
        for path in [
            "/open/user/info",
            "/open/folder/get_info",
            "/open/folder/add",
            "/open/ufile/files",
            "/open/ufile/update",
            "/open/ufile/copy",
            "/open/ufile/move",
            "/open/ufile/delete",
            "/open/ufile/downurl",
        ] {
            assert!(sim.path_count(path) > 0, "{path} was never called");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_paging() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let h = U115Harness::logged_in(&db.url).await?;
    conformance::big_folder_lists_completely(&h, 5_000).await?;
    assert_eq!(
        h.env.sim.path_count("/open/ufile/files"),
        5,
        "1000 per page"
    );
    conformance::listing_survives_token_expiry_between_pages(&h, 2_500).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_needs_the_applications_own_app_id() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, Config115::default()).await?;
    let client = U115Client::new(&env.storages, env.options())?;
    let err = client.start_qr_login().await.unwrap_err();
    assert!(
        matches!(&err, Error::Configuration { message, .. } if message.contains("APP ID")),
        "{err}"
    );
    // From the storage config instead of the options.
    env.storages
        .handle("u115")
        .patch(serde_json::json!({"client_id": APP_ID}))
        .await?;
    let login = client.start_qr_login().await?;
    assert_eq!(
        env.sim.latest_qr().map(|q| q.client_id).as_deref(),
        Some(APP_ID)
    );
    assert!(!login.qr_payload.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_rate_limits_are_waited_out_within_bounds() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let h = U115Harness::logged_in(&db.url).await?;
    let sim = &h.env.sim;
    // 429 with a reset hint, and the HTTP-200 quota answers: waited out, then success.
    sim.inject_rate_limit(
        "/open/user/info",
        RateLimitAnswer::Http429 { reset_secs: 1 },
        1,
    );
    sim.inject_rate_limit("/open/user/info", RateLimitAnswer::Quota770004, 1);
    let started = Instant::now();
    h.client.usage().await?;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the reset hint was respected"
    );
    assert_eq!(sim.path_count("/open/user/info"), 3);
    // Bounded: a limit that does not lift ends in a typed error after the retries.
    sim.inject_rate_limit("/open/user/info", RateLimitAnswer::Quota406, 10);
    let err = h.client.usage().await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err}");
    assert_eq!(
        sim.path_count("/open/user/info"),
        6,
        "two retries, then give up"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_spaced_by_the_client_side_limit() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let h = U115Harness::logged_in(&db.url).await?;
    let client = U115Client::new(&h.env.storages, h.env.options().requests_per_second(20.0))?;
    let started = Instant::now();
    for _ in 0..11 {
        client.usage().await?;
    }
    // Ten intervals of 50 ms at least.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_access_token_is_refreshed_once() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let h = U115Harness::logged_in(&db.url).await?;
    // A token the provider does not know (40140126): refresh, retry once.
    h.env
        .storages
        .handle("u115")
        .patch(serde_json::json!({"access_token": "forged"}))
        .await?;
    let client = U115Client::new(&h.env.storages, h.env.options())?;
    client.usage().await?;
    assert_eq!(h.env.refresh_calls(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_token_of_a_missing_storage_writes_nothing() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, Config115::default()).await?;
    let store = env.storages.store().clone();
    for original in [
        Some(serde_json::json!(["u115", "alipan"])),
        None,
        Some(serde_json::json!([{"type": "local", "name": "本地", "config": {}}])),
    ] {
        match &original {
            Some(value) => store.set("Storages", value.clone()).await.map(|_| ())?,
            None => store.delete("Storages").await.map(|_| ())?,
        }
        let client = U115Client::new(&env.storages, env.options())?;
        let result = client.accessor().access_token().await;
        assert!(
            matches!(result, Err(Error::LoggedOut { .. })),
            "{original:?}: {result:?}"
        );
        let usage = client.usage().await;
        assert!(matches!(usage, Err(Error::LoggedOut { .. })), "{usage:?}");
        let stat = client.stat("/Movies").await;
        assert!(matches!(stat, Err(Error::LoggedOut { .. })), "{stat:?}");
        assert_eq!(store.get_fresh("Storages").await?, original);
    }
    assert_eq!(env.sim.stats().total_requests, 0);
    Ok(())
}
