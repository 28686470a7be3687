//! [`StorageHelper`]: the `Storages` list, read from the cache, written atomically.

use std::sync::Arc;

use serde_json::{Map, Value};
use system_config::{SystemConfig, Write};

use crate::conf::StorageConf;
use crate::entry::EntryMut;
use crate::error::{Error, Result, kind_of};
use crate::events::StorageEvents;
use crate::handle::StorageHandle;
use crate::patch::merge_patch;

/// The key holding every storage's configuration (defined once, by the migration that
/// seeds it: the lowest layer that needs it).
pub use system_config::migrations::STORAGES_KEY;

/// The `Storages` list of one configuration store. Cheap to clone.
///
/// Reads come from the store's memory cache. Every write is one atomic read-modify-write of
/// the list (see [`SystemConfig::try_update`]): it starts from the committed list, never from
/// a cached copy, so concurrent writers in any process or host all keep their change.
/// A `Storages` value that is not a list makes every call fail with [`Error::NotAList`]
/// and is never overwritten; list elements that are not objects are kept as they are and
/// skipped by lookups. When a type appears more than once (real MoviePilot databases have
/// that), reads and writes use the first entry and [`duplicates`](Self::duplicates) names
/// the type.
#[derive(Clone, Debug)]
pub struct StorageHelper {
    store: SystemConfig,
}

/// Index of the first object entry of type `kind`.
pub(crate) fn find(list: &[Value], kind: &str) -> Option<usize> {
    list.iter()
        .position(|e| e.get("type").and_then(Value::as_str) == Some(kind))
}

/// The entry's `config` object, created when missing or null.
fn config_mut<'a>(entry: &'a mut Value, kind: &str) -> Result<&'a mut Map<String, Value>> {
    let Value::Object(entry) = entry else {
        return Err(Error::NotFound {
            kind: kind.to_owned(),
        });
    };
    crate::entry::config_of(entry, kind)
}

fn default_name(kind: &str) -> &str {
    crate::DEFAULT_STORAGES
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(kind, |(_, name)| name)
}

/// The list inside a `Storages` value (`None` and `null` are an empty list).
pub(crate) fn as_list(value: Option<&Value>) -> Result<&[Value]> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(Error::NotAList {
            found: kind_of(other),
        }),
    }
}

impl StorageHelper {
    /// The helper for the `Storages` key of `store`.
    pub fn new(store: SystemConfig) -> Self {
        Self { store }
    }

    /// The underlying configuration store.
    pub fn store(&self) -> &SystemConfig {
        &self.store
    }

    /// A handle on one storage type: the `get_conf` / `set_config` accessor.
    pub fn handle(&self, kind: impl Into<String>) -> StorageHandle {
        StorageHandle::new(self.clone(), kind.into())
    }

    // ----- reads -----

    fn cached(&self) -> Result<Option<Arc<Value>>> {
        Ok(self.store.get_arc(STORAGES_KEY)?)
    }

    /// Every storage entry, in list order (non-object elements skipped).
    pub fn list(&self) -> Result<Vec<StorageConf>> {
        let value = self.cached()?;
        let list = as_list(value.as_deref())?;
        Ok(list
            .iter()
            .filter(|e| e.is_object())
            .filter_map(|e| match serde_json::from_value(e.clone()) {
                Ok(conf) => Some(conf),
                Err(err) => {
                    tracing::warn!(%err, "skipping a malformed storage entry");
                    None
                }
            })
            .collect())
    }

    /// The first storage of type `kind`.
    pub fn get(&self, kind: &str) -> Result<Option<StorageConf>> {
        let value = self.cached()?;
        let list = as_list(value.as_deref())?;
        let Some(index) = find(list, kind) else {
            return Ok(None);
        };
        let entry = &list[index];
        if let Some(config) = entry.get("config")
            && !config.is_object()
            && !config.is_null()
        {
            return Err(Error::ConfigNotAnObject {
                kind: kind.to_owned(),
                found: kind_of(config),
            });
        }
        serde_json::from_value(entry.clone())
            .map(Some)
            .map_err(|e| Error::MalformedEntry {
                kind: kind.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Storage types that appear more than once, in order of first appearance.
    pub fn duplicates(&self) -> Result<Vec<String>> {
        let value = self.cached()?;
        let list = as_list(value.as_deref())?;
        let mut seen: Vec<&str> = Vec::new();
        let mut dups: Vec<String> = Vec::new();
        for kind in list
            .iter()
            .filter_map(|e| e.get("type").and_then(Value::as_str))
        {
            if seen.contains(&kind) {
                if !dups.iter().any(|d| d == kind) {
                    dups.push(kind.to_owned());
                }
            } else {
                seen.push(kind);
            }
        }
        Ok(dups)
    }

    // ----- writes -----

    /// One atomic read-modify-write of the whole list. `f` may run more than once. A list
    /// `f` leaves as it found it is not written — not even as `[]` in place of a missing
    /// `Storages` key.
    pub(crate) async fn modify<T, E, F>(&self, mut f: F) -> Result<(T, bool), E>
    where
        F: FnMut(&mut Vec<Value>) -> Result<T, E> + Send,
        E: From<Error> + From<system_config::Error>,
    {
        self.store
            .try_update(STORAGES_KEY, |current| {
                let before = as_list(current).map_err(E::from)?;
                let mut list = before.to_vec();
                let output = f(&mut list)?;
                if list.as_slice() == before {
                    return Ok((Write::Keep, output));
                }
                Ok((Write::Set(Value::Array(list)), output))
            })
            .await
    }

    /// Replaces the config of storage `kind` (MoviePilot's `set_storage`), appending the
    /// storage when its type is missing. Returns whether anything changed.
    pub async fn set_config(&self, kind: &str, config: Map<String, Value>) -> Result<bool> {
        self.update_config(kind, |current| *current = config.clone())
            .await
            .map(|((), changed)| changed)
    }

    /// Applies a JSON merge patch (RFC 7386) to the config of storage `kind`, appending the
    /// storage when missing. Members the patch does not name are left as they are, so two
    /// writers patching different members both keep their change.
    pub async fn patch(&self, kind: &str, patch: &Value) -> Result<bool> {
        if !patch.is_object() {
            return Err(Error::ConfigNotAnObject {
                kind: kind.to_owned(),
                found: kind_of(patch),
            });
        }
        self.update_config(kind, |config| {
            let mut target = Value::Object(std::mem::take(config));
            merge_patch(&mut target, patch);
            if let Value::Object(map) = target {
                *config = map;
            }
        })
        .await
        .map(|((), changed)| changed)
    }

    /// Atomic read-modify-write of one storage's config: `f` edits the committed config in
    /// place (the storage is appended, with an empty config, when missing). Returns `f`'s
    /// output and whether anything changed. `f` may run more than once.
    pub async fn update_config<T, F>(&self, kind: &str, mut f: F) -> Result<(T, bool)>
    where
        F: FnMut(&mut Map<String, Value>) -> T + Send,
    {
        self.try_update_config(kind, |config| Ok::<_, Error>(f(config)))
            .await
    }

    /// Like [`update_config`](Self::update_config), but `f` may fail, and then nothing is
    /// written.
    pub async fn try_update_config<T, E, F>(&self, kind: &str, mut f: F) -> Result<(T, bool), E>
    where
        F: FnMut(&mut Map<String, Value>) -> Result<T, E> + Send,
        E: From<Error> + From<system_config::Error>,
    {
        self.modify(|list| {
            let index = match find(list, kind) {
                Some(index) => index,
                None => {
                    list.push(serde_json::json!({
                        "type": kind, "name": default_name(kind), "config": {}
                    }));
                    list.len() - 1
                }
            };
            let config = config_mut(&mut list[index], kind).map_err(E::from)?;
            f(config)
        })
        .await
    }

    /// Atomic read-modify-write of the whole entry of storage `kind` (its `type`, `name`,
    /// `config` and any other member), appending the storage when missing. For
    /// coordination data that must change in the same transaction as the config, such as
    /// a refresh lease beside the tokens. `f` may run more than once; on error nothing is
    /// written.
    ///
    /// When the storage is missing, `f` sees a new entry (`type`, default `name`, empty
    /// `config`); if `f` leaves that entry exactly as it was, it is not appended and
    /// nothing is written. Looking at a storage that does not exist never creates it.
    pub async fn try_update_entry<T, E, F>(&self, kind: &str, mut f: F) -> Result<(T, bool), E>
    where
        F: FnMut(&mut EntryMut<'_>) -> Result<T, E> + Send,
        E: From<Error> + From<system_config::Error>,
    {
        let blank = serde_json::json!({
            "type": kind, "name": default_name(kind), "config": {}
        });
        self.modify(|list| {
            let (index, appended) = match find(list, kind) {
                Some(index) => (index, false),
                None => {
                    list.push(blank.clone());
                    (list.len() - 1, true)
                }
            };
            let output = match &mut list[index] {
                Value::Object(entry) => f(&mut EntryMut::new(kind, entry)),
                _ => Err(E::from(Error::NotFound {
                    kind: kind.to_owned(),
                })),
            };
            if appended && list[index] == blank {
                list.pop();
            }
            output
        })
        .await
    }

    /// Appends a storage; fails with [`Error::AlreadyExists`] when its type is present.
    pub async fn add(&self, conf: StorageConf) -> Result<()> {
        let entry = serde_json::to_value(&conf).map_err(|e| Error::Encode(e.to_string()))?;
        self.modify(|list| {
            if let Some(kind) = conf.kind.as_deref()
                && find(list, kind).is_some()
            {
                return Err(Error::AlreadyExists {
                    kind: kind.to_owned(),
                });
            }
            list.push(entry.clone());
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Empties the config of storage `kind` (logs it out); [`Error::NotFound`] when missing.
    pub async fn reset(&self, kind: &str) -> Result<bool> {
        self.modify(|list| {
            let index = find(list, kind).ok_or_else(|| Error::NotFound {
                kind: kind.to_owned(),
            })?;
            config_mut(&mut list[index], kind)?.clear();
            Ok::<_, Error>(())
        })
        .await
        .map(|((), changed)| changed)
    }

    /// Removes the first storage of type `kind`; `false` when there was none.
    pub async fn remove(&self, kind: &str) -> Result<bool> {
        self.modify(|list| {
            if let Some(index) = find(list, kind) {
                list.remove(index);
            }
            Ok::<_, Error>(())
        })
        .await
        .map(|((), changed)| changed)
    }

    /// Changes of storages committed from now on (in this process, or arriving from other
    /// processes through [`SystemConfig::refresh`]).
    pub fn subscribe(&self) -> StorageEvents {
        StorageEvents::new(self, None)
    }
}
