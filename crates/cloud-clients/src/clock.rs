//! Wall-clock time for token expiry, with a cheap coarse reading for the hot path and a
//! manual clock for tests.
//!
//! Tokens expire at `refresh_time + expires_in` in Unix time, which is what MoviePilot
//! stores, so the clock is the wall clock. Reading it precisely costs tens of nanoseconds
//! (more than the rest of a token read), so [`SystemClock::coarse_now_ms`] reads a value
//! that one background thread of the process refreshes every 20 ms; expiry margins are a
//! minute or more, so 20 ms of staleness never matters.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of Unix time in milliseconds.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The time now.
    fn now_ms(&self) -> u64;

    /// The time now, possibly up to a few tens of milliseconds old. Used on the token read
    /// path, where it must be cheap.
    fn coarse_now_ms(&self) -> u64 {
        self.now_ms()
    }
}

fn system_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

static COARSE_MS: AtomicU64 = AtomicU64::new(0);
static COARSE_RUNNING: AtomicBool = AtomicBool::new(false);
static COARSE_START: Once = Once::new();
const COARSE_TICK: Duration = Duration::from_millis(20);

fn start_coarse_ticker() {
    COARSE_START.call_once(|| {
        COARSE_MS.store(system_now_ms(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("drivekeep-clock".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(COARSE_TICK);
                    COARSE_MS.store(system_now_ms(), Ordering::Relaxed);
                }
            });
        // Without the thread, fall back to precise readings.
        COARSE_RUNNING.store(spawned.is_ok(), Ordering::Release);
    });
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        system_now_ms()
    }

    fn coarse_now_ms(&self) -> u64 {
        if COARSE_RUNNING.load(Ordering::Acquire) {
            COARSE_MS.load(Ordering::Relaxed)
        } else {
            start_coarse_ticker();
            system_now_ms()
        }
    }
}

/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    ms: AtomicU64,
}

impl ManualClock {
    /// A clock showing the current system time.
    pub fn new() -> Self {
        Self::at_ms(system_now_ms())
    }

    /// A clock showing `ms` milliseconds after the Unix epoch.
    pub fn at_ms(ms: u64) -> Self {
        Self {
            ms: AtomicU64::new(ms),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ms.fetch_add(by, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::SeqCst)
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
    fn coarse_now_ms(&self) -> u64 {
        (**self).coarse_now_ms()
    }
}

/// A `SystemTime` as Unix milliseconds (0 before the epoch).
pub(crate) fn to_unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Unix milliseconds as a `SystemTime`.
pub(crate) fn to_system_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clock_follows_the_wall_clock() {
        let clock = SystemClock;
        let first = clock.coarse_now_ms();
        std::thread::sleep(Duration::from_millis(120));
        let later = clock.coarse_now_ms();
        assert!(later >= first + 60, "{first} → {later}");
        assert!(later.abs_diff(clock.now_ms()) < 1_000);
    }

    #[test]
    fn manual_clock_moves_when_told() {
        let clock = ManualClock::at_ms(1_000);
        assert_eq!(clock.coarse_now_ms(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
    }
}
