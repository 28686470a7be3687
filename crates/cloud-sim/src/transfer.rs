//! Bytes on the wire, shared by every provider: single `Range` parsing, paced (throttled)
//! download bodies, paced reading of upload bodies, and the [`Fault::CutBody`] cut.
//!
//! The rate set with [`SimHandle::set_transfer_rate`] applies per connection: a body is
//! produced (or read) in chunks of at most 64 KiB and each chunk waits until the bytes so
//! far fit the rate, on tokio's clock.
//!
//! [`Fault::CutBody`]: crate::Fault::CutBody

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use futures::StreamExt as _;
use tokio::time::Instant;

use crate::core::Core;
use crate::handle::SimHandle;
use crate::server::ConnInfo;
use crate::tree::Content;

/// Largest chunk a paced body yields.
const CHUNK: u64 = 64 * 1024;

/// How long a cut body waits before failing, so the bytes before the cut reach the client.
const CUT_GRACE: Duration = Duration::from_millis(30);

/// A [`crate::Fault::CutBody`] taken for this request: how many body bytes to let through,
/// and the connection to drop afterwards. The middleware puts it in the request
/// extensions of transfer paths (`/__sim/dl/…`, `/__sim/up/…`).
#[derive(Clone, Debug)]
pub(crate) struct Cut {
    pub after: u64,
    pub conn: ConnInfo,
}

impl Cut {
    async fn fire(&self) -> io::Error {
        tokio::time::sleep(CUT_GRACE).await;
        self.conn.kill();
        io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "body cut by fault injection",
        )
    }
}

/// The configured transfer rate (bytes per second), if any.
pub(crate) fn rate(core: &Core) -> Option<u64> {
    core.state.lock().settings.transfer_rate.filter(|r| *r > 0)
}

/// Sleeps until `done` bytes since `start` fit `rate`.
async fn pace(start: Instant, done: u64, rate: Option<u64>) {
    if let Some(rate) = rate {
        let due = Duration::from_secs_f64(done as f64 / rate as f64);
        tokio::time::sleep_until(start + due).await;
    }
}

fn chunk_limit(rate: Option<u64>) -> u64 {
    // About ten chunks a second at low rates, so pacing stays smooth.
    rate.map_or(CHUNK, |r| (r / 10).clamp(1024, CHUNK))
}

/// A single `bytes=` range of a `size`-byte body: `Ok(None)` for no (or an ignored,
/// multi-part) range, `Err(())` when unsatisfiable. `bytes=a-b`, `bytes=a-`, `bytes=-n`.
pub(crate) fn range(headers: &HeaderMap, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
        }
        (s, e) => {
            let s: u64 = s.parse().map_err(|_| ())?;
            let e = if e.is_empty() {
                size.saturating_sub(1)
            } else {
                e.parse::<u64>()
                    .map_err(|_| ())?
                    .min(size.saturating_sub(1))
            };
            (s, e)
        }
    };
    if start >= size || start > end {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// The part of a `size`-byte body a request asks for (see [`span`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// 200 for the whole body, 206 for a range.
    pub status: StatusCode,
    pub start: u64,
    pub len: u64,
    /// The `Content-Range` value of a 206.
    pub content_range: Option<String>,
}

/// The [`Span`] of a `size`-byte body that the request's single `Range` asks for, or the
/// 416 answer (with `Content-Range: bytes */size`) when it cannot be satisfied.
// Callers return the 416 as is; boxing it would only add noise.
#[allow(clippy::result_large_err)]
pub(crate) fn span(headers: &HeaderMap, size: u64) -> Result<Span, Response> {
    match range(headers, size) {
        Ok(None) => Ok(Span {
            status: StatusCode::OK,
            start: 0,
            len: size,
            content_range: None,
        }),
        Ok(Some((s, e))) => Ok(Span {
            status: StatusCode::PARTIAL_CONTENT,
            start: s,
            len: e - s + 1,
            content_range: Some(format!("bytes {s}-{e}/{size}")),
        }),
        Err(()) => Err((
            StatusCode::RANGE_NOT_SATISFIABLE,
            [(header::CONTENT_RANGE, format!("bytes */{size}"))],
        )
            .into_response()),
    }
}

/// Options of a served body.
#[derive(Clone, Debug, Default)]
pub(crate) struct Serve {
    /// Cut the body after this many bytes.
    pub cut: Option<Cut>,
    /// Count the bytes in `Stats::download_bytes_sent`.
    pub count: bool,
}

/// The bytes `[start, start + len)` of `content` as a paced body.
pub(crate) fn content_body(
    core: &Arc<Core>,
    content: Content,
    start: u64,
    len: u64,
    opts: Serve,
) -> Body {
    struct St {
        core: Arc<Core>,
        content: Content,
        pos: u64,
        end: u64,
        sent: u64,
        began: Instant,
        rate: Option<u64>,
        opts: Serve,
        done: bool,
    }
    let st = St {
        core: Arc::clone(core),
        content,
        pos: start,
        end: start.saturating_add(len),
        sent: 0,
        began: Instant::now(),
        rate: rate(core),
        opts,
        done: false,
    };
    let stream = futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        let left_before_cut = st
            .opts
            .cut
            .as_ref()
            .map(|c| c.after.saturating_sub(st.sent));
        if left_before_cut == Some(0) && st.pos < st.end {
            st.done = true;
            let e = match &st.opts.cut {
                Some(cut) => cut.fire().await,
                None => io::Error::other("cut"),
            };
            return Some((Err(e), st));
        }
        if st.pos >= st.end {
            return None;
        }
        let mut n = (st.end - st.pos).min(chunk_limit(st.rate));
        if let Some(left) = left_before_cut {
            n = n.min(left);
        }
        let chunk = match &st.content {
            Content::Bytes(b) => {
                let (s, e) = (st.pos as usize, (st.pos + n) as usize);
                Bytes::copy_from_slice(b.get(s..e).unwrap_or_default())
            }
            Content::Zeros => Bytes::from(vec![0u8; n as usize]),
        };
        st.pos += n;
        st.sent += n;
        pace(st.began, st.sent, st.rate).await;
        if st.opts.count {
            st.core.state.lock().stats.download_bytes_sent += chunk.len() as u64;
        }
        Some((Ok::<_, io::Error>(chunk), st))
    });
    Body::from_stream(stream)
}

/// Cuts any response body after `cut.after` bytes (a [`crate::Fault::CutBody`] on a path
/// that is not a transfer path).
pub(crate) fn cut_response(resp: Response, cut: Cut) -> Response {
    let (parts, body) = resp.into_parts();
    let st = (body.into_data_stream(), cut, 0u64, false);
    let stream = futures::stream::unfold(st, |(mut inner, cut, mut sent, done)| async move {
        if done {
            return None;
        }
        if sent >= cut.after {
            let e = cut.fire().await;
            return Some((Err(e), (inner, cut, sent, true)));
        }
        match inner.next().await {
            None => None,
            Some(Err(e)) => Some((Err(io::Error::other(e)), (inner, cut, sent, true))),
            Some(Ok(mut chunk)) => {
                let left = cut.after - sent;
                if chunk.len() as u64 > left {
                    chunk.truncate(left as usize);
                }
                sent += chunk.len() as u64;
                Some((Ok(chunk), (inner, cut, sent, false)))
            }
        }
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// Why reading an upload body stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// A [`crate::Fault::CutBody`] broke it off (the connection is being dropped).
    Cut,
    /// More than the allowed bytes.
    TooLarge,
    /// The client's body failed (disconnect, bad framing).
    Broken,
}

/// Reads a request body (Content-Length or chunked, paced to the transfer rate, at most
/// `max` bytes; under a cut it never ends cleanly) and hands every chunk to `sink`; returns
/// the number of bytes read. Used by the part uploads (OSS, alipan), which hash and keep the
/// chunks as they come.
pub(crate) async fn read_body_with(
    core: &Core,
    body: Body,
    max: u64,
    cut: Option<Cut>,
    mut sink: impl FnMut(Bytes),
) -> Result<u64, ReadError> {
    let rate = rate(core);
    let began = Instant::now();
    let mut read = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ReadError::Broken)?;
        read += chunk.len() as u64;
        if let Some(c) = &cut
            && read >= c.after
        {
            c.fire().await;
            return Err(ReadError::Cut);
        }
        if read > max {
            return Err(ReadError::TooLarge);
        }
        sink(chunk);
        pace(began, read, rate).await;
    }
    if let Some(c) = &cut {
        c.fire().await;
        return Err(ReadError::Cut);
    }
    Ok(read)
}

/// Reads and discards what is left of a refused request body (at most 64 MiB), so the
/// client gets the answer instead of a broken pipe.
pub(crate) async fn drain(body: Body) {
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len();
        if seen > 64 * 1024 * 1024 {
            break;
        }
    }
}

impl<P> SimHandle<P> {
    /// Limits download bodies (`/__sim/dl/…`, OpenList `/d` `/p`) and part-upload request
    /// bodies (`/__sim/up/…`) to about `bytes_per_sec` per connection; `None` (the
    /// default) lifts the limit. Applies to transfers that start afterwards.
    pub fn set_transfer_rate(&self, bytes_per_sec: Option<u64>) {
        self.core.state.lock().settings.transfer_rate = bytes_per_sec;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("range", v.parse().unwrap());
        m
    }

    #[test]
    fn ranges() {
        assert_eq!(range(&HeaderMap::new(), 10), Ok(None));
        assert_eq!(range(&h("bytes=2-4"), 10), Ok(Some((2, 4))));
        assert_eq!(range(&h("bytes=2-"), 10), Ok(Some((2, 9))));
        assert_eq!(range(&h("bytes=-3"), 10), Ok(Some((7, 9))));
        assert_eq!(range(&h("bytes=5-100"), 10), Ok(Some((5, 9))));
        assert_eq!(range(&h("bytes=10-"), 10), Err(()));
        assert_eq!(range(&h("bytes=0-0"), 0), Err(()));
        assert_eq!(range(&h("bytes=0-1,3-4"), 10), Ok(None));
    }
}
