//! The secrets of agent authentication: enrolment tokens (`hwt_…`) and
//! per-agent credentials (`hwc_…`), each 256 bits from the OS random source,
//! hex-encoded behind a prefix that says which kind it is.
//!
//! Only `SHA-256(secret)` is stored. A slow password hash (argon2, bcrypt)
//! protects secrets people choose, which are guessable; these are 256-bit
//! random values, so a leaked hash cannot be reversed by guessing however fast
//! the hash is. A slow hash would only make every Hello cost tens of
//! milliseconds and megabytes of memory, which a reconnect storm of a whole
//! fleet after a hub restart (or an attacker) would turn into a denial of
//! service.

use rand::TryRngCore as _;
use sha2::{Digest, Sha256};

pub const TOKEN_PREFIX: &str = "hwt_";
pub const CREDENTIAL_PREFIX: &str = "hwc_";
const SECRET_BYTES: usize = 32;
/// Hex characters of a token hash shown as the token's id (listings, logs).
pub const ID_CHARS: usize = 12;

/// What a Hello's `credentials` field holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    None,
    Token(&'a str),
    Credential(&'a str),
    /// Neither prefix: a typo, or a secret from somewhere else.
    Unrecognised,
}

pub fn classify(s: &str) -> Presented<'_> {
    let s = s.trim();
    if s.is_empty() {
        Presented::None
    } else if s.starts_with(TOKEN_PREFIX) {
        Presented::Token(s)
    } else if s.starts_with(CREDENTIAL_PREFIX) {
        Presented::Credential(s)
    } else {
        Presented::Unrecognised
    }
}

/// A new secret with `prefix`; fails only if the OS random source does.
pub fn generate(prefix: &str) -> std::io::Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| std::io::Error::other(format!("OS random source: {e}")))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// Hex SHA-256 of a secret: what the store keeps.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

/// Compares two hashes in time independent of where they differ.
pub fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_classified() {
        let t = generate(TOKEN_PREFIX).expect("random");
        let c = generate(CREDENTIAL_PREFIX).expect("random");
        assert_eq!(t.len(), TOKEN_PREFIX.len() + 64);
        assert_ne!(t, generate(TOKEN_PREFIX).expect("random"));
        assert_eq!(classify(&t), Presented::Token(&t));
        assert_eq!(classify(&c), Presented::Credential(&c));
        assert_eq!(classify(""), Presented::None);
        assert_eq!(classify("secret"), Presented::Unrecognised);
    }

    #[test]
    fn hashes_compare_exactly() {
        let h = hash("hwc_abc");
        assert_eq!(h.len(), 64);
        assert!(same_hash(&h, &hash("hwc_abc")));
        assert!(!same_hash(&h, &hash("hwc_abd")));
        assert!(!same_hash(&h, &h[..63]));
    }
}
