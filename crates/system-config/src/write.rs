//! Writes: `set`, `delete`, `update`, `try_update` — each one read-modify-write transaction
//! (see [`crate::txn`]), published to the cache and to subscribers only after its commit.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::store::SystemConfig;
use crate::txn::Current;

/// What an [`SystemConfig::try_update`] closure decides to do with the row.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Leave the row as it is.
    Keep,
    /// Store this value (nothing is written when it equals the current one).
    Set(Value),
    /// Delete the row.
    Delete,
}

/// Whether [`SystemConfig::set`] changed the stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The value differed and was written.
    Changed,
    /// The stored value was already equal; nothing was written.
    Unchanged,
}

impl SetOutcome {
    /// `true` for [`SetOutcome::Changed`].
    pub fn is_changed(self) -> bool {
        self == SetOutcome::Changed
    }
}

/// The result of [`SystemConfig::update`].
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The value stored after the update.
    pub value: Value,
    /// Whether the update wrote anything.
    pub changed: bool,
}

impl SystemConfig {
    /// Stores `value` under `key`, saying whether it changed. Falsy values (`[]`, `{}`, `""`,
    /// `0`, `null`) are stored, never turned into a deletion. Overwrites a corrupt row.
    pub async fn set(&self, key: impl AsRef<str>, value: Value) -> Result<SetOutcome> {
        let ((), changed) = self
            .transact(key.as_ref(), "setting", |_| {
                Ok::<_, Error>((Write::Set(value.clone()), ()))
            })
            .await?;
        Ok(if changed {
            SetOutcome::Changed
        } else {
            SetOutcome::Unchanged
        })
    }

    /// Serialises `value` and stores it like [`set`](Self::set).
    pub async fn set_as<T: Serialize + ?Sized>(
        &self,
        key: impl AsRef<str>,
        value: &T,
    ) -> Result<SetOutcome> {
        let key = key.as_ref();
        let value = serde_json::to_value(value).map_err(|e| Error::Encode {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.set(key, value).await
    }

    /// Deletes `key`; `true` when a row existed.
    pub async fn delete(&self, key: impl AsRef<str>) -> Result<bool> {
        let ((), changed) = self
            .transact(key.as_ref(), "deleting", |_| {
                Ok::<_, Error>((Write::Delete, ()))
            })
            .await?;
        Ok(changed)
    }

    /// Atomic read-modify-write: `f` gets the current value (read inside the transaction,
    /// never from the cache) and returns the new one.
    ///
    /// No update is lost against concurrent updaters in this process, in other processes on
    /// the same SQLite file, or on other hosts sharing the PostgreSQL database. `f` may run
    /// more than once (on PostgreSQL insert races); keep it free of side effects. A corrupt
    /// row gives [`Error::CorruptValue`] and is left untouched.
    pub async fn update<F>(&self, key: impl AsRef<str>, mut f: F) -> Result<Updated>
    where
        F: FnMut(Option<&Value>) -> Value + Send,
    {
        let (value, changed) = self
            .try_update(key, |current| {
                let new = f(current);
                Ok::<_, Error>((Write::Set(new.clone()), new))
            })
            .await?;
        Ok(Updated { value, changed })
    }

    /// The general read-modify-write: `f` decides a [`Write`] and an output, or fails with
    /// its own error (then nothing is written). Returns the output and whether the
    /// database changed.
    pub async fn try_update<T, E, F>(&self, key: impl AsRef<str>, mut f: F) -> Result<(T, bool), E>
    where
        F: FnMut(Option<&Value>) -> Result<(Write, T), E> + Send,
        E: From<Error>,
    {
        let key = key.as_ref();
        self.transact(key, "updating", |current| match current {
            Current::Missing => f(None),
            Current::Value(value) => f(Some(value)),
            Current::Corrupt(reason) => Err(E::from(Error::CorruptValue {
                key: key.to_owned(),
                reason: reason.clone(),
            })),
        })
        .await
    }
}
