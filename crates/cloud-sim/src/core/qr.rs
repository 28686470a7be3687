//! The simulator core's QR login sessions: creation, polling (long-polls held until a
//! change), scan/confirm/cancel/expire, and the exchange of a confirmed session for tokens.

use super::*;

impl Core {
    // ----- QR sessions ----------------------------------------------------------------

    /// Opens a QR session; schedules auto-confirmation when configured.
    pub(crate) fn create_qr(self: &Arc<Self>, req: QrRequest) -> QrSession {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let id = match self.provider {
            Provider::U115 => random_string(24),
            Provider::Alipan | Provider::OpenList => random_hex(32),
        };
        let session = QrSession {
            id: id.clone(),
            client_id: req.client_id,
            method: req.method,
            challenge: req.challenge,
            secret: req.secret,
            state: QrState::Waiting,
            account: None,
            expires_at: unix_after(self.clock.now(), st.settings.qr_lifetime),
            last_reported: QrState::Waiting,
            sign: random_hex(40),
            time: now,
            auth_code: None,
        };
        st.qr.insert(id.clone(), session.clone());
        st.qr_order.push(id.clone());
        st.stats.qr_sessions += 1;
        if let Some(delay) = st.settings.auto_confirm {
            let core = Arc::clone(self);
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(delay) => {
                        let _ = core.qr_action(&id, QrAction::Scan);
                        let _ = core.qr_action(&id, QrAction::Confirm(None));
                    }
                    () = core.shutdown_signal() => {}
                }
            });
        }
        session
    }

    pub(crate) fn qr_session(&self, id: &str) -> Option<QrSession> {
        self.state.lock().qr.get(id).cloned()
    }

    pub(super) fn qr_info_of(s: &QrSession, now: u64) -> QrInfo {
        QrInfo {
            id: s.id.clone(),
            state: s.effective(now),
            account: s.account.clone(),
            client_id: s.client_id.clone(),
            expires_at: s.expires_at,
        }
    }

    pub(crate) fn qr_info(&self, id: &str) -> Option<QrInfo> {
        let now = self.now_unix();
        self.state
            .lock()
            .qr
            .get(id)
            .map(|s| Self::qr_info_of(s, now))
    }

    pub(crate) fn qr_list(&self) -> Vec<QrInfo> {
        let now = self.now_unix();
        let st = self.state.lock();
        st.qr_order
            .iter()
            .filter_map(|id| st.qr.get(id))
            .map(|s| Self::qr_info_of(s, now))
            .collect()
    }

    /// Scans, confirms, cancels or expires a QR session, waking its long-polls.
    pub(crate) fn qr_action(&self, id: &str, action: QrAction) -> Result<()> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let default_account = st.settings.default_account.clone();
        let session = st
            .qr
            .get(id)
            .ok_or_else(|| Error::UnknownQr(id.to_owned()))?;
        let state = session.effective(now);
        let allowed = match action {
            QrAction::Scan => state == QrState::Waiting,
            QrAction::Confirm(_) | QrAction::Cancel | QrAction::Expire => state.is_pending(),
        };
        if !allowed {
            return Err(Error::QrNotPending {
                id: id.to_owned(),
                state: state.name().to_owned(),
            });
        }
        let mut new_code = None;
        let (new_state, account) = match action {
            QrAction::Scan => (QrState::Scanned, None),
            QrAction::Confirm(name) => {
                let name = name.unwrap_or(default_account);
                self.ensure_account(&mut st, &name);
                if self.provider == Provider::Alipan {
                    let code = random_hex(32);
                    let expires = now.saturating_add(600);
                    st.codes.insert(code.clone(), (id.to_owned(), expires));
                    new_code = Some(code);
                }
                (QrState::Confirmed, Some(name))
            }
            QrAction::Cancel => (QrState::Cancelled, None),
            QrAction::Expire => (QrState::Expired, None),
        };
        if let Some(session) = st.qr.get_mut(id) {
            session.state = new_state;
            if account.is_some() {
                session.account = account;
            }
            if new_code.is_some() {
                session.auth_code = new_code;
            }
        }
        drop(st);
        self.bump();
        Ok(())
    }

    /// The 115 status long-poll: answers when the session's state differs from the one last
    /// reported, when it is no longer pending, or after the poll timeout.
    pub(crate) async fn long_poll(&self, id: &str) -> Option<QrState> {
        let mut rx = self.changes.subscribe();
        let (seen, timeout) = {
            let st = self.state.lock();
            (st.qr.get(id)?.last_reported, st.settings.poll_timeout)
        };
        let deadline = Instant::now() + timeout;
        let mut guard: Option<WaitingGuard<'_>> = None;
        loop {
            let now = self.now_unix();
            let (current, expires_at) = {
                let st = self.state.lock();
                let s = st.qr.get(id)?;
                (s.effective(now), s.expires_at)
            };
            let shutting_down = *self.shutdown.borrow();
            if current != seen
                || !current.is_pending()
                || Instant::now() >= deadline
                || shutting_down
            {
                let mut st = self.state.lock();
                if let Some(s) = st.qr.get_mut(id) {
                    s.last_reported = current;
                }
                if guard.is_some() {
                    st.stats.long_polls_held += 1;
                }
                // Release the lock before the guard takes it again.
                drop(st);
                drop(guard);
                return Some(current);
            }
            if guard.is_none() {
                self.state.lock().stats.long_polls_waiting += 1;
                guard = Some(WaitingGuard(self));
            }
            let until_expiry =
                Duration::from_secs(expires_at.saturating_sub(now)) + Duration::from_millis(50);
            let wake = deadline.min(Instant::now() + until_expiry);
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Some(current);
                    }
                }
                () = tokio::time::sleep_until(wake) => {}
                () = self.shutdown_signal() => {}
            }
        }
    }

    /// Exchanges a confirmed 115 device code (uid) for tokens.
    pub(crate) fn exchange_device_code(
        &self,
        uid: &str,
        verifier: Option<&str>,
    ) -> Result<TokenPair, ExchangeError> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let session = st
            .qr
            .get(uid)
            .cloned()
            .ok_or(ExchangeError::UnknownSession)?;
        let verifier = verifier.ok_or(ExchangeError::VerifierMissing)?;
        if !pkce::verifier_well_formed(verifier) {
            return Err(ExchangeError::VerifierMalformed);
        }
        let (Some(method), Some(challenge)) = (session.method, session.challenge.as_deref()) else {
            return Err(ExchangeError::VerifierMismatch);
        };
        if !pkce::verify(method, challenge, verifier) {
            return Err(ExchangeError::VerifierMismatch);
        }
        match session.effective(now) {
            QrState::Confirmed => {}
            QrState::Waiting | QrState::Scanned => return Err(ExchangeError::NotConfirmed),
            _ => return Err(ExchangeError::Gone),
        }
        let name = session
            .account
            .clone()
            .unwrap_or_else(|| st.settings.default_account.clone());
        let lifetime = st.settings.access_lifetime;
        let pair = self.issue(&mut st, &name, true, lifetime, None);
        if let Some(s) = st.qr.get_mut(uid) {
            s.state = QrState::Consumed;
        }
        if let Some(a) = st.accounts.get_mut(&name) {
            a.grant_secret = None;
            a.last_refresh_at = None;
        }
        st.stats.account_mut(&name).token_exchanges += 1;
        drop(st);
        self.bump();
        Ok(pair)
    }

    /// Exchanges an alipan authorisation code for tokens.
    pub(crate) fn exchange_auth_code(
        &self,
        client_id: &str,
        code: &str,
        verifier: Option<&str>,
        secret: Option<&str>,
    ) -> Result<TokenPair, ExchangeError> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let (sid, code_expires) = st
            .codes
            .get(code)
            .cloned()
            .ok_or(ExchangeError::UnknownSession)?;
        let session = st
            .qr
            .get(&sid)
            .cloned()
            .ok_or(ExchangeError::UnknownSession)?;
        if session.state != QrState::Confirmed || now >= code_expires {
            return Err(ExchangeError::Gone);
        }
        if session.client_id != client_id {
            return Err(ExchangeError::ClientMismatch);
        }
        let pkce_only = match (&session.secret, session.method, &session.challenge) {
            (Some(expected), _, _) => {
                // Secret mode: the secret must come again.
                let given = secret.ok_or(ExchangeError::SecretMissing)?;
                if given != expected {
                    return Err(ExchangeError::SecretMismatch);
                }
                false
            }
            (None, Some(method), Some(challenge)) => {
                let verifier = verifier.ok_or(ExchangeError::VerifierMissing)?;
                if method != Method::Plain && !pkce::verifier_well_formed(verifier) {
                    return Err(ExchangeError::VerifierMalformed);
                }
                if !pkce::verify(method, challenge, verifier) {
                    return Err(ExchangeError::VerifierMismatch);
                }
                true
            }
            (None, _, _) => return Err(ExchangeError::VerifierMissing),
        };
        let name = session
            .account
            .clone()
            .unwrap_or_else(|| st.settings.default_account.clone());
        let pair = if pkce_only {
            let lifetime = st.settings.pkce_access_lifetime;
            self.issue(&mut st, &name, false, lifetime, None)
        } else {
            let lifetime = st.settings.access_lifetime;
            self.issue(&mut st, &name, true, lifetime, None)
        };
        st.codes.remove(code);
        if let Some(s) = st.qr.get_mut(&sid) {
            s.state = QrState::Consumed;
        }
        if let Some(a) = st.accounts.get_mut(&name) {
            a.grant_secret = if pkce_only {
                None
            } else {
                session.secret.clone()
            };
            a.last_refresh_at = None;
        }
        st.stats.account_mut(&name).token_exchanges += 1;
        drop(st);
        self.bump();
        Ok(pair)
    }
}
