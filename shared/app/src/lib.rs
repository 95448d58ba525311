//! The use cases: what the functions, the dev stack and the tests call to
//! change anything. Each one reads through the store's ports, lets the
//! domain decide with an explicit `now`, and writes the decision with its
//! events in one conditional transaction, retrying from a fresh read when a
//! concurrent write won. No HTTP here: refusals are typed errors that each
//! caller words for its own channel (a problem document, a portal page, a
//! Slack reply).

pub mod crm;
pub mod decisions;
pub mod exports;
pub mod ledger;
pub mod referrals;
pub mod registrations;
pub mod retry;
pub mod sweep;

use partnerops_domain::Timestamp;
use partnerops_domain::id::{Entropy, EventId};

/// 80 random bits for a new identifier.
pub fn entropy() -> Entropy {
    Entropy(rand::random::<u128>() >> 48)
}

/// A new event id at `now`.
pub fn fresh_event_id(now: Timestamp) -> EventId {
    EventId::generate(now, entropy())
}
