//! Who is calling: an API key's role and, for a partner key, its partner.

use crate::problem::Problem;
use partnerops_domain::auth::Role;
use partnerops_domain::id::KeyId;
use partnerops_domain::partner::{Partner, PartnerId};

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
    /// 403 `forbidden`, naming the roles that may, unless the caller has one
    /// of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.contains(&self.role) { Ok(()) } else { Err(Problem::forbidden_for(roles)) }
    }

    /// The partner a partner key is bound to.
    pub fn partner(&self) -> Option<&PartnerId> {
        if self.role == Role::Partner { self.partner_id.as_ref() } else { None }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(Problem::unauthenticated)
    }
}
