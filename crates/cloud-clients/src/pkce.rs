//! PKCE (RFC 7636) verifiers, shared by the providers' QR logins.

use sha2::{Digest, Sha256};

/// The verifier alphabet: RFC 7636's unreserved characters.
const VERIFIER_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// A random verifier of `len` characters (clamped to RFC 7636's 43–128).
pub(crate) fn verifier(len: usize) -> String {
    (0..len.clamp(43, 128))
        .map(|_| VERIFIER_CHARS[rand::random_range(0..VERIFIER_CHARS.len())] as char)
        .collect()
}

/// SHA-256 of the verifier; each provider encodes it its own way.
pub(crate) fn sha256(verifier: &str) -> impl AsRef<[u8]> {
    Sha256::digest(verifier.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_use_the_unreserved_alphabet_and_legal_lengths() {
        let v = verifier(64);
        assert_eq!(v.len(), 64);
        assert!(v.bytes().all(|b| VERIFIER_CHARS.contains(&b)));
        assert_eq!(verifier(10).len(), 43);
        assert_eq!(verifier(500).len(), 128);
        assert_ne!(verifier(64), verifier(64));
    }
}
