//! Opening a connection pool the way the store wants it, and naming the database it reaches.

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::error::{Error, Result, Scrubber, describe_db_err, redact_url};
use crate::options::StoreOptions;
#[cfg(feature = "sqlite")]
use crate::options::Synchronous;

/// Path of the SQLite file a URL names, if it names one.
fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

/// The identity of the database a URL names (see
/// [`SystemConfig::location`](crate::SystemConfig::location)).
pub(crate) fn location_of(url: &str) -> String {
    if let Some(path) = sqlite_file(url) {
        let path = std::path::Path::new(path);
        let absolute = std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_path_buf());
        return format!("sqlite://{}", absolute.display());
    }
    match url::Url::parse(url) {
        Ok(parsed) => format!(
            "{}://{}:{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            parsed.port().unwrap_or(5432),
            parsed.path()
        ),
        Err(_) => redact_url(url),
    }
}

/// Opens a connection pool the way the store does (SQLite: folder created, WAL, busy
/// timeout, durability setting; statement logging off everywhere), without migrating or
/// loading anything. For tools such as migration runners.
pub async fn connect(url: &str, options: &StoreOptions) -> Result<DatabaseConnection> {
    let scrubber = Scrubber::for_url(url);
    let connect_error = |message: String| Error::Connect {
        url: redact_url(url),
        message: scrubber.scrub(&message),
    };
    let is_sqlite = url.starts_with("sqlite:");
    if let Some(path) = sqlite_file(url)
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| connect_error(e.to_string()))?;
    }
    let mut connect = ConnectOptions::new(url);
    connect
        // Statement logging would print values, and values hold tokens.
        .sqlx_logging(false)
        .connect_timeout(options.connect_timeout)
        .acquire_timeout(options.connect_timeout)
        .max_connections(
            options
                .max_connections
                .unwrap_or(if is_sqlite { 4 } else { 8 }),
        );
    // PostgreSQL TLS needs no code here: sqlx reads `sslmode` (`disable`, `prefer` — its
    // default —, `require`, `verify-ca`, `verify-full`), `sslrootcert` etc. from the URL.
    // It needs a TLS stack compiled in: this crate's `rustls` (default) or `native-tls`
    // feature; without one, `sslmode=require` fails to connect.
    #[cfg(feature = "sqlite")]
    if is_sqlite {
        if url.contains(":memory:") {
            // Every connection to :memory: is a database of its own.
            connect.max_connections(1);
        }
        let busy = options.busy_timeout;
        let synchronous = match options.synchronous {
            Synchronous::Full => sea_orm::sqlx::sqlite::SqliteSynchronous::Full,
            Synchronous::Normal => sea_orm::sqlx::sqlite::SqliteSynchronous::Normal,
        };
        connect.map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(busy)
                .synchronous(synchronous)
        });
    }
    Database::connect(connect)
        .await
        .map_err(|e| connect_error(describe_db_err(&e)))
}
