//! People who sign in to the portal, and partners' hosted referral-form
//! links (SPEC §15, §16).

use crate::state::AdminApi;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use partnerops_api::base_url::RequestDomain;
use partnerops_api::list::{ListBody, page_request};
use partnerops_api::problem::ApiResult;
use partnerops_api::{ApiJson, Problem};
use partnerops_app::entropy;
use partnerops_app::retry::retry_on_conflict;
use partnerops_domain::id::UserId;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::people::{Secret, UserDraft, UserPatchDraft, new_user, patch_user};
use serde::Serialize;
use std::collections::HashMap;

const UPDATE_ATTEMPTS: usize = 3;

pub async fn create_user(State(state): State<AdminApi>, ApiJson(draft): ApiJson<UserDraft>) -> ApiResult {
    let now = state.clock.now();
    let user = new_user(draft, UserId::generate(now, entropy()), now).map_err(Problem::validation)?;
    if let Some(partner) = &user.partner_id
        && state.store.partner(partner).await?.is_none()
    {
        return Err(Problem::field("partner_id", "no partner has this id"));
    }
    if !state.store.create_user(&user).await? {
        return Err(Problem::conflict("user_exists", "A user with this email exists already."));
    }
    tracing::info!(user_id = %user.id, role = %user.role, "user created");
    let location = format!("/v1/admin/users/{}", user.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], Json(user)).into_response())
}

pub async fn list_users(State(state): State<AdminApi>, Query(query): Query<HashMap<String, String>>) -> ApiResult {
    let page = page_request(&query)?;
    let users = state.store.users(&page).await?;
    Ok(Json(ListBody::from(users)).into_response())
}

fn user_id(raw: &str) -> Result<UserId, Problem> {
    UserId::parse(raw).ok_or_else(Problem::not_found)
}

pub async fn get_user(State(state): State<AdminApi>, Path(id): Path<String>) -> ApiResult {
    let user = state.store.user(&user_id(&id)?).await?.ok_or_else(Problem::not_found)?;
    Ok(Json(user).into_response())
}

/// Disabling a user ends its sessions at once: every portal request reads
/// the user behind its session.
pub async fn update_user(
    State(state): State<AdminApi>,
    Path(id): Path<String>,
    ApiJson(draft): ApiJson<UserPatchDraft>,
) -> ApiResult {
    let id = user_id(&id)?;
    let state = &state;
    let id = &id;
    let draft = &draft;
    retry_on_conflict(UPDATE_ATTEMPTS, move || async move {
        let current = state.store.user(id).await?.ok_or_else(Problem::not_found)?;
        let read_at = current.updated_at;
        let updated = patch_user(current, draft.clone(), state.clock.now()).map_err(Problem::validation)?;
        match state.store.update_user(&updated, read_at).await {
            Ok(()) => {
                tracing::info!(user_id = %id, status = updated.status.as_str(), "user updated");
                Ok(Json(updated).into_response())
            }
            Err(e) => Err(e.into()),
        }
    })
    .await
}

#[derive(Serialize)]
struct FormLink {
    url: String,
}

/// A new hosted-form link for the partner; the previous one stops working
/// in the same write.
pub async fn rotate_referral_form(
    State(state): State<AdminApi>,
    domain: RequestDomain,
    Path(id): Path<String>,
) -> ApiResult {
    let partner = PartnerId::parse(&id).map_err(|_| Problem::not_found())?;
    state.store.partner(&partner).await?.ok_or_else(Problem::not_found)?;
    let secret = Secret::generate(rand::random());
    state.store.replace_referral_form(&partner, &secret.hash).await?;
    tracing::info!(partner_id = %partner, "referral form link replaced");
    let url = format!("{}/forms/referral/{}", domain.base_url(&state.base_url), secret.plaintext);
    Ok((StatusCode::CREATED, Json(FormLink { url })).into_response())
}
