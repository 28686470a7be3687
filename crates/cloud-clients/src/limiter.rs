//! A client-side request rate limit: requests are spaced evenly, FIFO.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces calls to [`acquire`](Self::acquire) at least `interval` apart.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `per_second` requests a second; 0 or less (or NaN) means unlimited.
    pub(crate) fn per_second(per_second: f64) -> Self {
        let interval = if per_second.is_finite() && per_second > 0.0 {
            Duration::from_secs_f64(1.0 / per_second)
        } else {
            Duration::ZERO
        };
        Self {
            interval,
            next: Mutex::new(None),
        }
    }

    /// Waits for this request's turn.
    pub(crate) async fn acquire(&self) {
        if self.interval.is_zero() {
            return;
        }
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_evenly() {
        let limiter = RateLimiter::per_second(5.0);
        let start = Instant::now();
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // The first goes at once, the next five 200 ms apart.
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
        let unlimited = RateLimiter::per_second(0.0);
        let start = Instant::now();
        for _ in 0..100 {
            unlimited.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
