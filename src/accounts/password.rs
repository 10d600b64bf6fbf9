//! Passwords: argon2id with 19 MiB, 2 iterations, 1 lane (OWASP's first choice), PHC strings.
//! Hashing costs tens of milliseconds of CPU: callers run it on the blocking pool.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LENGTH: usize = 12;
/// Longer passwords are refused rather than hashed (a megabyte "password" is a DoS, not a secret).
pub const MAX_LENGTH: usize = 256;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Why a new password is refused.
pub fn check_new(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("a password needs at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("a password may have at most {MAX_LENGTH} bytes"));
    }
    if password.trim().is_empty() {
        return Err("a password cannot be only spaces".into());
    }
    Ok(())
}

pub fn hash(password: &str) -> Result<String, String> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h: PasswordHash| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Whether `password` matches the stored PHC string. A malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_LENGTH {
        return false;
    }
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, computed once: verified against when the email is unknown so
/// that an unknown account costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 24];
        rand::fill(&mut bytes);
        hash(&hex::encode(bytes)).unwrap_or_default()
    })
}

/// A random password for `careline user add` without stdin: 20 characters from an alphabet
/// without look-alikes (about 112 bits).
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_the_required_cost_and_verify() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterz", &h));
        assert!(!verify("correct horse battery", "not a hash"));
        assert_ne!(hash("correct horse battery").unwrap(), h, "salted");
    }

    #[test]
    fn new_passwords_need_twelve_characters() {
        assert!(check_new("short").is_err());
        assert!(check_new("elevenchars").is_err());
        assert!(check_new("twelve chars").is_ok());
        // Characters, not bytes: twelve Chinese characters are enough.
        assert!(check_new("一二三四五六七八九十十一").is_ok());
        assert!(check_new("            ").is_err());
        assert!(check_new(&"x".repeat(MAX_LENGTH + 1)).is_err());
    }

    #[test]
    fn generated_passwords_are_long_enough_and_differ() {
        let a = generate();
        assert!(check_new(&a).is_ok());
        assert_ne!(a, generate());
        assert!(!verify(&a, dummy_hash()));
    }
}
