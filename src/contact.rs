//! Contact details a rider chose to give: validated, and encrypted at rest with AES-256-GCM.
//! Shared vocabulary: `Debug` never prints them, and the keyed rider hash never holds the number.
//!
//! Layer: shared vocabulary. ARCHITECTURE.md maps the layers.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A rider's name and phone. `Debug` never prints them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    #[serde(default)]
    pub name: Option<String>,
    pub phone: String,
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contact(<redacted>)")
    }
}

impl Contact {
    /// Trims and checks the fields; returns a message for the first problem.
    pub fn normalized(&self) -> Result<Contact, (&'static str, &'static str)> {
        let phone: String = self.phone.trim().to_string();
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if !(5..=20).contains(&digits)
            || !phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()".contains(c))
        {
            return Err((
                "phone",
                "a phone number has 5 to 20 digits, and only digits, spaces and + - ( )",
            ));
        }
        let name = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        if name
            .as_ref()
            .is_some_and(|n| n.chars().count() > 50 || n.chars().any(char::is_control))
        {
            return Err(("name", "a name has at most 50 characters"));
        }
        Ok(Contact { name, phone })
    }
}

/// Encrypts and decrypts contact details with the configured key.
#[derive(Clone)]
pub struct ContactCipher {
    cipher: Aes256Gcm,
    /// HMAC key for `rider_key`, derived from the contact key (never the key itself).
    rider_mac_key: [u8; 32],
    /// HMAC key for `source_fingerprint`, derived the same way under another label.
    source_mac_key: [u8; 32],
    /// HMAC key (hex) that signs proof-of-work challenges, derived under a third label.
    challenge_key: String,
    /// HMAC key for `contact_token`, derived under a fourth label.
    token_mac_key: [u8; 32],
}

impl std::fmt::Debug for ContactCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContactCipher(<key>)")
    }
}

impl ContactCipher {
    /// The key is base64 of exactly 32 bytes.
    pub fn from_base64(key: &str) -> Result<Self, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| "must be base64 (of 32 random bytes)".to_string())?;
        if bytes.len() != 32 {
            return Err(format!(
                "must be 32 bytes once decoded, not {}",
                bytes.len()
            ));
        }
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|e| e.to_string())?;
        use sha2::Digest;
        let rider_mac_key: [u8; 32] = sha2::Sha256::new()
            .chain_update(b"careline rider key v1\0")
            .chain_update(&bytes)
            .finalize()
            .into();
        let source_mac_key: [u8; 32] = sha2::Sha256::new()
            .chain_update(b"careline source fingerprint v1\0")
            .chain_update(&bytes)
            .finalize()
            .into();
        let challenge_key = hex::encode(
            sha2::Sha256::new()
                .chain_update(b"careline proof-of-work challenge v1\0")
                .chain_update(&bytes)
                .finalize(),
        );
        let token_mac_key: [u8; 32] = sha2::Sha256::new()
            .chain_update(b"careline contact token v1\0")
            .chain_update(&bytes)
            .finalize()
            .into();
        Ok(ContactCipher {
            cipher,
            rider_mac_key,
            source_mac_key,
            challenge_key,
            token_mac_key,
        })
    }

    /// Who an identified rider is, without the phone number: a keyed hash of its digits. Two
    /// screenings that left the same number are the same rider's; the database alone cannot
    /// tell the number.
    pub fn rider_key(&self, contact: &Contact) -> String {
        use hmac::{KeyInit, Mac};
        let digits: String = contact.phone.chars().filter(char::is_ascii_digit).collect();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.rider_mac_key)
            .expect("HMAC takes a key of any length");
        mac.update(digits.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Where a screening came from, without the address: 32 hex characters of a keyed hash of
    /// the client's network (IPv4 /24, IPv6 /48) and its user agent. Riders behind one carrier
    /// network with one phone model share it; that is why the flood thresholds sit far above
    /// what a station sends.
    pub fn source_fingerprint(
        &self,
        client: Option<core::net::IpAddr>,
        user_agent: &str,
    ) -> String {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.source_mac_key)
            .expect("HMAC takes a key of any length");
        mac.update(network_of(client).as_bytes());
        mac.update(b"\0");
        mac.update(user_agent.trim().as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }

    /// The secret that lets a rider's own page add a contact to screening `screening_id`, or
    /// withdraw it: a keyed hash of the screening id and the idempotency key its form was sent
    /// with. Derivable again from the form alone, so a repeated send (a refresh, a retry after a
    /// network drop) gets the same token back without any cookie; the database keeps only its
    /// SHA-256.
    pub fn contact_token(&self, screening_id: &str, idempotency_key: &str) -> String {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.token_mac_key)
            .expect("HMAC takes a key of any length");
        mac.update(screening_id.as_bytes());
        mac.update(b"\0");
        mac.update(idempotency_key.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..24])
    }

    /// The key that signs the flood guard's proof-of-work challenges.
    pub fn challenge_key(&self) -> &str {
        &self.challenge_key
    }

    /// Returns (nonce, ciphertext). `aad` binds the ciphertext to its screening, so a row copied
    /// onto another screening does not decrypt.
    pub fn encrypt(&self, contact: &Contact, aad: &str) -> (Vec<u8>, Vec<u8>) {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        let plaintext = serde_json::to_vec(contact).unwrap_or_default();
        let ciphertext = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                aes_gcm::aead::Payload {
                    msg: &plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any message shorter than 64 GiB");
        (nonce.to_vec(), ciphertext)
    }

    pub fn decrypt(&self, nonce: &[u8], ciphertext: &[u8], aad: &str) -> Option<Contact> {
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plain = self
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                aes_gcm::aead::Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// The network a client address belongs to, as counted by the flood guard: IPv4 /24, IPv6 /48
/// (an IPv4-mapped IPv6 address counts as its IPv4), `-` when unknown.
pub fn network_of(client: Option<core::net::IpAddr>) -> String {
    use core::net::IpAddr;
    match client.map(|ip| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }) {
        Some(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn contacts_round_trip_and_are_bound_to_their_screening() {
        let c = ContactCipher::from_base64(KEY).unwrap();
        let contact = Contact {
            name: Some("王小明".into()),
            phone: "138 0000 0000".into(),
        };
        let (nonce, ct) = c.encrypt(&contact, "s1");
        assert!(!String::from_utf8_lossy(&ct).contains("138"));
        assert_eq!(c.decrypt(&nonce, &ct, "s1"), Some(contact.clone()));
        assert_eq!(c.decrypt(&nonce, &ct, "s2"), None);
        let (nonce2, _) = c.encrypt(&contact, "s1");
        assert_ne!(nonce, nonce2, "a fresh nonce every time");
    }

    #[test]
    fn a_source_fingerprint_is_keyed_and_counts_a_network_not_an_address() {
        let c = ContactCipher::from_base64(KEY).unwrap();
        let ip = |s: &str| Some(s.parse::<core::net::IpAddr>().unwrap());
        let ua = "Mozilla/5.0 (iPhone) MicroMessenger/8.0";
        let fp = c.source_fingerprint(ip("203.0.113.7"), ua);
        assert_eq!(fp.len(), 32);
        assert!(fp.chars().all(|ch| ch.is_ascii_hexdigit()));
        // The same /24: the same source; another /24 or another agent: another.
        assert_eq!(fp, c.source_fingerprint(ip("203.0.113.200"), ua));
        assert_eq!(fp, c.source_fingerprint(ip("::ffff:203.0.113.9"), ua));
        assert_ne!(fp, c.source_fingerprint(ip("203.0.114.7"), ua));
        assert_ne!(fp, c.source_fingerprint(ip("203.0.113.7"), "curl/8"));
        // IPv6: the same /48.
        let v6 = c.source_fingerprint(ip("2001:db8:1:2::5"), ua);
        assert_eq!(v6, c.source_fingerprint(ip("2001:db8:1:ffff::9"), ua));
        assert_ne!(v6, c.source_fingerprint(ip("2001:db8:2::5"), ua));
        // Keyed: another deployment's key gives another hash; the address is not in it.
        let other =
            ContactCipher::from_base64("ZGV2ZWxvcG1lbnQgb25seTogbm90IGEgc2VjcmV0ISE=").unwrap();
        assert_ne!(fp, other.source_fingerprint(ip("203.0.113.7"), ua));
        assert!(!fp.contains("203"));
        assert_eq!(network_of(None), "-");
        assert_eq!(network_of(ip("10.1.2.3")), "10.1.2.0/24");
        assert_eq!(network_of(ip("2001:db8:1:2::5")), "2001:db8:1::/48");
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(ContactCipher::from_base64("not base64!").is_err());
        assert!(
            ContactCipher::from_base64("c2hvcnQ=")
                .unwrap_err()
                .contains("32 bytes")
        );
    }

    #[test]
    fn debug_never_shows_the_contact() {
        let contact = Contact {
            name: Some("王小明".into()),
            phone: "13800000000".into(),
        };
        let shown = format!("{contact:?}");
        assert!(!shown.contains("138") && !shown.contains("王"));
    }

    #[test]
    fn phone_numbers_are_checked() {
        let ok = Contact {
            name: None,
            phone: " +86 138-0000-0000 ".into(),
        };
        assert_eq!(ok.normalized().unwrap().phone, "+86 138-0000-0000");
        for bad in ["", "12", "call me", "1380000000012345678901"] {
            assert!(
                Contact {
                    name: None,
                    phone: bad.into()
                }
                .normalized()
                .is_err(),
                "{bad}"
            );
        }
    }
}
