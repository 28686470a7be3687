//! Upload request bodies and the watch over them.
//!
//! A part or a whole file can take minutes to send on a slow uplink, so an upload request
//! cannot have a deadline, and reqwest's `read_timeout` cannot serve either: it runs from
//! the moment the request is sent, so a body that takes longer than it to send fails
//! however well the bytes flow. Upload requests therefore go out on
//! [`HttpClient::upload`](crate::HttpClient::upload), which has neither, with a body that
//! counts the bytes the connection takes, and [`watch`] gives up on a request whose
//! body stopped moving for the idle time ([`HttpOptions::read_timeout`](crate::HttpOptions))
//! or whose answer does not come in time after the last byte ([`answer_wait`]: the bytes
//! are counted as the socket takes them, and its buffers may still hold megabytes).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt as _;

/// Bytes per piece of an in-memory body (slices of one buffer: nothing is copied).
const PIECE: usize = 256 << 10;
/// Bytes read from a file per piece of its body.
const FILE_CHUNK: usize = 1 << 20;
/// How often [`watch`] looks at the count (and reports progress).
const TICK: Duration = Duration::from_millis(200);
/// The most bytes that can sit between us and the server once the body was handed over:
/// Linux sizes a connection's send buffer up to 4 MiB and the receiver's up to a few MiB
/// (6 MiB by default); this bound is generous.
const IN_FLIGHT_MAX: u64 = 16 << 20;
/// The slowest uplink an answer is waited for: what may still be in flight after the last
/// byte was handed over drains at the link's pace.
const DRAIN_RATE: u64 = 64 << 10;

/// How long to wait for the answer once a body of `total` bytes was handed over: the idle
/// time, plus what may still be in flight drained at [`DRAIN_RATE`] (for a 16 MiB part,
/// idle + 256 s). Counting stops at the socket, so "all handed over" is not "all
/// received".
pub(crate) fn answer_wait(idle: Duration, total: u64) -> Duration {
    idle + Duration::from_secs(total.min(IN_FLIGHT_MAX) / DRAIN_RATE)
}

/// Bytes of a body taken by the connection so far.
pub(crate) type Sent = Arc<AtomicU64>;

/// `bytes` as a request body handed over in pieces, counted in `sent` (from 0). The
/// caller sets `Content-Length`.
pub(crate) fn bytes_body(bytes: Bytes, sent: &Sent) -> reqwest::Body {
    sent.store(0, Ordering::Relaxed);
    let sent = Arc::clone(sent);
    let len = bytes.len();
    let pieces = (0..len).step_by(PIECE).map(move |at| {
        let piece = bytes.slice(at..(at + PIECE).min(len));
        sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
        Ok::<_, std::io::Error>(piece)
    });
    reqwest::Body::wrap_stream(futures::stream::iter(pieces))
}

/// The content of the file at `path` as a request body, read a piece at a time, counted
/// in `sent` (from 0 when the file is opened). The caller sets `Content-Length`.
pub(crate) fn file_body(path: &Path, sent: &Sent) -> reqwest::Body {
    let path = path.to_owned();
    let sent = Arc::clone(sent);
    let stream = futures::stream::once(async move {
        let file = tokio::fs::File::open(path).await?;
        sent.store(0, Ordering::Relaxed);
        Ok::<_, std::io::Error>(
            tokio_util::io::ReaderStream::with_capacity(file, FILE_CHUNK).inspect_ok(
                move |piece| {
                    sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
                },
            ),
        )
    })
    .try_flatten();
    reqwest::Body::wrap_stream(stream)
}

/// Awaits `request` (sending a body of `total` bytes counted in `sent`, and reading its
/// answer), calling `progress` with the count when it moved. Gives up — `Err` with the
/// reason — when the count stays still for `idle` while bytes remain, or when no answer
/// came within `answer` after the last byte.
pub(crate) async fn watch<T>(
    request: impl Future<Output = T>,
    sent: &AtomicU64,
    total: u64,
    idle: Duration,
    answer: Duration,
    mut progress: impl FnMut(u64),
) -> Result<T, String> {
    let mut request = std::pin::pin!(request);
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut seen, mut since) = (None, tokio::time::Instant::now());
    loop {
        tokio::select! {
            done = &mut request => return Ok(done),
            _ = tick.tick() => {
                let now = sent.load(Ordering::Relaxed).min(total);
                if seen != Some(now) {
                    seen = Some(now);
                    since = tokio::time::Instant::now();
                    progress(now);
                }
                let (limit, what) = if now >= total {
                    (answer, format!("no answer {answer:?} after the last byte was sent"))
                } else {
                    (idle, format!("the upload stalled: no byte taken for {idle:?} ({now} of {total} bytes sent)"))
                };
                if since.elapsed() >= limit {
                    return Err(what);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_moving_is_given_up_and_a_moving_one_is_not() {
        let sent = AtomicU64::new(0);
        // Moving: 10 bytes every 100 ms for 3 s, with an idle limit of 1 s.
        let moving = async {
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                sent.fetch_add(10, Ordering::Relaxed);
            }
            "done"
        };
        let mut seen = Vec::new();
        let idle = Duration::from_secs(1);
        let got = watch(moving, &sent, 300, idle, idle, |n| seen.push(n)).await;
        assert_eq!(got, Ok("done"));
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");

        // Stalled after 50 of 300 bytes: given up after the idle time.
        let sent = AtomicU64::new(50);
        let stalled = std::future::pending::<()>();
        let err = watch(stalled, &sent, 300, idle, idle, |_| {})
            .await
            .expect_err("stalled");
        assert!(
            err.contains("stalled") && err.contains("50 of 300"),
            "{err}"
        );

        // Everything sent, no answer: given up after the answer time.
        let sent = AtomicU64::new(300);
        let started = tokio::time::Instant::now();
        let err = watch(
            std::future::pending::<()>(),
            &sent,
            300,
            idle,
            Duration::from_secs(5),
            |_| {},
        )
        .await
        .expect_err("no answer");
        assert!(err.contains("no answer"), "{err}");
        assert!(started.elapsed() >= Duration::from_secs(5));
    }
}
