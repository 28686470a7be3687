//! The alipan client: the shared conformance suite, and alipan's own rules (PKCE modes,
//! drive ids beside the tokens, refresh failure classes, drive errors, request shapes).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use cloud_clients::alipan::{AlipanClient, AlipanDrive, AlipanOptions, PkceMethod};
use cloud_clients::{
    AccessToken, AccessorOptions, ClientSecret, CloudStorage, Error, Grant, LoginStatus,
    ManualClock, RefreshToken, TokenState,
};
use cloud_sim::{
    ConfigAlipan, DriveKind, Fault, Malformed, RateLimitAnswer, SimAlipan, SimAlipanHandle,
    TokenPair,
};
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::backends;

use crate::conformance::{self, Harness};

const ACCOUNT: &str = "alice";
const APP: &str = "my-alipan-app";
const SECRET: &str = "my-alipan-secret";
const TOKEN_PATH: &str = "/oauth/access_token";
const DRIVE_INFO: &str = "/adrive/v1.0/user/getDriveInfo";
const LIFETIME: Duration = Duration::from_secs(7200);
const DAY: Duration = Duration::from_secs(24 * 3600);

struct Env {
    sim: SimAlipanHandle,
    storages: StorageHelper,
    clock: Arc<ManualClock>,
}

async fn env_with(url: &str, config: ConfigAlipan) -> anyhow::Result<Env> {
    let sim = SimAlipan::start(ConfigAlipan {
        client_id: Some(APP.into()),
        ..config
    })
    .await?;
    let storages = StorageHelper::new(SystemConfig::open(url).await?);
    Ok(Env {
        sim,
        storages,
        clock: Arc::new(ManualClock::new()),
    })
}

fn grant(pair: &TokenPair) -> Grant {
    Grant {
        access_token: AccessToken::new(pair.access_token.as_str()),
        refresh_token: pair.refresh_token.as_deref().map(RefreshToken::new),
        expires_in: pair.expires_in,
        extra: Map::new(),
    }
}

impl Env {
    /// Options without client id: the tests add what they need.
    fn bare_options(&self) -> AlipanOptions {
        AlipanOptions::at(self.sim.base_url())
            .requests_per_second(0.0)
            .qr_poll_interval(Duration::from_millis(50))
            .accessor(
                AccessorOptions::default()
                    .clock(self.clock.clone())
                    .retry_base(Duration::from_millis(20)),
            )
    }

    fn options(&self) -> AlipanOptions {
        self.bare_options().client_id(APP)
    }

    fn client(&self) -> anyhow::Result<AlipanClient> {
        Ok(AlipanClient::new(&self.storages, self.options())?)
    }

    /// Logs the account in at the simulator (with a refresh token) and saves tokens and
    /// drive info as a QR login would.
    async fn login(&self) -> anyhow::Result<TokenPair> {
        let pair = self.sim.login(ACCOUNT);
        self.client()?.complete_login(grant(&pair)).await?;
        Ok(pair)
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.sim.clock().advance(by);
    }

    fn expire(&self) {
        self.advance(LIFETIME + Duration::from_secs(1));
    }

    async fn stored(&self) -> anyhow::Result<Map<String, Value>> {
        Ok(self.storages.handle("alipan").get_conf_fresh().await?)
    }

    fn refresh_calls(&self) -> u64 {
        self.sim.account_stats(ACCOUNT).refresh_calls
    }

    fn latest(&self) -> String {
        self.sim.latest_qr().map(|q| q.id).unwrap_or_default()
    }

    /// The stored drive fields must be the account's.
    async fn assert_drive_ids(&self) -> anyhow::Result<()> {
        let stored = self.stored().await?;
        let resource = self.sim.drive_id(ACCOUNT, DriveKind::Resource);
        let default = self.sim.drive_id(ACCOUNT, DriveKind::Default);
        assert!(resource.is_some() && default.is_some());
        assert_eq!(stored["resource_drive_id"].as_str(), resource.as_deref());
        assert_eq!(stored["default_drive_id"].as_str(), default.as_deref());
        assert_eq!(stored["backup_drive_id"].as_str(), default.as_deref());
        for field in ["user_id", "name", "avatar"] {
            assert!(
                stored[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field}"
            );
        }
        Ok(())
    }
}

struct AlipanHarness {
    env: Env,
    client: AlipanClient,
}

impl AlipanHarness {
    async fn new(url: &str) -> anyhow::Result<Self> {
        let env = env_with(url, ConfigAlipan::default()).await?;
        env.sim.create_account(ACCOUNT);
        let client = env.client()?;
        Ok(Self { env, client })
    }

    async fn logged_in(url: &str) -> anyhow::Result<Self> {
        let h = Self::new(url).await?;
        h.env.login().await?;
        Ok(h)
    }
}

#[async_trait::async_trait]
impl Harness for AlipanHarness {
    fn storage(&self) -> &dyn CloudStorage {
        &self.client
    }
    fn seed_folder(&self, path: &str) {
        self.env
            .sim
            .add_folder_in_drive(ACCOUNT, DriveKind::Resource, path)
            .expect("seed folder");
    }
    fn seed_file(&self, path: &str, bytes: Vec<u8>) {
        self.env
            .sim
            .add_file_in_drive(ACCOUNT, DriveKind::Resource, path, bytes)
            .expect("seed file");
    }
    fn seed_files(&self, folder: &str, count: usize) {
        self.env
            .sim
            .add_files_in_drive(ACCOUNT, DriveKind::Resource, folder, count, "episode", 1)
            .expect("seed files");
    }
    fn exists(&self, path: &str) -> bool {
        self.env
            .sim
            .stat_in_drive(ACCOUNT, DriveKind::Resource, path)
            .is_some()
    }
    fn scan_latest_qr(&self) {
        self.env.sim.scan(&self.env.latest()).expect("scan");
    }
    fn confirm_latest_qr(&self) {
        self.env
            .sim
            .confirm_as(&self.env.latest(), ACCOUNT)
            .expect("confirm");
    }
    fn expire_latest_qr(&self) {
        self.env.sim.expire(&self.env.latest()).expect("expire");
    }
    fn cancel_latest_qr(&self) {
        self.env.sim.cancel(&self.env.latest()).expect("cancel");
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

// ----- the shared conformance suite --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_qr_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let h = AlipanHarness::new(&db.url).await?;
        conformance::qr_login(&h).await?;
        // One code exchange, then getDriveInfo with the new token: drive ids saved too.
        let sim = &h.env.sim;
        assert_eq!(sim.account_stats(ACCOUNT).token_exchanges, 1);
        assert_eq!(sim.path_count(DRIVE_INFO), 1);
        h.env.assert_drive_ids().await?;
        // On a store without a login (this one has one now).
        let fresh = test_support::TestDb::sqlite()?;
        conformance::qr_expired_and_cancelled(&AlipanHarness::new(&fresh.url).await?).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_file_operations() -> anyhow::Result<()> {
    for db in backends().await? {
        let h = AlipanHarness::logged_in(&db.url).await?;
        conformance::file_operations(&h).await?;
        conformance::transfers(&h).await?;
        // The request shapes the simulator accepted, by path.
        let sim = &h.env.sim;
        for path in [
            "/adrive/v1.0/user/getSpaceInfo",
            "/adrive/v1.0/openFile/get_by_path",
            "/adrive/v1.0/openFile/create",
            "/adrive/v1.0/openFile/list",
            "/adrive/v1.0/openFile/update",
            "/adrive/v1.0/openFile/copy",
            "/adrive/v1.0/openFile/move",
            "/adrive/v1.0/openFile/recyclebin/trash",
            "/adrive/v1.0/openFile/getDownloadUrl",
        ] {
            assert!(sim.path_count(path) > 0, "{path} was never called");
        }
        // Everything happened in the resource drive (MoviePilot's choice); the default
        // drive is untouched.
        assert!(sim.stat(ACCOUNT, "/media").is_none());
        assert_eq!(sim.path_count(TOKEN_PATH), 0, "no refresh was needed");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_paging() -> anyhow::Result<()> {
    for db in backends().await? {
        let h = AlipanHarness::logged_in(&db.url).await?;
        conformance::big_folder_lists_completely(&h, 1_000).await?;
        assert_eq!(
            h.env.sim.path_count("/adrive/v1.0/openFile/list"),
            10,
            "100 per page"
        );
        conformance::listing_survives_token_expiry_between_pages(&h, 250).await?;
        h.env.assert_drive_ids().await?;
    }
    Ok(())
}

// ----- login ---------------------------------------------------------------------------

/// A full QR login through the status polls; returns the final status.
async fn qr_login(env: &Env, client: &AlipanClient) -> anyhow::Result<LoginStatus> {
    let login = client.start_qr_login().await?;
    let sid = env.latest();
    assert_eq!(
        login.qr_payload,
        format!("https://www.alipan.com/o/oauth/authorize?sid={sid}")
    );
    assert!(!format!("{login:?}").contains("verifier"));
    assert_eq!(
        client
            .poll_qr_login(&login, Duration::from_millis(120))
            .await?,
        LoginStatus::Waiting
    );
    env.sim.scan(&sid)?;
    assert_eq!(
        client.poll_qr_login(&login, Duration::from_secs(5)).await?,
        LoginStatus::Scanned
    );
    env.sim.confirm_as(&sid, ACCOUNT)?;
    Ok(client.poll_qr_login(&login, Duration::from_secs(5)).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_with_pkce_s256_and_plain() -> anyhow::Result<()> {
    for db in backends().await? {
        for method in [PkceMethod::S256, PkceMethod::Plain] {
            let env = env_with(&db.url, ConfigAlipan::default()).await?;
            // A fresh store per run: the previous run's login must not linger.
            env.storages.handle("alipan").set_config(Map::new()).await?;
            let client = AlipanClient::new(&env.storages, env.options().pkce_method(method))?;
            assert_eq!(qr_login(&env, &client).await?, LoginStatus::Confirmed);
            let stored = env.stored().await?;
            assert_eq!(stored["token_type"], "Bearer");
            assert!(
                stored.get("refresh_token").is_none(),
                "PKCE without secret: no refresh token"
            );
            assert_eq!(stored["expires_in"], 30 * 24 * 3600);
            env.assert_drive_ids().await?;
            // getDriveInfo answered (it rejects calls without a valid Bearer token) and was
            // the one authenticated request.
            assert_eq!(env.sim.path_count(DRIVE_INFO), 1);
            assert_eq!(env.sim.account_stats(ACCOUNT).requests, 1);
            assert_eq!(env.sim.account_stats(ACCOUNT).token_exchanges, 1);
            client.usage().await?;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_with_client_secret_keeps_drive_ids_across_refreshes() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env_with(
            &db.url,
            ConfigAlipan {
                client_secret: Some(SECRET.into()),
                ..ConfigAlipan::default()
            },
        )
        .await?;
        // The application's credentials from the storage config this time.
        env.storages
            .handle("alipan")
            .set_config(
                json!({"client_id": APP, "client_secret": SECRET})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            )
            .await?;
        let client = AlipanClient::new(&env.storages, env.bare_options())?;
        assert_eq!(qr_login(&env, &client).await?, LoginStatus::Confirmed);
        let stored = env.stored().await?;
        assert!(
            stored["refresh_token"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert_eq!(stored["client_secret"], SECRET, "other fields survive");
        env.assert_drive_ids().await?;

        for round in 1..=3 {
            env.expire();
            client.usage().await?;
            assert_eq!(env.refresh_calls(), round);
            env.assert_drive_ids().await?;
            let stored = env.stored().await?;
            assert_eq!(
                stored["refresh_token"].as_str(),
                env.sim.live_refresh_token(ACCOUNT).as_deref()
            );
            assert_eq!(stored["client_id"], APP);
        }
        // Tokens and secrets never show in Debug output.
        let shown = format!("{client:?} {:?}", client.options());
        assert!(!shown.contains(SECRET), "{shown}");
        let token = client.accessor().access_token().await?;
        assert!(!shown.contains(token.secret()));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qr_login_needs_the_applications_client_id() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, ConfigAlipan::default()).await?;
    let client = AlipanClient::new(&env.storages, env.bare_options())?;
    let err = client.start_qr_login().await.unwrap_err();
    assert!(
        matches!(&err, Error::Configuration { message, .. } if message.contains("client id")),
        "{err}"
    );
    assert_eq!(env.sim.stats().total_requests, 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkce_login_without_secret_runs_out_into_needs_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env_with(&db.url, ConfigAlipan::default()).await?;
        env.storages.handle("alipan").set_config(Map::new()).await?;
        let client = env.client()?;
        assert_eq!(qr_login(&env, &client).await?, LoginStatus::Confirmed);
        let TokenState::Valid {
            expires_at: Some(expires_at),
        } = client.login_state()
        else {
            panic!("valid with an expiry: {:?}", client.login_state());
        };
        let left = expires_at
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        assert!(left > 29 * DAY && left <= 30 * DAY, "{left:?}");

        // Served through the margin to the very end of its life, without a refresh.
        env.advance(29 * DAY);
        client.usage().await?;
        assert!(matches!(client.login_state(), TokenState::Valid { .. }));
        env.advance(DAY + Duration::from_secs(1));
        let err = client.usage().await.unwrap_err();
        assert!(
            matches!(&err, Error::NeedsLogin { reason, .. }
                if reason.contains("expired at") && reason.contains("scan a new QR code")),
            "{err}"
        );
        assert!(matches!(
            client.login_state(),
            TokenState::NeedsLogin { .. }
        ));
        assert_eq!(env.refresh_calls(), 0);
        assert_eq!(env.sim.path_count(TOKEN_PATH), 1, "only the code exchange");
        env.assert_drive_ids().await?;
    }
    Ok(())
}

// ----- refresh failures ------------------------------------------------------------------

/// The stored refresh token and drive ids are what they were after login.
async fn assert_intact(env: &Env, pair: &TokenPair) -> anyhow::Result<()> {
    let stored = env.stored().await?;
    assert_eq!(
        stored["refresh_token"].as_str(),
        pair.refresh_token.as_deref()
    );
    env.assert_drive_ids().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_refresh_token_with_nothing_newer_needs_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env_with(&db.url, ConfigAlipan::default()).await?;
        let pair = env.login().await?;
        // Someone outside this project rotates the token and keeps the result.
        cloud_clients::install_crypto_provider();
        let answer = reqwest::Client::new()
            .post(format!("{}{TOKEN_PATH}", env.sim.base_url()))
            .json(&json!({"client_id": APP, "grant_type": "refresh_token",
                "refresh_token": pair.refresh_token.clone().unwrap_or_default()}))
            .send()
            .await?;
        assert!(answer.status().is_success());
        env.expire();
        let client = env.client()?;
        let err = client.accessor().access_token().await.unwrap_err();
        assert!(
            matches!(&err, Error::NeedsLogin { reason, .. }
                if reason.contains("already used") && reason.contains("InvalidParameter.RefreshToken")),
            "{err}"
        );
        assert_eq!(env.sim.account_stats(ACCOUNT).rejected_reuses, 1);
        assert_intact(&env, &pair).await?;
        // Sticky: no further refresh is attempted.
        assert!(client.usage().await.unwrap_err().needs_login());
        assert_eq!(env.sim.account_stats(ACCOUNT).rejected_reuses, 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_refresh_token_needs_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env_with(
            &db.url,
            ConfigAlipan {
                refresh_lifetime: Duration::from_secs(3 * 3600),
                ..ConfigAlipan::default()
            },
        )
        .await?;
        let pair = env.login().await?;
        env.advance(Duration::from_secs(4 * 3600));
        let err = env.client()?.accessor().access_token().await.unwrap_err();
        assert!(
            matches!(&err, Error::NeedsLogin { reason, .. } if reason.contains("RefreshTokenExpired")),
            "{err}"
        );
        assert_intact(&env, &pair).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_refresh_serves_the_still_valid_token() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = env_with(&db.url, ConfigAlipan::default()).await?;
        let pair = env.login().await?;
        env.sim
            .inject_rate_limit(TOKEN_PATH, RateLimitAnswer::Http429 { reset_secs: 30 }, 1);
        // Due (inside the refresh margin) but not expired.
        env.advance(LIFETIME - Duration::from_secs(300));
        let client = env.client()?;
        let token = client.accessor().access_token().await?;
        assert_eq!(token.secret(), pair.access_token);
        assert!(
            matches!(client.accessor().state(), TokenState::RateLimited { .. }),
            "{:?}",
            client.accessor().state()
        );
        client.usage().await?;
        assert_eq!(env.sim.path_count(TOKEN_PATH), 1, "no second attempt yet");
        assert_intact(&env, &pair).await?;
        // After the reset hint, the refresh goes through.
        env.advance(Duration::from_secs(31));
        client.usage().await?;
        assert_eq!(env.sim.account_stats(ACCOUNT).refreshes_ok, 1);
        env.assert_drive_ids().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_malformed_answers_are_transient() -> anyhow::Result<()> {
    for db in backends().await? {
        for fault in [
            Fault::Status(503),
            Fault::Malformed(Malformed::Html),
            Fault::Malformed(Malformed::TruncatedJson),
        ] {
            let env = env_with(&db.url, ConfigAlipan::default()).await?;
            let pair = env.login().await?;
            // Every attempt of the call fails (three by default).
            env.sim.inject_fault(TOKEN_PATH, fault.clone(), 3);
            env.expire();
            let client = env.client()?;
            let err = client.accessor().access_token().await.unwrap_err();
            assert!(matches!(err, Error::Transient { .. }), "{fault:?}: {err}");
            assert_eq!(env.sim.path_count(TOKEN_PATH), 3);
            assert_intact(&env, &pair).await?;
            // Once the server recovers, the next attempt (after the back-off) succeeds.
            env.advance(Duration::from_secs(1));
            client.usage().await?;
            assert_eq!(env.sim.account_stats(ACCOUNT).refreshes_ok, 1);
            env.assert_drive_ids().await?;
        }
    }
    Ok(())
}

// ----- resources ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_access_token_is_refreshed_once() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, ConfigAlipan::default()).await?;
    env.login().await?;
    env.storages
        .handle("alipan")
        .patch(json!({"access_token": "forged"}))
        .await?;
    let client = env.client()?;
    client.usage().await?;
    assert_eq!(env.refresh_calls(), 1);
    env.assert_drive_ids().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_errors_name_the_drive() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, ConfigAlipan::default()).await?;
    env.login().await?;
    env.storages
        .handle("alipan")
        .patch(json!({"resource_drive_id": "drive-of-someone-else"}))
        .await?;
    let client = env.client()?;
    let err = client.stat("/anything").await.unwrap_err();
    assert!(
        matches!(&err, Error::Provider { code, message, .. }
            if code == "ForbiddenDriveNotValid" && message.contains("drive-of-someone-else")),
        "{err}"
    );
    assert_eq!(env.refresh_calls(), 0, "not a token problem");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drive_is_chosen_as_configured() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, ConfigAlipan::default()).await?;
    env.login().await?;
    env.sim
        .add_file_in_drive(ACCOUNT, DriveKind::Resource, "/r.mkv", b"r".to_vec())?;
    env.sim
        .add_file_in_drive(ACCOUNT, DriveKind::Default, "/d.mkv", b"d".to_vec())?;
    let names = |client: AlipanClient| async move {
        let items: Vec<_> = client.list(&client.root()).try_collect().await?;
        anyhow::Ok(items.into_iter().map(|i| i.name).collect::<Vec<_>>())
    };
    assert_eq!(names(env.client()?).await?, ["r.mkv"]);
    let resource = AlipanClient::new(&env.storages, env.options().drive(AlipanDrive::Resource))?;
    assert_eq!(names(resource).await?, ["r.mkv"]);
    for drive in [AlipanDrive::Default, AlipanDrive::Backup] {
        let client = AlipanClient::new(&env.storages, env.options().drive(drive))?;
        let item = client.stat("/d.mkv").await?.expect("in the default drive");
        assert_eq!(
            item.extra["drive_id"].as_str(),
            env.sim.drive_id(ACCOUNT, DriveKind::Default).as_deref()
        );
        assert_eq!(names(client).await?, ["d.mkv"]);
    }

    // Without a granted resource drive, the automatic choice falls back.
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(
        &db.url,
        ConfigAlipan {
            resource_drive: false,
            ..ConfigAlipan::default()
        },
    )
    .await?;
    env.login().await?;
    assert_eq!(env.stored().await?["resource_drive_id"], Value::Null);
    env.sim.add_file(ACCOUNT, "/d.mkv", b"d".to_vec())?;
    assert_eq!(names(env.client()?).await?, ["d.mkv"]);
    let client = AlipanClient::new(&env.storages, env.options().drive(AlipanDrive::Resource))?;
    let err = client.stat("/d.mkv").await.unwrap_err();
    assert!(matches!(err, Error::Configuration { .. }), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drive_info_is_fetched_when_tokens_were_saved_without_it() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, ConfigAlipan::default()).await?;
    let pair = env.sim.login(ACCOUNT);
    let client = env.client()?;
    client.accessor().save_login(grant(&pair)).await?;
    assert!(env.stored().await?.get("default_drive_id").is_none());
    env.sim
        .add_folder_in_drive(ACCOUNT, DriveKind::Resource, "/movies")?;
    assert!(client.stat("/movies").await?.is_some());
    env.assert_drive_ids().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_rate_limits_are_waited_out_within_bounds() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, ConfigAlipan::default()).await?;
    env.login().await?;
    let client = env.client()?;
    let path = "/adrive/v1.0/user/getSpaceInfo";
    env.sim
        .inject_rate_limit(path, RateLimitAnswer::Http429 { reset_secs: 1 }, 1);
    let started = Instant::now();
    client.usage().await?;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the hint was respected"
    );
    assert_eq!(env.sim.path_count(path), 2);
    env.sim
        .inject_rate_limit(path, RateLimitAnswer::Http429 { reset_secs: 0 }, 10);
    let err = client.usage().await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err}");
    assert_eq!(env.sim.path_count(path), 5, "two retries, then give up");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_spaced_by_the_client_side_limit() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, ConfigAlipan::default()).await?;
    env.login().await?;
    let client = AlipanClient::new(&env.storages, env.options().requests_per_second(20.0))?;
    let started = Instant::now();
    for _ in 0..11 {
        client.usage().await?;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secret_is_never_shown() -> anyhow::Result<()> {
    let db = test_support::TestDb::sqlite()?;
    let env = env_with(&db.url, ConfigAlipan::default()).await?;
    let options = env.options().client_secret(ClientSecret::new(SECRET));
    let shown = format!("{options:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    Ok(())
}
