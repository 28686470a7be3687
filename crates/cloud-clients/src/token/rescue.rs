//! Rescue files: rotated tokens that are not (yet) in the database.
//!
//! 115 and alipan rotate the refresh token on every refresh: once the provider has
//! answered, the old refresh token is dead and the new one exists only in this process
//! until the save commits. So the answer is written here first — a small JSON file,
//! owner-only (0600), written to a temporary name, synced and renamed — and removed once
//! the database holds it. A process that dies, is killed, or gives up on a database that
//! stays unreachable leaves the file behind; the next process that uses the same storage
//! of the same database replays it into the database, unless the database already holds
//! a different (newer) login. Files are named per database and storage, plus a
//! fingerprint of the refresh token they replace, so concurrent processes never touch
//! each other's file. Secrets in them never reach a log.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::provider::Grant;
use crate::secret::{AccessToken, RefreshToken};

/// A short, stable fingerprint of a secret (the first 8 bytes of its SHA-256, in hex):
/// enough to tell tokens apart, useless for using one.
pub(crate) fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// What a rescue file holds.
#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    storage: String,
    /// Fingerprint of the refresh token this grant replaced (`None`: there was none).
    replaces: Option<String>,
    obtained_at_ms: u64,
    access_token: String,
    refresh_token: Option<String>,
    expires_in: u64,
    #[serde(default)]
    extra: Map<String, Value>,
}

/// A grant read back from a rescue file.
pub(crate) struct Rescued {
    pub path: PathBuf,
    pub grant: Grant,
    pub replaces: Option<String>,
    pub obtained_at_ms: u64,
}

/// Where the rescue files of one storage of one database live.
#[derive(Debug, Clone)]
pub(crate) struct RescueDir {
    dir: PathBuf,
    /// `drivekeep-rescue.<database tag>.<storage>.`
    prefix: String,
    storage: String,
}

/// The default folder: a SQLite database's own folder, else the user's state folder.
pub(crate) fn default_dir(location: Option<&str>) -> PathBuf {
    if let Some(path) = location.and_then(sqlite_path)
        && let Some(parent) = Path::new(path).parent()
    {
        return if parent.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            parent.to_path_buf()
        };
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state.join("drivekeep")
}

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then_some(path)
}

impl RescueDir {
    /// The rescue files of `storage` in the database described by `location` (its URL
    /// without credentials), under `dir`.
    pub fn new(dir: PathBuf, location: &str, storage: &str) -> Self {
        let tag = &fingerprint(location)[..8];
        let safe: String = storage
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        Self {
            dir,
            prefix: format!("drivekeep-rescue.{tag}.{safe}."),
            storage: storage.to_owned(),
        }
    }

    fn path_for(&self, replaces: Option<&str>) -> PathBuf {
        self.dir.join(format!(
            "{}{}.json",
            self.prefix,
            replaces.unwrap_or("none")
        ))
    }

    /// Writes `grant` (obtained with the refresh token `replaced`) durably: temporary
    /// file, fsync, rename, fsync of the folder. Returns the file's path.
    pub fn write(
        &self,
        grant: &Grant,
        replaced: Option<&RefreshToken>,
        obtained_at_ms: u64,
    ) -> std::io::Result<PathBuf> {
        let replaces = replaced.map(|r| fingerprint(r.secret()));
        let record = Record {
            version: 1,
            storage: self.storage.clone(),
            replaces: replaces.clone(),
            obtained_at_ms,
            access_token: grant.access_token.secret().to_owned(),
            refresh_token: grant.refresh_token.as_ref().map(|r| r.secret().to_owned()),
            expires_in: grant.expires_in,
            extra: grant.extra.clone(),
        };
        let bytes = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path_for(replaces.as_deref());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        if let Ok(dir) = std::fs::File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(path)
    }

    /// Whether any rescue file of this storage is waiting (one folder listing).
    pub fn any(&self) -> bool {
        !self.files().is_empty()
    }

    fn files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&self.prefix) && n.ends_with(".json"))
            })
            .collect();
        files.sort();
        files
    }

    /// Every readable rescue file of this storage. A file that cannot be parsed is
    /// renamed to `*.unreadable` (kept for a person to look at) and skipped.
    pub fn read_all(&self) -> Vec<Rescued> {
        let mut found = Vec::new();
        for path in self.files() {
            let parsed = std::fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok())
                .filter(|r| r.version == 1 && !r.access_token.is_empty());
            match parsed {
                Some(record) => found.push(Rescued {
                    path,
                    grant: Grant {
                        access_token: AccessToken::new(record.access_token),
                        refresh_token: record.refresh_token.map(RefreshToken::new),
                        expires_in: record.expires_in,
                        extra: record.extra,
                    },
                    replaces: record.replaces,
                    obtained_at_ms: record.obtained_at_ms,
                }),
                None => {
                    tracing::warn!(storage = %self.storage, file = %path.display(), "unreadable rescue file set aside");
                    let _ = std::fs::rename(&path, path.with_extension("unreadable"));
                }
            }
        }
        found
    }

    /// Removes the rescue file for a grant that replaced `replaced`.
    pub fn remove(&self, replaced: Option<&RefreshToken>) {
        let path = self.path_for(replaced.map(|r| fingerprint(r.secret())).as_deref());
        remove_file(&path);
    }
}

/// Removes a file; a file already gone is fine.
pub(crate) fn remove_file(path: &Path) {
    if let Err(err) = std::fs::remove_file(path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %path.display(), %err, "could not remove a rescue file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            access_token: AccessToken::new("acc"),
            refresh_token: Some(RefreshToken::new("ref-new")),
            expires_in: 7200,
            extra: Map::new(),
        }
    }

    #[test]
    fn round_trip_owner_only_and_named_per_database_and_storage() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let a = RescueDir::new(dir.path().into(), "sqlite:///a/user.db", "u115");
        let b = RescueDir::new(dir.path().into(), "sqlite:///b/user.db", "u115");
        let old = RefreshToken::new("ref-old");
        let path = a.write(&grant(), Some(&old), 42)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path)?.permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(a.any());
        assert!(!b.any(), "another database's storage sees nothing");
        let read = a.read_all();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].grant, grant());
        assert_eq!(
            read[0].replaces.as_deref(),
            Some(fingerprint("ref-old").as_str())
        );
        assert_eq!(read[0].obtained_at_ms, 42);
        a.remove(Some(&old));
        assert!(!a.any());
        Ok(())
    }

    #[test]
    fn unreadable_files_are_set_aside_not_deleted() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let r = RescueDir::new(dir.path().into(), "x", "u115");
        let bad = dir.path().join(format!("{}none.json", r.prefix));
        std::fs::write(&bad, b"{not json")?;
        assert!(r.read_all().is_empty());
        assert!(bad.with_extension("unreadable").exists());
        assert!(!r.any());
        Ok(())
    }

    #[test]
    fn default_folder_is_the_sqlite_folder() {
        assert_eq!(
            default_dir(Some("sqlite:///srv/mp/config/user.db?mode=rwc")),
            PathBuf::from("/srv/mp/config")
        );
        assert_eq!(default_dir(Some("sqlite://user.db")), PathBuf::from("."));
        assert!(default_dir(Some("postgres://h/db")).ends_with("drivekeep"));
    }
}
