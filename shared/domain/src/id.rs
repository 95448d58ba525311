//! Server-made identifiers: a type prefix and a ULID (48-bit millisecond time,
//! 80 random bits). They sort by creation time and cannot be guessed.
//!
//! The caller supplies the time and the randomness, keeping this module pure.

use crate::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use ulid::Ulid;

/// 80 bits of randomness for one identifier.
#[derive(Debug, Clone, Copy)]
pub struct Entropy(pub u128);

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(now: Timestamp, entropy: Entropy) -> Self {
                let millis = u64::try_from(now.unix_millis()).unwrap_or(0);
                let ulid = Ulid::from_parts(millis, entropy.0);
                Self(format!("{}{}", $prefix, ulid.to_string().to_ascii_lowercase()))
            }

            /// Accepts only well-formed ids of this type: a wrong prefix or a
            /// malformed ULID is "not found", never an error that hints at shape.
            pub fn parse(raw: &str) -> Option<Self> {
                let rest = raw.strip_prefix($prefix)?;
                if rest.len() != 26 || !rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
                    return None;
                }
                Ulid::from_string(&rest.to_ascii_uppercase()).ok()?;
                Some(Self(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn from_ulid(ulid: Ulid) -> Self {
                Self(format!("{}{}", $prefix, ulid.to_string().to_ascii_lowercase()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).ok_or_else(|| serde::de::Error::custom(concat!("not a valid ", $prefix, " id")))
            }
        }
    };
}

prefixed_id!(
    /// A referral (`ref_…`).
    ReferralId, "ref_"
);
prefixed_id!(
    /// A deal registration (`reg_…`).
    RegistrationId, "reg_"
);
prefixed_id!(
    /// A payout ledger line (`pay_…`).
    PayoutLineId, "pay_"
);
prefixed_id!(
    /// A payout export (`exp_…`).
    ExportId, "exp_"
);
prefixed_id!(
    /// A domain event (`evt_…`).
    EventId, "evt_"
);
prefixed_id!(
    /// An API key's public identifier (`key_…`); the secret is separate.
    KeyId, "key_"
);
prefixed_id!(
    /// A certification held by a partner (`cert_…`).
    CertificationId, "cert_"
);
prefixed_id!(
    /// A person who signs in to the portal (`usr_…`).
    UserId, "usr_"
);
prefixed_id!(
    /// A partner's webhook endpoint (`whe_…`).
    EndpointId, "whe_"
);
prefixed_id!(
    /// One webhook message (`msg_…`): the `webhook-id` of its every attempt.
    MessageId, "msg_"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn ids_sort_by_time() {
        let a = ReferralId::generate(at("2026-01-01T00:00:00Z"), Entropy(u128::MAX));
        let b = ReferralId::generate(at("2026-01-01T00:00:00.001Z"), Entropy(0));
        assert!(a < b);
        assert!(a.as_str().starts_with("ref_"));
        assert_eq!(a.as_str().len(), 30);
    }

    #[test]
    fn parse_round_trips_and_rejects_other_prefixes() {
        let a = ReferralId::generate(at("2026-01-01T00:00:00Z"), Entropy(42));
        assert_eq!(ReferralId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(RegistrationId::parse(a.as_str()), None);
        assert_eq!(ReferralId::parse("ref_../../etc"), None);
        assert_eq!(ReferralId::parse("ref_"), None);
    }
}
