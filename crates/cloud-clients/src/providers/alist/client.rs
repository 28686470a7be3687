//! [`AlistClient`]: an OpenList / AList server whose session keeps itself alive.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use storage_helper::StorageHelper;

use super::{AlistProtocol, AlistProvider, credentials, log_in, permanent_token, server_url};
use super::{PASSWORD_FIELD, USERNAME_FIELD, session_marker};
use crate::clock::to_system_time;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::login::PasswordLogin;
use crate::provider::RefreshFailure;
use crate::secret::{AccessToken, Password};
use crate::token::{AccessorOptions, TokenAccessor};
use crate::transport::{Transport, setup};

crate::registry::registration!("alist", "OpenList (AList)", AlistOptions, AlistClient);

/// How an [`AlistClient`] is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AlistOptions {
    /// The storage type in `Storages` (default `alist`).
    pub storage: String,
    /// The server's base URL; `None` (the default) uses the storage config's `url`.
    pub endpoint: Option<String>,
    /// Client-side limit on requests per second (the server has none). Default 10.
    pub requests_per_second: f64,
    /// How often a rate-limited request is retried after waiting. Default 2.
    pub rate_limit_retries: u32,
    /// The longest wait before such a retry. Default 10 s.
    pub max_rate_limit_wait: Duration,
    /// Entries per listing page. Default 500.
    pub page_size: u32,
    /// Token lifecycle tuning.
    pub accessor: AccessorOptions,
}

impl Default for AlistOptions {
    fn default() -> Self {
        Self {
            storage: "alist".into(),
            endpoint: None,
            requests_per_second: 10.0,
            rate_limit_retries: 2,
            max_rate_limit_wait: Duration::from_secs(10),
            page_size: 500,
            accessor: AccessorOptions::default(),
        }
    }
}

impl AlistOptions {
    /// The server at `base_url`, whatever the config's `url` says (a simulator, a proxy).
    pub fn at(base_url: &str) -> Self {
        Self {
            endpoint: Some(base_url.to_owned()),
            ..Self::default()
        }
    }

    crate::transport::setters! {
        #[doc = "Sets the storage type (`alist`, `alist-2`)."] storage: String,
        #[doc = "Sets the accessor options."] accessor: AccessorOptions,
        #[doc = "Sets the client-side request rate limit (per second; 0: none)."] requests_per_second: f64,
        #[doc = "Sets the listing page size."] page_size: u32,
    }
}

/// An OpenList / AList client. The session token lives in the storage's config and is
/// renewed by logging in again with the stored credentials; a permanent `token` in the
/// config is used as it is. [`CloudStorage`](crate::CloudStorage) gives its login and
/// file operations.
#[derive(Debug, Clone)]
pub struct AlistClient {
    transport: Transport,
    options: Arc<AlistOptions>,
    /// Whether the config's permanent token is served (no login, no refresh).
    fixed: bool,
}

impl AlistClient {
    crate::transport::constructors!(AlistOptions);

    fn build(storages: &StorageHelper, options: AlistOptions, http: HttpClient) -> Self {
        let provider = Arc::new(AlistProvider::new(options.endpoint.clone()));
        let mut transport =
            Transport::new(storages, provider, AlistProtocol, setup!(options, http));
        let permanent = transport
            .handle()
            .get_conf()
            .ok()
            .as_ref()
            .and_then(permanent_token);
        let fixed = permanent.is_some();
        if let Some(token) = permanent {
            transport =
                transport.with_accessor(TokenAccessor::fixed(options.storage.clone(), token));
        }
        Self {
            transport,
            options: Arc::new(options),
            fixed,
        }
    }

    /// The token accessor (state, watch, `access_token`).
    pub fn accessor(&self) -> &TokenAccessor {
        self.transport.accessor()
    }

    /// Whether the config's permanent `token` is in use.
    pub fn uses_permanent_token(&self) -> bool {
        self.fixed
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn page_size(&self) -> u64 {
        u64::from(self.options.page_size.max(1))
    }

    /// The server's base URL, or a configuration error naming the storage.
    pub(crate) fn server(&self) -> Result<String> {
        let config = self.transport.handle().get_conf().unwrap_or_default();
        server_url(self.options.endpoint.as_deref(), &config).ok_or_else(|| Error::Configuration {
            storage: self.transport.storage().to_owned(),
            message: "no OpenList server URL: set `url` in the storage's config".into(),
        })
    }

    /// A valid session token (or the permanent token): from memory, the store, or a new
    /// login with the stored credentials — once for every process sharing the database.
    pub async fn access_token(&self) -> Result<AccessToken> {
        match self.accessor().access_token().await {
            Err(err) if err.needs_login() && self.adopt_credentials().await? => {
                self.accessor().access_token().await
            }
            other => other,
        }
    }

    /// When the stored credentials are not the ones the stored login marker names
    /// (MoviePilot saved a user name and password, or changed them), stores their marker
    /// so the next token request logs in with them. Whether the marker changed.
    async fn adopt_credentials(&self) -> Result<bool> {
        if self.fixed {
            return Ok(false);
        }
        let (changed, _) = self
            .transport
            .handle()
            .update_config(|config| {
                let Some((username, password)) = credentials(config) else {
                    return false;
                };
                let marker = session_marker(&username, password.secret());
                if config.get("refresh_token").and_then(Value::as_str) == Some(marker.as_str()) {
                    return false;
                }
                config.insert("refresh_token".into(), marker.into());
                true
            })
            .await?;
        Ok(changed)
    }

    /// An idempotent `POST` of `body` to `path` with the session token; its `data`.
    /// A rejected session logs in again once (for every process) and repeats the call.
    pub(crate) async fn post<B: Serialize + Sync>(
        &self,
        operation: &str,
        path: &str,
        body: &B,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.server()?);
        self.call(operation, |client| client.post(&url).json(body))
            .await
    }

    /// The request `build` makes, sent with the session token; its `data`. A rejected
    /// session logs in again once (for every process) and the request is built and sent
    /// again.
    pub(crate) async fn call<B>(&self, operation: &str, build: B) -> Result<Value>
    where
        B: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        match self.transport.call(operation, &build).await {
            Err(err) if err.needs_login() && self.adopt_credentials().await? => {
                self.transport.call(operation, &build).await
            }
            other => other,
        }
    }

    fn login_error(&self, failure: RefreshFailure) -> Error {
        let storage = self.transport.storage().to_owned();
        match failure {
            RefreshFailure::NeedsLogin { reason } | RefreshFailure::Reused { reason } => {
                Error::NeedsLogin { storage, reason }
            }
            RefreshFailure::Transient { reason } => Error::Transient { storage, reason },
            RefreshFailure::RateLimited { retry_after } => Error::RateLimited {
                storage,
                until: to_system_time(
                    self.accessor().now_ms()
                        + retry_after.map_or(300_000, |d| {
                            u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
                        }),
                ),
            },
        }
    }
}

#[async_trait::async_trait]
impl PasswordLogin for AlistClient {
    /// Logs in at the server; on success stores `username` and `password` under
    /// MoviePilot's field names (the session is renewed by logging in with them again) and
    /// the session beside them. A refused login stores nothing.
    async fn login_with_password(&self, username: &str, password: &Password) -> Result<()> {
        if self.fixed {
            return Err(Error::Configuration {
                storage: self.transport.storage().to_owned(),
                message: "a permanent `token` is configured and takes precedence; remove it \
                          to log in with a password"
                    .into(),
            });
        }
        let server = self.server()?;
        let grant = log_in(self.transport.http(), &server, username, password)
            .await
            .map_err(|failure| self.login_error(failure))?;
        let mut credentials = Map::new();
        credentials.insert(USERNAME_FIELD.into(), username.into());
        credentials.insert(PASSWORD_FIELD.into(), password.secret().into());
        self.transport
            .handle()
            .patch(Value::Object(credentials))
            .await?;
        self.accessor().save_login(grant).await?;
        Ok(())
    }
}
