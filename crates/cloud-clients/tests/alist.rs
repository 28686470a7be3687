//! OpenList / AList (`alist`) against the OpenList simulator: the conformance suite, the
//! password login, re-login when the session is due or rejected, the permanent token,
//! refused logins and an HTML page where the JSON envelope should be.

use std::sync::Arc;
use std::time::Duration;

use cloud_clients::alist::{AlistClient, AlistOptions};
use cloud_clients::{
    AccessorOptions, CloudStorage, ManualClock, Password, PasswordLogin, TokenState,
};
use cloud_sim::{ConfigOpenList, Fault, Malformed, SimOpenList, SimOpenListHandle};
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use storage_helper::StorageHelper;
use system_config::SystemConfig;
use test_support::backends;

use crate::conformance::{self, Harness};

pub const USER: &str = "mp";
pub const PASSWORD: &str = "s3cret-pa55";
pub const STORAGE: &str = "alist";

pub struct AlistEnv {
    pub sim: SimOpenListHandle,
    pub storages: StorageHelper,
    pub clock: Arc<ManualClock>,
}

impl AlistEnv {
    pub async fn new(url: &str) -> anyhow::Result<Self> {
        let sim = SimOpenList::start(ConfigOpenList::default()).await?;
        sim.add_user(USER, PASSWORD);
        Ok(Self {
            sim,
            storages: StorageHelper::new(SystemConfig::open(url).await?),
            clock: Arc::new(ManualClock::new()),
        })
    }

    pub fn options(&self) -> AlistOptions {
        AlistOptions::at(self.sim.base_url()).accessor(
            AccessorOptions::default()
                .clock(self.clock.clone())
                .retry_base(Duration::from_millis(20)),
        )
    }

    pub fn client(&self) -> anyhow::Result<AlistClient> {
        Ok(AlistClient::new(&self.storages, self.options())?)
    }

    pub async fn login(&self) -> anyhow::Result<()> {
        self.client()?
            .login_with_password(USER, &Password::new(PASSWORD))
            .await?;
        Ok(())
    }

    pub async fn stored(&self) -> anyhow::Result<Map<String, Value>> {
        Ok(self.storages.handle(STORAGE).get_conf_fresh().await?)
    }

    pub fn logins(&self) -> u64 {
        self.sim.stats().login_calls
    }
}

struct AlistHarness {
    env: AlistEnv,
    client: AlistClient,
}

impl AlistHarness {
    async fn new(url: &str) -> anyhow::Result<Self> {
        let env = AlistEnv::new(url).await?;
        let client = AlistClient::new(&env.storages, env.options().page_size(100))?;
        Ok(Self { env, client })
    }

    async fn logged_in(url: &str) -> anyhow::Result<Self> {
        let h = Self::new(url).await?;
        h.client
            .login_with_password(USER, &Password::new(PASSWORD))
            .await?;
        Ok(h)
    }
}

#[async_trait::async_trait]
impl Harness for AlistHarness {
    fn storage(&self) -> &dyn CloudStorage {
        &self.client
    }
    fn seed_folder(&self, path: &str) {
        self.env.sim.add_folder(USER, path).expect("seed folder");
    }
    fn seed_file(&self, path: &str, bytes: Vec<u8>) {
        self.env.sim.add_file(USER, path, bytes).expect("seed file");
    }
    fn seed_files(&self, folder: &str, count: usize) {
        self.env
            .sim
            .add_files(USER, folder, count, "episode", 1)
            .expect("seed files");
    }
    fn exists(&self, path: &str) -> bool {
        self.env.sim.stat(USER, path).is_some()
    }
    fn scan_latest_qr(&self) {
        unreachable!("OpenList has no QR login")
    }
    fn confirm_latest_qr(&self) {
        unreachable!("OpenList has no QR login")
    }
    fn expire_latest_qr(&self) {
        unreachable!("OpenList has no QR login")
    }
    fn cancel_latest_qr(&self) {
        unreachable!("OpenList has no QR login")
    }
    /// A server restart: every session token is invalidated. (The server's clock moves
    /// on first: a new JWT issued in the same second as the old one would equal it.)
    fn expire_access_token_on_server(&self) {
        self.env.sim.clock().advance(Duration::from_secs(2));
        self.env.sim.restart();
    }
    fn refresh_calls(&self) -> u64 {
        self.env.logins()
    }
    fn reports_usage(&self) -> bool {
        false
    }
    async fn stored_config(&self) -> anyhow::Result<Map<String, Value>> {
        self.env.stored().await
    }
}

// ----- the shared conformance suite --------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_password_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let h = AlistHarness::new(&db.url).await?;
        conformance::password_login(&h, USER, PASSWORD).await?;
        assert_eq!(h.env.logins(), 2, "one refused, one accepted");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_file_operations() -> anyhow::Result<()> {
    for db in backends().await? {
        let h = AlistHarness::logged_in(&db.url).await?;
        conformance::file_operations(&h).await?;
        conformance::transfers(&h).await?;
        let sim = &h.env.sim;
        for path in [
            "/api/fs/list",
            "/api/fs/get",
            "/api/fs/mkdir",
            "/api/fs/rename",
            "/api/fs/copy",
            "/api/fs/move",
            "/api/fs/remove",
        ] {
            assert!(sim.path_count(path) > 0, "{path} was never called");
        }
        let stats = sim.stats();
        assert_eq!(stats.login_calls, 1, "no re-login was needed");
        assert_eq!(stats.download_authorization_leaks, 0);
        assert!(
            stats.token_rejections.is_empty(),
            "{:?}",
            stats.token_rejections
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_paging() -> anyhow::Result<()> {
    for db in backends().await? {
        let h = AlistHarness::logged_in(&db.url).await?;
        let before = h.env.sim.path_count("/api/fs/list");
        conformance::big_folder_lists_completely(&h, 1_000).await?;
        assert_eq!(
            h.env.sim.path_count("/api/fs/list") - before,
            10,
            "100 per page"
        );
        // "Token dies between pages" is a server restart here: one re-login.
        conformance::listing_survives_token_expiry_between_pages(&h, 250).await?;
        assert_eq!(h.env.sim.stats().rejections("invalidated"), 1);
    }
    Ok(())
}

// ----- login and re-login --------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_stores_the_session_beside_moviepilots_fields() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        env.storages
            .handle(STORAGE)
            .patch(json!({"url": "http://nas.invalid:5244"}))
            .await?;
        env.login().await?;
        let stored = env.stored().await?;
        assert_eq!(stored["url"], "http://nas.invalid:5244", "the url is kept");
        assert_eq!(stored["username"], USER);
        assert_eq!(
            stored["password"], PASSWORD,
            "MoviePilot's field, for re-logins"
        );
        assert!(
            stored.get("token").is_none(),
            "the permanent-token field is never written"
        );
        let marker = stored["refresh_token"].as_str().unwrap_or_default();
        assert!(marker.starts_with("login:mp:") && !marker.contains(PASSWORD));
        assert_eq!(stored["expires_in"], 48 * 3600, "from the JWT's exp - iat");
        assert_eq!(env.logins(), 1);
        assert_eq!(
            env.sim.path_count("/api/auth/login/hash"),
            1,
            "the hashed login"
        );

        // The session works and is not asked for again.
        let client = env.client()?;
        let names: Vec<_> = client.list(&client.root()).try_collect().await?;
        assert!(names.is_empty());
        env.sim.add_file(USER, "/a.mkv", b"x".to_vec())?;
        assert!(client.stat("/a.mkv").await?.is_some());
        assert_eq!(env.logins(), 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_session_logs_in_again_once() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        env.login().await?;
        let client = env.client()?;
        let first = client.access_token().await?;
        // Due (10 % before the 48 h), on both clocks.
        let by = Duration::from_secs(44 * 3600);
        env.clock.advance(by);
        env.sim.clock().advance(by);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.stat("/").await })
            })
            .collect();
        for task in tasks {
            task.await??;
        }
        let second = client.access_token().await?;
        assert_ne!(first, second);
        assert_eq!(env.logins(), 2, "one re-login for 20 callers");
        assert_eq!(env.stored().await?["access_token"], second.secret());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_costs_one_re_login() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        env.login().await?;
        env.sim.add_file(USER, "/m.mkv", b"x".to_vec())?;
        let client = env.client()?;
        assert!(client.stat("/m.mkv").await?.is_some());
        env.sim.clock().advance(Duration::from_secs(5));
        env.sim.restart();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move { client.stat("/m.mkv").await })
            })
            .collect();
        for task in tasks {
            assert!(task.await??.is_some());
        }
        assert_eq!(env.logins(), 2);
        assert!(env.sim.stats().rejections("invalidated") >= 1);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moviepilots_stored_credentials_log_in_on_first_use() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        env.storages
            .handle(STORAGE)
            .patch(json!({"url": env.sim.base_url(), "username": USER, "password": PASSWORD}))
            .await?;
        // No endpoint override: the server comes from the config's `url`.
        let options =
            AlistOptions::default().accessor(AccessorOptions::default().clock(env.clock.clone()));
        let client = AlistClient::new(&env.storages, options)?;
        env.sim.add_folder(USER, "/media")?;
        assert!(client.stat("/media").await?.is_some());
        assert_eq!(env.logins(), 1);
        assert!(matches!(client.login_state(), TokenState::Valid { .. }));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_token_is_used_as_it_is() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        let token = env.sim.permanent_token();
        env.storages
            .handle(STORAGE)
            .patch(json!({"url": env.sim.base_url(), "token": token}))
            .await?;
        let client = AlistClient::new(&env.storages, AlistOptions::default())?;
        assert!(client.uses_permanent_token());
        env.sim.add_folder(USER, "/media")?;
        assert!(client.stat("/media").await?.is_some());
        // A restart does not touch it; nobody logs in.
        env.sim.restart();
        assert!(client.stat("/media").await?.is_some());
        assert_eq!(env.logins(), 0);
        let stored = env.stored().await?;
        assert_eq!(stored["token"], token.as_str());
        assert!(stored.get("access_token").is_none(), "{:?}", stored.keys());
        // Reset on the server: rejected, and the application is told to hand in a new one.
        env.sim.reset_permanent_token();
        let err = client.stat("/media").await.expect_err("rejected");
        assert!(
            matches!(err, cloud_clients::Error::FixedTokenRejected { .. }),
            "{err:?}"
        );
        assert_eq!(env.logins(), 0);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_needs_login_and_saves_nothing() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        let err = env
            .client()?
            .login_with_password(USER, &Password::new("wrong"))
            .await
            .expect_err("refused");
        assert!(err.needs_login(), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("wrong user name or password"), "{text}");
        assert!(text.contains("alist"), "{text}");
        assert!(env.stored().await?.is_empty(), "nothing saved");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_changed_on_the_server_needs_login_once() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        env.login().await?;
        let client = env.client()?;
        assert!(client.stat("/").await.is_ok());
        env.sim.set_password(USER, "changed-elsewhere")?;
        // Token rejected ("Password has been changed") → one re-login, refused.
        env.sim.add_folder(USER, "/x")?;
        let err = client.stat("/x").await.expect_err("needs login");
        assert!(err.needs_login(), "{err:?}");
        assert!(
            err.to_string().contains("wrong user name or password"),
            "{err}"
        );
        assert_eq!(env.logins(), 2);
        assert_eq!(env.sim.stats().rejections("password_changed"), 1);
        // Recorded for every process: a second client does not try again.
        let other = env.client()?;
        assert!(other.stat("/x").await.expect_err("still").needs_login());
        assert_eq!(env.logins(), 2, "no login loop");
        // The new password saved in the config (MoviePilot's settings page) lifts it.
        env.storages
            .handle(STORAGE)
            .patch(json!({"password": "changed-elsewhere"}))
            .await?;
        assert!(other.stat("/x").await?.is_some());
        assert_eq!(env.logins(), 3);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_html_page_is_transient_and_leaves_the_config_alone() -> anyhow::Result<()> {
    for db in backends().await? {
        let env = AlistEnv::new(&db.url).await?;
        // A reverse proxy's error page instead of the login answer.
        env.sim
            .inject_fault("/api/auth/login/hash", Fault::Malformed(Malformed::Html), 1);
        let err = env
            .client()?
            .login_with_password(USER, &Password::new(PASSWORD))
            .await
            .expect_err("HTML");
        assert!(err.is_transient(), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("alist:") && text.contains("HTML page"),
            "{text}"
        );
        assert!(env.stored().await?.is_empty());

        // With a session: an HTML page for a call, and for the re-login after a restart.
        env.login().await?;
        let before = env.stored().await?;
        let client = env.client()?;
        env.sim
            .inject_fault("/api/fs/get", Fault::Malformed(Malformed::Html), 1);
        assert!(client.stat("/a").await.expect_err("HTML").is_transient());
        env.sim.restart();
        // Every attempt of the re-login (the token core retries transient failures).
        env.sim.inject_fault(
            "/api/auth/login/hash",
            Fault::Malformed(Malformed::Html),
            100,
        );
        let err = client.stat("/a").await.expect_err("HTML on re-login");
        assert!(err.is_transient(), "{err:?}");
        env.sim.clear_faults();
        let after = env.stored().await?;
        for field in [
            "access_token",
            "refresh_token",
            "username",
            "password",
            "expires_in",
        ] {
            assert_eq!(before.get(field), after.get(field), "{field} untouched");
        }
        // A web UI page for an unknown route (a wrong sub-path in `url`) reads the same.
        let wrong = AlistOptions::at(&format!("{}/not-openlist", env.sim.base_url()));
        let err = AlistClient::new(&env.storages, wrong)?
            .login_with_password(USER, &Password::new(PASSWORD))
            .await
            .expect_err("SPA page");
        assert!(
            err.is_transient() && err.to_string().contains("HTML"),
            "{err}"
        );
    }
    Ok(())
}
