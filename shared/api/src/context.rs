//! What the API conventions themselves need, shared by every API function
//! of a process: who a key belongs to (keys and partners, with the key
//! cache), the `Idempotency-Key` records, and the clock. Each function's
//! handlers get their own state beside it, holding only the ports they use.

use crate::key_cache::KeyCache;
use partnerops_aws::Clock;
use partnerops_aws::store::{ApiKeys, Idempotency, Partners};
use std::sync::Arc;

/// What authentication reads: a key's record, and its partner.
pub trait Callers: ApiKeys + Partners {}

impl<T: ApiKeys + Partners + ?Sized> Callers for T {}

#[derive(Clone)]
pub struct ApiContext {
    pub callers: Arc<dyn Callers>,
    pub keys: KeyCache,
    pub idempotency: Arc<dyn Idempotency>,
    pub clock: Arc<dyn Clock>,
}

impl ApiContext {
    pub fn new(callers: Arc<dyn Callers>, idempotency: Arc<dyn Idempotency>, clock: Arc<dyn Clock>) -> Self {
        Self { callers, keys: KeyCache::default(), idempotency, clock }
    }
}
