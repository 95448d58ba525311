//! `Authorization: Bearer <api key>` → a `Principal` with one role, for
//! every `/v1` route.

use crate::context::ApiContext;
use crate::key_cache::Resolved;
use crate::principal::Principal;
use crate::problem::Problem;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use partnerops_domain::auth::{Role, presented_key};
use partnerops_domain::id::KeyId;
use partnerops_domain::partner::Partner;
use std::time::Instant;

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn resolve(context: &ApiContext, key_id: &KeyId) -> Result<Option<Resolved>, Problem> {
    if let Some(hit) = context.keys.get(key_id) {
        return Ok(Some(hit));
    }
    let Some(record) = context.callers.api_key(key_id).await? else {
        return Ok(None);
    };
    let partner_record = match (&record.role, &record.partner_id) {
        (Role::Partner, Some(partner_id)) => match context.callers.partner(partner_id).await? {
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
    context.keys.put(key_id.clone(), resolved.clone());
    Ok(Some(resolved))
}

/// Middleware for every `/v1` route: 401 without a valid key, 403
/// `partner_suspended` for a suspended partner's key; otherwise the
/// `Principal` is put in the request's extensions.
pub async fn authenticate(
    State(context): State<ApiContext>,
    mut request: Request,
    next: Next,
) -> Result<Response, Problem> {
    let presented = bearer(&request).ok_or_else(Problem::unauthenticated)?;
    if presented.is_empty() {
        return Err(Problem::unauthenticated());
    }
    let (key_id, hash) = presented_key(presented);
    let resolved = resolve(&context, &key_id).await?.ok_or_else(Problem::invalid_key)?;
    if resolved.revoked || !resolved.hash.same_as(&hash) {
        return Err(Problem::invalid_key());
    }
    if resolved.suspended {
        return Err(Problem::partner_suspended());
    }
    request.extensions_mut().insert(resolved.principal);
    Ok(next.run(request).await)
}
