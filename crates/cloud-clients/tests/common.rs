//! Fixtures: a simulator, a store, clients sharing one manual clock.

use std::sync::Arc;
use std::time::Duration;

use cloud_clients::u115::{U115Client, U115Options};
use cloud_clients::{AccessToken, AccessorOptions, Grant, ManualClock, RefreshToken};
use cloud_sim::{Config115, Sim115, Sim115Handle, TokenPair};
use serde_json::{Map, Value};
use storage_helper::StorageHelper;
use system_config::SystemConfig;

pub const ACCOUNT: &str = "alice";
pub const LIFETIME: Duration = Duration::from_secs(7200);

pub struct Env {
    pub sim: Sim115Handle,
    pub storages: StorageHelper,
    pub clock: Arc<ManualClock>,
    pub url: String,
}

pub async fn env(url: &str) -> anyhow::Result<Env> {
    env_with(url, Config115::default()).await
}

pub async fn env_with(url: &str, config: Config115) -> anyhow::Result<Env> {
    let sim = Sim115::start(config).await?;
    let storages = StorageHelper::new(SystemConfig::open(url).await?);
    Ok(Env {
        sim,
        storages,
        clock: Arc::new(ManualClock::new()),
        url: url.to_owned(),
    })
}

pub fn grant(pair: &TokenPair) -> Grant {
    Grant {
        access_token: AccessToken::new(pair.access_token.as_str()),
        refresh_token: pair.refresh_token.as_deref().map(RefreshToken::new),
        expires_in: pair.expires_in,
        extra: Map::new(),
    }
}

impl Env {
    pub fn options(&self) -> U115Options {
        U115Options::at(self.sim.base_url()).accessor(
            AccessorOptions::default()
                .clock(self.clock.clone())
                .retry_base(Duration::from_millis(20)),
        )
    }

    /// A client on its own store (as a separate process would have), sharing the clock.
    pub async fn fresh_client(&self, options: U115Options) -> anyhow::Result<U115Client> {
        let storages = StorageHelper::new(SystemConfig::open(&self.url).await?);
        Ok(U115Client::new(&storages, options)?)
    }

    pub fn client(&self) -> anyhow::Result<U115Client> {
        Ok(U115Client::new(&self.storages, self.options())?)
    }

    /// Logs the account in at the simulator and saves the tokens as a QR login would.
    pub async fn login(&self) -> anyhow::Result<TokenPair> {
        let pair = self.sim.login(ACCOUNT);
        self.client()?.accessor().save_login(grant(&pair)).await?;
        Ok(pair)
    }

    /// Logs the account in at the simulator and stores the tokens as saved an hour ago with
    /// a 30-minute lifetime: expired on the real clock, for tests with several processes
    /// (which cannot share the manual clock). Returns the tokens.
    pub async fn login_expired_an_hour_ago(&self) -> anyhow::Result<TokenPair> {
        let pair = self.sim.login(ACCOUNT);
        let an_hour_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            - 3600;
        self.storages
            .handle("u115")
            .patch(serde_json::json!({
                "access_token": pair.access_token,
                "refresh_token": pair.refresh_token,
                "expires_in": 1800,
                "refresh_time": an_hour_ago,
            }))
            .await?;
        Ok(pair)
    }

    /// The test clock's time (Unix ms).
    pub fn clock_now(&self) -> u64 {
        cloud_clients::Clock::now_ms(&*self.clock)
    }

    /// Moves both clocks.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.sim.clock().advance(by);
    }

    /// Moves both clocks past the access token's expiry.
    pub fn expire(&self) {
        self.advance(LIFETIME + Duration::from_secs(1));
    }

    /// The stored u115 config, read from the database.
    pub async fn stored(&self) -> anyhow::Result<Map<String, Value>> {
        Ok(self.storages.handle("u115").get_conf_fresh().await?)
    }

    pub async fn stored_token(&self, field: &str) -> anyhow::Result<String> {
        Ok(self.stored().await?[field]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub fn refresh_calls(&self) -> u64 {
        self.sim.account_stats(ACCOUNT).refresh_calls
    }
}
