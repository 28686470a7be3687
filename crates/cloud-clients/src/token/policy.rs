//! The failure policy: what a failed refresh leads to, as a pure function of the failure,
//! the time and the options — no database, no provider, unit-tested on its own.

use super::options::{AccessorOptions, ms};
use crate::provider::RefreshFailure;

/// What the accessor does after the provider refused or failed a refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The refresh token is dead: record "needs login" for it, for every process, and
    /// stop refreshing until the stored tokens change.
    NeedsLogin { reason: String },
    /// Another refresher rotated the token first: re-read the store and adopt what it
    /// saved; when nothing newer is stored, needs login with this reason.
    AdoptNewer { otherwise: String },
    /// Record a rate limit for every process: no refresh before `until_ms`; the stored
    /// token is served while it has not expired.
    RateLimited { until_ms: u64 },
    /// Back off in this process until `until_ms` (the stored tokens are untouched); the
    /// stored token is served while it has not expired.
    BackOff { until_ms: u64, reason: String },
}

/// The decision for `failure` at `now_ms`.
pub(crate) fn decide(failure: RefreshFailure, now_ms: u64, options: &AccessorOptions) -> Decision {
    match failure {
        RefreshFailure::NeedsLogin { reason } => Decision::NeedsLogin { reason },
        RefreshFailure::Reused { reason } => Decision::AdoptNewer {
            otherwise: format!(
                "the refresh token was already used and nothing newer is stored ({reason})"
            ),
        },
        RefreshFailure::RateLimited { retry_after } => Decision::RateLimited {
            until_ms: now_ms + ms(retry_after.unwrap_or(options.rate_limit_backoff)),
        },
        RefreshFailure::Transient { reason } => Decision::BackOff {
            until_ms: now_ms + ms(options.retry_base) * 5,
            reason,
        },
    }
}

/// Whether a transient failure on attempt `attempt` is retried now: attempts remain, and
/// the pause plus one more request still end before the lease does.
pub(crate) fn retry_transient(
    attempt: u32,
    now_ms: u64,
    pause_ms: u64,
    request_timeout_ms: u64,
    lease_deadline_ms: u64,
    options: &AccessorOptions,
) -> bool {
    attempt < options.transient_attempts
        && now_ms + pause_ms + request_timeout_ms <= lease_deadline_ms
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_failure_class_has_its_consequence() {
        let options = AccessorOptions::default();
        let now = 1_000_000;
        assert_eq!(
            decide(
                RefreshFailure::NeedsLogin {
                    reason: "revoked".into()
                },
                now,
                &options
            ),
            Decision::NeedsLogin {
                reason: "revoked".into()
            }
        );
        assert!(matches!(
            decide(RefreshFailure::Reused { reason: "40140120".into() }, now, &options),
            Decision::AdoptNewer { otherwise } if otherwise.contains("40140120")
        ));
        assert_eq!(
            decide(
                RefreshFailure::RateLimited {
                    retry_after: Some(Duration::from_secs(30))
                },
                now,
                &options
            ),
            Decision::RateLimited {
                until_ms: now + 30_000
            }
        );
        // Without a hint, the configured back-off (60 s).
        assert_eq!(
            decide(
                RefreshFailure::RateLimited { retry_after: None },
                now,
                &options
            ),
            Decision::RateLimited {
                until_ms: now + 60_000
            }
        );
        assert_eq!(
            decide(
                RefreshFailure::Transient {
                    reason: "503".into()
                },
                now,
                &options
            ),
            Decision::BackOff {
                until_ms: now + 1_000,
                reason: "503".into()
            }
        );
    }

    #[test]
    fn transient_retries_are_bounded_by_attempts_and_the_lease() {
        let options = AccessorOptions::default(); // 3 attempts
        assert!(retry_transient(1, 0, 200, 30_000, 60_000, &options));
        assert!(retry_transient(2, 0, 400, 30_000, 60_000, &options));
        assert!(
            !retry_transient(3, 0, 800, 30_000, 60_000, &options),
            "attempts used up"
        );
        assert!(
            !retry_transient(1, 40_000, 200, 30_000, 60_000, &options),
            "would outlive the lease"
        );
    }
}
