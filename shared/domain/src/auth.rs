//! API keys and roles.
//!
//! A key reads `pok_<key ulid>_<secret>`: the ulid names the stored record (one
//! point read), the secret carries 256 random bits. Only the SHA-256 of the
//! whole key is stored, compared in constant time.

use crate::id::KeyId;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

const KEY_PREFIX: &str = "pok_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Partner,
    ChannelManager,
    Crm,
    Finance,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Partner => "partner",
            Role::ChannelManager => "channel_manager",
            Role::Crm => "crm",
            Role::Finance => "finance",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Role::Partner, Role::ChannelManager, Role::Crm, Role::Finance, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == raw)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hex SHA-256 of a presented key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(presented: &str) -> Self {
        let digest = Sha256::digest(presented.as_bytes());
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        Self(hex)
    }

    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, presented: &str) -> bool {
        let candidate = KeyHash::of(presented);
        bool::from(self.0.as_bytes().ct_eq(candidate.0.as_bytes()))
    }
}

/// A freshly made key: the plaintext exists only here and in the one response
/// that shows it.
pub struct NewApiKey {
    pub key_id: KeyId,
    pub plaintext: String,
    pub hash: KeyHash,
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey").field("key_id", &self.key_id).field("plaintext", &"<redacted>").finish()
    }
}

impl NewApiKey {
    pub fn new(key_id: KeyId, secret: [u8; 32]) -> Self {
        let ulid = key_id.as_str().trim_start_matches(KeyId::PREFIX);
        let plaintext = format!("{KEY_PREFIX}{ulid}_{}", URL_SAFE_NO_PAD.encode(secret));
        let hash = KeyHash::of(&plaintext);
        Self { key_id, plaintext, hash }
    }
}

/// The key id named inside a presented key, if the key is well formed.
pub fn key_id_of(presented: &str) -> Option<KeyId> {
    let rest = presented.strip_prefix(KEY_PREFIX)?;
    let (ulid, secret) = rest.split_once('_')?;
    if secret.len() != 43 {
        return None;
    }
    KeyId::parse(&format!("{}{ulid}", KeyId::PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;
    use crate::id::Entropy;

    #[test]
    fn a_new_key_names_its_record_and_matches_only_itself() {
        let now = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
        let key_id = KeyId::generate(now, Entropy(7));
        let key = NewApiKey::new(key_id.clone(), [9; 32]);
        assert_eq!(key_id_of(&key.plaintext), Some(key_id));
        assert!(key.hash.matches(&key.plaintext));
        assert!(!key.hash.matches(&format!("{}x", key.plaintext)));
        assert_eq!(key.hash.as_str().len(), 64);
        assert!(!format!("{key:?}").contains(&key.plaintext));
    }

    #[test]
    fn malformed_keys_name_nothing() {
        for bad in ["", "pok_", "Bearer x", "pok_abc_def", "pok__aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
            assert_eq!(key_id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn roles_round_trip() {
        for role in ["partner", "channel_manager", "crm", "finance", "admin"] {
            assert_eq!(Role::parse(role).map(Role::as_str), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
