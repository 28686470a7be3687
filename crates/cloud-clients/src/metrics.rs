//! The metrics this crate emits, through the [`metrics`] facade: nothing is recorded (and
//! next to nothing is spent) until the application installs a recorder, e.g.
//! `metrics-exporter-prometheus`. The token read path emits nothing.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `drivekeep_provider_requests_total` | counter | `provider`, `endpoint`, `status` | requests to a provider; `status` is `2xx`, `3xx`, `4xx`, `429`, `5xx` or `error` (no answer) |
//! | `drivekeep_provider_request_seconds` | histogram | `provider`, `endpoint` | request latency, answer body included |
//! | `drivekeep_token_refreshes_total` | counter | `storage`, `outcome` | refresh calls to the provider: `ok`, `needs_login`, `reused`, `rate_limited`, `transient` |
//! | `drivekeep_token_refresh_seconds` | histogram | `storage` | a refresh call, its transient retries included |
//! | `drivekeep_token_flights_total` | counter | `storage`, `outcome` | slow-path runs (the hot path missed): `refreshed`, `adopted`, `cached`, `needs_login`, `logged_out`, `rate_limited`, `transient`, `save_failed`, `error` |
//! | `drivekeep_token_lease_waits_total` | counter | `storage` | flights that waited for another process's refresh lease |
//! | `drivekeep_token_lease_wait_seconds` | histogram | `storage` | how long they waited |
//! | `drivekeep_rate_limit_backoffs_total` | counter | `storage`, `source` | waits imposed by a provider's rate limit: `request` (a call waited and repeated) or `refresh` (refreshing paused) |
//!
//! `endpoint` is the request URL's path (a fixed set per provider), never its query string.

use std::time::Duration;

/// The status class label of an HTTP status.
pub(crate) fn status_class(status: u16) -> &'static str {
    match status {
        429 => "429",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

pub(crate) fn provider_request(
    provider: &'static str,
    endpoint: String,
    status: &'static str,
    latency: Duration,
) {
    metrics::counter!("drivekeep_provider_requests_total", "provider" => provider, "endpoint" => endpoint.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("drivekeep_provider_request_seconds", "provider" => provider, "endpoint" => endpoint)
        .record(latency.as_secs_f64());
}

pub(crate) fn rate_limit_backoff(storage: &str, source: &'static str) {
    metrics::counter!("drivekeep_rate_limit_backoffs_total", "storage" => storage.to_owned(), "source" => source)
        .increment(1);
}

pub(crate) fn refresh(storage: &str, outcome: &'static str, took: Duration) {
    metrics::counter!("drivekeep_token_refreshes_total", "storage" => storage.to_owned(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("drivekeep_token_refresh_seconds", "storage" => storage.to_owned())
        .record(took.as_secs_f64());
}

pub(crate) fn flight(storage: &str, outcome: &'static str) {
    metrics::counter!("drivekeep_token_flights_total", "storage" => storage.to_owned(), "outcome" => outcome)
        .increment(1);
}

pub(crate) fn lease_wait(storage: &str, waited: Duration) {
    metrics::counter!("drivekeep_token_lease_waits_total", "storage" => storage.to_owned())
        .increment(1);
    metrics::histogram!("drivekeep_token_lease_wait_seconds", "storage" => storage.to_owned())
        .record(waited.as_secs_f64());
}
