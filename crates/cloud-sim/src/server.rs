//! The HTTP server: a loopback listener whose connections can be reset on demand, and the
//! middleware that counts requests, applies the global delay and fault rules.
//!
//! A "connection reset" fault cannot be expressed as an HTTP response, so every accepted
//! socket is wrapped in [`KillableIo`]: the middleware flips the connection's kill switch,
//! after which the socket refuses to write, sets `SO_LINGER` to zero and is dropped, so the
//! client sees a TCP reset instead of an answer.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::config::Provider;
use crate::core::Core;
use crate::fault::{Fault, RateLimitAnswer};
use crate::{alipan, openlist, u115};

/// A loopback listener producing killable connections.
pub(crate) struct SimListener {
    inner: TcpListener,
}

impl SimListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

/// The peer address of a connection and its kill switch.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    pub peer: SocketAddr,
    kill: Arc<AtomicBool>,
}

impl ConnInfo {
    /// Makes the connection fail its next read or write and close with a reset.
    pub(crate) fn kill(&self) {
        self.kill.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl Listener for SimListener {
    type Io = KillableIo;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        KillableIo {
                            inner: stream,
                            kill: Arc::clone(&kill),
                        },
                        ConnInfo { peer, kill },
                    );
                }
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnInfo {
            peer: self.inner.local_addr()?,
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that can be made to fail with a reset.
pub(crate) struct KillableIo {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableIo {
    fn killed(&self) -> Option<io::Error> {
        if self.kill.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
            Some(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset by fault injection",
            ))
        } else {
            None
        }
    }
}

impl AsyncRead for KillableIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.killed() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The key of a transfer path: download links count (and take faults) as `/__sim/dl`,
/// part-upload URLs as `/__sim/up`.
fn transfer_key(path: &str) -> Option<&'static str> {
    if path.starts_with("/__sim/dl/") {
        Some("/__sim/dl")
    } else if path.starts_with("/__sim/up/") {
        Some("/__sim/up")
    } else {
        None
    }
}

/// Whether the handler of `path` reads its request body itself, paced and cut under a
/// [`Fault::CutBody`] (OpenList's stream upload), like the transfer paths.
fn reads_own_body(path: &str) -> bool {
    path == "/api/fs/put"
}

/// The counter key of a request: the route template when the path has parameters.
fn counter_key(path: &str, template: Option<&str>) -> String {
    if let Some(key) = transfer_key(path) {
        return key.to_owned();
    }
    match template {
        Some(t) if t.contains('{') => t.to_owned(),
        _ => path.to_owned(),
    }
}

/// Counts, delays and applies fault rules to every request.
async fn sim_layer(
    State(core): State<Arc<Core>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let transfer = transfer_key(&path);
    let is_control = path.starts_with("/__sim/") && transfer.is_none();
    if !is_control {
        debug!(path = %counter_key(&path, template.as_deref()), "request");
        core.count_path(&counter_key(&path, template.as_deref()));
        let delay = core.state.lock().settings.request_delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
    let index = (!is_control).then(|| core.timeline.received(&path));
    let timed = |response: Response| {
        if let Some(index) = index {
            core.timeline.answered(index);
        }
        response
    };
    // Transfer paths match fault rules by their key (`/__sim/dl`, `/__sim/up`).
    let rule_template = transfer.or(template.as_deref());
    let Some(fault) = core.faults.take(&path, rule_template, !is_control) else {
        let response = next.run(req).await;
        if let Some(index) = index {
            core.timeline.processed(index);
        }
        return timed(response);
    };
    core.count_fault();
    debug!(path = %counter_key(&path, template.as_deref()), fault = ?fault, "fault injected");
    let response = match fault {
        Fault::CutBody { after } => {
            let cut = crate::transfer::Cut { after, conn };
            let response = if transfer.is_some() || reads_own_body(&path) {
                // The transfer handlers cut their own bodies (and read the request's).
                req.extensions_mut().insert(cut);
                next.run(req).await
            } else {
                crate::transfer::cut_response(next.run(req).await, cut)
            };
            if let Some(index) = index {
                core.timeline.processed(index);
            }
            response
        }
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            let response = next.run(req).await;
            if let Some(index) = index {
                core.timeline.processed(index);
            }
            response
        }
        Fault::DelayAnswer(d) => {
            let response = next.run(req).await;
            if let Some(index) = index {
                core.timeline.processed(index);
            }
            tokio::time::sleep(d).await;
            response
        }
        Fault::Status(status) => match core.provider {
            Provider::U115 => u115::server_error(status),
            Provider::Alipan => alipan::server_error(status),
            Provider::OpenList => openlist::server_error(status),
        },
        Fault::Reset => {
            conn.kill();
            u115::server_error(502)
        }
        Fault::Hang => {
            core.shutdown_signal().await;
            conn.kill();
            u115::server_error(503)
        }
        Fault::Malformed(m) => {
            let (content_type, body) = m.body();
            ([(axum::http::header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Fault::RateLimit(answer) => {
            core.count_injected_rate_limit();
            rate_limit_answer(core.provider, answer)
        }
    };
    timed(response)
}

/// The provider's answer to a request over a rate limit.
pub(crate) fn rate_limit_answer(provider: Provider, answer: RateLimitAnswer) -> Response {
    match provider {
        Provider::U115 => u115::rate_limited(answer),
        Provider::Alipan => alipan::rate_limited(answer),
        Provider::OpenList => openlist::rate_limited(answer),
    }
}

/// Adds the simulator layer to a provider router and starts serving it.
pub(crate) async fn serve(
    listener: SimListener,
    router: Router<Arc<Core>>,
    core: Arc<Core>,
) -> io::Result<()> {
    let app = router
        .layer(middleware::from_fn_with_state(Arc::clone(&core), sim_layer))
        .with_state(Arc::clone(&core));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<ConnInfo>(),
    )
    .with_graceful_shutdown(async move { core.shutdown_signal().await })
    .await
}
