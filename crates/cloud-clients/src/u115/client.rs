//! [`U115Client`]: a 115 drive whose login keeps itself alive.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use storage_helper::{StorageHandle, StorageHelper};

use super::{Failure, U115Endpoints, U115Provider, call_envelope, code};
use crate::clock::to_system_time;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::limiter::RateLimiter;
use crate::token::{AccessorOptions, Call, TokenAccessor};

/// How a [`U115Client`] is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct U115Options {
    /// The storage type in `Storages` (default `u115`).
    pub storage: String,
    /// Where the 115 hosts are.
    pub endpoints: U115Endpoints,
    /// The application's APP ID from the 115 Open Platform. When `None`, the storage
    /// config's `client_id` is used. No APP ID is built in.
    pub client_id: Option<String>,
    /// Client-side limit on resource requests per second (community guidance: 5), so the
    /// account is not throttled. Default 5.
    pub requests_per_second: f64,
    /// How often a rate-limited resource request is retried after waiting. Default 2.
    pub rate_limit_retries: u32,
    /// The longest wait before such a retry. Default 10 s.
    pub max_rate_limit_wait: Duration,
    /// Entries per listing page (115 allows up to 1000). Default 1000.
    pub page_size: u32,
    /// Token lifecycle tuning.
    pub accessor: AccessorOptions,
}

impl Default for U115Options {
    fn default() -> Self {
        Self {
            storage: "u115".into(),
            endpoints: U115Endpoints::default(),
            client_id: None,
            requests_per_second: 5.0,
            rate_limit_retries: 2,
            max_rate_limit_wait: Duration::from_secs(10),
            page_size: 1000,
            accessor: AccessorOptions::default(),
        }
    }
}

impl U115Options {
    /// Every 115 host at one base URL (a simulator, a proxy).
    pub fn at(base_url: &str) -> Self {
        Self {
            endpoints: U115Endpoints::all_at(base_url),
            ..Self::default()
        }
    }

    /// Sets the accessor options.
    pub fn accessor(mut self, options: AccessorOptions) -> Self {
        self.accessor = options;
        self
    }

    /// Sets the APP ID.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the client-side request rate limit.
    pub fn requests_per_second(mut self, value: f64) -> Self {
        self.requests_per_second = value;
        self
    }

    /// Sets the listing page size.
    pub fn page_size(mut self, value: u32) -> Self {
        self.page_size = value;
        self
    }
}

/// A 115 drive client. Its tokens live in the storage's config and refresh themselves;
/// [`CloudStorage`](crate::CloudStorage) gives its login and file operations.
#[derive(Debug, Clone)]
pub struct U115Client {
    accessor: TokenAccessor,
    handle: StorageHandle,
    http: HttpClient,
    limiter: Arc<RateLimiter>,
    options: Arc<U115Options>,
}

impl U115Client {
    /// A client for the storage of `storages` named in `options` (default `u115`), using
    /// the process-wide HTTP client.
    pub fn new(storages: &StorageHelper, options: U115Options) -> Result<Self> {
        Self::with_http(storages, options, HttpClient::shared()?)
    }

    /// Like [`new`](Self::new) with a given HTTP client.
    pub fn with_http(
        storages: &StorageHelper,
        options: U115Options,
        http: HttpClient,
    ) -> Result<Self> {
        let handle = storages.handle(options.storage.as_str());
        let provider = Arc::new(U115Provider::new(options.endpoints.clone()));
        let accessor = TokenAccessor::new(
            handle.clone(),
            provider,
            http.clone(),
            options.accessor.clone(),
        );
        Ok(Self {
            accessor,
            handle,
            http,
            limiter: Arc::new(RateLimiter::per_second(options.requests_per_second)),
            options: Arc::new(options),
        })
    }

    /// The token accessor (state, watch, `access_token`).
    pub fn accessor(&self) -> &TokenAccessor {
        &self.accessor
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &U115Endpoints {
        &self.options.endpoints
    }

    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    pub(crate) fn storage_handle(&self) -> &StorageHandle {
        &self.handle
    }

    pub(crate) fn options_client_id(&self) -> Option<String> {
        self.options.client_id.clone().filter(|s| !s.is_empty())
    }

    pub(crate) fn page_size(&self) -> u32 {
        self.options.page_size.clamp(1, 1000)
    }

    /// A resource call on `proapi` with the current token: rate-limited on our side,
    /// refreshed and repeated once when the token is rejected, waited out (bounded) when
    /// the provider rate-limits. Returns the whole envelope.
    async fn resource(
        &self,
        operation: &str,
        post: bool,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value> {
        let url = format!("{}{path}", self.options.endpoints.proapi);
        let mut retries = 0;
        loop {
            let result = self
                .accessor
                .with_token(true, |token| {
                    let request = if post {
                        self.http.client().post(&url).form(params)
                    } else {
                        self.http.client().get(&url).query(params)
                    }
                    .bearer_auth(token.secret());
                    async move {
                        self.limiter.acquire().await;
                        match call_envelope(request).await {
                            Err(Failure::Code(
                                code::ACCESS_INVALID | code::ACCESS_CHECK_FAILED,
                                _,
                                _,
                            )) => Ok(Call::TokenRejected),
                            other => Ok(Call::Done(other)),
                        }
                    }
                })
                .await?;
            match result {
                Err(Failure::RateLimited(hint)) if retries < self.options.rate_limit_retries => {
                    retries += 1;
                    let wait = hint
                        .unwrap_or(Duration::from_secs(1))
                        .min(self.options.max_rate_limit_wait);
                    tracing::debug!(storage = %self.accessor.storage(), ?wait, "rate limited; waiting");
                    tokio::time::sleep(wait).await;
                }
                other => return other.map_err(|f| self.failure(operation, f)),
            }
        }
    }

    pub(crate) fn failure(&self, operation: &str, failure: Failure) -> Error {
        let storage = self.accessor.storage().to_owned();
        match failure {
            Failure::Code(code, message, _) => Error::Provider {
                storage,
                operation: operation.to_owned(),
                code: code.to_string(),
                message,
            },
            Failure::RateLimited(hint) => Error::RateLimited {
                storage,
                until: to_system_time(
                    self.accessor.now_ms()
                        + hint.map_or(1_000, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                ),
            },
            Failure::Transient(reason) => Error::Transient { storage, reason },
        }
    }

    pub(crate) async fn get_envelope(
        &self,
        operation: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value> {
        self.resource(operation, false, path, query).await
    }

    pub(crate) async fn get(
        &self,
        operation: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value> {
        let mut envelope = self.resource(operation, false, path, query).await?;
        Ok(envelope
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    pub(crate) async fn post_data(
        &self,
        operation: &str,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<Value> {
        let mut envelope = self.resource(operation, true, path, form).await?;
        Ok(envelope
            .get_mut("data")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    /// A call without token (login endpoints); returns `data`.
    pub(crate) async fn unauthenticated(
        &self,
        operation: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value> {
        match call_envelope(request).await {
            Ok(mut envelope) => Ok(envelope
                .get_mut("data")
                .map(Value::take)
                .unwrap_or(Value::Null)),
            Err(failure) => Err(self.failure(operation, failure)),
        }
    }

    /// The account's user and space information (`/open/user/info`).
    pub async fn user_info(&self) -> Result<Value> {
        self.get("reading user info", "/open/user/info", &[]).await
    }
}
