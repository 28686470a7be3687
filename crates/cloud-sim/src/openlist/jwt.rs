//! The cryptography OpenList uses: HMAC-SHA256, its HS256 login tokens (JWT), the link
//! `sign`, the password "static hash", and the permanent token's format.
//!
//! Tokens are real JWTs, `{"alg":"HS256","typ":"JWT"}` over the claims
//! `{"username","pwd_ts","exp","nbf","iat"}` (Go's field order), so a client can read
//! `exp` from the payload. Parsing follows `golang-jwt/jwt` v4: a malformed token beats
//! an expired one, which beats one not active yet; anything else is "couldn't handle".

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::config::Flavor;
use crate::token::{random_hex, random_string};

/// The salt of the password static hash; OpenList kept AList's.
pub(crate) const STATIC_HASH_SALT: &str = "https://github.com/alist-org/alist";

/// HMAC-SHA256 (RFC 2104).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// `hex_lower(sha256(password + "-" + salt))`: what `/api/auth/login/hash` expects and
/// what `/api/auth/login` computes from a plain password.
pub(crate) fn static_hash(password: &str) -> String {
    hex::encode(Sha256::digest(format!("{password}-{STATIC_HASH_SALT}")))
}

/// The link sign of `path` expiring at `expire` (0 = never), keyed with the permanent
/// token: `base64url_padded(HMAC(path:expire)):expire`.
pub(crate) fn link_sign(key: &str, path: &str, expire: i64) -> String {
    let mac = hmac_sha256(key.as_bytes(), format!("{path}:{expire}").as_bytes());
    format!("{}:{expire}", URL_SAFE.encode(mac))
}

/// A fresh permanent token: `openlist-<uuid v4><64 alphanumerics>` (`alist-…` for AList).
pub(crate) fn new_permanent_token(flavor: Flavor) -> String {
    let h = random_hex(32);
    let uuid = format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    );
    let prefix = if flavor.is_alist() {
        "alist"
    } else {
        "openlist"
    };
    format!("{prefix}-{uuid}{}", random_string(64))
}

/// The `username` claim of a token, without any check (for counters).
pub(crate) fn unverified_username(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let claims = segment(payload).ok()?;
    claims["username"].as_str().map(str::to_owned)
}

/// The claims the server reads from a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Claims {
    pub username: String,
    pub pwd_ts: i64,
}

/// Why a token that is in the valid set still failed to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// `that's not even a token`
    Malformed,
    /// `token is expired`
    Expired,
    /// `token not active yet`
    NotActive,
    /// `couldn't handle this token` (bad signature, unknown algorithm, issued in the future)
    Unhandled,
}

impl ParseError {
    pub(crate) fn message(self) -> &'static str {
        match self {
            ParseError::Malformed => "that's not even a token",
            ParseError::Expired => "token is expired",
            ParseError::NotActive => "token not active yet",
            ParseError::Unhandled => "couldn't handle this token",
        }
    }

    /// The counter kind of the rejection.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            ParseError::Malformed => "malformed",
            ParseError::Expired => "expired",
            ParseError::NotActive => "not_active",
            ParseError::Unhandled => "unhandled",
        }
    }
}

fn signature(secret: &str, signing_input: &str) -> String {
    URL_SAFE_NO_PAD.encode(hmac_sha256(secret.as_bytes(), signing_input.as_bytes()))
}

/// Issues a token for `username` at `now` (Unix seconds) living `lifetime_secs`.
pub(crate) fn encode(
    secret: &str,
    username: &str,
    pwd_ts: i64,
    now: u64,
    lifetime_secs: u64,
) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let claims = json!({
        "username": username,
        "pwd_ts": pwd_ts,
        "exp": now.saturating_add(lifetime_secs),
        "nbf": now,
        "iat": now,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signature(secret, &signing_input);
    format!("{signing_input}.{sig}")
}

fn segment(part: &str) -> Result<Value, ParseError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| ParseError::Malformed)?;
    serde_json::from_slice::<Value>(&bytes).map_err(|_| ParseError::Malformed)
}

/// A numeric date claim: absent is fine, a non-number is malformed.
fn numeric(claims: &Value, key: &str) -> Result<Option<i64>, ParseError> {
    match claims.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|f| Some(f as i64))
            .ok_or(ParseError::Malformed),
    }
}

/// Parses and verifies a token at `now`.
pub(crate) fn parse(secret: &str, token: &str, now: u64) -> Result<Claims, ParseError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, sig] = parts.as_slice() else {
        return Err(ParseError::Malformed);
    };
    let header_json = segment(header)?;
    let claims = segment(payload)?;
    if !claims.is_object() {
        return Err(ParseError::Malformed);
    }
    let username = match claims.get("username") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ParseError::Malformed),
    };
    let pwd_ts = match claims.get("pwd_ts") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_i64().ok_or(ParseError::Malformed)?,
    };
    let (exp, nbf, iat) = (
        numeric(&claims, "exp")?,
        numeric(&claims, "nbf")?,
        numeric(&claims, "iat")?,
    );
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    if exp.is_some_and(|exp| now >= exp) {
        return Err(ParseError::Expired);
    }
    if nbf.is_some_and(|nbf| now < nbf) {
        return Err(ParseError::NotActive);
    }
    if iat.is_some_and(|iat| now < iat) || header_json.get("alg") != Some(&json!("HS256")) {
        return Err(ParseError::Unhandled);
    }
    if signature(secret, &format!("{header}.{payload}")) != *sig {
        return Err(ParseError::Unhandled);
    }
    Ok(Claims { username, pwd_ts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long_key = [0xaau8; 131];
        let mac = hmac_sha256(
            &long_key,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn tokens_round_trip_and_expire() {
        let t = encode("secret", "alice", 7, 1000, 100);
        assert_eq!(
            parse("secret", &t, 1050),
            Ok(Claims {
                username: "alice".into(),
                pwd_ts: 7
            })
        );
        assert_eq!(parse("secret", &t, 1100), Err(ParseError::Expired));
        assert_eq!(parse("secret", &t, 999), Err(ParseError::NotActive));
        assert_eq!(parse("other", &t, 1050), Err(ParseError::Unhandled));
        assert_eq!(parse("secret", "garbage", 1050), Err(ParseError::Malformed));
        assert_eq!(
            parse("secret", &format!("Bearer {t}"), 1050),
            Err(ParseError::Malformed)
        );
    }

    #[test]
    fn static_hash_and_sign() {
        // sha256("admin-https://github.com/alist-org/alist"), lower-case hex.
        assert_eq!(
            static_hash("admin"),
            "6fcb57cd10b2c11d765dcf16148d99130afd895082af83725ee8bb181b1d2b0f"
        );
        let s = link_sign("key", "/a.mkv", 0);
        assert!(s.ends_with("=:0"), "{s}");
    }
}
