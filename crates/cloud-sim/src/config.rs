//! Configuration of the 115 and alipan simulators (the OpenList one lives in
//! [`crate::openlist`]), and the settings every simulator's shared core reads.
//!
//! Defaults follow the provider documentation (7200 s access tokens, one-year 115 refresh
//! tokens, 90-day alipan refresh tokens, a 25 s long-poll); everything that makes tests slow
//! or that tests want to vary (long-poll timeout, lifetimes, rate limits, delays) can be set.

use std::time::Duration;

const DAY: u64 = 24 * 3600;

/// How the 115 simulator answers a request over the per-account rate limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RateLimitStyle115 {
    /// HTTP 429 with an `X-RateLimit-Reset` header (seconds until the window resets).
    #[default]
    Http429,
    /// HTTP 200, envelope code 770004, message containing `已达到当前访问上限`.
    Quota770004,
    /// HTTP 200, envelope code 406, message containing `已达到当前访问上限`.
    Quota406,
}

/// Configuration of the 115 simulator ([`crate::Sim115::start`]).
#[derive(Clone, Debug)]
pub struct Config115 {
    /// Lifetime of an access token (`expires_in`). Default 7200 s.
    pub access_lifetime: Duration,
    /// Lifetime of a refresh token from login. Refreshing keeps the original expiry.
    /// Default 365 days.
    pub refresh_lifetime: Duration,
    /// Minimum time between two successful refreshes of one account; a faster refresh gets
    /// code 40140117 and leaves the refresh token alive. Default zero (off).
    pub min_refresh_interval: Duration,
    /// Per-account limit of authenticated requests per second (refreshes included).
    /// Default `None` (off).
    pub rate_limit_per_sec: Option<u32>,
    /// How requests over the per-account limit are answered.
    pub rate_limit_style: RateLimitStyle115,
    /// How long a QR session stays valid (simulated clock). Default 300 s.
    pub qr_lifetime: Duration,
    /// How long `GET /get/status/` holds a request when nothing changes (wall time).
    /// Default 25 s.
    pub poll_timeout: Duration,
    /// Scan and confirm every new QR session after this long (wall time), as
    /// [`Config115::default_account`]. Default `None`.
    pub auto_confirm: Option<Duration>,
    /// Delay added to every provider request before it is handled. Default zero.
    pub request_delay: Duration,
    /// The account a QR confirmation logs in when none is named. Default `"sim-user"`.
    pub default_account: String,
    /// Accept only this `client_id` (APP ID) when set; any non-empty one otherwise.
    pub client_id: Option<String>,
    /// How long a download link from `/open/ufile/downurl` stays valid. Default 2 h.
    pub download_lifetime: Duration,
}

impl Default for Config115 {
    fn default() -> Self {
        Self {
            access_lifetime: Duration::from_secs(7200),
            refresh_lifetime: Duration::from_secs(365 * DAY),
            min_refresh_interval: Duration::ZERO,
            rate_limit_per_sec: None,
            rate_limit_style: RateLimitStyle115::Http429,
            qr_lifetime: Duration::from_secs(300),
            poll_timeout: Duration::from_secs(25),
            auto_confirm: None,
            request_delay: Duration::ZERO,
            default_account: "sim-user".to_owned(),
            client_id: None,
            download_lifetime: Duration::from_secs(7200),
        }
    }
}

/// Configuration of the alipan simulator ([`crate::SimAlipan::start`]).
#[derive(Clone, Debug)]
pub struct ConfigAlipan {
    /// Lifetime of an access token issued with a refresh token. Default 7200 s.
    pub access_lifetime: Duration,
    /// Lifetime of a refresh token. Default 90 days.
    pub refresh_lifetime: Duration,
    /// Whether a rotated refresh token gets a fresh [`ConfigAlipan::refresh_lifetime`]
    /// (`true`, the default) or keeps the expiry of the login's first token.
    pub refresh_extends_validity: bool,
    /// Lifetime of the access token of a PKCE login without client secret, which gets no
    /// refresh token. Default 30 days.
    pub pkce_access_lifetime: Duration,
    /// Minimum time between two successful refreshes of one account; a faster refresh gets
    /// HTTP 429 `TooManyRequests`. Default zero (off).
    pub min_refresh_interval: Duration,
    /// Per-account limit of authenticated requests per second. Default `None` (off).
    pub rate_limit_per_sec: Option<u32>,
    /// How long a QR session stays valid (simulated clock). Default 300 s.
    pub qr_lifetime: Duration,
    /// Scan and confirm every new QR session after this long (wall time). Default `None`.
    pub auto_confirm: Option<Duration>,
    /// Delay added to every provider request before it is handled. Default zero.
    pub request_delay: Duration,
    /// The account a QR confirmation logs in when none is named. Default `"sim-user"`.
    pub default_account: String,
    /// Accept only this `client_id` when set; any non-empty one otherwise.
    pub client_id: Option<String>,
    /// The application's secret. When set, a `client_secret` sent by a client must match it;
    /// when unset, any non-empty secret is accepted (and then required on refresh).
    pub client_secret: Option<String>,
    /// Whether `getDriveInfo` reports a `resource_drive_id` (granted resource drive).
    /// Default `true`.
    pub resource_drive: bool,
    /// How long a download link from `getDownloadUrl` stays valid. Default 900 s.
    pub download_lifetime: Duration,
    /// How long an `upload_url` (part PUT) from `create` / `getUploadUrl` stays valid on
    /// the simulated clock; an expired one answers 403 `Request has expired.`. Default
    /// 3600 s.
    pub upload_url_lifetime: Duration,
    /// Page size of `listUploadedParts` (`next_part_number_marker` pages). Default 100.
    pub list_parts_page_size: usize,
}

impl Default for ConfigAlipan {
    fn default() -> Self {
        Self {
            access_lifetime: Duration::from_secs(7200),
            refresh_lifetime: Duration::from_secs(90 * DAY),
            refresh_extends_validity: true,
            pkce_access_lifetime: Duration::from_secs(30 * DAY),
            min_refresh_interval: Duration::ZERO,
            rate_limit_per_sec: None,
            qr_lifetime: Duration::from_secs(300),
            auto_confirm: None,
            request_delay: Duration::ZERO,
            default_account: "sim-user".to_owned(),
            client_id: None,
            client_secret: None,
            resource_drive: true,
            download_lifetime: Duration::from_secs(900),
            upload_url_lifetime: Duration::from_secs(3600),
            list_parts_page_size: 100,
        }
    }
}

/// The provider a simulator plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provider {
    U115,
    Alipan,
    OpenList,
}

/// Every configuration flattened into the settings the shared core reads.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub provider: Provider,
    pub access_lifetime: Duration,
    pub refresh_lifetime: Duration,
    pub refresh_extends_validity: bool,
    pub pkce_access_lifetime: Duration,
    pub min_refresh_interval: Duration,
    pub rate_limit_per_sec: Option<u32>,
    pub rate_limit_style: RateLimitStyle115,
    pub qr_lifetime: Duration,
    pub poll_timeout: Duration,
    pub auto_confirm: Option<Duration>,
    pub request_delay: Duration,
    pub default_account: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub resource_drive: bool,
    pub download_lifetime: Duration,
    pub upload_url_lifetime: Duration,
    pub list_parts_page_size: usize,
    /// Bytes per second of download bodies and part uploads (`None`: unlimited).
    pub transfer_rate: Option<u64>,
}

impl From<Config115> for Settings {
    fn from(c: Config115) -> Self {
        Self {
            provider: Provider::U115,
            access_lifetime: c.access_lifetime,
            refresh_lifetime: c.refresh_lifetime,
            refresh_extends_validity: false,
            pkce_access_lifetime: c.access_lifetime,
            min_refresh_interval: c.min_refresh_interval,
            rate_limit_per_sec: c.rate_limit_per_sec,
            rate_limit_style: c.rate_limit_style,
            qr_lifetime: c.qr_lifetime,
            poll_timeout: c.poll_timeout,
            auto_confirm: c.auto_confirm,
            request_delay: c.request_delay,
            default_account: c.default_account,
            client_id: c.client_id,
            client_secret: None,
            resource_drive: false,
            download_lifetime: c.download_lifetime,
            upload_url_lifetime: Duration::from_secs(3600),
            list_parts_page_size: 100,
            transfer_rate: None,
        }
    }
}

impl From<ConfigAlipan> for Settings {
    fn from(c: ConfigAlipan) -> Self {
        Self {
            provider: Provider::Alipan,
            access_lifetime: c.access_lifetime,
            refresh_lifetime: c.refresh_lifetime,
            refresh_extends_validity: c.refresh_extends_validity,
            pkce_access_lifetime: c.pkce_access_lifetime,
            min_refresh_interval: c.min_refresh_interval,
            rate_limit_per_sec: c.rate_limit_per_sec,
            rate_limit_style: RateLimitStyle115::Http429,
            qr_lifetime: c.qr_lifetime,
            poll_timeout: Duration::ZERO,
            auto_confirm: c.auto_confirm,
            request_delay: c.request_delay,
            default_account: c.default_account,
            client_id: c.client_id,
            client_secret: c.client_secret,
            resource_drive: c.resource_drive,
            download_lifetime: c.download_lifetime,
            upload_url_lifetime: c.upload_url_lifetime,
            list_parts_page_size: c.list_parts_page_size,
            transfer_rate: None,
        }
    }
}
