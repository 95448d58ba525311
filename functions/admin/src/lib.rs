//! `admin`: partners, certifications, API keys and existing customers
//! (SPEC §11). Every route needs an `admin` key.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use partnerops_api::problem::ApiResult;
use partnerops_api::{ApiContext, ApiJson, Problem, Route, build_router};
use partnerops_app::entropy;
use partnerops_app::retry::retry_on_conflict;
use partnerops_aws::store::ApiKeyRecord;
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::field::{FieldErrors, bounded_text};
use partnerops_domain::id::{CertificationId, KeyId};
use partnerops_domain::partner::{
    CertificationDraft, PartnerDraft, PartnerId, PartnerPatchDraft, new_certification, new_partner, patch_partner,
};
use partnerops_domain::prospect::ProspectKey;
use serde::{Deserialize, Serialize};

mod people;
mod state;

use people::{create_user, get_user, list_users, rotate_referral_form, update_user};
pub use state::{AdminApi, AdminStore};

/// Most domains one `POST /v1/admin/customers` may mark.
pub const MAX_CUSTOMER_DOMAINS: usize = 1000;
const UPDATE_ATTEMPTS: usize = 3;

pub fn routes() -> Vec<Route<AdminApi>> {
    vec![
        Route::post("/v1/admin/partners", &[Role::Admin], create_partner),
        Route::get("/v1/admin/partners/{id}", &[Role::Admin], get_partner),
        Route::patch("/v1/admin/partners/{id}", &[Role::Admin], update_partner),
        Route::post("/v1/admin/partners/{id}/certifications", &[Role::Admin], add_certification),
        Route::post("/v1/admin/keys", &[Role::Admin], create_key),
        Route::delete("/v1/admin/keys/{key_id}", &[Role::Admin], revoke_key),
        Route::post("/v1/admin/customers", &[Role::Admin], mark_customers),
        Route::post("/v1/admin/users", &[Role::Admin], create_user),
        Route::get("/v1/admin/users", &[Role::Admin], list_users),
        Route::get("/v1/admin/users/{id}", &[Role::Admin], get_user),
        Route::patch("/v1/admin/users/{id}", &[Role::Admin], update_user),
        Route::post("/v1/admin/partners/{id}/referral-form", &[Role::Admin], rotate_referral_form),
    ]
}

pub fn router(context: &ApiContext, state: AdminApi) -> axum::Router {
    build_router(routes(), context, state)
}

async fn create_partner(State(state): State<AdminApi>, ApiJson(draft): ApiJson<PartnerDraft>) -> ApiResult {
    let partner = new_partner(draft, state.clock.now()).map_err(Problem::validation)?;
    if !state.store.create_partner(&partner).await? {
        return Err(Problem::conflict("partner_exists", format!("A partner with id {} exists already.", partner.id)));
    }
    tracing::info!(partner_id = %partner.id, "partner created");
    let location = format!("/v1/admin/partners/{}", partner.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(partner)).into_response())
}

fn partner_id(raw: &str) -> Result<PartnerId, Problem> {
    PartnerId::parse(raw).map_err(|_| Problem::not_found())
}

async fn get_partner(State(state): State<AdminApi>, Path(id): Path<String>) -> ApiResult {
    let partner = state.store.partner(&partner_id(&id)?).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(partner).into_response())
}

async fn update_partner(
    State(state): State<AdminApi>,
    Path(id): Path<String>,
    ApiJson(draft): ApiJson<PartnerPatchDraft>,
) -> ApiResult {
    let id = partner_id(&id)?;
    let state = &state;
    let id = &id;
    let draft = &draft;
    retry_on_conflict(UPDATE_ATTEMPTS, move || async move {
        let current = state.store.partner(id).await?.ok_or_else(Problem::not_found)?;
        let read_at = current.updated_at;
        let updated = patch_partner(current, draft.clone(), state.clock.now()).map_err(Problem::validation)?;
        match state.store.update_partner(&updated, read_at).await {
            Ok(()) => {
                state.keys.forget_partner(id);
                tracing::info!(partner_id = %id, status = ?updated.status, "partner updated");
                Ok(Json(updated).into_response())
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

async fn add_certification(
    State(state): State<AdminApi>,
    Path(id): Path<String>,
    ApiJson(draft): ApiJson<CertificationDraft>,
) -> ApiResult {
    let id = partner_id(&id)?;
    state.store.partner(&id).await?.ok_or_else(Problem::not_found)?;
    let now = state.clock.now();
    let cert = new_certification(id.clone(), CertificationId::generate(now, entropy()), draft, now)
        .map_err(Problem::validation)?;
    let state = &state;
    let id = &id;
    let cert = &cert;
    retry_on_conflict(UPDATE_ATTEMPTS, move || async move {
        let mut partner = state.store.partner(id).await?.ok_or_else(Problem::not_found)?;
        let read_at = partner.updated_at;
        partner.certify(cert, state.clock.now());
        match state.store.add_certification(cert, &partner, read_at).await {
            Ok(()) => {
                state.keys.forget_partner(id);
                Ok((StatusCode::CREATED, Json(&cert)).into_response())
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct KeyDraft {
    pub role: Option<String>,
    pub partner_id: Option<String>,
    pub label: Option<String>,
}

/// The one response that ever shows a key.
#[derive(Serialize)]
struct CreatedKey {
    key_id: KeyId,
    key: String,
    role: Role,
    partner_id: Option<PartnerId>,
    label: String,
    created_at: Timestamp,
}

async fn create_key(State(state): State<AdminApi>, ApiJson(draft): ApiJson<KeyDraft>) -> ApiResult {
    let mut errors = FieldErrors::new();
    let role = errors.required("role", draft.role).and_then(|r| {
        errors.check("role", Role::parse(&r).ok_or("must be partner, channel_manager, crm, finance or admin"))
    });
    let label = draft.label.map_or(Some(String::new()), |l| errors.check("label", bounded_text(&l, 0, 200)));
    let partner_id = match (role, draft.partner_id) {
        (Some(Role::Partner), None) => {
            errors.push("partner_id", "is required for a partner key");
            None
        }
        (Some(Role::Partner), Some(raw)) => errors.check("partner_id", PartnerId::parse(&raw)),
        (_, Some(_)) => {
            errors.push("partner_id", "is only allowed for a partner key");
            None
        }
        (_, None) => None,
    };
    if let Some(pid) = &partner_id
        && state.store.partner(pid).await?.is_none()
    {
        errors.push("partner_id", "no partner has this id");
    }
    let (Some(role), Some(label), true) = (role, label, errors.is_empty()) else {
        return Err(Problem::validation(errors));
    };
    let now = state.clock.now();
    let key = NewApiKey::generate(rand::random());
    let record = ApiKeyRecord {
        key_id: key.key_id.clone(),
        hash: key.hash.clone(),
        role,
        partner_id: partner_id.clone(),
        label: label.clone(),
        created_at: now,
        revoked_at: None,
    };
    state.store.put_api_key(&record).await?;
    tracing::info!(key_id = %record.key_id, role = %role, "API key created");
    let body = CreatedKey { key_id: key.key_id, key: key.plaintext, role, partner_id, label, created_at: now };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn revoke_key(State(state): State<AdminApi>, Path(key_id): Path<String>) -> ApiResult {
    let key_id = KeyId::parse(&key_id).ok_or_else(Problem::not_found)?;
    if !state.store.revoke_api_key(&key_id, state.clock.now()).await? {
        return Err(Problem::not_found());
    }
    state.keys.forget_key(&key_id);
    tracing::info!(key_id = %key_id, "API key revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct CustomersDraft {
    pub domains: Option<Vec<String>>,
}

#[derive(Serialize)]
struct MarkedCustomers {
    marked: usize,
    prospect_keys: Vec<ProspectKey>,
}

async fn mark_customers(State(state): State<AdminApi>, ApiJson(draft): ApiJson<CustomersDraft>) -> ApiResult {
    let mut errors = FieldErrors::new();
    let domains = errors.required("domains", draft.domains).unwrap_or_default();
    if domains.is_empty() && errors.is_empty() {
        errors.push("domains", "must list at least one domain");
    }
    if domains.len() > MAX_CUSTOMER_DOMAINS {
        return Err(Problem::field("domains", "must list at most 1000 domains"));
    }
    let mut keys: Vec<ProspectKey> = Vec::with_capacity(domains.len());
    for (i, domain) in domains.iter().enumerate() {
        if let Some(key) = errors.check(&format!("domains[{i}]"), ProspectKey::from_domain_input(domain))
            && !keys.contains(&key)
        {
            keys.push(key);
        }
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    state.store.mark_customers(&keys, state.clock.now()).await?;
    Ok(Json(MarkedCustomers { marked: keys.len(), prospect_keys: keys }).into_response())
}
