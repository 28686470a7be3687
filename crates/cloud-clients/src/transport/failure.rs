//! The failure classes every provider's classifier maps its error envelope to, and how
//! each becomes a public [`Error`].

use std::time::Duration;

use serde_json::Value;

use crate::clock::to_system_time;
use crate::error::{Error, ProviderErrorKind};
use crate::provider::RefreshFailure;

/// A refusal as the provider worded it: HTTP status, its code, its message and any data it
/// sent with the error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Refusal {
    /// The HTTP status of the answer.
    pub status: u16,
    /// The provider's error code, as text.
    pub code: String,
    /// The provider's message.
    pub message: String,
    /// Data the provider sent with the error (`Null` when none).
    pub data: Value,
}

/// Why a provider call failed, in the classes shared code acts on. Only a provider's
/// classifier looks at its codes; everything else matches on these.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Failure {
    /// Nothing at that path or id.
    NotFound(Box<Refusal>),
    /// An item of that name exists already.
    AlreadyExists(Box<Refusal>),
    /// The access token was rejected: refresh once, repeat an idempotent call.
    TokenRejected(Box<Refusal>),
    /// The login is gone (refresh token revoked or expired).
    NeedsLogin(Box<Refusal>),
    /// The refresh token was already used (rotated by another refresher).
    Reused(Box<Refusal>),
    /// Slow down; the provider's reset hint when it gave one.
    RateLimited(Option<Duration>),
    /// Timeouts, resets, 5xx, malformed answers.
    Transient {
        /// What went wrong (no secrets, no URL).
        reason: String,
        /// Whether our own per-request timeout ended the call.
        timed_out: bool,
    },
    /// Any other refusal.
    Other(Box<Refusal>),
}

impl Failure {
    /// A temporary failure that is not a timeout.
    pub(crate) fn transient(reason: impl Into<String>) -> Self {
        Failure::Transient {
            reason: reason.into(),
            timed_out: false,
        }
    }

    /// The provider's refusal, when the failure is one.
    pub(crate) fn refusal(&self) -> Option<&Refusal> {
        match self {
            Failure::NotFound(r)
            | Failure::AlreadyExists(r)
            | Failure::TokenRejected(r)
            | Failure::NeedsLogin(r)
            | Failure::Reused(r)
            | Failure::Other(r) => Some(r),
            Failure::RateLimited(_) | Failure::Transient { .. } => None,
        }
    }

    /// The public error for `operation` on `storage`; `now_ms` dates a rate limit.
    pub(crate) fn into_error(self, storage: &str, operation: &str, now_ms: u64) -> Error {
        let storage = storage.to_owned();
        let kind = match &self {
            Failure::NotFound(_) => ProviderErrorKind::NotFound,
            Failure::AlreadyExists(_) => ProviderErrorKind::AlreadyExists,
            _ => ProviderErrorKind::Other,
        };
        match self {
            Failure::RateLimited(hint) => Error::RateLimited {
                storage,
                until: to_system_time(
                    now_ms
                        + hint.map_or(1_000, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                ),
            },
            Failure::Transient { reason, .. } => Error::Transient { storage, reason },
            Failure::NotFound(r)
            | Failure::AlreadyExists(r)
            | Failure::TokenRejected(r)
            | Failure::NeedsLogin(r)
            | Failure::Reused(r)
            | Failure::Other(r) => Error::Provider {
                storage,
                operation: operation.to_owned(),
                kind,
                code: r.code,
                message: r.message,
            },
        }
    }

    /// What a failed refresh at `provider` (`115`, `alipan`) means for the token lifecycle.
    pub(crate) fn into_refresh_failure(self, provider: &str) -> RefreshFailure {
        match self {
            Failure::RateLimited(retry_after) => RefreshFailure::RateLimited { retry_after },
            Failure::Transient { reason, .. } => RefreshFailure::Transient { reason },
            Failure::Reused(r) => RefreshFailure::Reused {
                reason: format!("{} ({})", r.message, r.code),
            },
            Failure::NeedsLogin(r) => RefreshFailure::NeedsLogin {
                reason: format!(
                    "{provider} refused the refresh token: {} ({})",
                    r.message, r.code
                ),
            },
            Failure::NotFound(r)
            | Failure::AlreadyExists(r)
            | Failure::TokenRejected(r)
            | Failure::Other(r) => RefreshFailure::NeedsLogin {
                reason: format!(
                    "{provider} rejected the refresh request (HTTP {}): {} ({})",
                    r.status, r.message, r.code
                ),
            },
        }
    }
}
