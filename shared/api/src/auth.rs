//! `Authorization: Bearer <api key>` → a `Principal` with one role.
//!
//! A key resolves with one point read of its record, then stays in a
//! per-container cache for `CACHE_TTL`. The cache is also dropped for a key
//! or partner when this container changes it, so a revocation or suspension
//! made through the same process applies at once; other containers see it
//! within `CACHE_TTL` (docs/security.md).

use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use partnerops_domain::auth::{Role, key_id_of};
use partnerops_domain::id::KeyId;
use partnerops_domain::partner::{Partner, PartnerId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: KeyId,
    pub role: Role,
    /// Set for `partner` keys: the partner the key acts for.
    pub partner_id: Option<PartnerId>,
    /// That partner as read when the key was resolved (cached with the key).
    pub partner_record: Option<Partner>,
}

impl Principal {
    /// 403 `forbidden` unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.role) { Ok(()) } else { Err(Problem::forbidden()) }
    }

    /// The partner a partner key is bound to.
    pub fn partner(&self) -> Option<&PartnerId> {
        if self.role == Role::Partner { self.partner_id.as_ref() } else { None }
    }
}

#[derive(Clone)]
struct Resolved {
    principal: Principal,
    hash: partnerops_domain::auth::KeyHash,
    revoked: bool,
    suspended: bool,
    at: Instant,
}

#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<HashMap<KeyId, Resolved>>>);

impl KeyCache {
    fn get(&self, key_id: &KeyId) -> Option<Resolved> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key_id).filter(|r| r.at.elapsed() < CACHE_TTL).cloned()
    }

    fn put(&self, key_id: KeyId, resolved: Resolved) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
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

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn resolve(state: &AppState, key_id: &KeyId) -> Result<Option<Resolved>, Problem> {
    if let Some(hit) = state.keys.get(key_id) {
        return Ok(Some(hit));
    }
    let Some(record) = state.store.api_key(key_id).await? else {
        return Ok(None);
    };
    let partner_record = match (&record.role, &record.partner_id) {
        (Role::Partner, Some(partner_id)) => match state.store.partner(partner_id).await? {
            Some(partner) => Some(partner),
            None => return Ok(None),
        },
        (Role::Partner, None) => return Ok(None),
        _ => None,
    };
    let suspended = partner_record.as_ref().is_some_and(Partner::is_suspended);
    let resolved = Resolved {
        principal: Principal {
            key_id: record.key_id.clone(),
            role: record.role,
            partner_id: record.partner_id.clone(),
            partner_record,
        },
        hash: record.hash,
        revoked: record.revoked_at.is_some(),
        suspended,
        at: Instant::now(),
    };
    state.keys.put(key_id.clone(), resolved.clone());
    Ok(Some(resolved))
}

/// Middleware for every `/v1` route: 401 without a valid key, 403
/// `partner_suspended` for a suspended partner's key; otherwise the
/// `Principal` is put in the request's extensions.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let presented = bearer(&request).ok_or_else(Problem::unauthenticated)?;
    if presented.is_empty() {
        return Err(Problem::unauthenticated());
    }
    let key_id = key_id_of(presented);
    let resolved = resolve(&state, &key_id).await?.ok_or_else(Problem::unauthenticated)?;
    if resolved.revoked || !resolved.hash.matches(presented) {
        return Err(Problem::unauthenticated());
    }
    if resolved.suspended {
        return Err(Problem::partner_suspended());
    }
    request.extensions_mut().insert(resolved.principal);
    Ok(next.run(request).await)
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(Problem::unauthenticated)
    }
}
