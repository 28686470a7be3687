//! [`AccessorOptions`]: the tuning of a token accessor, with defaults and builders.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::tokens::ExpiryMargin;

/// Tuning of a [`TokenAccessor`](crate::TokenAccessor).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessorOptions {
    /// When a token is due for refresh. Default: the larger of 60 s and 10 % of its
    /// lifetime, at most half of it.
    pub margin: ExpiryMargin,
    /// How long a refresh lease lasts; a crashed refresher blocks others this long at most.
    /// Default 60 s.
    pub lease_ttl: Duration,
    /// How often a waiting process looks for the lease holder's result. Default 50 ms.
    pub lease_poll: Duration,
    /// Refresh attempts on transient failures. Default 3.
    pub transient_attempts: u32,
    /// First back-off between transient attempts (doubling, ±50 % jitter). Default 200 ms.
    pub retry_base: Duration,
    /// How long saving rotated tokens is retried (back-off doubling from
    /// [`retry_base`](Self::retry_base), at most 5 s apart) before the caller gets
    /// [`Error::SaveFailed`](crate::Error::SaveFailed). The tokens are kept in memory and in
    /// the rescue file either way. Default 120 s: longer than a typical database restart.
    pub save_patience: Duration,
    /// Back-off when the provider rate-limits without saying for how long. Default 60 s.
    pub rate_limit_backoff: Duration,
    /// Folder for rescue files (rotated tokens not yet in the database; see
    /// `docs/token-lifecycle.md`). Default: the SQLite database's folder, or for other
    /// databases `$XDG_STATE_HOME/drivekeep` (`~/.local/state/drivekeep`).
    pub rescue_dir: Option<PathBuf>,
    /// The clock. Default [`SystemClock`].
    pub clock: Arc<dyn Clock>,
}

impl Default for AccessorOptions {
    fn default() -> Self {
        Self {
            margin: ExpiryMargin::default(),
            lease_ttl: Duration::from_secs(60),
            lease_poll: Duration::from_millis(50),
            transient_attempts: 3,
            retry_base: Duration::from_millis(200),
            save_patience: Duration::from_secs(120),
            rate_limit_backoff: Duration::from_secs(60),
            rescue_dir: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl AccessorOptions {
    /// Sets [`margin`](Self::margin).
    pub fn margin(mut self, value: ExpiryMargin) -> Self {
        self.margin = value;
        self
    }
    /// Sets [`lease_ttl`](Self::lease_ttl).
    pub fn lease_ttl(mut self, value: Duration) -> Self {
        self.lease_ttl = value;
        self
    }
    /// Sets [`clock`](Self::clock).
    pub fn clock(mut self, value: Arc<dyn Clock>) -> Self {
        self.clock = value;
        self
    }
    /// Sets [`retry_base`](Self::retry_base).
    pub fn retry_base(mut self, value: Duration) -> Self {
        self.retry_base = value;
        self
    }
    /// Sets [`transient_attempts`](Self::transient_attempts).
    pub fn transient_attempts(mut self, value: u32) -> Self {
        self.transient_attempts = value;
        self
    }
    /// Sets [`save_patience`](Self::save_patience).
    pub fn save_patience(mut self, value: Duration) -> Self {
        self.save_patience = value;
        self
    }
    /// Sets [`rescue_dir`](Self::rescue_dir).
    pub fn rescue_dir(mut self, value: impl Into<PathBuf>) -> Self {
        self.rescue_dir = Some(value.into());
        self
    }
}

/// Milliseconds of a duration, saturating.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `base × 2^(attempt-1)`, with ±50 % jitter.
pub(crate) fn backoff(base: Duration, attempt: u32) -> Duration {
    jitter(base.saturating_mul(1 << attempt.saturating_sub(1).min(10)))
}

/// ±50 % jitter.
pub(crate) fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.5 + rand::random::<f64>())
}
