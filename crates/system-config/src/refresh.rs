//! Bringing the cache up to date with the database: publishing one key, reloading every
//! row ([`SystemConfig::refresh`]), re-reading some keys ([`SystemConfig::get_fresh`], and the
//! coherence machinery after a notification).
//!
//! # Ordering
//!
//! Every change of the cache happens while the store's write lock is held, and every read
//! from the database that feeds the cache *starts* after that lock was taken. This process's
//! writes publish their committed value before releasing the lock. So a read that refreshes
//! the cache begins after every write this process has published, sees those commits (or
//! newer ones: both backends show a statement every commit that finished before it began),
//! and can never put an older value over a newer one this process just committed.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use serde_json::Value;

use crate::error::Result;
use crate::slot::{Slot, differs};
use crate::store::SystemConfig;
use crate::watch::Change;

impl SystemConfig {
    /// Puts `slot` in the cache and tells subscribers when it differs from what was there.
    /// Returns whether it did. Callers hold the write lock.
    pub(crate) fn publish(&self, key: &str, slot: Option<Slot>) -> bool {
        let changed = {
            let mut cache = self.inner.cache.write();
            let changed = differs(cache.get(key), slot.as_ref());
            if changed {
                match &slot {
                    Some(new) => {
                        cache.insert(key.to_owned(), new.clone());
                    }
                    None => {
                        cache.remove(key);
                    }
                }
            }
            changed
        };
        if changed {
            tracing::debug!(key, "configuration changed");
            let _ = self.inner.events.send(Change {
                key: key.to_owned(),
                value: slot.and_then(|s| s.value()),
            });
        }
        changed
    }

    /// Reloads every row from the database, so writes by other processes and hosts reach
    /// the cache; subscribers hear of each key that changed. Returns how many keys changed.
    ///
    /// With [`Coherence::Auto`](crate::Coherence::Auto) (the default) this happens by
    /// itself; calling it is still the way to pick up, at once, changes that nothing
    /// announces (e.g. SQL typed by hand on PostgreSQL).
    pub async fn refresh(&self) -> Result<usize> {
        let _queue = self.inner.write_lock.lock().await;
        crate::metrics::cache_reload(self.backend_name(), "all", 1);
        let rows = self
            .inner
            .pool
            .select_all(&self.inner.sql)
            .await
            .map_err(|e| self.sql_error(&e, "loading the configuration", None))?;
        let mut fresh: HashMap<String, Slot> = HashMap::with_capacity(rows.len());
        let mut unnamed = 0;
        for (key, value) in rows {
            let Some(key) = key.and_then(|k| String::from_utf8(k).ok()) else {
                // No caller can name such a key; it must not hide the others.
                unnamed += 1;
                continue;
            };
            // Rows come in id order: a later duplicate wins, as in MoviePilot's repair.
            fresh.insert(key, Slot::decode(value.as_deref()));
        }
        // Said once per change of their number, not at every (automatic) reload.
        if self.inner.unnamed_rows.swap(unnamed, Ordering::Relaxed) != unnamed && unnamed > 0 {
            tracing::warn!(
                rows = unnamed,
                "skipping configuration rows whose key is not UTF-8 text"
            );
        }
        let mut keys: Vec<String> = fresh.keys().cloned().collect();
        keys.extend(self.inner.cache.read().keys().cloned());
        keys.sort();
        keys.dedup();
        let mut changed = 0;
        for key in keys {
            let after = fresh.remove(&key);
            if self.publish(&key, after) {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Reads `key` from the database (not the cache), updates the cache, and returns it.
    pub async fn get_fresh(&self, key: impl AsRef<str>) -> Result<Option<Value>> {
        let key = key.as_ref();
        self.refresh_keys(std::slice::from_ref(&key)).await?;
        self.get(key)
    }

    /// Re-reads each of `keys` from the database under one hold of the write lock, and
    /// publishes what it finds (a missing row removes the key). Returns how many changed.
    pub(crate) async fn refresh_keys<K: AsRef<str>>(&self, keys: &[K]) -> Result<usize> {
        let _queue = self.inner.write_lock.lock().await;
        crate::metrics::cache_reload(self.backend_name(), "key", keys.len() as u64);
        let mut changed = 0;
        for key in keys {
            let key = key.as_ref();
            let row = self
                .inner
                .pool
                .select_one(&self.inner.sql, key)
                .await
                .map_err(|e| self.sql_error(&e, "reading", Some(key)))?;
            if self.publish(key, row.map(|row| Slot::decode(row.value.as_deref()))) {
                changed += 1;
            }
        }
        Ok(changed)
    }
}
