//! One request pipeline for every provider.
//!
//! A provider hands the transport a built request and gets the answer's payload or a typed
//! [`Error`]. On the way the transport puts the access token from the [`TokenAccessor`]
//! into the `Authorization` header, waits for the client-side rate limiter, sends with the
//! request's timeout, classifies HTTP 429, 5xx, timeouts and resets itself and everything
//! else through the provider's [`Protocol::classify`], waits out a provider rate limit a
//! bounded number of times, and — through [`TokenAccessor::with_token`] — refreshes a
//! rejected token once and repeats the (idempotent) call. Downloads share its HTTP client.

mod failure;
mod options;
mod paging;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use storage_helper::{StorageHandle, StorageHelper};
use tracing::Instrument;

pub(crate) use failure::{Failure, Refusal};
pub(crate) use options::{constructors, setters, setup, shared_options};
pub(crate) use paging::paged;

use crate::error::{Error, ProviderErrorKind, Result};
use crate::http::{HttpClient, describe, reset_hint};
use crate::limiter::RateLimiter;
use crate::provider::TokenProvider;
use crate::secret::AccessToken;
use crate::storage::{DownloadLink, Progress};
use crate::token::{AccessorOptions, Call, TokenAccessor};

/// How a provider wants the access token sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// `Authorization: Bearer <token>` (115, alipan).
    Bearer,
    /// `Authorization: <token>` (OpenList).
    Raw,
}

/// One HTTP answer, handed to a provider's classifier.
pub(crate) struct Answer<'a> {
    /// The HTTP status (never 429 or 5xx: the transport classifies those itself).
    pub status: reqwest::StatusCode,
    /// The provider's "retry after" hint from the headers.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: &'a [u8],
}

/// What a provider contributes to the transport: how its answers read.
pub(crate) trait Protocol: Send + Sync + std::fmt::Debug + 'static {
    /// The provider's name in spans and metrics (`u115`, `alipan`, `alist`).
    fn provider(&self) -> &'static str;

    /// How the access token is sent.
    fn auth(&self) -> Auth {
        Auth::Bearer
    }

    /// The payload of a successful answer, or the class of the failure. The only place a
    /// provider's error codes are looked at.
    fn classify(&self, answer: Answer<'_>) -> Result<Value, Failure>;
}

/// How often a rate-limited call is repeated after waiting, and the longest wait.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub rate_limit_retries: u32,
    pub max_rate_limit_wait: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retries + 1`; `None` when the retries are used up.
    fn wait(&self, retries: u32, hint: Option<Duration>) -> Option<Duration> {
        (retries < self.rate_limit_retries).then(|| {
            hint.unwrap_or(Duration::from_secs(1))
                .min(self.max_rate_limit_wait)
        })
    }
}

/// What a client's options say about its transport.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub storage: String,
    pub http: HttpClient,
    pub requests_per_second: f64,
    pub retry: RetryPolicy,
    pub accessor: AccessorOptions,
}

/// The request pipeline of one storage.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    accessor: TokenAccessor,
    handle: StorageHandle,
    http: HttpClient,
    limiter: Arc<RateLimiter>,
    retry: RetryPolicy,
    protocol: Arc<dyn Protocol>,
}

/// A transport-level failure (connect, reset, timeout, cut-off body).
fn transport_failure(err: reqwest::Error) -> Failure {
    Failure::Transient {
        timed_out: err.is_timeout(),
        reason: describe(err),
    }
}

/// Sends `request` as it is and classifies the answer: 429, 5xx and transport errors here,
/// everything else by `protocol`. Also used by the refresh calls, which have no transport.
///
/// Every request is one `provider_request` span (provider, endpoint = the URL's path only,
/// status, latency) and counted in `drivekeep_provider_requests_total` and
/// `drivekeep_provider_request_seconds`. The path is all of the URL that is recorded: no
/// host, no query string, never a header — tokens and signed parameters stay out.
pub(crate) async fn send(
    protocol: &dyn Protocol,
    request: reqwest::RequestBuilder,
) -> Result<Value, Failure> {
    let (client, request) = request.build_split();
    let request = request.map_err(transport_failure)?;
    let endpoint = request.url().path().to_owned();
    let provider = protocol.provider();
    let span = tracing::debug_span!(
        "provider_request",
        provider,
        endpoint = %endpoint,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let (status, result) = exchange(protocol, &client, request)
        .instrument(span.clone())
        .await;
    let latency = started.elapsed();
    let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
    span.record("status", status);
    span.record("latency_ms", latency_ms);
    tracing::debug!(parent: &span, "provider answered");
    crate::metrics::provider_request(provider, endpoint, status, latency);
    result
}

/// One request and its classification; the first value is the status class for the
/// metrics (`2xx`, `4xx`, `429`, `5xx`, `error` when no answer came).
async fn exchange(
    protocol: &dyn Protocol,
    client: &reqwest::Client,
    request: reqwest::Request,
) -> (&'static str, Result<Value, Failure>) {
    let response = match client.execute(request).await {
        Ok(response) => response,
        Err(err) => return ("error", Err(transport_failure(err))),
    };
    let status = response.status();
    let class = crate::metrics::status_class(status.as_u16());
    let retry_after = reset_hint(response.headers());
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return (class, Err(Failure::RateLimited(retry_after)));
    }
    if status.is_server_error() {
        return (
            class,
            Err(Failure::transient(format!(
                "the server answered HTTP {status}"
            ))),
        );
    }
    let body = match response.bytes().await {
        Ok(body) => body,
        Err(err) => return ("error", Err(transport_failure(err))),
    };
    let result = protocol.classify(Answer {
        status,
        retry_after,
        body: &body,
    });
    (class, result)
}

impl Transport {
    /// The transport of `storage`, whose tokens `provider` refreshes.
    pub(crate) fn new<P: Protocol>(
        storages: &StorageHelper,
        provider: Arc<dyn TokenProvider>,
        protocol: P,
        setup: Setup,
    ) -> Self {
        let handle = storages.handle(setup.storage.as_str());
        let http = setup.http;
        let accessor = TokenAccessor::new(handle.clone(), provider, http.clone(), setup.accessor);
        Self {
            accessor,
            handle,
            http,
            limiter: Arc::new(RateLimiter::per_second(setup.requests_per_second)),
            retry: setup.retry,
            protocol: Arc::new(protocol),
        }
    }

    /// The same pipeline serving `accessor` instead (a fixed token the application
    /// manages, such as OpenList's permanent token).
    pub(crate) fn with_accessor(mut self, accessor: TokenAccessor) -> Self {
        self.accessor = accessor;
        self
    }

    /// The token accessor.
    pub(crate) fn accessor(&self) -> &TokenAccessor {
        &self.accessor
    }

    /// The storage's handle.
    pub(crate) fn handle(&self) -> &StorageHandle {
        &self.handle
    }

    /// The HTTP client.
    pub(crate) fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The storage type.
    pub(crate) fn storage(&self) -> &str {
        self.accessor.storage()
    }

    /// Sends `request` as it is (no token, no rate limiter) and classifies the answer.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        send(self.protocol.as_ref(), request).await
    }

    /// A call without token (login endpoints): the payload or a typed error.
    pub(crate) async fn unauthenticated(
        &self,
        operation: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value> {
        self.send(request)
            .await
            .map_err(|failure| self.error(operation, failure))
    }

    /// An idempotent call with the current token: rate-limited on our side, refreshed and
    /// repeated once when the token is rejected, waited out (bounded) when the provider
    /// rate-limits. `build` makes the request (without `Authorization`) each time.
    pub(crate) async fn call<B>(&self, operation: &str, build: B) -> Result<Value>
    where
        B: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        self.call_seeing_token(operation, |client, _| build(client))
            .await
    }

    /// Like [`call`](Self::call), for a request whose body depends on the token it is sent
    /// with (alipan's proof of possession): `build` gets that token.
    pub(crate) async fn call_seeing_token<B>(&self, operation: &str, build: B) -> Result<Value>
    where
        B: Fn(&reqwest::Client, &AccessToken) -> reqwest::RequestBuilder + Send + Sync,
    {
        self.retrying(operation, || {
            self.accessor.with_token(true, |token| {
                let request = self.authorize(build(self.http.client(), &token), &token);
                async move {
                    self.limiter.acquire().await;
                    match self.send(request).await {
                        Err(Failure::TokenRejected(_)) => Ok(Call::TokenRejected),
                        other => Ok(Call::Done(other)),
                    }
                }
            })
        })
        .await
    }

    /// Like [`call`](Self::call) with a given token (one not saved yet, right after a
    /// login): no refresh when it is rejected.
    pub(crate) async fn call_with<B>(
        &self,
        operation: &str,
        token: &AccessToken,
        build: B,
    ) -> Result<Value>
    where
        B: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        self.retrying(operation, || async {
            self.limiter.acquire().await;
            let request = self.authorize(build(self.http.client()), token);
            Ok(self.send(request).await)
        })
        .await
    }

    /// Repeats `attempt` while the provider rate-limits and retries are left.
    async fn retrying<F, Fut>(&self, operation: &str, mut attempt: F) -> Result<Value>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<Result<Value, Failure>>> + Send,
    {
        let mut retries = 0;
        loop {
            match attempt().await? {
                Err(Failure::RateLimited(hint)) => match self.retry.wait(retries, hint) {
                    Some(wait) => {
                        retries += 1;
                        crate::metrics::rate_limit_backoff(self.storage(), "request");
                        tracing::debug!(storage = %self.storage(), ?wait, "rate limited; waiting");
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(self.error(operation, Failure::RateLimited(hint))),
                },
                other => return other.map_err(|failure| self.error(operation, failure)),
            }
        }
    }

    fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        token: &AccessToken,
    ) -> reqwest::RequestBuilder {
        match self.protocol.auth() {
            Auth::Bearer => request.bearer_auth(token.secret()),
            Auth::Raw => request.header(reqwest::header::AUTHORIZATION, token.secret()),
        }
    }

    /// The public error for a failed `operation`.
    pub(crate) fn error(&self, operation: &str, failure: Failure) -> Error {
        failure.into_error(self.storage(), operation, self.accessor.now_ms())
    }

    /// An error for an answer the provider sent but that cannot be used (`malformed`, …).
    pub(crate) fn refused(
        &self,
        operation: &str,
        kind: ProviderErrorKind,
        code: &str,
        message: &str,
    ) -> Error {
        Error::Provider {
            storage: self.storage().to_owned(),
            operation: operation.to_owned(),
            kind,
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }

    /// An answer without a field it must have.
    pub(crate) fn malformed(&self, operation: &str, message: &str) -> Error {
        self.refused(operation, ProviderErrorKind::Other, "malformed", message)
    }

    /// Downloads `item` into `dest` through links from `new_link`, resuming and riding out
    /// interruptions (see [`crate::transfer::download`]).
    pub(crate) async fn download<F, Fut>(
        &self,
        item: &crate::storage::FileItem,
        dest: &Path,
        new_link: F,
        progress: Progress<'_>,
    ) -> Result<u64>
    where
        F: FnMut() -> Fut + Send,
        Fut: Future<Output = Result<DownloadLink>> + Send,
    {
        crate::transfer::download::download(
            self.storage(),
            &self.http,
            item,
            dest,
            new_link,
            progress,
        )
        .await
    }
}
