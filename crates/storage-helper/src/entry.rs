//! [`EntryMut`]: one storage's entry inside a write, with typed access to its `config` and
//! to the members kept beside it (a refresh lease, shared login state). This crate owns the
//! entry's layout; other crates change it only through these methods.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result, kind_of};

/// A storage's entry (`{"type", "name", "config", …}`) being changed inside an atomic
/// read-modify-write ([`StorageHandle::try_update_entry`](crate::StorageHandle::try_update_entry)).
#[derive(Debug)]
pub struct EntryMut<'a> {
    kind: &'a str,
    map: &'a mut Map<String, Value>,
}

impl<'a> EntryMut<'a> {
    pub(crate) fn new(kind: &'a str, map: &'a mut Map<String, Value>) -> Self {
        Self { kind, map }
    }

    /// The storage type.
    pub fn kind(&self) -> &str {
        self.kind
    }

    /// The entry as stored, for reading.
    pub fn raw(&self) -> &Map<String, Value> {
        self.map
    }

    /// The `config` object; `None` when absent or `null`, [`Error::ConfigNotAnObject`] when
    /// it holds something else.
    pub fn config(&self) -> Result<Option<&Map<String, Value>>> {
        match self.map.get("config") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(config)) => Ok(Some(config)),
            Some(other) => Err(Error::ConfigNotAnObject {
                kind: self.kind.to_owned(),
                found: kind_of(other),
            }),
        }
    }

    /// The `config` object for changing, created when absent or `null`.
    pub fn config_mut(&mut self) -> Result<&mut Map<String, Value>> {
        config_of(self.map, self.kind)
    }

    /// The member `name` beside the config, decoded; `None` when absent or malformed (a
    /// member another program wrote in another shape is ignored, never an error).
    pub fn member<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.map
            .get(name)
            .and_then(|value| T::deserialize(value).ok())
    }

    /// Sets the member `name` beside the config (never `type`, `name` or `config`).
    pub fn set_member<T: Serialize>(&mut self, name: &str, value: &T) -> Result<()> {
        if matches!(name, "type" | "name" | "config") {
            return Err(Error::Encode(format!(
                "`{name}` is not a member beside the config"
            )));
        }
        let value = serde_json::to_value(value).map_err(|e| Error::Encode(e.to_string()))?;
        self.map.insert(name.to_owned(), value);
        Ok(())
    }

    /// Removes the member `name` beside the config; `true` when it was there.
    pub fn remove_member(&mut self, name: &str) -> bool {
        !matches!(name, "type" | "name" | "config") && self.map.remove(name).is_some()
    }
}

/// The `config` object of an entry, created when missing or `null`.
pub(crate) fn config_of<'m>(
    entry: &'m mut Map<String, Value>,
    kind: &str,
) -> Result<&'m mut Map<String, Value>> {
    let config = entry
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()));
    if config.is_null() {
        *config = Value::Object(Map::new());
    }
    let found = kind_of(config);
    config
        .as_object_mut()
        .ok_or_else(|| Error::ConfigNotAnObject {
            kind: kind.to_owned(),
            found,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_access_to_config_and_members() -> Result<()> {
        let mut map = json!({"type": "u115", "config": null, "lease": {"n": 1}, "odd": "x"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut entry = EntryMut::new("u115", &mut map);
        assert_eq!(entry.config()?, None);
        entry.config_mut()?.insert("a".into(), json!(1));
        assert_eq!(entry.config()?.map(|c| c["a"].clone()), Some(json!(1)));
        #[derive(serde::Deserialize, Serialize, PartialEq, Debug)]
        struct Lease {
            n: u32,
        }
        assert_eq!(entry.member::<Lease>("lease"), Some(Lease { n: 1 }));
        assert_eq!(
            entry.member::<Lease>("odd"),
            None,
            "malformed reads as absent"
        );
        entry.set_member("lease", &Lease { n: 2 })?;
        assert_eq!(entry.raw()["lease"], json!({"n": 2}));
        assert!(entry.set_member("config", &1).is_err());
        assert!(!entry.remove_member("type"));
        assert!(entry.remove_member("lease"));
        assert!(!entry.remove_member("lease"));

        let mut bad = json!({"config": "oops"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut entry = EntryMut::new("u115", &mut bad);
        assert!(matches!(
            entry.config(),
            Err(Error::ConfigNotAnObject { .. })
        ));
        assert!(matches!(
            entry.config_mut(),
            Err(Error::ConfigNotAnObject { .. })
        ));
        Ok(())
    }
}
