//! The providers this library knows, and [`open`]: the right client for a storage entry,
//! chosen by its type.
//!
//! | provider | storage types | logins |
//! |---|---|---|
//! | `u115` | `u115`, `u115-…`, `u115_…` | QR |
//! | `alipan` | `alipan`, `alipan-…`, `alipan_…` | QR |
//! | `alist` | `alist`, `alist-…`, `alist_…` (OpenList / AList) | password, permanent token |
//!
//! Adding a provider: its folder under `providers/` declares a [`Registration`] (with
//! [`registration!`](crate::registry::registration)) and one line in [`PROVIDERS`] names it.

use std::collections::HashMap;

use storage_helper::StorageHelper;

use crate::error::{Error, Result};
use crate::http::{HttpClient, HttpOptions};
use crate::providers::{alipan, alist, u115};
use crate::storage::CloudStorage;
use crate::token::AccessorOptions;

/// Every provider, in the order their storage types are tried. One line per provider.
const PROVIDERS: &[&Registration] = &[
    &u115::REGISTRATION,
    &alipan::REGISTRATION,
    &alist::REGISTRATION,
];

/// How [`open`] sets up a client.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Base URL overrides by provider name: `u115` points every 115 host at one URL,
    /// `alipan` the Open Platform host, `alist` the OpenList server in place of the
    /// config's `url` (a simulator, a proxy).
    pub endpoints: HashMap<String, String>,
    /// Options of a dedicated HTTP client; `None` uses the process-wide client.
    pub http: Option<HttpOptions>,
    /// Token lifecycle tuning.
    pub accessor: AccessorOptions,
}

impl OpenOptions {
    /// Points provider `provider` (`u115`, `alipan`, `alist`) at `base_url`.
    pub fn endpoint(mut self, provider: impl Into<String>, base_url: impl Into<String>) -> Self {
        self.endpoints.insert(provider.into(), base_url.into());
        self
    }

    /// Uses a dedicated HTTP client with these options.
    pub fn http(mut self, options: HttpOptions) -> Self {
        self.http = Some(options);
        self
    }

    /// Sets the accessor options.
    pub fn accessor(mut self, options: AccessorOptions) -> Self {
        self.accessor = options;
        self
    }
}

/// What a provider's `open` function gets: the storage type and the options for it.
pub(crate) struct Target<'a> {
    /// The storage type (`u115`, `u115-work`, …).
    pub storage: &'a str,
    /// The base URL override for this provider, if any.
    pub endpoint: Option<&'a str>,
    /// Token lifecycle tuning.
    pub accessor: AccessorOptions,
    /// The HTTP client.
    pub http: HttpClient,
}

/// A provider as the registry knows it.
pub(crate) struct Registration {
    /// The provider's name: its storage type and the prefix of further ones.
    pub name: &'static str,
    /// Its name for people (`115`, `Aliyun Drive (alipan)`).
    pub display_name: &'static str,
    /// Builds its client.
    pub open: fn(&StorageHelper, Target<'_>) -> Result<Box<dyn CloudStorage>>,
}

impl Registration {
    /// Whether this provider serves `storage_type`: its name, or its name followed by
    /// `-` or `_` (`u115-work`).
    fn serves(&self, storage_type: &str) -> bool {
        storage_type
            .strip_prefix(self.name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_']))
    }
}

/// Declares a provider's [`Registration`] from its options and client types; the options
/// type has `at(base_url)`, `storage` and `accessor`, the client `with_http`.
macro_rules! registration {
    ($name:literal, $display_name:literal, $options:ty, $client:ty) => {
        /// This provider, as the registry knows it.
        pub(crate) const REGISTRATION: $crate::registry::Registration =
            $crate::registry::Registration {
                name: $name,
                display_name: $display_name,
                open: |storages, target| {
                    let mut options = target
                        .endpoint
                        .map_or_else(<$options>::default, <$options>::at);
                    options.storage = target.storage.to_owned();
                    options.accessor = target.accessor;
                    Ok(Box::new(<$client>::with_http(
                        storages,
                        options,
                        target.http,
                    )?))
                },
            };
    };
}
pub(crate) use registration;

fn registration_of(storage_type: &str) -> Option<&'static Registration> {
    PROVIDERS.iter().copied().find(|p| p.serves(storage_type))
}

/// The provider serving `storage_type` (`u115` for `u115-work`), if any.
pub fn provider_of(storage_type: &str) -> Option<&'static str> {
    registration_of(storage_type).map(|p| p.name)
}

/// The name for people of the provider serving `storage_type` (`115`, `Aliyun Drive
/// (alipan)`); the storage type itself when no provider serves it.
pub fn display_name(storage_type: &str) -> &str {
    registration_of(storage_type).map_or(storage_type, |p| p.display_name)
}

/// The names of every provider, in registration order.
pub fn providers() -> impl Iterator<Item = &'static str> {
    PROVIDERS.iter().map(|p| p.name)
}

/// The client for the storage `storage_type` of `storages`: the provider is chosen by the
/// type (`u115`, `u115-…`, `alipan`, `alipan-…`, `alist`, `alist-…`). The storage need not
/// exist yet (a login creates it). An unknown type is [`Error::UnknownStorageType`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use cloud_clients::{LoginKind, OpenOptions};
/// # let dir = tempfile::tempdir()?;
/// # let url = format!("sqlite://{}/user.db?mode=rwc", dir.path().display());
/// let storages = storage_helper::StorageHelper::new(system_config::SystemConfig::open(&url).await?);
/// let options = OpenOptions::default().endpoint("u115", "http://127.0.0.1:9");
/// let drive = cloud_clients::open(&storages, "u115-work", &options)?;
/// assert_eq!(drive.storage_type(), "u115-work");
/// assert_eq!(drive.display_name(), "115");
/// assert_eq!(drive.logins(), [LoginKind::Qr]);
/// assert!(cloud_clients::open(&storages, "onedrive", &options).is_err());
/// # Ok(()) }
/// ```
pub fn open(
    storages: &StorageHelper,
    storage_type: &str,
    options: &OpenOptions,
) -> Result<Box<dyn CloudStorage>> {
    let Some(provider) = registration_of(storage_type) else {
        return Err(Error::UnknownStorageType {
            storage: storage_type.to_owned(),
            supported: providers().collect::<Vec<_>>().join(", "),
        });
    };
    let http = match &options.http {
        Some(http) => HttpClient::new(http.clone())?,
        None => HttpClient::shared()?,
    };
    (provider.open)(
        storages,
        Target {
            storage: storage_type,
            endpoint: options.endpoints.get(provider.name).map(String::as_str),
            accessor: options.accessor.clone(),
            http,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_providers() {
        assert_eq!(provider_of("u115"), Some("u115"));
        assert_eq!(provider_of("u115-demo"), Some("u115"));
        assert_eq!(provider_of("u115_2"), Some("u115"));
        assert_eq!(provider_of("alipan"), Some("alipan"));
        assert_eq!(provider_of("alipan-work"), Some("alipan"));
        assert_eq!(provider_of("u1150"), None);
        assert_eq!(provider_of("local"), None);
        assert_eq!(providers().collect::<Vec<_>>(), ["u115", "alipan", "alist"]);
        assert_eq!(provider_of("alist"), Some("alist"));
        assert_eq!(display_name("u115-demo"), "115");
        assert_eq!(display_name("alipan"), "Aliyun Drive (alipan)");
        assert_eq!(display_name("local"), "local");
    }
}
