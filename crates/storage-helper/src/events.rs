//! Which storage changed: per-type events derived from the store's committed changes.

use std::collections::VecDeque;

use serde_json::Value;
use system_config::{Subscription, SubscriptionError};

use crate::conf::StorageConf;
use crate::helper::{STORAGES_KEY, StorageHelper, as_list, find};

/// One storage whose entry changed (added, edited or removed), after the commit.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageChange {
    /// The storage type.
    pub kind: String,
    /// The entry now; `None` when the storage was removed.
    pub conf: Option<StorageConf>,
}

/// A stream of [`StorageChange`]s from [`StorageHelper::subscribe`] or
/// [`StorageHandle::subscribe`](crate::StorageHandle::subscribe).
///
/// It never misses a change for good: when it falls behind the store's event queue it
/// compares the current list with the last one it saw and reports every difference.
#[derive(Debug)]
pub struct StorageEvents {
    helper: StorageHelper,
    subscription: Subscription,
    only: Option<String>,
    last: Vec<Value>,
    pending: VecDeque<StorageChange>,
}

fn list_of(value: Option<&Value>) -> Vec<Value> {
    as_list(value).map(<[Value]>::to_vec).unwrap_or_default()
}

impl StorageEvents {
    pub(crate) fn new(helper: &StorageHelper, only: Option<String>) -> Self {
        let subscription = helper.store().subscribe_key(STORAGES_KEY);
        let last = list_of(
            helper
                .store()
                .get_arc(STORAGES_KEY)
                .ok()
                .flatten()
                .as_deref(),
        );
        Self {
            helper: helper.clone(),
            subscription,
            only,
            last,
            pending: VecDeque::new(),
        }
    }

    /// The next change; `None` once the store is closed.
    pub async fn recv(&mut self) -> Option<StorageChange> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                return Some(change);
            }
            let now = match self.subscription.recv().await {
                Ok(change) => list_of(change.value.as_deref()),
                Err(SubscriptionError::Lagged(_)) => list_of(
                    self.helper
                        .store()
                        .get_arc(STORAGES_KEY)
                        .ok()
                        .flatten()
                        .as_deref(),
                ),
                Err(SubscriptionError::Closed) => return None,
            };
            self.diff(now);
        }
    }

    fn diff(&mut self, now: Vec<Value>) {
        let mut kinds: Vec<&str> = Vec::new();
        for entry in self.last.iter().chain(now.iter()) {
            if let Some(kind) = entry.get("type").and_then(Value::as_str)
                && !kinds.contains(&kind)
            {
                kinds.push(kind);
            }
        }
        for kind in kinds {
            if self.only.as_deref().is_some_and(|only| only != kind) {
                continue;
            }
            let before = find(&self.last, kind).map(|i| &self.last[i]);
            let after = find(&now, kind).map(|i| &now[i]);
            if before != after {
                self.pending.push_back(StorageChange {
                    kind: kind.to_owned(),
                    conf: after.and_then(|e| serde_json::from_value(e.clone()).ok()),
                });
            }
        }
        self.last = now;
    }
}
