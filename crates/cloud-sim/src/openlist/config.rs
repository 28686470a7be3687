//! Configuration of the OpenList / AList simulator ([`crate::SimOpenList::start`]).
//!
//! Defaults follow a fresh OpenList install: 48-hour login tokens, `sign_all` on, links
//! that never expire, the guest user disabled, a lockout after 5 failed logins for 5
//! minutes, one Local-driver storage mounted at `/` (downloads are proxied by the server).

use std::time::Duration;

use crate::config::{Config115, Provider, Settings};

/// Which server release the simulator answers as. The releases differ in their login
/// error replies, the format of download-route errors and the move/copy answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flavor {
    /// AList v3.38: login errors are `code:400` (`failed find user: record not found`,
    /// `password is incorrect`, `password is empty`); `/d` and `/p` errors are a JSON
    /// envelope on HTTP 200; copy answers `{"tasks":[]}` and move `null`, neither checks
    /// for an existing target (it is replaced); the list `provider` is the driver name.
    Al338,
    /// OpenList v4.1.x (from v4.1.2): the v3 login errors, but download-route errors are
    /// an HTML page with the real HTTP status.
    Ol41,
    /// OpenList v4.2 and later (the default): every login refusal for an unknown user or a
    /// wrong password is `code:401 "Invalid username or password"`.
    #[default]
    Ol42,
}

impl Flavor {
    /// Whether this is AList rather than OpenList.
    pub(crate) fn is_alist(self) -> bool {
        self == Flavor::Al338
    }

    /// Whether login refusals use the v3 `code:400` messages.
    pub(crate) fn v3_login_errors(self) -> bool {
        self != Flavor::Ol42
    }

    /// The version string the server reports.
    pub(crate) fn version(self) -> &'static str {
        match self {
            Flavor::Al338 => "v3.38.0",
            Flavor::Ol41 => "v4.1.10",
            Flavor::Ol42 => "v4.2.5",
        }
    }
}

/// Configuration of the OpenList simulator.
#[derive(Clone, Debug)]
pub struct ConfigOpenList {
    /// The release to answer as. Default [`Flavor::Ol42`].
    pub flavor: Flavor,
    /// The password of the `admin` user created at start. Default `"admin-password"`.
    pub admin_password: String,
    /// Lifetime of a login token (`token_expires_in`, 48 hours by default), measured on
    /// the simulated clock.
    pub token_expires_in: Duration,
    /// The permanent ("admin") token of the settings. `None` generates one the way the
    /// server does: `openlist-<uuid><64 alphanumerics>` (`alist-…` for AList).
    pub permanent_token: Option<String>,
    /// Whether the guest user (no `Authorization` header) is enabled. Default `false`.
    pub guest_enabled: bool,
    /// The `sign_all` setting: every `/d` and `/p` link needs `?sign=`. Default `true`.
    pub sign_all: bool,
    /// The `link_expiration` setting: how long a sign stays valid. Zero (the default)
    /// signs with expiry 0, which never expires.
    pub link_expiration: Duration,
    /// `false` (default): the storage is Local-like and proxied, `raw_url` is
    /// `<base>/p/<path>?sign=…` and `/d` serves the bytes. `true`: the storage hands out
    /// direct links, `raw_url` is a simulated third-party URL (`/__sim/dl/…`) and `/d`
    /// answers `302` to it.
    pub direct_links: bool,
    /// UTC offset of the times the server reports, in minutes. Default 480 (`+08:00`).
    pub utc_offset_minutes: i32,
    /// Failed logins from one client IP before it is locked out. Default 5.
    pub max_auth_retries: u32,
    /// How long a locked-out IP stays locked after its last blocked attempt (simulated
    /// clock). Default 5 minutes.
    pub lock_duration: Duration,
    /// Delay added to every provider request. Default zero.
    pub request_delay: Duration,
    /// Per-user limit of authenticated requests per second (the real server has none;
    /// answered as a proxy in front of it would, HTTP 429). Default `None`.
    pub rate_limit_per_sec: Option<u32>,
}

impl Default for ConfigOpenList {
    fn default() -> Self {
        Self {
            flavor: Flavor::Ol42,
            admin_password: "admin-password".to_owned(),
            token_expires_in: Duration::from_secs(48 * 3600),
            permanent_token: None,
            guest_enabled: false,
            sign_all: true,
            link_expiration: Duration::ZERO,
            direct_links: false,
            utc_offset_minutes: 480,
            max_auth_retries: 5,
            lock_duration: Duration::from_secs(300),
            request_delay: Duration::ZERO,
            rate_limit_per_sec: None,
        }
    }
}

impl From<&ConfigOpenList> for Settings {
    fn from(c: &ConfigOpenList) -> Self {
        Self {
            provider: Provider::OpenList,
            request_delay: c.request_delay,
            rate_limit_per_sec: c.rate_limit_per_sec,
            default_account: super::ADMIN.to_owned(),
            ..Settings::from(Config115::default())
        }
    }
}
