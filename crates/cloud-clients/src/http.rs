//! The HTTP client every provider call goes through: one connection pool per process, a
//! connect timeout and a total timeout on every API call — and, for transfers (bodies that
//! may take hours), two more clients on the same options with the connect timeout but no
//! deadline on the whole body: downloads with an idle
//! [`read_timeout`](HttpOptions::read_timeout), uploads with none (reqwest's read timeout
//! runs from the moment a request is sent, so a body slower to send than it would fail);
//! an upload is watched instead, and given up when its body stops moving for the same idle
//! time (`transfer::sending`).

use std::sync::OnceLock;
use std::time::Duration;

use crate::error::Error;

/// Timeouts and identity of the HTTP client.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Time allowed to establish a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed for a whole API call, answer included. Default 30 s. Not applied to
    /// transfer bodies.
    pub timeout: Duration,
    /// Transfers: the longest silence allowed while reading a download, or while an
    /// upload's body does not move (a stalled connection is given up after this and the
    /// transfer resumes on a new one). Default 60 s.
    pub read_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            user_agent: concat!("drivekeep/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl HttpOptions {
    /// Sets [`timeout`](Self::timeout).
    pub fn timeout(mut self, value: Duration) -> Self {
        self.timeout = value;
        self
    }
    /// Sets [`read_timeout`](Self::read_timeout).
    pub fn read_timeout(mut self, value: Duration) -> Self {
        self.read_timeout = value;
        self
    }
    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(mut self, value: Duration) -> Self {
        self.connect_timeout = value;
        self
    }
}

/// A cheap-to-clone HTTP client with timeouts on every call. Requests are built per call,
/// so no header (no `Authorization`) is ever shared between threads.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    transfer: reqwest::Client,
    upload: reqwest::Client,
    options: HttpOptions,
}

static SHARED: OnceLock<Result<HttpClient, String>> = OnceLock::new();

/// Installs rustls's *ring* provider as the process-wide default crypto provider, unless
/// one is installed already (then that one is kept). With the `rustls` feature reqwest is
/// built without a provider of its own (`rustls-no-provider`, to keep aws-lc-rs out of the
/// build) and refuses to build a client until one is installed. [`HttpClient::new`] calls
/// this; call it before building other `reqwest` clients in the same process. Does nothing
/// without the `rustls` feature.
pub fn install_crypto_provider() {
    #[cfg(feature = "rustls")]
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed one first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl HttpClient {
    /// A new client (its own connection pool).
    pub fn new(options: HttpOptions) -> Result<Self, Error> {
        let failed = |e| Error::Http {
            reason: describe(e),
        };
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(failed)?;
        let transfer = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(failed)?;
        let upload = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .user_agent(options.user_agent.clone())
            .build()
            .map_err(failed)?;
        Ok(Self {
            client,
            transfer,
            upload,
            options,
        })
    }

    /// The process-wide client with default options.
    pub fn shared() -> Result<Self, Error> {
        SHARED
            .get_or_init(|| Self::new(HttpOptions::default()).map_err(|e| e.to_string()))
            .clone()
            .map_err(|reason| Error::Http { reason })
    }

    /// The underlying reqwest client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The client for downloads: no deadline on the whole body, an idle read timeout
    /// instead.
    pub fn transfer(&self) -> &reqwest::Client {
        &self.transfer
    }

    /// The client for upload bodies: a connect timeout only. Requests on it must be
    /// watched (the crate's uploads give up on a body that stops moving for
    /// [`HttpOptions::read_timeout`]).
    pub fn upload(&self) -> &reqwest::Client {
        &self.upload
    }

    /// The options it was built with.
    pub fn options(&self) -> &HttpOptions {
        &self.options
    }
}

/// The provider's "retry after" hint: `X-RateLimit-Reset` or `Retry-After`, in seconds.
pub(crate) fn reset_hint(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get("x-ratelimit-reset")
        .or_else(|| headers.get("retry-after"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// A transport error in words: its kind and causes, never its URL.
pub(crate) fn describe(err: reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_decode() {
        "could not read the answer"
    } else if err.is_body() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    let err = err.without_url();
    let mut text = format!("{kind}: {err}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
