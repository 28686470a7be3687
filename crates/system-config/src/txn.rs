//! The write transaction: read the row inside it, let the caller decide, write, commit —
//! and on every way out end the transaction, so a failed write leaves nothing behind.
//!
//! Writers of one store are queued on its write lock for the whole transaction *and* the
//! publication of its result, so the cache follows commit order. On PostgreSQL a write that
//! changes a row also `NOTIFY`s the other stores inside the transaction (delivered on
//! commit, never for a rolled-back write); see [`crate::coherence`].

use std::sync::Arc;

use sea_orm::sqlx;
use serde_json::Value;
use tracing::Instrument;

use crate::coherence::payload;
use crate::error::Error;
use crate::raw::{Change as RowChange, Cleanup, StoredRow, WriteTxn};
use crate::slot::Slot;
use crate::store::SystemConfig;
use crate::write::Write;

/// What a transaction attempt read.
pub(crate) enum Current {
    Missing,
    Value(Value),
    Corrupt(String),
}

/// What a transaction's body decided, before the transaction ends.
enum Plan<T> {
    Commit {
        output: T,
        changed: bool,
        slot: Option<Slot>,
    },
    Retry,
}

enum Attempt<T> {
    Done {
        output: T,
        changed: bool,
        slot: Option<Slot>,
    },
    Retry,
}

impl SystemConfig {
    pub(crate) async fn transact<T, E, F>(
        &self,
        key: &str,
        operation: &'static str,
        mut decide: F,
    ) -> Result<(T, bool), E>
    where
        F: FnMut(&Current) -> Result<(Write, T), E>,
        E: From<Error>,
    {
        let span = tracing::debug_span!(
            "store_write",
            key,
            operation,
            backend = self.backend_name(),
            changed = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let started = std::time::Instant::now();
        let result = self
            .transact_inner(key, operation, &mut decide)
            .instrument(span.clone())
            .await;
        let outcome = match &result {
            Ok((_, changed)) => {
                span.record("changed", changed);
                "ok"
            }
            Err(_) => "error",
        };
        span.record("outcome", outcome);
        let took = started.elapsed();
        tracing::debug!(parent: &span, took_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX), "store write ended");
        crate::metrics::store_write(self.backend_name(), outcome, took);
        result
    }

    async fn transact_inner<T, E, F>(
        &self,
        key: &str,
        operation: &'static str,
        decide: &mut F,
    ) -> Result<(T, bool), E>
    where
        F: FnMut(&Current) -> Result<(Write, T), E>,
        E: From<Error>,
    {
        let _queue = self.inner.write_lock.lock().await;
        let max = self.inner.options.max_update_attempts.max(1);
        for _ in 0..max {
            match self.attempt(key, operation, decide).await? {
                Attempt::Retry => continue,
                Attempt::Done {
                    output,
                    changed,
                    slot,
                } => {
                    self.publish(key, slot);
                    return Ok((output, changed));
                }
            }
        }
        Err(E::from(Error::Conflict {
            key: key.to_owned(),
            attempts: max,
        }))
    }

    /// One read-modify-write transaction. Every way out of it ends the transaction: a
    /// commit that succeeded, or a rollback whose result is verified (the connection is
    /// closed instead of pooled when it cannot be), so a failed attempt leaves neither a
    /// write nor a lock behind, and is never reported as a success.
    async fn attempt<T, E, F>(
        &self,
        key: &str,
        operation: &'static str,
        decide: &mut F,
    ) -> Result<Attempt<T>, E>
    where
        F: FnMut(&Current) -> Result<(Write, T), E>,
        E: From<Error>,
    {
        let sql = &self.inner.sql;
        let mut txn = self
            .inner
            .pool
            .begin_write(sql, self.cleanup_timeout(), self.inner.options.busy_timeout)
            .await
            .map_err(|e| E::from(self.sql_error(&e, operation, Some(key))))?;
        match self.plan(&mut txn, key, operation, decide).await {
            Ok(Plan::Commit {
                output,
                changed: true,
                slot,
            }) => match txn.commit().await {
                Ok(()) => Ok(Attempt::Done {
                    output,
                    changed: true,
                    slot,
                }),
                Err((err, cleanup)) => {
                    self.log_cleanup(key, cleanup);
                    if self.inner.pool.is_postgres() {
                        // If the connection died with the COMMIT in flight, the write may
                        // have committed after all: then its own notification must not be
                        // skipped (see `coherence::pg`). On SQLite, data_version moves.
                        self.inner.uncertain.lock().insert(key.to_owned());
                    }
                    Err(E::from(self.sql_error(&err, operation, Some(key))))
                }
            },
            Ok(Plan::Commit {
                output,
                changed: false,
                slot,
            }) => {
                // Nothing to write: end the read without committing anything.
                self.log_cleanup(key, txn.finish_unchanged().await);
                Ok(Attempt::Done {
                    output,
                    changed: false,
                    slot,
                })
            }
            Ok(Plan::Retry) => {
                self.log_cleanup(key, txn.abort().await);
                Ok(Attempt::Retry)
            }
            Err(err) => {
                self.log_cleanup(key, txn.abort().await);
                Err(err)
            }
        }
    }

    /// How long rolling back and verifying (or closing) a failed transaction may take.
    fn cleanup_timeout(&self) -> std::time::Duration {
        self.inner
            .options
            .connect_timeout
            .max(std::time::Duration::from_secs(1))
    }

    fn log_cleanup(&self, key: &str, cleanup: Cleanup) {
        if cleanup == Cleanup::Closed {
            tracing::warn!(
                key,
                "the connection of a failed configuration write was closed"
            );
        }
    }

    /// The body of a write transaction: read the row, let `decide` choose, run the
    /// statement. Does not end the transaction.
    async fn plan<T, E, F>(
        &self,
        txn: &mut WriteTxn,
        key: &str,
        operation: &'static str,
        decide: &mut F,
    ) -> Result<Plan<T>, E>
    where
        F: FnMut(&Current) -> Result<(Write, T), E>,
        E: From<Error>,
    {
        let fail = |e: &sqlx::Error| E::from(self.sql_error(e, operation, Some(key)));
        let sql = &self.inner.sql;
        let row = txn
            .select_for_update(sql, key)
            .await
            .map_err(|e| fail(&e))?;
        let (id, current) = match row {
            None => (None, Current::Missing),
            Some(StoredRow { id, value }) => {
                let current = match Slot::decode(value.as_deref()) {
                    Slot::Value(v) => Current::Value(Arc::unwrap_or_clone(v)),
                    Slot::Corrupt(reason) => Current::Corrupt(reason.to_string()),
                };
                (Some(id), current)
            }
        };
        let (write, output) = decide(&current)?;
        let (change, slot) = match (write, &current, id) {
            (Write::Set(new), Current::Value(old), _) if *old == new => {
                (None, Some(Slot::Value(Arc::new(new))))
            }
            (Write::Set(new), _, Some(id)) => (
                Some(RowChange::Update {
                    id,
                    text: new.to_string(),
                }),
                Some(Slot::Value(Arc::new(new))),
            ),
            (Write::Set(new), _, None) => (
                Some(RowChange::Insert {
                    key,
                    text: new.to_string(),
                }),
                Some(Slot::Value(Arc::new(new))),
            ),
            (Write::Delete, _, Some(_)) => (Some(RowChange::Delete { key }), None),
            (Write::Delete, _, None) => (None, None),
            (Write::Keep, current, _) => (
                None,
                match current {
                    Current::Missing => None,
                    Current::Value(v) => Some(Slot::Value(Arc::new(v.clone()))),
                    Current::Corrupt(r) => Some(Slot::Corrupt(Arc::from(r.as_str()))),
                },
            ),
        };
        let changed = change.is_some();
        if let Some(change) = change
            && let Err(err) = txn.execute(sql, change).await
        {
            if is_unique_violation(&err) {
                // Another writer inserted the key first; read it and decide again.
                tracing::debug!(key, "insert race, retrying");
                return Ok(Plan::Retry);
            }
            return Err(fail(&err));
        }
        if changed {
            // Tells the other stores on commit (a no-op on SQLite, where they check
            // `PRAGMA data_version`). Inside the transaction: a rolled-back write tells nobody.
            let notice = payload::for_key(&self.inner.origin, key);
            txn.notify(payload::CHANNEL, &notice)
                .await
                .map_err(|e| fail(&e))?;
        }
        Ok(Plan::Commit {
            output,
            changed,
            slot,
        })
    }
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}
