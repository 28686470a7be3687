//! Cloud-drive clients whose access tokens keep themselves alive.
//!
//! The heart is [`TokenAccessor`]: MoviePilot's `access_token` property, made async and
//! correct when many tasks, processes and hosts share one database. A valid token is
//! served from memory; an expiring one is refreshed exactly once — per expiry, across every
//! process sharing the database — and the rotated tokens are saved (merged into the
//! storage's config, next to fields such as drive ids) before anyone uses them.
//! `docs/token-lifecycle.md` in the repository walks through every step and failure class.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use cloud_clients::u115::{U115Client, U115Options};
//! use cloud_clients::{AccessToken, CloudStorage, Grant, RefreshToken, TokenState};
//! use futures::TryStreamExt;
//! use storage_helper::StorageHelper;
//! use system_config::SystemConfig;
//!
//! // A 115 simulator stands in for the real service here.
//! let sim = cloud_sim::Sim115::start(Default::default()).await?;
//! # let dir = tempfile::tempdir()?;
//! # let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
//! let storages = StorageHelper::new(SystemConfig::open(&url).await?);
//! let drive = U115Client::new(&storages, U115Options::at(sim.base_url()))?;
//!
//! // Tokens from a login are saved in the `u115` storage's config before they are used.
//! let pair = sim.login("alice");
//! sim.add_file("alice", "/Movies/Dune.mkv", b"...".to_vec())?;
//! drive
//!     .accessor()
//!     .save_login(Grant {
//!         access_token: AccessToken::new(pair.access_token.as_str()),
//!         refresh_token: pair.refresh_token.as_deref().map(RefreshToken::new),
//!         expires_in: pair.expires_in,
//!         extra: Default::default(),
//!     })
//!     .await?;
//!
//! // From now on: always a valid token, from memory while it lasts.
//! let token = drive.accessor().access_token().await?;
//! assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
//! assert!(matches!(drive.accessor().state(), TokenState::Valid { .. }));
//!
//! // Every file operation goes through the provider-neutral `CloudStorage` trait.
//! let movies = drive.stat("/Movies").await?.expect("exists");
//! let names: Vec<String> = drive.list(&movies).map_ok(|item| item.name).try_collect().await?;
//! assert_eq!(names, ["Dune.mkv"]);
//! # Ok(()) }
//! ```
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod clock;
mod download;
mod error;
mod http;
mod json;
mod keepalive;
mod limiter;
mod login;
mod metrics;
mod pkce;
mod provider;
mod providers;
mod registry;
mod secret;
mod state;
mod storage;
mod token;
mod tokens;
mod transfer;
mod transport;
mod util;

pub use providers::{alipan, alist, u115};

pub use clock::{Clock, ManualClock, SystemClock};
pub use download::{FALLBACK_FILE_NAME, MAX_FILE_NAME_BYTES, safe_file_name};
pub use error::{Error, ProviderErrorKind, Result};
pub use http::{HttpClient, HttpOptions, install_crypto_provider};
pub use keepalive::{KeepAlive, KeepAliveOptions};
pub use login::{LoginKind, PasswordLogin, QrLoginFlow};
pub use provider::{Grant, RefreshFailure, TokenProvider};
pub use registry::{OpenOptions, display_name, open, provider_of, providers};
pub use secret::{AccessToken, ClientSecret, Password, RefreshToken};
pub use state::TokenState;
pub use storage::{
    CloudStorage, DownloadLink, FileItem, FileKind, LoginStatus, Progress, QrLogin, Usage, join,
};
pub use token::{
    AccessorOptions, Call, Flushed, LEASE_MEMBER, LOGIN_STATE_MEMBER, LoginSummary, SummaryState,
    TokenAccessor,
};
pub use tokens::ExpiryMargin;
pub use transfer::hash::sha1_file;
pub use transfer::{Conflict, TransferPhase, UploadOptions, UploadProgress};
pub use util::format_timestamp_ms;
