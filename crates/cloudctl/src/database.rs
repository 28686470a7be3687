//! Which database a command uses, and whether it may create one.
//!
//! In order of precedence:
//! 1. `--database-url URL`, `--db PATH` (a SQLite file) or `--moviepilot-config DIR` (at
//!    most one of them);
//! 2. `CLOUDCTL_DATABASE_URL`, then `CLOUDCTL_MOVIEPILOT_CONFIG` (the generic
//!    `DATABASE_URL` is ignored: one left by another program must not make us create
//!    tables in its database);
//! 3. the embedded SQLite file `data/user.db` under the working folder.
//!
//! A MoviePilot config folder is read the way MoviePilot reads it: `DB_TYPE` (`sqlite`,
//! the default, or `postgresql`) and `DB_POSTGRESQL_HOST`, `_PORT`, `_DATABASE`,
//! `_USERNAME`, `_PASSWORD` from the environment, else from `DIR/app.env`; SQLite is
//! `DIR/user.db`.
//!
//! Only `migrate`, `login` and `demo` create or migrate a database. Every other command on
//! a SQLite file that does not exist, or on a database without the `systemconfig` table,
//! stops with a configuration error naming what it tried — and creates nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::exit::UsageError;

/// Environment variable naming the database URL.
pub const URL_ENV: &str = "CLOUDCTL_DATABASE_URL";
/// Environment variable naming a MoviePilot config folder.
pub const MOVIEPILOT_ENV: &str = "CLOUDCTL_MOVIEPILOT_CONFIG";
/// The embedded default.
pub const DEFAULT_SQLITE: &str = "data/user.db";

/// Where the database is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// Any other URL (PostgreSQL, or a SQLite URL given as such).
    Url(String),
}

impl Location {
    /// The connection URL: SQLite files are created only when `create` (`mode=rwc`),
    /// otherwise opened read-write (`mode=rw`).
    pub fn url(&self, create: bool) -> String {
        match self {
            Location::Sqlite(path) => {
                let mode = if create { "rwc" } else { "rw" };
                format!("sqlite://{}?mode={mode}", path.display())
            }
            Location::Url(url) if !create => url.replace("mode=rwc", "mode=rw"),
            Location::Url(url) => url.clone(),
        }
    }

    /// The SQLite file, when the location is one (a URL `sqlite://PATH…` counts).
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match self {
            Location::Sqlite(path) => Some(path.clone()),
            Location::Url(url) => {
                let rest = url.strip_prefix("sqlite://")?;
                let path = rest.split('?').next()?;
                (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
            }
        }
    }

    /// How the location is shown to people: a path, or the URL without its password.
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(path) => path.display().to_string(),
            Location::Url(url) => system_config::redact_url(url),
        }
    }
}

/// The location from flags and the environment (see the module docs).
pub fn resolve(
    database_url: Option<String>,
    db: Option<PathBuf>,
    moviepilot: Option<PathBuf>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Location> {
    let given = [database_url.is_some(), db.is_some(), moviepilot.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(UsageError(
            "give at most one of --database-url, --db and --moviepilot-config".into(),
        )
        .into());
    }
    if let Some(url) = database_url {
        return Ok(Location::Url(url));
    }
    if let Some(path) = db {
        return Ok(Location::Sqlite(path));
    }
    if let Some(dir) = moviepilot {
        return moviepilot_location(&dir, env);
    }
    if let Some(url) = env(URL_ENV).filter(|u| !u.is_empty()) {
        return Ok(Location::Url(url));
    }
    if let Some(dir) = env(MOVIEPILOT_ENV).filter(|d| !d.is_empty()) {
        return moviepilot_location(Path::new(&dir), env);
    }
    Ok(Location::Sqlite(PathBuf::from(DEFAULT_SQLITE)))
}

/// `KEY=VALUE` lines of an env file (comments, blank lines, `export ` and quotes allowed).
fn read_env_file(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (key, value) = l.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((key.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

/// The database a MoviePilot config folder points at.
fn moviepilot_location(dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Location> {
    if !dir.is_dir() {
        return Err(UsageError(format!(
            "{} is not a MoviePilot config folder (no such folder)",
            dir.display()
        ))
        .into());
    }
    let file = read_env_file(&dir.join("app.env"));
    // The environment wins over app.env, as in MoviePilot.
    let get = |key: &str| env(key).or_else(|| file.get(key).cloned());
    let kind = get("DB_TYPE").unwrap_or_else(|| "sqlite".into());
    match kind.trim().to_ascii_lowercase().as_str() {
        "sqlite" | "" => Ok(Location::Sqlite(dir.join("user.db"))),
        "postgresql" | "postgres" => {
            let mut url = url::Url::parse("postgres://localhost/")?;
            let host = get("DB_POSTGRESQL_HOST").unwrap_or_else(|| "localhost".into());
            url.set_host(Some(&host))
                .map_err(|e| UsageError(format!("DB_POSTGRESQL_HOST `{host}`: {e}")))?;
            let port = get("DB_POSTGRESQL_PORT").unwrap_or_else(|| "5432".into());
            let port: u16 = port
                .trim()
                .parse()
                .map_err(|_| UsageError(format!("DB_POSTGRESQL_PORT `{port}` is not a port")))?;
            let _ = url.set_port(Some(port));
            let user = get("DB_POSTGRESQL_USERNAME").unwrap_or_else(|| "moviepilot".into());
            let _ = url.set_username(&user);
            if let Some(password) = get("DB_POSTGRESQL_PASSWORD") {
                let _ = url.set_password(Some(&password));
            }
            let database = get("DB_POSTGRESQL_DATABASE").unwrap_or_else(|| "moviepilot".into());
            url.set_path(&format!("/{database}"));
            Ok(Location::Url(url.to_string()))
        }
        other => Err(UsageError(format!(
            "DB_TYPE `{other}` in {} is neither sqlite nor postgresql",
            dir.display()
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn precedence_and_defaults() -> Result<()> {
        assert_eq!(
            resolve(None, None, None, &no_env)?,
            Location::Sqlite(PathBuf::from(DEFAULT_SQLITE))
        );
        let env = |k: &str| (k == URL_ENV).then(|| "postgres://h/db".to_owned());
        assert_eq!(
            resolve(None, None, None, &env)?,
            Location::Url("postgres://h/db".into())
        );
        // A flag beats the environment; two flags are a usage error.
        assert_eq!(
            resolve(None, Some("x.db".into()), None, &env)?,
            Location::Sqlite("x.db".into())
        );
        assert!(
            resolve(
                Some("sqlite::memory:".into()),
                Some("x.db".into()),
                None,
                &no_env
            )
            .is_err()
        );
        // The generic DATABASE_URL is not read.
        let generic = |k: &str| (k == "DATABASE_URL").then(|| "postgres://other/app".to_owned());
        assert_eq!(
            resolve(None, None, None, &generic)?,
            Location::Sqlite(PathBuf::from(DEFAULT_SQLITE))
        );
        Ok(())
    }

    #[test]
    fn moviepilot_config_folders() -> Result<()> {
        let dir = tempfile::tempdir()?;
        // No app.env: SQLite in the folder.
        assert_eq!(
            resolve(None, None, Some(dir.path().into()), &no_env)?,
            Location::Sqlite(dir.path().join("user.db"))
        );
        std::fs::write(
            dir.path().join("app.env"),
            "# MoviePilot\nDB_TYPE=postgresql\nDB_POSTGRESQL_HOST=db.lan\nDB_POSTGRESQL_PORT='5433'\n\
             DB_POSTGRESQL_DATABASE=mp\nDB_POSTGRESQL_USERNAME=mp\nDB_POSTGRESQL_PASSWORD=\"p@ss word\"\n",
        )?;
        let location = resolve(None, None, Some(dir.path().into()), &no_env)?;
        assert_eq!(
            location,
            Location::Url("postgres://mp:p%40ss%20word@db.lan:5433/mp".into())
        );
        assert_eq!(location.shown(), "postgres://mp:***@db.lan:5433/mp");
        // The environment overrides app.env.
        let env = |k: &str| (k == "DB_TYPE").then(|| "sqlite".to_owned());
        assert_eq!(
            resolve(None, None, Some(dir.path().into()), &env)?,
            Location::Sqlite(dir.path().join("user.db"))
        );
        assert!(resolve(None, None, Some(dir.path().join("missing")), &no_env).is_err());
        Ok(())
    }

    #[test]
    fn only_creating_commands_create_sqlite_files() {
        let file = Location::Sqlite("/x/user.db".into());
        assert_eq!(file.url(true), "sqlite:///x/user.db?mode=rwc");
        assert_eq!(file.url(false), "sqlite:///x/user.db?mode=rw");
        let url = Location::Url("sqlite:///y.db?mode=rwc".into());
        assert_eq!(url.url(false), "sqlite:///y.db?mode=rw");
        assert_eq!(url.sqlite_file(), Some(PathBuf::from("/y.db")));
    }
}
