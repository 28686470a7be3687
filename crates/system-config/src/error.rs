//! Typed errors of the store. No error text ever carries a database password.

use std::time::Duration;

use sea_orm::sqlx;
use sea_orm::{DbErr, RuntimeErr};

/// What can go wrong in the configuration store.
///
/// Every variant says what failed and, where there is one, on which key. Texts taken from
/// the database driver are scrubbed of the connection URL and its password first.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be reached or opened.
    #[error("cannot open the configuration database {url}: {message}")]
    Connect {
        /// The URL with its password replaced by `***`.
        url: String,
        /// The driver's explanation, scrubbed of secrets.
        message: String,
    },
    /// The database stayed locked by another writer for longer than the busy timeout.
    #[error(
        "the configuration database stayed locked for more than {busy_timeout:?} while {operation}{}; \
         another process holds a long write transaction — retry, or raise the busy timeout",
        key_suffix(key)
    )]
    Locked {
        /// What the store was doing.
        operation: &'static str,
        /// The key involved, if any.
        key: Option<String>,
        /// The configured busy timeout.
        busy_timeout: Duration,
    },
    /// A database error other than a lock timeout or a full disk (connection lost, a
    /// constraint or trigger refusing the write, …). A write that failed this way was
    /// rolled back — unless the connection was lost while its `COMMIT` was in flight, when
    /// only the database knows whether it committed.
    #[error("database error while {operation}{}: {message}", key_suffix(key))]
    Database {
        /// What the store was doing.
        operation: &'static str,
        /// The key involved, if any.
        key: Option<String>,
        /// The driver's explanation, scrubbed of secrets.
        message: String,
    },
    /// The `systemconfig` table does not exist: the database was never migrated, or the
    /// table was dropped after its migrations had been recorded as applied. Running the
    /// migrations creates it in both cases (after a drop it comes back empty, with the
    /// default storages).
    #[error(
        "the systemconfig table is missing (the database was never migrated, or the table was \
         dropped although its migrations are recorded as applied): run the migrations — \
         `cargo xtask migrate`, `migrations::run_up`, or open the store with \
         `StoreOptions::migrate` on — which create it, or recreate it empty with the default \
         storages when it was dropped"
    )]
    SchemaMissing,
    /// The disk holding the database is full. The write was rolled back: nothing of it was
    /// stored, and the cache and subscribers did not see it.
    #[error(
        "the configuration database ran out of disk space while {operation}{}; nothing of it \
         was written (the transaction was rolled back) — free space and retry",
        key_suffix(key)
    )]
    DiskFull {
        /// What the store was doing.
        operation: &'static str,
        /// The key involved, if any.
        key: Option<String>,
    },
    /// The row holds something that is not JSON text (invalid JSON, bytes that are not
    /// UTF-8, …). The row is left untouched.
    #[error(
        "the value stored under key `{key}` is not valid JSON ({reason}); it was left untouched — \
         repair it or overwrite it with `set`"
    )]
    CorruptValue {
        /// The key whose row is corrupt.
        key: String,
        /// Where parsing failed.
        reason: String,
    },
    /// The value is valid JSON but not of the type asked for.
    #[error("the value under key `{key}` does not have the expected shape: {reason}")]
    Decode {
        /// The key read.
        key: String,
        /// What did not match.
        reason: String,
    },
    /// A value could not be turned into JSON.
    #[error("the value for key `{key}` cannot be stored as JSON: {reason}")]
    Encode {
        /// The key written.
        key: String,
        /// Why serialisation failed.
        reason: String,
    },
    /// Concurrent writers kept conflicting (PostgreSQL insert races) beyond the retry limit.
    #[error("gave up updating key `{key}` after {attempts} conflicting attempts")]
    Conflict {
        /// The key written.
        key: String,
        /// How many attempts were made.
        attempts: u32,
    },
}

fn key_suffix(key: &Option<String>) -> String {
    key.as_ref()
        .map(|k| format!(" key `{k}`"))
        .unwrap_or_default()
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns `url` with its password (and any `password=` query parameter) replaced by `***`.
///
/// ```
/// assert_eq!(
///     system_config::redact_url("postgres://mp:hunter2@db:5432/mp"),
///     "postgres://mp:***@db:5432/mp"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Cannot fail for URLs that already carry a password.
                let _ = parsed.set_password(Some("***"));
            }
            let pairs: Vec<(String, String)> = parsed
                .query_pairs()
                .map(|(k, v)| {
                    let secret =
                        k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("key");
                    (
                        k.into_owned(),
                        if secret {
                            "***".to_owned()
                        } else {
                            v.into_owned()
                        },
                    )
                })
                .collect();
            if !pairs.is_empty() {
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Not a URL: show only the scheme-like prefix.
        Err(_) => match url.split_once(':') {
            Some((scheme, _))
                if !scheme.is_empty()
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
            {
                format!("{scheme}:[unparseable URL]")
            }
            _ => "[unparseable URL]".to_owned(),
        },
    }
}

/// Returns `text` with `url`, and the password inside it, replaced by redacted forms: for
/// tools that show driver messages about a connection they opened themselves.
pub fn scrub_url_secrets(text: &str, url: &str) -> String {
    Scrubber::for_url(url).scrub(text)
}

/// Removes every known secret from driver messages.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Scrubber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scrubber({} secrets)", self.secrets.len())
    }
}

impl Scrubber {
    pub(crate) fn for_url(url: &str) -> Self {
        let mut secrets = vec![url.to_owned()];
        if let Ok(parsed) = url::Url::parse(url) {
            if let Some(password) = parsed.password() {
                secrets.push(password.to_owned());
                if let Ok(decoded) = percent_encoding::percent_decode_str(password).decode_utf8() {
                    secrets.push(decoded.into_owned());
                }
            }
            for (k, v) in parsed.query_pairs() {
                if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("key") {
                    secrets.push(v.into_owned());
                }
            }
        }
        secrets.retain(|s| !s.is_empty());
        // Longest first, so a URL is replaced whole before its password is.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                let replacement = if secret.contains("://") {
                    redact_url(secret)
                } else {
                    "***".to_owned()
                };
                out = out.replace(secret.as_str(), &replacement);
            }
        }
        out
    }

    /// Classifies a sea-orm error into an [`Error`].
    pub(crate) fn db(
        &self,
        err: &DbErr,
        operation: &'static str,
        key: Option<&str>,
        busy_timeout: Duration,
    ) -> Error {
        if let Some(err) = sqlx_error(err) {
            return self.sqlx(err, operation, key, busy_timeout);
        }
        let message = self.scrub(&describe_db_err(err));
        classify_text(message, operation, key, busy_timeout)
    }

    /// Classifies a driver error into an [`Error`].
    pub(crate) fn sqlx(
        &self,
        err: &sqlx::Error,
        operation: &'static str,
        key: Option<&str>,
        busy_timeout: Duration,
    ) -> Error {
        let message = self.scrub(&describe_sqlx(err));
        let key = key.map(str::to_owned);
        if let Some(db) = err.as_database_error() {
            #[cfg(feature = "postgres")]
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                match pg.code() {
                    // undefined_table
                    "42P01" if pg.message().contains("\"systemconfig\"") => {
                        return Error::SchemaMissing;
                    }
                    // disk_full
                    "53100" => return Error::DiskFull { operation, key },
                    // lock_not_available (a lock_timeout set by the operator)
                    "55P03" => {
                        return Error::Locked {
                            operation,
                            key,
                            busy_timeout,
                        };
                    }
                    _ => {}
                }
                return classify_text(message, operation, key.as_deref(), busy_timeout);
            }
            if let Some(code) = db.code().and_then(|c| c.parse::<i32>().ok()) {
                // SQLite: the extended result code; the primary code is its low byte.
                match code & 0xff {
                    // SQLITE_BUSY, SQLITE_LOCKED
                    5 | 6 => {
                        return Error::Locked {
                            operation,
                            key,
                            busy_timeout,
                        };
                    }
                    // SQLITE_FULL
                    13 => return Error::DiskFull { operation, key },
                    _ => {}
                }
            }
        }
        classify_text(message, operation, key.as_deref(), busy_timeout)
    }
}

/// The sqlx error inside a sea-orm error, if there is one.
fn sqlx_error(err: &DbErr) -> Option<&sqlx::Error> {
    match err {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// A driver error's text for people: the database's own message, without the server
/// source-file line numbers sqlx appends to PostgreSQL errors (`… at line 3211`).
pub(crate) fn describe_sqlx(err: &sqlx::Error) -> String {
    match err.as_database_error() {
        Some(db) => {
            #[cfg(feature = "postgres")]
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                return format!("{} (SQLSTATE {})", pg.message(), pg.code());
            }
            // SQLite: "(code: 13) database or disk is full".
            strip_line_numbers(&db.to_string())
        }
        None => strip_line_numbers(&err.to_string()),
    }
}

/// [`describe_sqlx`] for sea-orm errors.
pub(crate) fn describe_db_err(err: &DbErr) -> String {
    match sqlx_error(err) {
        Some(err) => describe_sqlx(err),
        None => strip_line_numbers(&err.to_string()),
    }
}

/// Removes `" at line N"` (a PostgreSQL server source line, as sqlx prints it) wherever a
/// message embeds another error's text. Keeps `"at line N column M"`, which is a position in
/// the caller's own input.
fn strip_line_numbers(text: &str) -> String {
    const MARK: &str = " at line ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(MARK) {
        let after = &rest[pos + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &after[digits..];
        if digits > 0 && !tail.starts_with(" column") {
            out.push_str(&rest[..pos]);
            rest = tail;
        } else {
            out.push_str(&rest[..pos + MARK.len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Classifies an error known only by its (scrubbed) text.
fn classify_text(
    message: String,
    operation: &'static str,
    key: Option<&str>,
    busy_timeout: Duration,
) -> Error {
    let lower = message.to_ascii_lowercase();
    let key = key.map(str::to_owned);
    if lower.contains("database is locked")
        || lower.contains("database table is locked")
        || lower.contains("(code: 5)")
        || lower.contains("(code: 517)")
    {
        Error::Locked {
            operation,
            key,
            busy_timeout,
        }
    } else if lower.contains("database or disk is full") || lower.contains("(code: 13)") {
        Error::DiskFull { operation, key }
    } else if lower.contains("no such table: systemconfig")
        || lower.contains("relation \"systemconfig\" does not exist")
    {
        Error::SchemaMissing
    } else {
        Error::Database {
            operation,
            key,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_everywhere() {
        let url = "postgres://mp:s3cr%21t@db.local:5432/mp?sslmode=disable&password=other";
        let redacted = redact_url(url);
        assert!(!redacted.contains("s3cr"), "{redacted}");
        assert!(!redacted.contains("other"), "{redacted}");
        assert!(redacted.contains("db.local"));

        let scrubber = Scrubber::for_url(url);
        let text = format!("failed to connect to {url} with password s3cr!t and s3cr%21t");
        let scrubbed = scrubber.scrub(&text);
        assert!(!scrubbed.contains("s3cr"), "{scrubbed}");
        assert!(!scrubbed.contains("other"), "{scrubbed}");
        assert!(format!("{scrubber:?}").contains("secrets"));
    }

    #[test]
    fn server_line_numbers_are_removed() {
        assert_eq!(
            strip_line_numbers("relation \"x\" does not exist at line 1392"),
            "relation \"x\" does not exist"
        );
        assert_eq!(
            strip_line_numbers("Query Error: boom at line 3211; then: other at line 7 (x)"),
            "Query Error: boom; then: other (x)"
        );
        // A position in the caller's input is kept.
        assert_eq!(
            strip_line_numbers("expected value at line 1 column 2"),
            "expected value at line 1 column 2"
        );
        assert_eq!(strip_line_numbers("at line end"), "at line end");
    }

    #[test]
    fn unparseable_url_is_not_echoed() {
        assert_eq!(redact_url("postgres//user:pw@x"), "[unparseable URL]");
        assert_eq!(
            redact_url("postgres://u:pw@[bad"),
            "postgres:[unparseable URL]"
        );
    }
}
