//! Password hashing: argon2id with the crate's default cost (19 MiB, 2 passes,
//! 1 lane: OWASP's minimum), stored as a PHC string
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), so a file written with other
//! parameters still verifies.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest password `hostwatch user add` accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password hashed; longer ones are refused before argon2 sees them,
/// so a huge body cannot buy a long hash.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("password longer than {MAX_PASSWORD_BYTES} bytes"));
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing: {e}"))
}

/// Whether `password` matches the PHC string `phc`. A malformed `phc` never
/// matches (the users file is checked when loaded, see `users::UsersFile::check`).
pub fn verify(password: &str, phc: &str) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Whether `phc` is a PHC string argon2 can verify against.
pub fn check_phc(phc: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC string: {e}"))?;
    if !parsed.algorithm.as_str().starts_with("argon2") {
        return Err(format!("algorithm {} is not argon2", parsed.algorithm));
    }
    Ok(())
}

/// Why a new password is refused, if it is.
pub fn weak(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!(
            "password too short: use at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(format!("password longer than {MAX_PASSWORD_BYTES} bytes"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by `hostwatch user add` (password "a long enough password"):
    /// files written by earlier builds must keep verifying.
    const WRITTEN_BEFORE: &str = "$argon2id$v=19$m=19456,t=2,p=1$ll3zK3KxOFpD4ty8NWvupQ$IldS8Jvg036si3MY1RHL1GRb/5jHoZStikgKkqbpAbY";

    #[test]
    fn verify_as_data() {
        let fresh = hash("correct horse battery").expect("hash");
        assert!(
            fresh.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{fresh}"
        );
        let cases: &[(&str, &str, bool)] = &[
            ("correct horse battery", &fresh, true),
            ("correct horse batterY", &fresh, false),
            ("", &fresh, false),
            ("correct horse battery", "not-a-phc", false),
            ("correct horse battery", "", false),
            ("a long enough password", WRITTEN_BEFORE, true),
            ("a long enough passwort", WRITTEN_BEFORE, false),
        ];
        for (password, phc, want) in cases {
            assert_eq!(verify(password, phc), *want, "{password:?} against {phc:?}");
        }
        assert!(!verify(&"x".repeat(MAX_PASSWORD_BYTES + 1), &fresh));
    }

    #[test]
    fn salts_differ() {
        assert_ne!(
            hash("same password").expect("a"),
            hash("same password").expect("b")
        );
    }

    #[test]
    fn phc_checks() {
        assert!(check_phc(&hash("pw-for-check").expect("hash")).is_ok());
        assert!(check_phc("plaintext").is_err());
        assert!(check_phc("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
    }

    #[test]
    fn weak_passwords() {
        assert!(weak("short").is_some());
        assert!(weak("long enough pw").is_none());
        // Characters, not bytes: ten "é" are ten characters.
        assert!(weak(&"é".repeat(10)).is_none());
    }
}
