//! Upload sessions kept on disk, so an upload interrupted by a crash, a kill or a reboot
//! continues where it stopped.
//!
//! One small JSON file per upload in the session folder (default
//! `$XDG_STATE_HOME/drivekeep/uploads`, i.e. `~/.local/state/drivekeep/uploads`), named by
//! a hash of the storage, the destination folder and name, the local file's absolute path,
//! size and modification time — so a changed local file never resumes into an old session.
//! It holds the provider's session ids (alipan: `file_id`, `upload_id`) and the part
//! layout; nothing secret. Written before the first part is sent, removed when the upload
//! completes; a session older than [`MAX_AGE`] is dropped (providers expire theirs too),
//! as is one the provider no longer knows.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::parts::PartPlan;

/// How long a session is kept for resuming.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 86_400);

/// What is needed to continue an upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The provider's ids for the upload (alipan: `drive_id`, `file_id`, `upload_id`).
    pub ids: serde_json::Map<String, serde_json::Value>,
    pub part_size: u64,
    pub count: u64,
    /// Unix ms when the session was created.
    pub created_ms: u64,
}

/// The session folder.
#[derive(Debug, Clone)]
pub(crate) struct SessionStore {
    dir: PathBuf,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The default session folder.
pub(crate) fn default_dir() -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state.join("drivekeep").join("uploads")
}

impl SessionStore {
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir: dir.unwrap_or_else(default_dir),
        }
    }

    /// The key of an upload of `local` (`size` bytes) to `name` in folder `folder_id`.
    pub fn key(storage: &str, folder_id: &str, name: &str, local: &Path, size: u64) -> String {
        let absolute = std::path::absolute(local).unwrap_or_else(|_| local.to_owned());
        let modified = std::fs::metadata(local)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let mut hasher = Sha256::new();
        for part in [
            storage.as_bytes(),
            folder_id.as_bytes(),
            name.as_bytes(),
            absolute.as_os_str().as_encoded_bytes(),
            &size.to_le_bytes(),
            &modified.to_le_bytes(),
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hex::encode(&hasher.finalize()[..16])
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The session under `key`, unless missing, unreadable or too old (then removed).
    pub fn load(&self, key: &str) -> Option<Session> {
        let path = self.path(key);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice::<Session>(&bytes) {
            Ok(session)
                if now_ms().saturating_sub(session.created_ms) < crate::token::ms(MAX_AGE) =>
            {
                Some(session)
            }
            _ => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// The session under `key` when it was cut the way `plan` cuts the file now (a session
    /// of another part size cannot be continued; the new one replaces it when saved).
    pub fn load_for(&self, key: &str, plan: &PartPlan) -> Option<Session> {
        self.load(key)
            .filter(|s| s.part_size == plan.part_size && s.count == plan.count)
    }

    /// Saves `session` under `key` (owner-only file, written whole then renamed).
    pub fn save(&self, key: &str, session: &Session) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(key);
        let tmp = self.dir.join(format!("{key}.json.tmp"));
        {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(&serde_json::to_vec(session).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
        }
        std::fs::rename(tmp, path)
    }

    /// Forgets the session under `key`.
    pub fn remove(&self, key: &str) {
        let _ = std::fs::remove_file(self.path(key));
    }

    /// A new session, stamped now.
    pub fn session(
        ids: serde_json::Map<String, serde_json::Value>,
        part_size: u64,
        count: u64,
    ) -> Session {
        Session {
            ids,
            part_size,
            count,
            created_ms: now_ms(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_expire_and_follow_the_local_file() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = SessionStore::new(Some(dir.path().join("uploads")));
        let local = dir.path().join("movie.mkv");
        std::fs::write(&local, b"1234")?;
        let key = SessionStore::key("alipan", "root", "movie.mkv", &local, 4);
        assert_eq!(store.load(&key), None);
        let mut ids = serde_json::Map::new();
        ids.insert("upload_id".into(), "u1".into());
        let session = SessionStore::session(ids, 16 << 20, 1);
        store.save(&key, &session)?;
        assert_eq!(store.load(&key), Some(session.clone()));
        // Continued only when the file is cut the same way.
        let same = PartPlan {
            size: 4,
            part_size: 16 << 20,
            count: 1,
        };
        assert_eq!(store.load_for(&key, &same), Some(session.clone()));
        let other = PartPlan {
            part_size: 8 << 20,
            ..same
        };
        assert_eq!(store.load_for(&key, &other), None);
        // Another destination, or a changed file, is another upload.
        assert_ne!(
            SessionStore::key("alipan", "root", "other.mkv", &local, 4),
            key
        );
        assert_ne!(
            SessionStore::key("alipan", "root", "movie.mkv", &local, 5),
            key
        );
        // Too old: dropped.
        let old = Session {
            created_ms: 0,
            ..session
        };
        store.save(&key, &old)?;
        assert_eq!(store.load(&key), None);
        assert!(!store.path(&key).exists());
        Ok(())
    }
}
