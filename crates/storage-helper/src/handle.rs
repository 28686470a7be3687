//! [`StorageHandle`]: one storage's config, the `get_conf` / `set_config` accessor.

use serde_json::{Map, Value};

use crate::conf::StorageConf;
use crate::entry::EntryMut;
use crate::error::{Error, Result};
use crate::events::StorageEvents;
use crate::helper::{STORAGES_KEY, StorageHelper};

/// One storage type's configuration. Cloud clients keep their tokens through this handle
/// and nothing else. Cheap to clone.
#[derive(Clone, Debug)]
pub struct StorageHandle {
    helper: StorageHelper,
    kind: String,
}

impl StorageHandle {
    pub(crate) fn new(helper: StorageHelper, kind: String) -> Self {
        Self { helper, kind }
    }

    /// The storage type this handle works on.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The helper this handle came from.
    pub fn helper(&self) -> &StorageHelper {
        &self.helper
    }

    /// The whole entry, if the storage exists.
    pub fn get(&self) -> Result<Option<StorageConf>> {
        self.helper.get(&self.kind)
    }

    /// The storage's config from the cache (`{}` when the storage does not exist).
    pub fn get_conf(&self) -> Result<Map<String, Value>> {
        Ok(self.get()?.map(|c| c.config).unwrap_or_default())
    }

    /// The storage's config read from the database, not the cache (for instance to adopt a
    /// token another process saved); the cache is refreshed on the way.
    pub async fn get_conf_fresh(&self) -> Result<Map<String, Value>> {
        self.helper.store().get_fresh(STORAGES_KEY).await?;
        self.get_conf()
    }

    /// Replaces the config (appends the storage when missing).
    pub async fn set_config(&self, config: Map<String, Value>) -> Result<bool> {
        self.helper.set_config(&self.kind, config).await
    }

    /// Merge-patches the config (RFC 7386).
    pub async fn patch(&self, patch: Value) -> Result<bool> {
        self.helper.patch(&self.kind, &patch).await
    }

    /// Atomic read-modify-write of the config; see [`StorageHelper::update_config`].
    pub async fn update_config<T, F>(&self, f: F) -> Result<(T, bool)>
    where
        F: FnMut(&mut Map<String, Value>) -> T + Send,
    {
        self.helper.update_config(&self.kind, f).await
    }

    /// Fallible read-modify-write; see [`StorageHelper::try_update_config`].
    pub async fn try_update_config<T, E, F>(&self, f: F) -> Result<(T, bool), E>
    where
        F: FnMut(&mut Map<String, Value>) -> Result<T, E> + Send,
        E: From<Error> + From<system_config::Error>,
    {
        self.helper.try_update_config(&self.kind, f).await
    }

    /// The whole entry read from the database, not the cache.
    pub async fn get_fresh(&self) -> Result<Option<StorageConf>> {
        self.helper.store().get_fresh(STORAGES_KEY).await?;
        self.get()
    }

    /// Atomic read-modify-write of the whole entry; see [`StorageHelper::try_update_entry`].
    pub async fn try_update_entry<T, E, F>(&self, f: F) -> Result<(T, bool), E>
    where
        F: FnMut(&mut EntryMut<'_>) -> Result<T, E> + Send,
        E: From<Error> + From<system_config::Error>,
    {
        self.helper.try_update_entry(&self.kind, f).await
    }

    /// Changes of this storage from now on.
    pub fn subscribe(&self) -> StorageEvents {
        StorageEvents::new(&self.helper, Some(self.kind.clone()))
    }
}
