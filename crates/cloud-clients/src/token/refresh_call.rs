//! The refresh call itself: the provider's refresh endpoint with bounded retries of
//! transient failures (never past the lease), timed and counted by outcome.

use serde_json::{Map, Value};

use super::TokenAccessor;
use super::managed::Managed;
use super::options::{backoff, ms};
use super::policy::retry_transient;
use crate::provider::{Grant, RefreshFailure};
use crate::secret::RefreshToken;

impl TokenAccessor {
    /// Calls the provider's refresh endpoint (with retries) and records the outcome in the
    /// metrics.
    pub(crate) async fn call_provider(
        &self,
        m: &Managed,
        refresh_token: &RefreshToken,
        config: &Map<String, Value>,
        lease_deadline_ms: u64,
    ) -> Result<Grant, RefreshFailure> {
        let started = std::time::Instant::now();
        let result = async {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result = m.provider.refresh(&m.http, refresh_token, config).await;
                match result {
                    Ok(grant) if grant.access_token.is_empty() => {
                        return Err(RefreshFailure::Transient {
                            reason: "the provider answered without an access token".into(),
                        });
                    }
                    Err(RefreshFailure::Transient { reason }) => {
                        let pause = backoff(m.options.retry_base, attempt);
                        if !retry_transient(
                            attempt,
                            self.inner.clock.now_ms(),
                            ms(pause),
                            ms(m.http.options().timeout),
                            lease_deadline_ms,
                            &m.options,
                        ) {
                            return Err(RefreshFailure::Transient { reason });
                        }
                        tracing::debug!(storage = %self.inner.storage, attempt, %reason, "transient refresh failure; retrying");
                        tokio::time::sleep(pause).await;
                    }
                    other => return other,
                }
            }
        }
        .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(RefreshFailure::NeedsLogin { .. }) => "needs_login",
            Err(RefreshFailure::Reused { .. }) => "reused",
            Err(RefreshFailure::RateLimited { .. }) => {
                crate::metrics::rate_limit_backoff(&self.inner.storage, "refresh");
                "rate_limited"
            }
            Err(_) => "transient",
        };
        crate::metrics::refresh(&self.inner.storage, outcome, started.elapsed());
        result
    }
}
