//! [`Ahead`]: when a stored login counts as due — for the hot path (at its due time) or for
//! the keep-alive (earlier, so that the hot path never finds it due).

use crate::tokens::{ExpiryMargin, Stored};

/// An earlier criterion for "due": `lead_ms` before the hot path's due time, or once the
/// login is `max_age_ms` old (for logins without a known lifetime whose refresh token
/// dies when left unused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ahead {
    pub lead_ms: u64,
    pub max_age_ms: Option<u64>,
}

impl Ahead {
    /// The hot path's own criterion: due at the due time, at any age.
    pub const DUE: Ahead = Ahead {
        lead_ms: 0,
        max_age_ms: None,
    };

    /// Whether `stored` holds an access token that is not due at `now_ms` by this
    /// criterion.
    pub fn is_fresh(&self, stored: &Stored, now_ms: u64, margin: &ExpiryMargin) -> bool {
        stored.is_fresh(now_ms.saturating_add(self.lead_ms), margin)
            && self
                .max_age_ms
                .is_none_or(|age| now_ms < stored.refresh_time_ms.saturating_add(age))
    }

    /// When `stored` becomes due by this criterion (`None`: never by time).
    pub fn due_at_ms(&self, stored: &Stored, margin: &ExpiryMargin) -> Option<u64> {
        let by_expiry = match stored.refresh_at_ms(margin) {
            u64::MAX => None,
            at => Some(at.saturating_sub(self.lead_ms)),
        };
        let by_age = self
            .max_age_ms
            .map(|age| stored.refresh_time_ms.saturating_add(age));
        match (by_expiry, by_age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::{AccessToken, RefreshToken};

    fn stored(expires_in: u64) -> Stored {
        Stored {
            access: Some(AccessToken::new("a")),
            refresh: Some(RefreshToken::new("r")),
            expires_in,
            refresh_time_ms: 1_000_000,
        }
    }

    #[test]
    fn the_lead_moves_the_due_time_earlier_and_freshness_with_it() {
        let margin = ExpiryMargin::default();
        let s = stored(7_200); // due 720 s before expiry: at 1_000_000 + 6_480_000
        assert_eq!(Ahead::DUE.due_at_ms(&s, &margin), Some(7_480_000));
        let ahead = Ahead {
            lead_ms: 300_000,
            max_age_ms: None,
        };
        assert_eq!(ahead.due_at_ms(&s, &margin), Some(7_180_000));
        assert!(ahead.is_fresh(&s, 7_179_999, &margin));
        assert!(!ahead.is_fresh(&s, 7_180_000, &margin));
        assert!(Ahead::DUE.is_fresh(&s, 7_180_000, &margin));
    }

    #[test]
    fn an_unknown_lifetime_is_due_by_age_only_when_asked() {
        let margin = ExpiryMargin::default();
        let s = stored(0);
        assert_eq!(Ahead::DUE.due_at_ms(&s, &margin), None);
        let by_age = Ahead {
            lead_ms: 0,
            max_age_ms: Some(10_000),
        };
        assert_eq!(by_age.due_at_ms(&s, &margin), Some(1_010_000));
        assert!(by_age.is_fresh(&s, 1_009_999, &margin));
        assert!(!by_age.is_fresh(&s, 1_010_000, &margin));
        // With a lifetime too, whichever comes first.
        assert_eq!(by_age.due_at_ms(&stored(7_200), &margin), Some(1_010_000));
    }
}
