//! In-process change notifications, sent after the change is committed.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

/// One committed change of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The key that changed.
    pub key: String,
    /// The new value; `None` when the key was deleted (or its row became unreadable).
    pub value: Option<Arc<Value>>,
}

/// Why [`Subscription::recv`] returned no change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// The subscriber fell behind and this many changes were dropped; read the current
    /// value with [`SystemConfig::get`](crate::SystemConfig::get) and carry on receiving.
    #[error("the subscriber fell behind and missed {0} changes")]
    Lagged(u64),
    /// The store was dropped.
    #[error("the configuration store was closed")]
    Closed,
}

/// A stream of committed changes, from [`SystemConfig::subscribe`](crate::SystemConfig::subscribe)
/// or [`SystemConfig::subscribe_key`](crate::SystemConfig::subscribe_key).
#[derive(Debug)]
pub struct Subscription {
    pub(crate) receiver: broadcast::Receiver<Change>,
    pub(crate) key: Option<String>,
}

impl Subscription {
    /// Waits for the next change (of the subscribed key, if one was given).
    pub async fn recv(&mut self) -> Result<Change, SubscriptionError> {
        loop {
            match self.receiver.recv().await {
                Ok(change) => {
                    if self.key.as_deref().is_none_or(|k| k == change.key) {
                        return Ok(change);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    return Err(SubscriptionError::Lagged(n));
                }
                Err(broadcast::error::RecvError::Closed) => return Err(SubscriptionError::Closed),
            }
        }
    }
}
