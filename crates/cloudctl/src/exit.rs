//! Exit codes, decided by the kind of error at the root of the chain.

/// A mistake in how the command was called.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Usage or configuration error.
pub const USAGE: u8 = 2;
/// A (new) login is needed.
pub const NEEDS_LOGIN: u8 = 3;
/// The provider refused, rate-limited or could not be reached.
pub const PROVIDER: u8 = 4;
/// The database failed.
pub const DATABASE: u8 = 5;
/// A local file could not be written (download destination missing, not writable, disk
/// full, …).
pub const LOCAL_IO: u8 = 6;

fn storage_code(err: &storage_helper::Error) -> u8 {
    use storage_helper::Error as E;
    match err {
        E::NotFound { .. } | E::AlreadyExists { .. } => USAGE,
        // The stored configuration is malformed: a configuration error, not a failing
        // database.
        E::NotAList { .. } | E::ConfigNotAnObject { .. } | E::MalformedEntry { .. } => USAGE,
        _ => DATABASE,
    }
}

/// The exit code for `err`.
pub fn code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.is::<UsageError>() {
            return USAGE;
        }
        if let Some(signal) = cause.downcast_ref::<crate::signals::Interrupted>() {
            return signal.code;
        }
        if let Some(e) = cause.downcast_ref::<cloud_clients::Error>() {
            use cloud_clients::Error as E;
            return match e {
                E::LoggedOut { .. } | E::NeedsLogin { .. } | E::FixedTokenRejected { .. } => {
                    NEEDS_LOGIN
                }
                E::Configuration { .. }
                | E::UnknownStorageType { .. }
                | E::LoginNotSupported { .. } => USAGE,
                E::LocalIo { .. } => LOCAL_IO,
                E::Storage(inner) | E::SaveFailed { source: inner, .. } => storage_code(inner),
                _ => PROVIDER,
            };
        }
        if let Some(e) = cause.downcast_ref::<storage_helper::Error>() {
            return storage_code(e);
        }
        if cause.is::<system_config::Error>() {
            return DATABASE;
        }
    }
    1
}
