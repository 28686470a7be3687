//! The simulator's controllable clock.
//!
//! Every expiry (access tokens, refresh tokens, QR sessions, authorisation codes, download
//! links) and the per-second rate-limit windows are measured on this clock, so a test can
//! expire a token by calling [`SimClock::advance`] instead of sleeping. The clock is wall
//! time plus an offset that only grows.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::sync::watch;

/// A clock that runs with wall time and can be moved forward by tests.
///
/// Cloning gives another handle on the same clock.
#[derive(Clone, Debug)]
pub struct SimClock {
    offset: Arc<Mutex<Duration>>,
    changes: watch::Sender<u64>,
}

impl SimClock {
    pub(crate) fn new(changes: watch::Sender<u64>) -> Self {
        Self {
            offset: Arc::new(Mutex::new(Duration::ZERO)),
            changes,
        }
    }

    /// The simulated current time.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + *self.offset.lock()
    }

    /// The simulated current time as whole seconds since the Unix epoch.
    pub fn now_unix(&self) -> u64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// How far the clock has been moved ahead of wall time.
    pub fn offset(&self) -> Duration {
        *self.offset.lock()
    }

    /// Moves the clock forward. Pending long-polls re-check their QR session at once, so a
    /// session whose lifetime ran out is answered as expired.
    pub fn advance(&self, by: Duration) {
        {
            let mut offset = self.offset.lock();
            *offset = offset.saturating_add(by);
        }
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
    }
}
