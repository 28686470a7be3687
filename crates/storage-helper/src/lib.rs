//! The `Storages` list: every drive's configuration, tokens included, as MoviePilot keeps it.
//!
//! All storages live as one JSON list under the key `Storages` of
//! [`system_config`]: `[{"type": "u115", "name": "115网盘", "config": {…}}, …]`.
//! [`StorageHelper`] reads it from the store's cache and changes it only through atomic
//! read-modify-write, so two writers never lose each other's change — not even when they
//! change different fields of the same storage ([`StorageHelper::patch`] applies a JSON
//! merge patch, RFC 7386). Entries and fields this crate does not know survive every write.
//!
//! [`StorageHandle`] is the per-storage `get_conf` / `set_config` accessor of the design,
//! through which cloud clients keep their tokens.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), storage_helper::Error> {
//! use serde_json::json;
//! use storage_helper::StorageHelper;
//! use system_config::SystemConfig;
//!
//! # let dir = tempfile::tempdir().unwrap();
//! # let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
//! let store = SystemConfig::open(&url).await?; // seeds the five default storages
//! let storages = StorageHelper::new(store);
//!
//! let u115 = storages.handle("u115");
//! u115.patch(json!({"access_token": "…", "expires_in": 7200})).await?;
//! // Another writer changes a different field of the same storage: both changes stay.
//! u115.patch(json!({"client_id": "my-app"})).await?;
//! let conf = u115.get_conf()?;
//! assert_eq!(conf["expires_in"], 7200);
//! assert_eq!(conf["client_id"], "my-app");
//! # Ok(()) }
//! ```
#![warn(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod conf;
mod entry;
mod error;
mod events;
mod handle;
mod helper;
mod patch;

pub use conf::{StorageConf, redact_config};
pub use entry::EntryMut;
pub use error::{Error, Result};
pub use events::{StorageChange, StorageEvents};
pub use handle::StorageHandle;
pub use helper::{STORAGES_KEY, StorageHelper};
pub use patch::merge_patch;
pub use system_config::migrations::DEFAULT_STORAGES;
