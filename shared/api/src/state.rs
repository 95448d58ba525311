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
    /// The stack's public address for links sent to people (no trailing
    /// slash): `PUBLIC_BASE_URL` when deployed, the dev stack's own address.
    pub base_url: Arc<str>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, terms: Arc<ProgramTerms>) -> Self {
        let base_url = std::env::var("PUBLIC_BASE_URL").unwrap_or_default();
        Self { store, clock, terms, keys: KeyCache::default(), base_url: base_url.trim_end_matches('/').into() }
    }

    pub fn with_base_url(mut self, base_url: &str) -> Self {
        self.base_url = base_url.trim_end_matches('/').into();
        self
    }
}
