//! The few SQL statements the store runs, in each backend's dialect.
//!
//! Values travel as text: SQLite keeps MoviePilot's `JSON` column as text, PostgreSQL's is
//! `json` (compared as `value::text`, since `json = json` has no operator there).

use sea_orm::{DbBackend, Statement, Value as DbValue};

/// Statements for one backend.
#[derive(Debug)]
pub(crate) struct Sql {
    backend: DbBackend,
    select_one: &'static str,
    select_one_for_update: &'static str,
    select_all: &'static str,
    update: &'static str,
    insert: &'static str,
    delete: &'static str,
}

impl Sql {
    pub(crate) fn new(backend: DbBackend) -> Self {
        match backend {
            DbBackend::Postgres => Self {
                backend,
                select_one: "SELECT CAST(id AS BIGINT), value::text FROM systemconfig WHERE \"key\" = $1 ORDER BY id DESC LIMIT 1",
                select_one_for_update: "SELECT CAST(id AS BIGINT), value::text FROM systemconfig WHERE \"key\" = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE",
                select_all: "SELECT \"key\", value::text FROM systemconfig WHERE \"key\" IS NOT NULL ORDER BY id",
                update: "UPDATE systemconfig SET value = $1::json WHERE id = $2",
                insert: "INSERT INTO systemconfig (\"key\", value) VALUES ($1, $2::json)",
                delete: "DELETE FROM systemconfig WHERE \"key\" = $1",
            },
            _ => Self {
                backend,
                select_one: "SELECT id, CAST(value AS TEXT) FROM systemconfig WHERE \"key\" = ? ORDER BY id DESC LIMIT 1",
                // The IMMEDIATE transaction already holds the write lock.
                select_one_for_update: "SELECT id, CAST(value AS TEXT) FROM systemconfig WHERE \"key\" = ? ORDER BY id DESC LIMIT 1",
                select_all: "SELECT \"key\", CAST(value AS TEXT) FROM systemconfig WHERE \"key\" IS NOT NULL ORDER BY id",
                update: "UPDATE systemconfig SET value = ? WHERE id = ?",
                insert: "INSERT INTO systemconfig (\"key\", value) VALUES (?, ?)",
                delete: "DELETE FROM systemconfig WHERE \"key\" = ?",
            },
        }
    }

    fn stmt<const N: usize>(&self, sql: &str, values: [DbValue; N]) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, values)
    }

    pub(crate) fn select_one(&self, key: &str, for_update: bool) -> Statement {
        let sql = if for_update {
            self.select_one_for_update
        } else {
            self.select_one
        };
        self.stmt(sql, [key.into()])
    }

    pub(crate) fn select_all(&self) -> Statement {
        Statement::from_string(self.backend, self.select_all)
    }

    pub(crate) fn update(&self, id: i64, text: String) -> Statement {
        self.stmt(self.update, [text.into(), id.into()])
    }

    pub(crate) fn insert(&self, key: &str, text: String) -> Statement {
        self.stmt(self.insert, [key.into(), text.into()])
    }

    pub(crate) fn delete(&self, key: &str) -> Statement {
        self.stmt(self.delete, [key.into()])
    }
}
