//! A cached row: a decoded JSON value, or the reason its stored bytes are not one.

use std::sync::Arc;

use serde_json::Value;

/// A cached row.
#[derive(Debug, Clone)]
pub(crate) enum Slot {
    Value(Arc<Value>),
    /// The row's text is not JSON; the reason is kept for the error.
    Corrupt(Arc<str>),
}

impl Slot {
    /// Decides what a stored value is from its raw bytes (`None`: SQL `NULL`). Never fails:
    /// bytes that are not UTF-8 text, or text that is not JSON, make a corrupt slot.
    pub(crate) fn decode(bytes: Option<&[u8]>) -> Slot {
        let Some(bytes) = bytes else {
            return Slot::Value(Arc::new(Value::Null));
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                return Slot::Corrupt(Arc::from(format!(
                    "the stored bytes are not UTF-8 text: {err}"
                )));
            }
        };
        match serde_json::from_str(text) {
            Ok(value) => Slot::Value(Arc::new(value)),
            Err(err) => Slot::Corrupt(Arc::from(err.to_string())),
        }
    }

    /// Whether two slots hold the same value (or the same corruption).
    pub(crate) fn same(&self, other: &Slot) -> bool {
        match (self, other) {
            (Slot::Value(a), Slot::Value(b)) => Arc::ptr_eq(a, b) || a == b,
            (Slot::Corrupt(a), Slot::Corrupt(b)) => a == b,
            _ => false,
        }
    }

    /// The value, unless the row is corrupt.
    pub(crate) fn value(&self) -> Option<Arc<Value>> {
        match self {
            Slot::Value(v) => Some(Arc::clone(v)),
            Slot::Corrupt(_) => None,
        }
    }
}

/// Whether the cache entry `before` and the database's `after` differ (`None`: no row).
pub(crate) fn differs(before: Option<&Slot>, after: Option<&Slot>) -> bool {
    match (before, after) {
        (None, None) => false,
        (Some(a), Some(b)) => !a.same(b),
        _ => true,
    }
}
