//! The token core's transactions on the storage entry: the refresh lease, the shared
//! failure marks, saving a grant and replaying a rescued one.
//!
//! Every function here is one atomic read-modify-write of the storage's entry in the
//! `Storages` list (re-read from the database inside the transaction), so what it decides
//! is based on the committed state of every process and host.
//!
//! The entry looks like this (members beside `config` are ours; MoviePilot ignores them):
//!
//! ```json
//! {"type": "u115", "name": "115网盘",
//!  "config": {"access_token": "…", "refresh_token": "…", "expires_in": 7200, "refresh_time": 1764300000},
//!  "refresh_lease": {"owner": "host:pid:nonce", "expires_at_ms": 1764300060000},
//!  "login_state": {"needs_login": {"reason": "…", "refresh_token": "<fingerprint>", "since_ms": 1764300000000},
//!                  "rate_limited_until_ms": 1764300030000}}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use storage_helper::EntryMut;

use super::managed::Managed;
use super::options::{backoff, ms};
use super::rescue::{Rescued, fingerprint};
use super::{Ahead, TokenAccessor};
use crate::error::{Error, Result};
use crate::provider::Grant;
use crate::secret::{AccessToken, RefreshToken};
use crate::tokens::{Stored, merge_grant};

/// The entry member holding the cross-process refresh lease.
pub const LEASE_MEMBER: &str = "refresh_lease";
/// The entry member holding failure states shared by every process and host: "needs
/// login" (for one refresh token) and "rate limited until".
pub const LOGIN_STATE_MEMBER: &str = "login_state";

/// The shared failure states of a storage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Marks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_login: Option<NeedsLoginMark>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limited_until_ms: Option<u64>,
}

/// The provider refused this refresh token: nobody should try it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct NeedsLoginMark {
    pub reason: String,
    /// Fingerprint of the refused refresh token; the mark applies only while that token
    /// is the stored one (a new login changes it).
    pub refresh_token: Option<String>,
    pub since_ms: u64,
}

impl Marks {
    /// The marks of an entry; missing or malformed marks read as none.
    pub fn read(entry: &Map<String, Value>) -> Marks {
        entry
            .get(LOGIN_STATE_MEMBER)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// The reason, when a needs-login mark applies to the stored refresh token.
    pub fn needs_login_for(&self, stored_refresh: Option<&RefreshToken>) -> Option<&str> {
        let mark = self.needs_login.as_ref()?;
        let stored = stored_refresh.map(|r| fingerprint(r.secret()));
        (mark.refresh_token == stored).then_some(mark.reason.as_str())
    }

    /// The end of a rate limit still running at `now_ms`.
    pub fn rate_limited_at(&self, now_ms: u64) -> Option<u64> {
        self.rate_limited_until_ms.filter(|until| *until > now_ms)
    }

    fn store(self, entry: &mut EntryMut<'_>) -> Result<(), storage_helper::Error> {
        if self == Marks::default() {
            entry.remove_member(LOGIN_STATE_MEMBER);
            Ok(())
        } else {
            entry.set_member(LOGIN_STATE_MEMBER, &self)
        }
    }
}

/// A failure to record for every process.
pub(crate) enum Mark {
    NeedsLogin { reason: String },
    RateLimited { until_ms: u64 },
}

/// What the lease transaction found.
pub(crate) enum LeaseStep {
    /// The stored token is fresh: use it.
    Adopt(Stored),
    /// We hold the lease; refresh the stored login.
    Acquired(Stored),
    /// Someone else holds it until then.
    Held { until_ms: u64 },
    /// Nothing to refresh with.
    NoRefreshToken(Stored),
    /// No login stored.
    LoggedOut,
    /// Another process (or this one) found the stored refresh token refused.
    NeedsLogin { reason: String, refused: String },
    /// The provider asked every process to wait until then.
    RateLimited { until_ms: u64, stored: Stored },
}

/// The refresh lease: who refreshes, and until when others wait for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Lease {
    pub owner: String,
    pub expires_at_ms: u64,
}

/// The lease recorded in an entry (malformed reads as none).
pub(crate) fn lease_of(entry: &Map<String, Value>) -> Option<Lease> {
    entry
        .get(LEASE_MEMBER)
        .and_then(|v| Lease::deserialize(v).ok())
}

/// The stored login of an entry being changed.
fn stored_in(entry: &EntryMut<'_>) -> Result<Option<Stored>, storage_helper::Error> {
    Ok(entry.config()?.and_then(Stored::parse))
}

/// Whether the lease holder `host:pid:nonce` was a process of this host that no longer
/// exists: a crashed refresher on the same host is taken over at once instead of when its
/// lease runs out. Holders on other hosts, and any doubt (no `/proc`), count as alive.
fn holder_is_gone(owner: &str) -> bool {
    let mut parts = owner.rsplitn(3, ':');
    let (Some(_nonce), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let proc = std::path::Path::new("/proc");
    host == super::managed::host_name()
        && pid
            .parse::<u32>()
            .is_ok_and(|pid| pid != std::process::id())
        && proc.join("self").exists()
        && !proc.join(pid).exists()
}

fn release_ours(entry: &mut EntryMut<'_>, owner: &str) {
    if lease_of(entry.raw()).is_some_and(|lease| lease.owner == owner) {
        entry.remove_member(LEASE_MEMBER);
    }
}

/// What replaying a rescued grant came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// The database still held the refresh token the grant replaced: it now holds the grant.
    Saved,
    /// The database already holds the grant.
    AlreadySaved,
    /// The database holds another login (newer, or none): the grant is dropped.
    Superseded,
}

impl TokenAccessor {
    /// One transaction: re-read the stored login; adopt it when fresh, report a shared
    /// failure, otherwise take the lease unless another live refresher holds it.
    pub(crate) async fn lease_step(
        &self,
        m: &Managed,
        rejected: Option<&AccessToken>,
        ahead: Ahead,
    ) -> Result<LeaseStep> {
        let now = self.now_ms();
        let margin = m.options.margin;
        let ttl = ms(m.options.lease_ttl);
        let (step, _) = m
            .handle
            .try_update_entry(|entry| {
                let Some(stored) = stored_in(entry)? else {
                    return Ok::<_, storage_helper::Error>(LeaseStep::LoggedOut);
                };
                let usable = stored.access.is_some() && stored.access.as_ref() != rejected;
                if usable && ahead.is_fresh(&stored, now, &margin) {
                    return Ok(LeaseStep::Adopt(stored));
                }
                if stored.refresh.is_none() {
                    return Ok(LeaseStep::NoRefreshToken(stored));
                }
                let marks = Marks::read(entry.raw());
                if let Some(reason) = marks.needs_login_for(stored.refresh.as_ref()) {
                    let refused = stored
                        .refresh
                        .as_ref()
                        .map(|r| r.secret().to_owned())
                        .unwrap_or_default();
                    return Ok(LeaseStep::NeedsLogin {
                        reason: reason.to_owned(),
                        refused,
                    });
                }
                if let Some(until_ms) = marks.rate_limited_at(now) {
                    return Ok(LeaseStep::RateLimited { until_ms, stored });
                }
                if let Some(lease) = lease_of(entry.raw())
                    && lease.owner != m.owner
                    && lease.expires_at_ms > now
                    && !holder_is_gone(&lease.owner)
                {
                    return Ok(LeaseStep::Held {
                        until_ms: lease.expires_at_ms,
                    });
                }
                entry.set_member(
                    LEASE_MEMBER,
                    &Lease {
                        owner: m.owner.clone(),
                        expires_at_ms: now + ttl,
                    },
                )?;
                Ok(LeaseStep::Acquired(stored))
            })
            .await?;
        Ok(step)
    }

    /// Merges `grant` into the stored config, clears the shared failure marks and releases
    /// our lease, in one transaction; retried with back-off for
    /// [`save_patience`](crate::AccessorOptions::save_patience).
    pub(crate) async fn save(&self, m: &Managed, grant: &Grant, now_ms: u64) -> Result<()> {
        let started = tokio::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = m
                .handle
                .try_update_entry(|entry| {
                    merge_grant(entry.config_mut()?, grant, now_ms);
                    release_ours(entry, &m.owner);
                    entry.remove_member(LOGIN_STATE_MEMBER);
                    Ok::<_, storage_helper::Error>(())
                })
                .await;
            let pause =
                backoff(m.options.retry_base, attempt).min(std::time::Duration::from_secs(5));
            match result {
                Ok(_) => return Ok(()),
                Err(err) if started.elapsed() + pause < m.options.save_patience => {
                    tracing::warn!(storage = %self.inner.storage, %err, attempt, "saving rotated tokens failed; retrying");
                    tokio::time::sleep(pause).await;
                }
                Err(source) => {
                    return Err(Error::SaveFailed {
                        storage: self.inner.storage.clone(),
                        source: source.into(),
                    });
                }
            }
        }
    }

    /// Releases our lease and records `mark` for every process — the mark only while the
    /// stored refresh token is still `used` (a login in between makes it moot).
    pub(crate) async fn settle(&self, m: &Managed, used: &RefreshToken, mark: Option<Mark>) {
        let now = self.now_ms();
        let result = m
            .handle
            .try_update_entry(|entry| {
                release_ours(entry, &m.owner);
                let current = stored_in(entry)?.and_then(|s| s.refresh);
                if let Some(mark) = &mark
                    && current.as_ref() == Some(used)
                {
                    let mut marks = Marks::read(entry.raw());
                    match mark {
                        Mark::NeedsLogin { reason } => {
                            marks.needs_login = Some(NeedsLoginMark {
                                reason: reason.clone(),
                                refresh_token: Some(fingerprint(used.secret())),
                                since_ms: now,
                            });
                        }
                        Mark::RateLimited { until_ms } => {
                            marks.rate_limited_until_ms = Some(*until_ms);
                        }
                    }
                    marks.store(entry)?;
                }
                Ok::<_, storage_helper::Error>(())
            })
            .await;
        if let Err(err) = result {
            tracing::warn!(storage = %self.inner.storage, %err, "recording the refresh outcome failed; the lease will run out");
        }
    }

    /// Writes a rescued grant into the database when the database still holds the refresh
    /// token the grant replaced.
    pub(crate) async fn replay(&self, m: &Managed, rescued: &Rescued) -> Result<Replay> {
        let (outcome, _) = m
            .handle
            .try_update_entry(|entry| {
                let stored = stored_in(entry)?;
                let stored_refresh = stored.as_ref().and_then(|s| s.refresh.as_ref());
                if stored_refresh.is_some()
                    && stored_refresh == rescued.grant.refresh_token.as_ref()
                {
                    return Ok(Replay::AlreadySaved);
                }
                let current = stored_refresh.map(|r| fingerprint(r.secret()));
                if stored.is_none() || current != rescued.replaces {
                    return Ok(Replay::Superseded);
                }
                merge_grant(entry.config_mut()?, &rescued.grant, rescued.obtained_at_ms);
                entry.remove_member(LOGIN_STATE_MEMBER);
                Ok::<_, storage_helper::Error>(Replay::Saved)
            })
            .await?;
        Ok(outcome)
    }
}
