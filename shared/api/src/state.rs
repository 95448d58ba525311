//! What every API handler can reach: the store, the clock, the program terms
//! and the API-key cache. Built once per container.

use crate::auth::KeyCache;
use partnerops_aws::{Clock, Store};
use partnerops_domain::terms::ProgramTerms;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
    pub keys: KeyCache,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, terms: Arc<ProgramTerms>) -> Self {
        Self { store, clock, terms, keys: KeyCache::default() }
    }
}
