//! Partner webhooks (SPEC §18): endpoints, the messages a domain event makes
//! for each partner, Standard Webhooks signatures, the retry schedule and the
//! address rules that keep deliveries off private networks.
//!
//! Everything here is pure: resolving a host and sending a request happen in
//! the function; what may be called and what an outcome means is decided here.

pub use crate::id::{EndpointId, MessageId};

mod delivery;
mod endpoint;
mod message;
mod signing;
mod url;

pub use delivery::{
    ATTEMPT_LEASE_SECONDS, Delivery, DeliveryState, MAX_ATTEMPTS, Outcome, RESPONSE_KEEP_BYTES, RETRY_DELAYS_SECONDS,
    RetryRefusal, TIMEOUT_SECONDS, abandon, claim, keep_response, manual_retry, record, retry_delay,
};
pub use endpoint::{
    DISABLE_AFTER_DAYS, EVENT_TYPES, Endpoint, EndpointDraft, EndpointStatus, MAX_DESCRIPTION_LEN,
    MAX_ENDPOINTS_PER_PARTNER, ROTATION_OVERLAP_HOURS, RetiringSecret, TEST_EVENT, new_endpoint,
};
pub use message::{ExportedGroup, Message, export_messages, messages_for};
pub use signing::{SECRET_BYTES, Secret};
pub use url::{CheckedUrl, MAX_URL_LEN, UrlPolicy, UrlRefusal, addresses_allowed, check_url, public_address};

#[cfg(test)]
mod tests;
