//! Typed errors of the storage helper.

/// What can go wrong with the `Storages` list.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Storages` holds something other than a JSON list. Nothing was written.
    #[error(
        "the `Storages` setting holds {found}, not a list of storages; nothing was written and \
         the stored value is untouched — repair it (e.g. `cloudctl config get Storages`)"
    )]
    NotAList {
        /// What it holds: "an object", "a string", …
        found: &'static str,
    },
    /// A storage's `config` is not a JSON object. Nothing was written.
    #[error("the config of storage `{kind}` is {found}, not an object; nothing was written")]
    ConfigNotAnObject {
        /// The storage type.
        kind: String,
        /// What it holds.
        found: &'static str,
    },
    /// [`StorageHelper::add`](crate::StorageHelper::add) of a type that exists already.
    #[error("a storage of type `{kind}` exists already")]
    AlreadyExists {
        /// The storage type.
        kind: String,
    },
    /// The operation needs an existing storage of this type.
    #[error("there is no storage of type `{kind}`")]
    NotFound {
        /// The storage type.
        kind: String,
    },
    /// The storage's entry has members of the wrong type (e.g. a numeric `name`). Nothing
    /// was written.
    #[error("the entry of storage `{kind}` is malformed: {reason}")]
    MalformedEntry {
        /// The storage type.
        kind: String,
        /// What did not match.
        reason: String,
    },
    /// A storage configuration could not be turned into JSON.
    #[error("the storage configuration cannot be stored as JSON: {0}")]
    Encode(String),
    /// The configuration store failed (database unreachable, locked, corrupt row, …).
    #[error(transparent)]
    Config(#[from] system_config::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A JSON kind for messages.
pub(crate) fn kind_of(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
