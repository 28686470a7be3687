//! Login as capabilities: a storage says which logins it offers ([`LoginKind`]) and hands
//! out the matching flow — [`QrLoginFlow`] (115, alipan), [`PasswordLogin`] (OpenList),
//! or none for a fixed token handed in by the application.

use std::fmt;
use std::time::Duration;

use crate::error::Result;
use crate::secret::Password;
use crate::storage::{LoginStatus, QrLogin};

/// A way a storage can be logged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginKind {
    /// A QR code scanned in the provider's phone app ([`QrLoginFlow`]).
    Qr,
    /// A user name and password ([`PasswordLogin`]).
    Password,
    /// A long-lived token the application hands in (no login flow).
    FixedToken,
}

impl LoginKind {
    /// In words: `QR login`, `password login`, `a fixed token`.
    pub fn describe(self) -> &'static str {
        match self {
            LoginKind::Qr => "QR login",
            LoginKind::Password => "password login",
            LoginKind::FixedToken => "a fixed token",
        }
    }
}

impl fmt::Display for LoginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The logins of `kinds` in words (`QR login, password login`), for messages.
pub(crate) fn describe_all(kinds: &[LoginKind]) -> String {
    if kinds.is_empty() {
        return "no login".into();
    }
    kinds
        .iter()
        .map(|k| k.describe())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A QR login: render the payload, let the user scan it, poll until it is final.
#[async_trait::async_trait]
pub trait QrLoginFlow: Send + Sync {
    /// Starts a QR login.
    async fn start_qr_login(&self) -> Result<QrLogin>;

    /// Waits up to `timeout` for the login's status to move on and returns it. When it is
    /// [`LoginStatus::Confirmed`], the tokens are saved before this returns. Dropping the
    /// future cancels the wait.
    async fn poll_qr_login(&self, login: &QrLogin, timeout: Duration) -> Result<LoginStatus>;
}

/// A login with user name and password; the session token it yields is saved before
/// [`login_with_password`](Self::login_with_password) returns. The password is never
/// logged or put into an error; a provider that must log in again by itself (OpenList,
/// whose sessions die with every server restart) stores it where the application keeps
/// it (MoviePilot's `password` field of the storage config), and nowhere else.
#[async_trait::async_trait]
pub trait PasswordLogin: Send + Sync {
    /// Logs in and saves the session token.
    async fn login_with_password(&self, username: &str, password: &Password) -> Result<()>;
}
