//! Reads: served from the in-memory cache, never from the database, never awaiting.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::slot::Slot;
use crate::store::SystemConfig;

impl SystemConfig {
    /// The value under `key`, shared: no copy is made. `None` when the key is absent.
    pub fn get_arc(&self, key: impl AsRef<str>) -> Result<Option<Arc<Value>>> {
        let key = key.as_ref();
        let slot = self.inner.cache.read().get(key).cloned();
        match slot {
            None => Ok(None),
            Some(Slot::Value(value)) => Ok(Some(value)),
            Some(Slot::Corrupt(reason)) => Err(Error::CorruptValue {
                key: key.to_owned(),
                reason: reason.to_string(),
            }),
        }
    }

    /// A copy of the value under `key` (MoviePilot's `get`). `None` when absent.
    ///
    /// A row whose text is not JSON gives [`Error::CorruptValue`]; other keys are unaffected
    /// and the row is never rewritten by a read.
    pub fn get(&self, key: impl AsRef<str>) -> Result<Option<Value>> {
        Ok(self.get_arc(key)?.map(|v| (*v).clone()))
    }

    /// The value under `key`, deserialised as `T`.
    ///
    /// Values written by MoviePilot v1 (JSON text stored inside a JSON string) are read
    /// transparently when the string's content has the requested shape.
    pub fn get_as<T: DeserializeOwned>(&self, key: impl AsRef<str>) -> Result<Option<T>> {
        let key = key.as_ref();
        let Some(value) = self.get_arc(key)? else {
            return Ok(None);
        };
        match T::deserialize(&*value) {
            Ok(typed) => Ok(Some(typed)),
            Err(err) => {
                if let Value::String(text) = &*value
                    && let Ok(typed) = serde_json::from_str::<T>(text)
                {
                    return Ok(Some(typed));
                }
                Err(Error::Decode {
                    key: key.to_owned(),
                    reason: err.to_string(),
                })
            }
        }
    }

    /// Every readable key and value. Keys whose row is corrupt are left out; see
    /// [`corrupt_keys`](Self::corrupt_keys).
    pub fn all(&self) -> BTreeMap<String, Value> {
        self.inner
            .cache
            .read()
            .iter()
            .filter_map(|(k, slot)| slot.value().map(|v| (k.clone(), (*v).clone())))
            .collect()
    }

    /// Keys whose stored text is not valid JSON.
    pub fn corrupt_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .inner
            .cache
            .read()
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Corrupt(_)))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }
}
