//! The stored form of a login: MoviePilot's fields inside a storage's `config`.
//!
//! `access_token`, `refresh_token`, `expires_in` (seconds) and `refresh_time` (Unix
//! seconds of the last save). The token expires at `refresh_time + expires_in`; an absent
//! or zero `expires_in` means the lifetime is unknown (MoviePilot: "never refresh").

use std::time::Duration;

use serde_json::{Map, Value};

use crate::provider::Grant;
use crate::secret::{AccessToken, RefreshToken};

/// How long before expiry a token counts as due for refresh.
///
/// The margin is the larger of [`min`](Self::min) and [`fraction`](Self::fraction) of the
/// token's lifetime, and never more than half the lifetime. The default (60 s, 10 %) makes
/// a 7200 s token due 720 s before it expires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExpiryMargin {
    /// The smallest margin. Default 60 s.
    pub min: Duration,
    /// The margin as a fraction of the lifetime. Default 0.1.
    pub fraction: f64,
}

impl Default for ExpiryMargin {
    fn default() -> Self {
        Self {
            min: Duration::from_secs(60),
            fraction: 0.1,
        }
    }
}

impl ExpiryMargin {
    /// The margin for a token living `lifetime_ms`, in milliseconds.
    pub fn for_lifetime_ms(&self, lifetime_ms: u64) -> u64 {
        let min = u64::try_from(self.min.as_millis()).unwrap_or(u64::MAX);
        // Lifetimes are far below 2^53 ms, so the float round trip is exact enough.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let fraction = (lifetime_ms as f64 * self.fraction.clamp(0.0, 0.5)) as u64;
        min.max(fraction).min(lifetime_ms / 2)
    }
}

/// A login as stored in a storage's config.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    pub access: Option<AccessToken>,
    pub refresh: Option<RefreshToken>,
    /// Lifetime in seconds; 0 = unknown.
    pub expires_in: u64,
    /// Unix milliseconds of the last save.
    pub refresh_time_ms: u64,
}

fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn token(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn secs_to_ms(secs: f64) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        (secs * 1000.0) as u64
    } else {
        0
    }
}

impl Stored {
    /// Reads a login from a config; `None` when it holds neither token.
    pub fn parse(config: &Map<String, Value>) -> Option<Stored> {
        let access = token(config.get("access_token")).map(AccessToken::new);
        let refresh = token(config.get("refresh_token")).map(RefreshToken::new);
        if access.is_none() && refresh.is_none() {
            return None;
        }
        Some(Stored {
            access,
            refresh,
            expires_in: secs_to_ms(number(config.get("expires_in")).unwrap_or(0.0)) / 1000,
            refresh_time_ms: secs_to_ms(number(config.get("refresh_time")).unwrap_or(0.0)),
        })
    }

    /// Unix ms when the access token expires; `None` when the lifetime is unknown.
    pub fn expires_at_ms(&self) -> Option<u64> {
        (self.expires_in > 0).then(|| self.refresh_time_ms + self.expires_in * 1000)
    }

    /// Unix ms from which the token is due for refresh (`u64::MAX`: never by time).
    pub fn refresh_at_ms(&self, margin: &ExpiryMargin) -> u64 {
        match self.expires_at_ms() {
            Some(expires) => expires.saturating_sub(margin.for_lifetime_ms(self.expires_in * 1000)),
            None => u64::MAX,
        }
    }

    /// Whether the access token is present and not yet due at `now_ms`.
    pub fn is_fresh(&self, now_ms: u64, margin: &ExpiryMargin) -> bool {
        self.access.is_some() && now_ms < self.refresh_at_ms(margin)
    }

    /// Whether the access token is present and not yet expired (it may be due).
    pub fn is_unexpired(&self, now_ms: u64) -> bool {
        self.access.is_some() && self.expires_at_ms().is_none_or(|e| now_ms < e)
    }
}

/// Merges a grant into a config the way MoviePilot stores it: new tokens and lifetime,
/// `refresh_time` now, extra provider fields; every other member stays. A grant without a
/// refresh token keeps the stored one; an empty token is never written.
pub(crate) fn merge_grant(config: &mut Map<String, Value>, grant: &Grant, now_ms: u64) {
    for (k, v) in &grant.extra {
        config.insert(k.clone(), v.clone());
    }
    if !grant.access_token.is_empty() {
        config.insert("access_token".into(), grant.access_token.secret().into());
    }
    if let Some(refresh) = grant.refresh_token.as_ref().filter(|r| !r.is_empty()) {
        config.insert("refresh_token".into(), refresh.secret().into());
    }
    config.insert("expires_in".into(), grant.expires_in.into());
    config.insert("refresh_time".into(), (now_ms / 1000).into());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn margin_is_max_of_minimum_and_fraction_capped_at_half() {
        let m = ExpiryMargin::default();
        assert_eq!(m.for_lifetime_ms(7_200_000), 720_000);
        assert_eq!(m.for_lifetime_ms(300_000), 60_000);
        assert_eq!(m.for_lifetime_ms(100_000), 50_000);
        assert_eq!(m.for_lifetime_ms(2_592_000_000), 259_200_000);
    }

    #[test]
    fn parses_moviepilot_fields_in_any_numeric_form() {
        let conf = json!({"access_token": "a", "refresh_token": "r", "expires_in": "7200", "refresh_time": 1_700_000_000.5});
        let s = Stored::parse(conf.as_object().unwrap()).unwrap();
        assert_eq!(s.expires_in, 7200);
        assert_eq!(s.refresh_time_ms, 1_700_000_000_500);
        assert_eq!(s.expires_at_ms(), Some(1_700_007_200_500));
        assert!(s.is_fresh(1_700_000_000_500, &ExpiryMargin::default()));
        assert!(!s.is_fresh(1_700_006_480_500, &ExpiryMargin::default()));
        assert!(s.is_unexpired(1_700_006_480_500));
        assert_eq!(
            Stored::parse(json!({"access_token": ""}).as_object().unwrap()),
            None
        );
        let never = Stored::parse(json!({"access_token": "a"}).as_object().unwrap()).unwrap();
        assert_eq!(never.refresh_at_ms(&ExpiryMargin::default()), u64::MAX);
    }

    #[test]
    fn merge_keeps_other_fields_and_old_refresh_token() {
        let mut conf = json!({"refresh_token": "old", "default_drive_id": "d", "expires_in": 1})
            .as_object()
            .cloned()
            .unwrap();
        let grant = Grant {
            access_token: AccessToken::new("new"),
            refresh_token: None,
            expires_in: 7200,
            extra: json!({"token_type": "Bearer"})
                .as_object()
                .cloned()
                .unwrap(),
        };
        merge_grant(&mut conf, &grant, 5_000_999);
        assert_eq!(
            Value::Object(conf),
            json!({"refresh_token": "old", "default_drive_id": "d", "expires_in": 7200,
                   "token_type": "Bearer", "access_token": "new", "refresh_time": 5000})
        );
    }
}
