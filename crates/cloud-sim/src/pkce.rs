//! PKCE (RFC 7636) checks as the providers apply them.
//!
//! 115 sends `base64(digest(verifier))` with `sha256`, `sha1` or `md5` and, since April 2025,
//! also accepts the URL-safe alphabet; alipan uses `plain` or `S256`. Both forms are accepted
//! here with or without padding.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// A challenge method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Plain,
    Sha256,
    Sha1,
    Md5,
}

impl Method {
    /// Parses a 115 method name (`sha256`, `sha1`, `md5`, case-insensitive).
    pub(crate) fn parse_115(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sha256" => Some(Method::Sha256),
            "sha1" => Some(Method::Sha1),
            "md5" => Some(Method::Md5),
            _ => None,
        }
    }

    /// Parses an alipan method name (`plain`, `S256`).
    pub(crate) fn parse_alipan(s: &str) -> Option<Self> {
        match s {
            "plain" => Some(Method::Plain),
            "S256" => Some(Method::Sha256),
            _ => None,
        }
    }

    fn digest(self, verifier: &str) -> Vec<u8> {
        match self {
            Method::Plain => verifier.as_bytes().to_vec(),
            Method::Sha256 => Sha256::digest(verifier.as_bytes()).to_vec(),
            Method::Sha1 => Sha1::digest(verifier.as_bytes()).to_vec(),
            Method::Md5 => Md5::digest(verifier.as_bytes()).to_vec(),
        }
    }

    fn digest_len(self) -> Option<usize> {
        match self {
            Method::Plain => None,
            Method::Sha256 => Some(32),
            Method::Sha1 => Some(20),
            Method::Md5 => Some(16),
        }
    }
}

fn decode_any(s: &str) -> Option<Vec<u8>> {
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(s).ok())
}

/// Whether `challenge` is well-formed for `method` (decodes to a digest of the right size).
pub(crate) fn challenge_well_formed(method: Method, challenge: &str) -> bool {
    match method.digest_len() {
        None => verifier_well_formed(challenge),
        Some(len) => decode_any(challenge).is_some_and(|d| d.len() == len),
    }
}

/// Whether a verifier has the length and alphabet RFC 7636 requires (43–128 unreserved).
pub(crate) fn verifier_well_formed(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` matches `challenge` under `method`.
pub(crate) fn verify(method: Method, challenge: &str, verifier: &str) -> bool {
    match method {
        Method::Plain => challenge == verifier,
        _ => decode_any(challenge).is_some_and(|d| d == method.digest(verifier)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn rfc7636_example_s256() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(Method::Sha256, challenge, VERIFIER));
        assert!(!verify(
            Method::Sha256,
            challenge,
            &VERIFIER.replace('d', "e")
        ));
    }

    #[test]
    fn all_base64_forms_accepted() {
        let digest = Sha256::digest(VERIFIER.as_bytes());
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            let challenge = engine.encode(digest);
            assert!(challenge_well_formed(Method::Sha256, &challenge));
            assert!(verify(Method::Sha256, &challenge, VERIFIER));
        }
        let md5 = STANDARD.encode(Md5::digest(VERIFIER.as_bytes()));
        assert!(verify(Method::Md5, &md5, VERIFIER));
        assert!(!challenge_well_formed(Method::Sha1, &md5));
    }

    #[test]
    fn verifier_length_bounds() {
        assert!(!verifier_well_formed(&"a".repeat(42)));
        assert!(verifier_well_formed(&"a".repeat(43)));
        assert!(verifier_well_formed(&"a".repeat(128)));
        assert!(!verifier_well_formed(&"a".repeat(129)));
        assert!(!verifier_well_formed(&format!("{}!", "a".repeat(50))));
    }
}
