//! The error type of the simulator's control API.
//!
//! Provider-facing failures are never Rust errors: they are HTTP answers in the provider's
//! own shape. This type only covers what a test can get wrong when it drives the simulator
//! through its handle (an unknown QR session, a path that does not exist, a bind failure).

use std::io;

/// What went wrong when starting or driving a simulator through its handle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The loopback listener could not be bound or inspected.
    #[error("cloud-sim could not bind its loopback listener: {0}")]
    Bind(#[source] io::Error),
    /// No QR login session has this id (uid for 115, sid for alipan).
    #[error("no QR login session with id {0:?}; list sessions with `qr_sessions()`")]
    UnknownQr(String),
    /// The QR session is no longer pending, so it cannot be scanned, confirmed or cancelled.
    #[error("QR login session {id:?} is {state}, not pending")]
    QrNotPending {
        /// The session id.
        id: String,
        /// The state it is in.
        state: String,
    },
    /// No account has this name.
    #[error("no simulated account named {0:?}; create it with `create_account` or `login`")]
    UnknownAccount(String),
    /// No OpenList user has this name.
    #[error("no OpenList user named {0:?}; add it with `add_user`")]
    UnknownUser(String),
    /// A path given to a seeding method is not absolute or contains an empty segment.
    #[error("invalid simulated path {0:?}: use an absolute path such as \"/media/a.mkv\"")]
    InvalidPath(String),
    /// A path component exists but is a file where a folder is needed.
    #[error("{0:?} is a file, not a folder")]
    NotAFolder(String),
    /// An entry with this name already exists where a new one was to be created.
    #[error("{0:?} already exists")]
    AlreadyExists(String),
    /// A path that was expected to exist does not.
    #[error("{0:?} does not exist")]
    NotFound(String),
}

/// Result type of the simulator's control API.
pub type Result<T, E = Error> = std::result::Result<T, E>;
