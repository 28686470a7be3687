//! [`U115Client`]: a 115 drive whose login keeps itself alive.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use storage_helper::StorageHelper;

use super::{U115Endpoints, U115Protocol, U115Provider, data_of};
use crate::error::Result;
use crate::http::HttpClient;
use crate::json::parse;
use crate::token::{AccessorOptions, TokenAccessor};
use crate::transport::{Transport, setup};

crate::registry::registration!("u115", "115", U115Options, U115Client);

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
    crate::transport::shared_options!(U115Endpoints::all_at);
}

/// A 115 drive client. Its tokens live in the storage's config and refresh themselves;
/// [`CloudStorage`](crate::CloudStorage) gives its login and file operations.
#[derive(Debug, Clone)]
pub struct U115Client {
    transport: Transport,
    options: Arc<U115Options>,
}

impl U115Client {
    crate::transport::constructors!(U115Options);

    fn build(storages: &StorageHelper, options: U115Options, http: HttpClient) -> Self {
        let provider = Arc::new(U115Provider::new(options.endpoints.clone()));
        let transport = Transport::new(storages, provider, U115Protocol, setup!(options, http));
        Self {
            transport,
            options: Arc::new(options),
        }
    }

    /// The token accessor (state, watch, `access_token`).
    pub fn accessor(&self) -> &TokenAccessor {
        self.transport.accessor()
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &U115Endpoints {
        &self.options.endpoints
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn options_client_id(&self) -> Option<String> {
        self.options.client_id.clone().filter(|s| !s.is_empty())
    }

    pub(crate) fn page_size(&self) -> u32 {
        self.options.page_size.clamp(1, 1000)
    }

    /// A resource call on `proapi` with the current token (see [`Transport::call`]).
    /// Returns the whole envelope.
    async fn resource(
        &self,
        operation: &str,
        post: bool,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Value> {
        let url = format!("{}{path}", self.options.endpoints.proapi);
        self.transport
            .call(operation, |client| {
                if post {
                    client.post(&url).form(params)
                } else {
                    client.get(&url).query(params)
                }
            })
            .await
    }

    /// A `GET` on `proapi`; the whole envelope read as `T` (a listing's `count` is beside
    /// its `data`).
    pub(crate) async fn get_envelope<T: DeserializeOwned + Default>(
        &self,
        operation: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let envelope = self.resource(operation, false, path, query).await?;
        Ok(parse(envelope).unwrap_or_default())
    }

    /// A `GET` on `proapi`; its `data`.
    pub(crate) async fn get(
        &self,
        operation: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Value> {
        let envelope = self.resource(operation, false, path, query).await?;
        Ok(data_of(envelope).unwrap_or(Value::Null))
    }

    /// A form `POST` on `proapi`; its `data`.
    pub(crate) async fn post_data(
        &self,
        operation: &str,
        path: &str,
        form: &[(&str, String)],
    ) -> Result<Value> {
        let envelope = self.resource(operation, true, path, form).await?;
        Ok(data_of(envelope).unwrap_or(Value::Null))
    }

    /// A call without token (login endpoints); returns `data`.
    pub(crate) async fn unauthenticated(
        &self,
        operation: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value> {
        let envelope = self.transport.unauthenticated(operation, request).await?;
        Ok(data_of(envelope).unwrap_or(Value::Null))
    }

    /// The account's user and space information (`/open/user/info`).
    pub async fn user_info(&self) -> Result<Value> {
        self.get("reading user info", "/open/user/info", &[]).await
    }
}
