//! The simulator core's token rules: per-account rate limits, access-token checks and
//! refresh (rotation, reuse detection, minimum interval, expiry).

use super::*;

impl Core {
    // ----- rate limiting --------------------------------------------------------------

    /// Counts one request of `account` in the current second; `Some(reset_secs)` when it is
    /// over the per-account limit.
    pub(crate) fn check_rate(&self, st: &mut State, account: &str) -> Option<u64> {
        let limit = st.settings.rate_limit_per_sec?;
        let now = self.clock.now();
        let sec = unix_secs(now);
        let window = st.windows.entry(account.to_owned()).or_insert((sec, 0));
        if window.0 != sec {
            *window = (sec, 0);
        }
        window.1 += 1;
        if window.1 > limit {
            st.stats.rate_limited += 1;
            st.stats.account_mut(account).rate_limited += 1;
            Some(1)
        } else {
            None
        }
    }

    /// Counts a rate-limit answer given by fault injection.
    pub(crate) fn count_injected_rate_limit(&self) {
        self.state.lock().stats.rate_limited += 1;
    }

    // ----- access tokens --------------------------------------------------------------

    /// Checks a bearer token; on success counts the request and applies the rate limit.
    pub(crate) fn authenticate(&self, bearer: Option<&str>) -> Result<String, AuthError> {
        let now = self.now_unix();
        let mut st = self.state.lock();
        let token = bearer.ok_or(AuthError::Missing)?;
        let rec = st.access.get(token).cloned().ok_or(AuthError::Unknown)?;
        if rec.revoked {
            st.stats.account_mut(&rec.account).expired_access += 1;
            return Err(AuthError::Revoked);
        }
        if now >= rec.expires_at {
            st.stats.account_mut(&rec.account).expired_access += 1;
            return Err(AuthError::Expired);
        }
        st.stats.account_mut(&rec.account).requests += 1;
        if let Some(reset) = self.check_rate(&mut st, &rec.account) {
            return Err(AuthError::RateLimited(reset));
        }
        Ok(rec.account)
    }

    // ----- refresh --------------------------------------------------------------------

    /// Rotates a refresh token.
    pub(crate) fn refresh(
        &self,
        token: &str,
        client_secret: Option<&str>,
    ) -> Result<(String, TokenPair), RefreshError> {
        let now = self.clock.now();
        let now_u = unix_secs(now);
        let mut st = self.state.lock();
        let Some(rec) = st.refresh.get(token).cloned() else {
            st.stats.unknown_refresh_tokens += 1;
            return Err(RefreshError::Unknown);
        };
        let name = rec.account.clone();
        {
            let s = st.stats.account_mut(&name);
            s.refresh_calls += 1;
            s.requests += 1;
        }
        if let Some(reset) = self.check_rate(&mut st, &name) {
            return Err(RefreshError::RateLimited(reset));
        }
        match rec.status {
            RefreshStatus::Rotated => {
                st.stats.account_mut(&name).rejected_reuses += 1;
                return Err(RefreshError::Rotated);
            }
            RefreshStatus::Revoked => {
                st.stats.account_mut(&name).refresh_rejected_other += 1;
                return Err(RefreshError::Revoked);
            }
            RefreshStatus::Live => {}
        }
        if now_u >= rec.expires_at {
            st.stats.account_mut(&name).refresh_rejected_other += 1;
            return Err(RefreshError::Expired);
        }
        let (grant_secret, last_refresh) = match st.accounts.get(&name) {
            Some(a) => (a.grant_secret.clone(), a.last_refresh_at),
            None => (None, None),
        };
        if let Some(expected) = grant_secret {
            match client_secret {
                None => {
                    st.stats.account_mut(&name).refresh_rejected_other += 1;
                    return Err(RefreshError::SecretMissing);
                }
                Some(given) if given != expected => {
                    st.stats.account_mut(&name).refresh_rejected_other += 1;
                    return Err(RefreshError::SecretMismatch);
                }
                Some(_) => {}
            }
        }
        let min = st.settings.min_refresh_interval;
        if !min.is_zero()
            && last_refresh.is_some_and(|t| now.duration_since(t).unwrap_or(Duration::ZERO) < min)
        {
            st.stats.account_mut(&name).too_frequent += 1;
            return Err(RefreshError::TooFrequent);
        }
        let expires = if st.settings.refresh_extends_validity {
            None
        } else {
            Some(rec.expires_at)
        };
        let lifetime = st.settings.access_lifetime;
        let pair = self.issue(&mut st, &name, true, lifetime, expires);
        if let Some(a) = st.accounts.get_mut(&name) {
            a.last_refresh_at = Some(now);
        }
        st.stats.account_mut(&name).refreshes_ok += 1;
        Ok((name, pair))
    }
}
