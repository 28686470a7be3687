//! The slow path: one flight at a time per accessor, run by a task the accessor owns, so
//! that no caller going away can tear a refresh between the provider's answer and the save.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, watch};
use tracing::Instrument;

use super::entry::{LeaseStep, Mark, Replay};
use super::managed::{Flight, FlightTrace, Managed, Pending};
use super::options::{jitter, ms};
use super::policy::{Decision, decide};
use super::rescue::remove_file;
use super::{Ahead, Source, TokenAccessor};
use crate::clock::to_system_time;
use crate::error::{Error, Result};
use crate::secret::{AccessToken, RefreshToken};
use crate::state::TokenState;
use crate::tokens::Stored;

/// The outcome label of a failed flight.
fn flight_failure(err: &Error) -> &'static str {
    match err {
        Error::NeedsLogin { .. } => "needs_login",
        Error::LoggedOut { .. } => "logged_out",
        Error::RateLimited { .. } => "rate_limited",
        Error::Transient { .. } => "transient",
        Error::SaveFailed { .. } => "save_failed",
        _ => "error",
    }
}

struct WakeOnExit(watch::Sender<u64>);

impl Drop for WakeOnExit {
    fn drop(&mut self) {
        self.0.send_modify(|generation| *generation += 1);
    }
}

impl TokenAccessor {
    pub(crate) async fn slow(&self) -> Result<AccessToken> {
        let m = self.managed()?;
        loop {
            // Become the one doing the work (the flight), or wait for whoever is: a token
            // they install, or the end of their flight, wakes every waiter at once.
            if let Ok(flight) = Arc::clone(&m.flight).try_lock_owned() {
                return self.fly(flight, Ahead::DUE).await;
            }
            let mut generation = self.inner.generation.subscribe();
            let seen = *generation.borrow_and_update();
            if let Some(token) = self.fast() {
                return Ok(token);
            }
            // The flight may have ended between the first try and the subscription.
            if let Ok(flight) = Arc::clone(&m.flight).try_lock_owned() {
                return self.fly(flight, Ahead::DUE).await;
            }
            if generation.changed().await.is_err() {
                continue;
            }
            if let Some(token) = self.fast() {
                return Ok(token);
            }
            if let Some((at, err)) = &*self.inner.last_failure.lock()
                && *at > seen
            {
                return Err(err.clone());
            }
        }
    }

    /// Runs the slow path in a task of its own holding the single-flight lock: it runs to
    /// the end even when this caller goes away. Records its failure for the callers that
    /// waited, and wakes them however it ends.
    /// Refreshes when the stored login is due by `ahead`'s earlier criterion, before the
    /// hot path would find it due (the keep-alive's way in): waits for a flight under way,
    /// then runs one with that criterion. Callers of [`access_token`](Self::access_token)
    /// keep getting the held token from memory meanwhile.
    pub(crate) async fn refresh_ahead(&self, ahead: Ahead) -> Result<AccessToken> {
        let m = self.managed()?;
        let flight = Arc::clone(&m.flight).lock_owned().await;
        self.fly(flight, ahead).await
    }

    async fn fly(&self, flight: OwnedMutexGuard<Flight>, ahead: Ahead) -> Result<AccessToken> {
        let this = self.clone();
        let task = tokio::spawn(async move {
            let mut flight = flight;
            let wake = WakeOnExit(this.inner.generation.clone());
            let Source::Managed(m) = &this.inner.source else {
                return Err(Error::FixedTokenRejected {
                    storage: this.inner.storage.clone(),
                });
            };
            flight.trace = FlightTrace::default();
            let span = tracing::info_span!(
                "token_refresh",
                storage = %this.inner.storage,
                ahead = ahead != Ahead::DUE,
                outcome = tracing::field::Empty,
                lease_waited_ms = tracing::field::Empty,
            );
            let result = this
                .slow_locked(m, &mut flight, ahead)
                .instrument(span.clone())
                .await;
            let outcome = match &result {
                Ok(_) => flight.trace.success.unwrap_or("cached"),
                Err(err) => flight_failure(err),
            };
            // Recorded on the span and said in an event inside it: a span's own end can
            // come much later (a connection opened inside it keeps it alive).
            span.record("outcome", outcome);
            span.record("lease_waited_ms", flight.trace.lease_waited_ms);
            tracing::debug!(parent: &span, "token flight ended");
            crate::metrics::flight(&this.inner.storage, outcome);
            if flight.trace.lease_waited_ms > 0 {
                crate::metrics::lease_wait(
                    &this.inner.storage,
                    Duration::from_millis(flight.trace.lease_waited_ms),
                );
            }
            drop(span);
            if let Err(err) = &result {
                let next = *this.inner.generation.borrow() + 1;
                *this.inner.last_failure.lock() = Some((next, err.clone()));
            }
            drop(wake);
            drop(flight);
            result
        });
        match task.await {
            Ok(result) => result,
            Err(join) => Err(Error::Transient {
                storage: self.inner.storage.clone(),
                reason: if join.is_panic() {
                    "the refresh task panicked".into()
                } else {
                    "the refresh task was stopped (the runtime is shutting down)".into()
                },
            }),
        }
    }

    /// Saves what this process or an earlier one obtained but did not save.
    async fn save_leftovers(
        &self,
        m: &Managed,
        flight: &mut Flight,
    ) -> Result<Option<AccessToken>> {
        if let Some(pending) = flight.pending_save.clone() {
            self.save(m, &pending.grant, pending.obtained_at_ms).await?;
            m.clear_pending(flight);
            flight.rejected = None;
            tracing::info!(storage = %self.inner.storage, "rotated tokens saved on a later try");
            return Ok(Some(self.install_grant(
                m,
                &pending.grant,
                pending.obtained_at_ms,
            )));
        }
        let Some(rescue) = &m.rescue else {
            return Ok(None);
        };
        for rescued in rescue.read_all() {
            let outcome = self.replay(m, &rescued).await?;
            match outcome {
                Replay::Saved => {
                    tracing::warn!(storage = %self.inner.storage, "tokens rotated by an earlier process replayed from its rescue file")
                }
                Replay::AlreadySaved => {
                    tracing::debug!(storage = %self.inner.storage, "rescue file already saved")
                }
                Replay::Superseded => {
                    tracing::warn!(storage = %self.inner.storage, "rescue file dropped: the database holds another login")
                }
            }
            remove_file(&rescued.path);
        }
        Ok(None)
    }

    async fn slow_locked(
        &self,
        m: &Managed,
        flight: &mut Flight,
        ahead: Ahead,
    ) -> Result<AccessToken> {
        if ahead == Ahead::DUE
            && let Some(token) = self.fast()
        {
            return Ok(token);
        }
        let storage = || self.inner.storage.clone();
        if let Some(token) = self.save_leftovers(m, flight).await? {
            return Ok(token);
        }

        if let Some((reason, refused)) = flight.needs_login.clone() {
            // Sticky until the stored tokens change (a new login, here or elsewhere).
            let now = self.inner.clock.now_ms();
            let config = if now.saturating_sub(flight.needs_login_checked_ms) >= 1_000 {
                flight.needs_login_checked_ms = now;
                m.handle.get_conf_fresh().await?
            } else {
                m.handle.get_conf()?
            };
            let stored_refresh = Stored::parse(&config)
                .and_then(|s| s.refresh)
                .map(|r| r.secret().to_owned());
            if stored_refresh == refused {
                return Err(Error::NeedsLogin {
                    storage: storage(),
                    reason,
                });
            }
            flight.needs_login = None;
        }

        let now = self.inner.clock.now_ms();
        if flight.backoff_until_ms > now {
            // Rate limited or backing off: serve the stored token while it lasts.
            let until = flight.backoff_until_ms;
            let served = match Stored::parse(&m.handle.get_conf()?) {
                Some(stored) => self.serve_during_backoff(flight, &stored, until, now),
                None => Err(Error::LoggedOut { storage: storage() }),
            };
            return match (served, &flight.backoff_transient) {
                (Err(Error::RateLimited { .. }), Some(reason)) => Err(Error::Transient {
                    storage: storage(),
                    reason: format!("waiting before the next attempt after: {reason}"),
                }),
                (other, _) => other,
            };
        }

        let state_before = self.state();
        let mut waited_ms = 0;
        let mut rounds = 0;
        loop {
            rounds += 1;
            let now = self.inner.clock.now_ms();
            let step = self.lease_step(m, flight.rejected.as_ref(), ahead).await?;
            let stored = match step {
                LeaseStep::Adopt(stored) => {
                    flight.trace.success = Some("adopted");
                    self.install(&stored, stored.refresh_at_ms(&m.options.margin));
                    return stored
                        .access
                        .ok_or_else(|| Error::LoggedOut { storage: storage() });
                }
                LeaseStep::LoggedOut => {
                    self.forget();
                    self.set_state(TokenState::LoggedOut);
                    return Err(Error::LoggedOut { storage: storage() });
                }
                LeaseStep::NeedsLogin { reason, refused } => {
                    return Err(self.needs_login(flight, reason, Some(refused)));
                }
                LeaseStep::RateLimited { until_ms, stored } => {
                    return self.rate_limited(flight, &stored, until_ms, now);
                }
                LeaseStep::NoRefreshToken(stored) => {
                    if stored.is_unexpired(now)
                        && stored.access.as_ref() != flight.rejected.as_ref()
                    {
                        // Usable to the end of its life; then only a new login helps.
                        let until = stored.expires_at_ms().unwrap_or(u64::MAX);
                        self.install(&stored, until);
                        return stored
                            .access
                            .ok_or_else(|| Error::LoggedOut { storage: storage() });
                    }
                    let reason = match stored.expires_at_ms() {
                        Some(at) => format!(
                            "the login expired at {} (no refresh token was issued); scan a new QR code",
                            crate::util::format_timestamp_ms(at)
                        ),
                        None => "the access token was rejected and no refresh token is stored"
                            .to_owned(),
                    };
                    return Err(self.needs_login(flight, reason, None));
                }
                LeaseStep::Held { until_ms } => {
                    self.set_state(TokenState::Refreshing);
                    if waited_ms > ms(m.options.lease_ttl) * 2 {
                        self.set_state(state_before);
                        return Err(Error::Transient {
                            storage: storage(),
                            reason: "another process kept renewing the refresh lease without saving tokens".into(),
                        });
                    }
                    let pause = ms(m.options.lease_poll).min(until_ms.saturating_sub(now).max(1));
                    let pause = jitter(Duration::from_millis(pause));
                    waited_ms += ms(pause);
                    flight.trace.lease_waited_ms = waited_ms;
                    tokio::time::sleep(pause).await;
                    continue;
                }
                LeaseStep::Acquired(stored) => stored,
            };

            // We hold the lease and the stored token is due.
            let Some(refresh_token) = stored.refresh.clone() else {
                self.settle(m, &RefreshToken::new(""), None).await;
                return Err(Error::LoggedOut { storage: storage() });
            };
            self.set_state(TokenState::Refreshing);
            let config = m.handle.get_conf().unwrap_or_default();
            let lease_deadline = now + ms(m.options.lease_ttl);
            match self
                .call_provider(m, &refresh_token, &config, lease_deadline)
                .await
            {
                Ok(grant) => {
                    // Rotated: from here on the tokens must not be lost. On disk first, then
                    // in the database, then served.
                    let now = self.inner.clock.now_ms();
                    let pending = Pending {
                        grant,
                        replaced: Some(refresh_token),
                        obtained_at_ms: now,
                    };
                    m.write_rescue(&pending);
                    flight.pending_save = Some(pending.clone());
                    if let Err(err) = self.save(m, &pending.grant, now).await {
                        self.forget();
                        self.set_state(state_before);
                        return Err(err);
                    }
                    m.clear_pending(flight);
                    flight.rejected = None;
                    flight.trace.success = Some("refreshed");
                    tracing::info!(storage = %self.inner.storage, "access token refreshed");
                    return Ok(self.install_grant(m, &pending.grant, now));
                }
                Err(failure) => {
                    let decision = decide(failure, self.inner.clock.now_ms(), &m.options);
                    let (mark, reason) = match decision {
                        Decision::AdoptNewer { otherwise } => {
                            self.settle(m, &refresh_token, None).await;
                            // Another refresher rotated it: adopt what it saved, if anything.
                            let fresh = Stored::parse(&m.handle.get_conf_fresh().await?);
                            let newer = fresh.as_ref().is_some_and(|s| s.refresh != stored.refresh);
                            if newer && rounds < 3 {
                                continue;
                            }
                            (None, otherwise)
                        }
                        Decision::NeedsLogin { reason } => (
                            Some(Mark::NeedsLogin {
                                reason: reason.clone(),
                            }),
                            reason,
                        ),
                        Decision::RateLimited { until_ms } => {
                            self.settle(m, &refresh_token, Some(Mark::RateLimited { until_ms }))
                                .await;
                            return self.rate_limited(flight, &stored, until_ms, now);
                        }
                        Decision::BackOff { until_ms, reason } => {
                            self.settle(m, &refresh_token, None).await;
                            tracing::warn!(storage = %self.inner.storage, %reason, "refresh failed temporarily");
                            flight.backoff_until_ms = until_ms;
                            flight.backoff_transient = Some(reason.clone());
                            let served = self.serve_during_backoff(flight, &stored, until_ms, now);
                            self.set_state(state_before);
                            return served.map_err(|_| Error::Transient {
                                storage: storage(),
                                reason,
                            });
                        }
                    };
                    let mark = mark.unwrap_or(Mark::NeedsLogin {
                        reason: reason.clone(),
                    });
                    self.settle(m, &refresh_token, Some(mark)).await;
                    return Err(self.needs_login(
                        flight,
                        reason,
                        Some(refresh_token.secret().to_owned()),
                    ));
                }
            }
        }
    }

    /// No refresh before `until_ms` (told by the provider, here or in another process); the
    /// stored token is served meanwhile while it lasts.
    fn rate_limited(
        &self,
        flight: &mut Flight,
        stored: &Stored,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<AccessToken> {
        flight.backoff_until_ms = until_ms;
        flight.backoff_transient = None;
        let result = self.serve_during_backoff(flight, stored, until_ms, now_ms);
        self.set_state(TokenState::RateLimited {
            until: to_system_time(until_ms),
        });
        result
    }

    /// During a back-off, a stored token that has not expired yet (and was not rejected)
    /// is still served.
    fn serve_during_backoff(
        &self,
        flight: &Flight,
        stored: &Stored,
        until_ms: u64,
        now_ms: u64,
    ) -> Result<AccessToken> {
        if stored.is_unexpired(now_ms) && stored.access.as_ref() != flight.rejected.as_ref() {
            let serve_until = until_ms.min(stored.expires_at_ms().unwrap_or(u64::MAX));
            if let Some(access) = self.hold(stored, serve_until) {
                return Ok(access);
            }
        }
        self.forget();
        Err(Error::RateLimited {
            storage: self.inner.storage.clone(),
            until: to_system_time(until_ms),
        })
    }

    fn needs_login(&self, flight: &mut Flight, reason: String, refused: Option<String>) -> Error {
        tracing::warn!(storage = %self.inner.storage, %reason, "login lost; a new login is needed");
        flight.needs_login = Some((reason.clone(), refused));
        flight.needs_login_checked_ms = self.inner.clock.now_ms();
        self.forget();
        self.set_state(TokenState::NeedsLogin {
            reason: reason.clone(),
        });
        Error::NeedsLogin {
            storage: self.inner.storage.clone(),
            reason,
        }
    }
}
