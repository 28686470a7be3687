//! What every command needs: the database, the storages, and clients for drives.

use std::collections::HashMap;

use anyhow::{Context as _, Result};
use cloud_clients::{CloudStorage, OpenOptions, TokenAccessor, provider_of};
use storage_helper::StorageHelper;
use system_config::{StoreOptions, SystemConfig};

use crate::database::Location;
use crate::exit::UsageError;

/// The database and endpoint overrides of one invocation.
pub struct Context {
    /// Where the database is.
    pub location: Location,
    /// Whether this command may create and migrate the database.
    pub creates: bool,
    /// The connection URL (SQLite files are created only when `creates`).
    pub database_url: String,
    pub endpoints: HashMap<String, String>,
    pub json: bool,
    /// The token accessors of every drive opened, for a bounded flush on SIGINT/SIGTERM.
    opened: std::sync::Mutex<Vec<TokenAccessor>>,
}

impl Context {
    pub fn new(location: Location, creates: bool, flags: &[String], json: bool) -> Result<Self> {
        let mut endpoints = HashMap::new();
        let from_env = std::env::var("CLOUDCTL_ENDPOINTS").unwrap_or_default();
        let listed = from_env
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .chain(flags.iter().cloned());
        for spec in listed {
            let (provider, url) = spec.split_once('=').ok_or_else(|| {
                UsageError(format!("--endpoint wants PROVIDER=URL, got `{spec}`"))
            })?;
            endpoints.insert(provider.trim().to_owned(), url.trim().to_owned());
        }
        Ok(Self {
            database_url: location.url(creates),
            location,
            creates,
            endpoints,
            json,
            opened: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The same database and options with one provider's endpoint replaced.
    pub fn with_endpoint(&self, provider: &str, url: &str) -> Context {
        let mut endpoints = self.endpoints.clone();
        endpoints.insert(provider.to_owned(), url.to_owned());
        Context {
            database_url: self.database_url.clone(),
            location: self.location.clone(),
            creates: self.creates,
            endpoints,
            json: self.json,
            opened: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The token accessors of the drives this invocation opened.
    pub fn accessors(&self) -> Vec<TokenAccessor> {
        self.opened
            .lock()
            .map(|opened| opened.clone())
            .unwrap_or_default()
    }

    /// Opens the configuration store: migrated when this command may create the database,
    /// otherwise it must exist already (see [`crate::database`]).
    pub async fn store(&self) -> Result<SystemConfig> {
        let missing = || {
            UsageError(format!(
                "no configuration database at {}: create it with `cloudctl migrate` (or log a \
                 drive in), or point at one with --db, --database-url or --moviepilot-config",
                self.location.shown()
            ))
        };
        if !self.creates
            && let Some(file) = self.location.sqlite_file()
            && !file.exists()
        {
            return Err(missing().into());
        }
        let mut options = StoreOptions::default();
        options.migrate = self.creates;
        match SystemConfig::open_with(&self.database_url, options).await {
            Err(system_config::Error::SchemaMissing) if !self.creates => Err(missing().into()),
            other => other.context("opening the configuration database"),
        }
    }

    /// The `Storages` list.
    pub async fn storages(&self) -> Result<StorageHelper> {
        Ok(StorageHelper::new(self.store().await?))
    }

    /// A client for a storage that must exist already, for every command but `login`
    /// (which may create it). A missing storage — also when `Storages` is missing or holds
    /// no such entry — is "not found" (exit 7), and a malformed entry (config not an object,
    /// `Storages` not a list, …) the storage helper's typed error, before any token or
    /// provider is asked: a read command neither writes nor reports such a storage as
    /// merely "not logged in".
    pub fn drive(&self, storages: &StorageHelper, storage: &str) -> Result<Box<dyn CloudStorage>> {
        if provider_of(storage).is_none() {
            return self.client(storages, storage);
        }
        if storages.get(storage)?.is_none() {
            return Err(crate::exit::NotFound(format!(
                "no storage `{storage}` in the `Storages` setting; log in with `cloudctl login \
                 {storage} --client-id …` or add it with `cloudctl storage add {storage}`"
            ))
            .into());
        }
        self.client(storages, storage)
    }

    /// A client for `storage`, whether or not the storage exists yet (for `login`).
    pub fn client(&self, storages: &StorageHelper, storage: &str) -> Result<Box<dyn CloudStorage>> {
        let drive = self.build(storages, storage)?;
        if let Ok(mut opened) = self.opened.lock() {
            opened.push(drive.accessor().clone());
        }
        Ok(drive)
    }

    fn build(&self, storages: &StorageHelper, storage: &str) -> Result<Box<dyn CloudStorage>> {
        let mut options = OpenOptions::default();
        options.endpoints = self.endpoints.clone();
        Ok(cloud_clients::open(storages, storage, &options)?)
    }
}

/// `TYPE:/path` → (`TYPE`, `/path`).
pub fn split_target(target: &str) -> Result<(&str, String)> {
    match target.split_once(':') {
        Some((storage, path)) if !storage.is_empty() => {
            let path = if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            };
            Ok((storage, path))
        }
        _ => Err(UsageError(format!(
            "expected TYPE:/path (like u115:/movies), got `{target}`"
        ))
        .into()),
    }
}
