//! What the admin routes hold: the ports they use, the clock, the API's key
//! cache and the public address.

use partnerops_api::key_cache::KeyCache;
use partnerops_aws::Clock;
use partnerops_aws::store::{ApiKeys, Partners, Prospects, ReferralForms, Users};
use std::sync::Arc;

/// What the admin routes read and write: partners and their
/// certifications, API keys, existing customers, users and form links.
pub trait AdminStore: Partners + ApiKeys + Prospects + Users + ReferralForms {}

impl<T: Partners + ApiKeys + Prospects + Users + ReferralForms + ?Sized> AdminStore for T {}

#[derive(Clone)]
pub struct AdminApi {
    pub store: Arc<dyn AdminStore>,
    pub clock: Arc<dyn Clock>,
    /// The API's key cache: a changed key or partner is dropped from it at once.
    pub keys: KeyCache,
    /// The stack's public address for hosted-form links.
    pub base_url: Arc<str>,
}
