//! The per-container cache of resolved API keys. A key resolves with one
//! point read of its record, then stays here for `CACHE_TTL`; a key or
//! partner this container changes is dropped at once, so a revocation or
//! suspension made through the same process applies immediately, and other
//! containers see it within `CACHE_TTL` (docs/security.md).

use crate::principal::Principal;
use partnerops_domain::auth::KeyHash;
use partnerops_domain::id::KeyId;
use partnerops_domain::partner::PartnerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// Keys kept before expired entries are swept out.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Clone)]
pub(crate) struct Resolved {
    pub(crate) principal: Principal,
    pub(crate) hash: KeyHash,
    pub(crate) revoked: bool,
    pub(crate) suspended: bool,
    pub(crate) at: Instant,
}

#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<HashMap<KeyId, Resolved>>>);

impl KeyCache {
    pub(crate) fn get(&self, key_id: &KeyId) -> Option<Resolved> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key_id).filter(|r| r.at.elapsed() < CACHE_TTL).cloned()
    }

    pub(crate) fn put(&self, key_id: KeyId, resolved: Resolved) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > SWEEP_ABOVE {
            map.retain(|_, r| r.at.elapsed() < CACHE_TTL);
        }
        map.insert(key_id, resolved);
    }

    pub fn forget_key(&self, key_id: &KeyId) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key_id);
    }

    pub fn forget_partner(&self, partner: &PartnerId) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, r| r.principal.partner_id.as_ref() != Some(partner));
    }
}
