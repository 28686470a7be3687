//! Exit codes, decided by the kind of error at the root of the chain.

/// A mistake in how the command was called, or in the configuration.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Something named on the command line does not exist (a path on a drive, a storage, a
/// key).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

/// Every exit code with its stable `kind` (the `kind` of `--json` errors) and meaning, as
/// `--help` lists them.
pub const CODES: &[(u8, &str, &str)] = &[
    (0, "ok", "success"),
    (1, "internal", "anything else"),
    (
        USAGE,
        "usage",
        "usage or configuration error (no database where one is needed, …)",
    ),
    (NEEDS_LOGIN, "needs_login", "a (new) login is needed"),
    (
        PROVIDER,
        "provider",
        "the provider refused, rate-limited or could not be reached",
    ),
    (DATABASE, "database", "the database failed"),
    (
        LOCAL_IO,
        "local_io",
        "a local file could not be read or written",
    ),
    (NOT_FOUND, "not_found", "what was named does not exist"),
    (
        130,
        "interrupted",
        "stopped by SIGINT (Ctrl-C), after saving a refresh under way",
    ),
    (
        143,
        "terminated",
        "stopped by SIGTERM, after saving a refresh under way",
    ),
];

/// The exit codes for `--help`.
pub fn help() -> String {
    let mut text = String::from("Exit codes (the `kind` of errors under --json):\n");
    for (code, kind, meaning) in CODES {
        text.push_str(&format!("  {code:>3}  {kind:<12} {meaning}\n"));
    }
    text
}

/// The stable `kind` of an exit code.
pub fn kind(code: u8) -> &'static str {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or("internal", |(_, kind, _)| kind)
}

/// Usage or configuration error.
pub const USAGE: u8 = 2;
/// A (new) login is needed.
pub const NEEDS_LOGIN: u8 = 3;
/// The provider refused, rate-limited or could not be reached.
pub const PROVIDER: u8 = 4;
/// The database failed.
pub const DATABASE: u8 = 5;
/// A local file could not be read or written (download destination missing, not
/// writable, disk full, an upload's source missing, …).
pub const LOCAL_IO: u8 = 6;
/// What was named does not exist.
pub const NOT_FOUND: u8 = 7;

fn storage_code(err: &storage_helper::Error) -> u8 {
    use storage_helper::Error as E;
    match err {
        E::NotFound { .. } => NOT_FOUND,
        E::AlreadyExists { .. } => USAGE,
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
        if cause.is::<NotFound>() {
            return NOT_FOUND;
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
                | E::LoginNotSupported { .. }
                | E::Unsupported { .. } => USAGE,
                E::LocalIo { .. } => LOCAL_IO,
                e if e.is_not_found() => NOT_FOUND,
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
