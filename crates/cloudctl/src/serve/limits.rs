//! Rate limits on failed authentication and on login attempts: a token bucket per client
//! address (on loopback every local program shares one).
//!
//! About thirty lines of our own rather than a crate: the `cloud_clients` limiter paces
//! outgoing provider calls (it waits), while this one must refuse at once and say when to
//! come back (`Retry-After`); `governor` would add several crates for the same arithmetic.
//!
//! Only *failures* draw from the authentication bucket: a valid key always passes, so a
//! broken script hammering with a wrong key cannot lock out the other programs on the
//! host. That gives a guesser no oracle worth having: keys and one-time tokens carry 256
//! random bits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket per client address.
#[derive(Debug)]
pub struct Limiter {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Limiter {
    /// Up to `burst` events at once, refilled at `per_minute`.
    pub fn new(burst: u32, per_minute: u32) -> Self {
        Self {
            burst: f64::from(burst),
            per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; `Err(seconds to wait)` when the bucket is empty.
    pub fn take(&self, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            // Forget full buckets so the map cannot grow without bound.
            let (burst, per_sec) = (self.burst, self.per_sec);
            buckets.retain(|_, (level, at)| {
                *level + now.duration_since(*at).as_secs_f64() * per_sec < burst
            });
        }
        let (level, at) = buckets.entry(ip).or_insert((self.burst, now));
        *level = (*level + now.duration_since(*at).as_secs_f64() * self.per_sec).min(self.burst);
        *at = now;
        if *level >= 1.0 {
            *level -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - *level) / self.per_sec;
            Err(Duration::from_secs_f64(wait).as_secs() + 1)
        }
    }

    /// Whether `ip` would be refused now (without taking a token).
    pub fn exhausted(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (level, at) = buckets.get(&ip)?;
        let level = (level + now.duration_since(*at).as_secs_f64() * self.per_sec).min(self.burst);
        (level < 1.0).then(|| Duration::from_secs_f64((1.0 - level) / self.per_sec).as_secs() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_burst_and_names_the_wait() {
        let limiter = Limiter::new(3, 6);
        let ip = IpAddr::from([127, 0, 0, 1]);
        assert!(limiter.exhausted(ip).is_none());
        for _ in 0..3 {
            assert!(limiter.take(ip).is_ok());
        }
        let wait = limiter.take(ip).expect_err("limited");
        assert!((1..=11).contains(&wait), "{wait}");
        assert!(limiter.exhausted(ip).is_some());
        assert!(limiter.take(IpAddr::from([127, 0, 0, 2])).is_ok());
    }
}
