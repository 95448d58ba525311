//! The signed-in person behind a request, read afresh from the session
//! cookie on every request (SPEC §15).

use crate::forms::FormData;
use crate::state::PortalState;
use axum::http::{HeaderMap, HeaderValue, header};
use partnerops_api::Problem;
use partnerops_domain::auth::Role;
use partnerops_domain::partner::Partner;
use partnerops_domain::people::{Secret, User, csrf_matches, csrf_token};

pub const SESSION_COOKIE: &str = "po_session";

/// The signed-in person behind a request: an active user, and for a partner
/// user its partner, not suspended. Read afresh on every request, so a
/// disabled user or a suspended partner is signed out at once.
pub struct Viewer {
    pub user: User,
    pub partner: Option<Partner>,
    pub(crate) secret: String,
}

impl Viewer {
    pub fn csrf(&self) -> String {
        csrf_token(&self.secret)
    }

    pub fn csrf_ok(&self, form: &FormData) -> bool {
        csrf_matches(&self.secret, form.raw("csrf"))
    }

    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn is(&self, roles: &[Role]) -> bool {
        roles.contains(&self.user.role)
    }
}

pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

pub(crate) fn session_cookie(state: &PortalState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("po_session=; Max-Age=0; Path=/"))
}

pub(crate) async fn viewer(state: &PortalState, headers: &HeaderMap) -> Result<Option<Viewer>, Problem> {
    let Some(secret) = cookie_value(headers, SESSION_COOKIE) else { return Ok(None) };
    let Some(hash) = Secret::presented(secret) else { return Ok(None) };
    let store = &state.store;
    let now = state.clock.now();
    let Some(session) = store.session(&hash, now).await? else { return Ok(None) };
    let user = match store.user(&session.user_id).await? {
        Some(user) if user.is_active() => user,
        _ => {
            store.end_session(&hash).await?;
            return Ok(None);
        }
    };
    let partner = match (&user.role, &user.partner_id) {
        (Role::Partner, Some(id)) => match store.partner(id).await? {
            Some(partner) if !partner.is_suspended() => Some(partner),
            _ => {
                store.end_session(&hash).await?;
                return Ok(None);
            }
        },
        (Role::Partner, None) => return Ok(None),
        _ => None,
    };
    Ok(Some(Viewer { user, partner, secret: secret.to_owned() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; po_session=abc ; b=2"));
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers, "po"), None);
    }
}
