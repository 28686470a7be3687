//! Seeds MoviePilot's default storages into the `Storages` key.
//!
//! When `Storages` is missing or an empty list, the five defaults are written; when it is a
//! list, default types that are missing are appended and existing entries are never touched;
//! running it again changes nothing. A `Storages` value that is not a list (or not JSON) is
//! left exactly as it is and reported in the log: a migration must never destroy a login.
//!
//! `down` deliberately changes nothing: removing a storage entry could delete a drive login
//! that was added after the seed, and the seed cannot tell the two apart.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement, Value as DbValue};
use serde_json::{Value, json};

use crate::TABLE;

/// The default storages MoviePilot's migrations seed, as `(type, name)`.
pub const DEFAULT_STORAGES: [(&str, &str); 5] = [
    ("local", "本地"),
    ("alipan", "阿里云盘"),
    ("u115", "115网盘"),
    ("rclone", "RClone"),
    ("alist", "AList"),
];

/// The key that holds every storage's configuration.
pub const STORAGES_KEY: &str = "Storages";

/// See the module documentation.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20250101_000002_seed_storages"
    }
}

/// What seeding did to a `Storages` value.
#[derive(Debug, PartialEq)]
pub enum Seeded {
    /// The new value to store, and how many default entries it added.
    Write(Value, usize),
    /// Every default type is present already.
    Unchanged,
    /// The value is not a list; it is left untouched.
    NotAList,
}

/// Adds the default storages missing from `current` (`None`: the key is absent).
pub fn seed(current: Option<&Value>) -> Seeded {
    let mut list = match current {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Seeded::NotAList,
    };
    let mut added = 0;
    for (kind, name) in DEFAULT_STORAGES {
        let present = list
            .iter()
            .any(|item| item.get("type").and_then(Value::as_str) == Some(kind));
        if !present {
            list.push(json!({"type": kind, "name": name, "config": {}}));
            added += 1;
        }
    }
    if added == 0 {
        Seeded::Unchanged
    } else {
        Seeded::Write(Value::Array(list), added)
    }
}

#[async_trait::async_trait]
#[allow(elided_lifetimes_in_paths)]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = manager.get_database_backend();
        let (select, update) = match backend {
            DbBackend::Postgres => (
                format!(
                    "SELECT CAST(id AS BIGINT), value::text FROM {TABLE} WHERE \"key\" = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE"
                ),
                format!("UPDATE {TABLE} SET value = $1::json WHERE id = $2"),
            ),
            _ => (
                format!(
                    "SELECT id, CAST(value AS TEXT) FROM {TABLE} WHERE \"key\" = ? ORDER BY id DESC LIMIT 1"
                ),
                format!("UPDATE {TABLE} SET value = ? WHERE id = ?"),
            ),
        };
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                select,
                [STORAGES_KEY.into()],
            ))
            .await?;
        let (id, current) = match row {
            Some(row) => {
                let id: i64 = row.try_get_by_index(0)?;
                let text: Option<String> = row.try_get_by_index(1)?;
                let parsed = match text.as_deref().map(serde_json::from_str::<Value>) {
                    None => None,
                    Some(Ok(value)) => Some(value),
                    Some(Err(err)) => {
                        tracing::warn!(%err, "Storages is not valid JSON; seeding skipped, value untouched");
                        return Ok(());
                    }
                };
                (Some(id), parsed)
            }
            None => (None, None),
        };
        match seed(current.as_ref()) {
            Seeded::Unchanged => tracing::info!("Storages already has every default storage"),
            Seeded::NotAList => {
                tracing::warn!("Storages is not a JSON list; seeding skipped, value untouched");
            }
            Seeded::Write(value, added) => {
                let text: DbValue = value.to_string().into();
                let stmt = match id {
                    Some(id) => Statement::from_sql_and_values(backend, update, [text, id.into()]),
                    None => {
                        // Allocate `id` the way the column allows (never altered by us).
                        let insert = crate::id_allocation(db).await?.insert_sql(backend);
                        Statement::from_sql_and_values(backend, insert, [STORAGES_KEY.into(), text])
                    }
                };
                db.execute_raw(stmt).await?;
                tracing::info!(added, "default storages seeded");
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // See the module documentation: removing storages could delete logins.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_missing_and_empty() {
        for current in [None, Some(json!([])), Some(Value::Null)] {
            let Seeded::Write(value, added) = seed(current.as_ref()) else {
                panic!("expected a write");
            };
            assert_eq!(added, 5);
            let types: Vec<_> = value
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["type"].as_str().unwrap())
                .collect();
            assert_eq!(types, ["local", "alipan", "u115", "rclone", "alist"]);
        }
    }

    #[test]
    fn appends_only_missing_and_keeps_existing_untouched() {
        let existing = json!([
            {"type": "u115", "name": "mine", "config": {"access_token": "x"}, "extra": 1},
            "not an object",
        ]);
        let Seeded::Write(value, added) = seed(Some(&existing)) else {
            panic!("expected a write");
        };
        assert_eq!(added, 4);
        assert_eq!(value[0], existing[0]);
        assert_eq!(value[1], existing[1]);
        assert_eq!(seed(Some(&value)), Seeded::Unchanged);
    }

    #[test]
    fn refuses_non_lists() {
        for bad in [json!({}), json!("[]"), json!(3)] {
            assert_eq!(seed(Some(&bad)), Seeded::NotAList);
        }
    }
}
