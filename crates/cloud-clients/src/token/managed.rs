//! What one managed accessor owns besides its token: the storage handle, the provider,
//! the single-flight state ([`Flight`]) and the rescue files of tokens not yet saved
//! ([`Pending`]), written again when the accessor is dropped with tokens unsaved.

use std::sync::Arc;

use storage_helper::StorageHandle;

use super::options::AccessorOptions;
use super::rescue::{RescueDir, default_dir};
use crate::http::HttpClient;
use crate::provider::{Grant, TokenProvider};
use crate::secret::{AccessToken, RefreshToken};

/// Rotated tokens not yet in the database.
#[derive(Clone)]
pub(crate) struct Pending {
    pub grant: Grant,
    /// The refresh token the grant replaced.
    pub replaced: Option<RefreshToken>,
    pub obtained_at_ms: u64,
}

/// State of the slow path, guarded by the single-flight mutex.
#[derive(Default)]
pub(crate) struct Flight {
    /// Set after a definitive refusal: the reason and the refresh token that was refused.
    pub needs_login: Option<(String, Option<String>)>,
    /// When the sticky needs-login state last looked at the store.
    pub needs_login_checked_ms: u64,
    /// An access token the provider rejected: never adopt or serve it again.
    pub rejected: Option<AccessToken>,
    /// Rotated tokens whose save failed (also in a rescue file).
    pub pending_save: Option<Pending>,
    /// No refresh before this time (rate limited or transient back-off).
    pub backoff_until_ms: u64,
    /// Why, when the back-off follows a temporary failure rather than a rate limit.
    pub backoff_transient: Option<String>,
    /// What the current flight did, for its span and metrics.
    pub trace: FlightTrace,
}

/// What one flight did besides its result.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FlightTrace {
    /// The outcome when the flight succeeded: `refreshed`, `adopted` or `cached`.
    pub success: Option<&'static str>,
    /// How long it waited for another process's lease.
    pub lease_waited_ms: u64,
}

pub(crate) struct Managed {
    pub handle: StorageHandle,
    pub provider: Arc<dyn TokenProvider>,
    pub http: HttpClient,
    pub options: AccessorOptions,
    pub owner: String,
    pub flight: Arc<tokio::sync::Mutex<Flight>>,
    pub rescue: Option<RescueDir>,
}

/// This host's name as lease owners record it.
pub(crate) fn host_name() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".to_owned())
    })
}

fn owner_id() -> String {
    format!(
        "{}:{}:{:08x}",
        host_name(),
        std::process::id(),
        rand::random::<u32>()
    )
}

impl Managed {
    pub fn new(
        handle: StorageHandle,
        provider: Arc<dyn TokenProvider>,
        http: HttpClient,
        options: AccessorOptions,
    ) -> Self {
        let location = handle.helper().store().location();
        let rescue = location.as_deref().map(|location| {
            let dir = options
                .rescue_dir
                .clone()
                .unwrap_or_else(|| default_dir(Some(location)));
            RescueDir::new(dir, location, handle.kind())
        });
        Self {
            handle,
            provider,
            http,
            options,
            owner: owner_id(),
            flight: Arc::new(tokio::sync::Mutex::new(Flight::default())),
            rescue,
        }
    }

    /// Writes `pending` to its rescue file; `None` (logged) when that is impossible.
    pub fn write_rescue(&self, pending: &Pending) -> Option<std::path::PathBuf> {
        let rescue = self.rescue.as_ref()?;
        match rescue.write(
            &pending.grant,
            pending.replaced.as_ref(),
            pending.obtained_at_ms,
        ) {
            Ok(path) => Some(path),
            Err(err) => {
                tracing::error!(storage = %self.handle.kind(), %err, "could not write the rescue file for rotated tokens");
                None
            }
        }
    }

    /// The pending tokens are in the database: forget them and their rescue file.
    pub fn clear_pending(&self, flight: &mut Flight) {
        if let Some(pending) = flight.pending_save.take()
            && let Some(rescue) = &self.rescue
        {
            rescue.remove(pending.replaced.as_ref());
        }
    }
}

impl Drop for Managed {
    fn drop(&mut self) {
        // The last clone is gone with tokens still unsaved: make sure they are on disk.
        if let Ok(flight) = self.flight.try_lock()
            && let Some(pending) = &flight.pending_save
            && let Some(path) = self.write_rescue(pending)
        {
            tracing::warn!(storage = %self.handle.kind(), file = %path.display(), "rotated tokens not saved to the database; kept in a rescue file");
        }
    }
}
