//! Typed errors of the cloud clients. None carries a token, a password or a URL with
//! credentials.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// `t` as an RFC 3339 UTC time with seconds (`2026-11-28T04:05:06Z`), for messages.
fn utc(t: &SystemTime) -> String {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    crate::util::format_timestamp_ms(ms)
}

/// What kind of refusal an [`Error::Provider`] is, as the provider's classifier decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// Nothing at that path or id.
    NotFound,
    /// An item of that name exists already.
    AlreadyExists,
    /// Any other refusal.
    Other,
}

/// What can go wrong when asking for a token or calling a provider.
///
/// `Clone`: sources that are not `Clone` are shared behind an [`Arc`], so every caller
/// that waited for one refresh gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No token is stored for this storage.
    #[error("{storage} is not logged in: no token is stored — log in first")]
    LoggedOut {
        /// The storage type.
        storage: String,
    },
    /// Only a new login (QR, password) helps.
    #[error("{storage} needs a new login: {reason}")]
    NeedsLogin {
        /// The storage type.
        storage: String,
        /// Why.
        reason: String,
    },
    /// The provider is rate-limiting us and no valid token is left to serve.
    #[error("{storage} is rate-limited by the provider; retry after {}", utc(.until))]
    RateLimited {
        /// The storage type.
        storage: String,
        /// When to retry.
        until: SystemTime,
    },
    /// A temporary failure (timeout, 5xx, reset, malformed answer) outlasted the retries.
    /// The stored tokens are untouched.
    #[error("{storage}: temporary provider failure, tokens untouched: {reason}")]
    Transient {
        /// The storage type.
        storage: String,
        /// What went wrong.
        reason: String,
    },
    /// The provider rotated the tokens but saving them failed; they are kept in memory and
    /// saved again before anything else on the next call.
    #[error("{storage}: refreshed tokens could not be saved yet (will retry): {source}")]
    SaveFailed {
        /// The storage type.
        storage: String,
        /// The storage error.
        #[source]
        source: Arc<storage_helper::Error>,
    },
    /// Reading or writing the storage configuration failed.
    #[error(transparent)]
    Storage(Arc<storage_helper::Error>),
    /// A provider call failed with the provider's own error.
    #[error("{storage}: the provider refused {operation}: {message} (code {code})")]
    Provider {
        /// The storage type.
        storage: String,
        /// What was attempted.
        operation: String,
        /// The class of the refusal.
        kind: ProviderErrorKind,
        /// The provider's error code.
        code: String,
        /// The provider's message.
        message: String,
    },
    /// The storage is not configured well enough for the operation.
    #[error("{storage}: {message}")]
    Configuration {
        /// The storage type.
        storage: String,
        /// What is missing and how to provide it.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be set up: {reason}")]
    Http {
        /// Why.
        reason: String,
    },
    /// Writing a local file failed (folder missing or not writable, disk full, …). Nothing
    /// is wrong with the provider or the login.
    #[error("writing {}: {source}", .path.display())]
    LocalIo {
        /// The local file that could not be written.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// A fixed token (handed in by the application) was rejected by the provider.
    #[error("{storage}: the fixed access token was rejected; hand in a new one")]
    FixedTokenRejected {
        /// The storage type.
        storage: String,
    },
    /// The storage cannot log in this way (a password login on a QR-only provider, …).
    #[error("{storage} does not support {login}; it supports: {supported}")]
    LoginNotSupported {
        /// The storage type.
        storage: String,
        /// The login asked for.
        login: crate::login::LoginKind,
        /// The logins it offers, in words.
        supported: String,
    },
    /// The storage cannot do this yet (e.g. upload on a provider without one).
    #[error("{storage} does not support {operation} yet")]
    Unsupported {
        /// The storage type.
        storage: String,
        /// What was asked (`uploading`).
        operation: String,
    },
    /// No provider serves this storage type.
    #[error("`{storage}` is not a storage type this library can open (supported: {supported})")]
    UnknownStorageType {
        /// The storage type asked for.
        storage: String,
        /// The provider names that are registered.
        supported: String,
    },
}

impl From<storage_helper::Error> for Error {
    fn from(e: storage_helper::Error) -> Self {
        Error::Storage(Arc::new(e))
    }
}

impl From<system_config::Error> for Error {
    fn from(e: system_config::Error) -> Self {
        Error::from(storage_helper::Error::Config(e))
    }
}

impl Error {
    /// Whether only a new login can fix this.
    pub fn needs_login(&self) -> bool {
        matches!(self, Error::NeedsLogin { .. } | Error::LoggedOut { .. })
    }

    /// Whether the provider said nothing is at that path or id.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Provider {
                kind: ProviderErrorKind::NotFound,
                ..
            }
        )
    }

    /// Whether the provider said an item of that name exists already.
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self,
            Error::Provider {
                kind: ProviderErrorKind::AlreadyExists,
                ..
            }
        )
    }

    /// Whether the provider is rate-limiting us.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Error::RateLimited { .. })
    }

    /// Whether this is a temporary failure (timeout, 5xx, reset, malformed answer) that a
    /// later attempt may not meet.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Transient { .. })
    }

    /// Whether a local file could not be written.
    pub fn is_local_io(&self) -> bool {
        matches!(self, Error::LocalIo { .. })
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::Error;

    #[test]
    fn times_are_shown_as_utc_not_as_debug() {
        let err = Error::RateLimited {
            storage: "u115".into(),
            until: UNIX_EPOCH + Duration::from_millis(1_764_302_706_789),
        };
        assert_eq!(
            err.to_string(),
            "u115 is rate-limited by the provider; retry after 2025-11-28T04:05:06Z"
        );
    }

    #[test]
    fn local_io_names_the_file_and_the_os_error() {
        let err = Error::LocalIo {
            path: "/no/such/folder/film.mkv.part".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
                .into(),
        };
        let text = err.to_string();
        assert_eq!(
            text,
            "writing /no/such/folder/film.mkv.part: No such file or directory"
        );
        assert!(!text.contains("provider"), "{text}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn clones_keep_the_class_the_message_and_the_source() {
        let err = Error::SaveFailed {
            storage: "u115".into(),
            source: std::sync::Arc::new(storage_helper::Error::NotFound {
                kind: "u115".into(),
            }),
        };
        let copy = err.clone();
        assert!(matches!(copy, Error::SaveFailed { .. }));
        assert_eq!(copy.to_string(), err.to_string());
        assert!(std::error::Error::source(&copy).is_some());
        let missing = Error::Provider {
            storage: "u115".into(),
            operation: "reading".into(),
            kind: super::ProviderErrorKind::NotFound,
            code: "x".into(),
            message: "gone".into(),
        };
        assert!(missing.clone().is_not_found() && !missing.is_already_exists());
        assert!(!missing.is_transient() && !missing.is_rate_limited());
    }
}
