//! API keys and roles.
//!
//! A generated key reads `pok_<secret>` with 256 random bits of secret (the
//! prefix lets secret scanners recognise it). Only its SHA-256 is stored; the
//! record's id is derived from that hash, so a presented key is resolved with
//! one point read and compared in constant time. Keys supplied by an operator
//! (`PARTNEROPS_ADMIN_KEY`) work the same way whatever their shape.

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
        Self::of_digest(&Sha256::digest(presented.as_bytes()))
    }

    fn of_digest(digest: &[u8]) -> Self {
        Self(hex::encode(digest))
    }

    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, presented: &str) -> bool {
        self.same_as(&KeyHash::of(presented))
    }

    /// Equal to `other`, compared in constant time.
    pub fn same_as(&self, other: &KeyHash) -> bool {
        bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
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
    pub fn generate(secret: [u8; 32]) -> Self {
        Self::from_plaintext(format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret)))
    }

    /// Registers a key chosen elsewhere (the dev stack's `PARTNEROPS_ADMIN_KEY`).
    pub fn from_plaintext(plaintext: String) -> Self {
        let hash = KeyHash::of(&plaintext);
        let key_id = key_id_of(&plaintext);
        Self { key_id, plaintext, hash }
    }
}

/// The id of the record that holds a presented key: the first 128 bits of
/// its SHA-256, written as a ULID.
pub fn key_id_of(presented: &str) -> KeyId {
    presented_key(presented).0
}

/// A presented key's record id and hash, from one SHA-256 of it.
pub fn presented_key(presented: &str) -> (KeyId, KeyHash) {
    let digest = Sha256::digest(presented.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    (KeyId::from_ulid(ulid::Ulid::from_bytes(bytes)), KeyHash::of_digest(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_key_names_its_record_and_matches_only_itself() {
        let key = NewApiKey::generate([9; 32]);
        assert!(key.plaintext.starts_with("pok_"));
        assert_eq!(key.plaintext.len(), 4 + 43);
        assert_eq!(key_id_of(&key.plaintext), key.key_id);
        assert!(key.hash.matches(&key.plaintext));
        assert!(!key.hash.matches(&format!("{}x", key.plaintext)));
        assert_ne!(key_id_of(&format!("{}x", key.plaintext)), key.key_id);
        assert_eq!(key.hash.as_str().len(), 64);
        assert_eq!(presented_key(&key.plaintext), (key.key_id.clone(), key.hash.clone()));
        // The hex SHA-256 of "abc", as any sha256sum prints it.
        assert_eq!(KeyHash::of("abc").as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(!format!("{key:?}").contains(&key.plaintext));
    }

    #[test]
    fn operator_chosen_keys_get_stable_ids() {
        let a = NewApiKey::from_plaintext("local-admin-key-0123456789".into());
        assert_eq!(a.key_id, key_id_of("local-admin-key-0123456789"));
        assert!(a.key_id.as_str().starts_with("key_"));
        assert_eq!(partnerops_ids_roundtrip(&a.key_id), Some(a.key_id.clone()));
    }

    fn partnerops_ids_roundtrip(id: &KeyId) -> Option<KeyId> {
        KeyId::parse(id.as_str())
    }

    #[test]
    fn roles_round_trip() {
        for role in ["partner", "channel_manager", "crm", "finance", "admin"] {
            assert_eq!(Role::parse(role).map(Role::as_str), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
