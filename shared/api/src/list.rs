//! `?limit=&cursor=` and the `{ items, next_cursor }` envelope.

use crate::principal::Principal;
use crate::problem::Problem;
use partnerops_aws::store::{Page, PageRequest};
use partnerops_domain::partner::PartnerId;
use serde::Serialize;
use std::collections::HashMap;

pub const DEFAULT_LIMIT: u16 = 25;
pub const MAX_LIMIT: u16 = 100;

pub fn page_request(query: &HashMap<String, String>) -> Result<PageRequest, Problem> {
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<u16>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(Problem::field("limit", "must be a whole number from 1 to 100"));
            }
        },
    };
    let cursor = match query.get("cursor") {
        // Cursors are base64url; anything else cannot be one of ours.
        Some(c)
            if c.is_empty()
                || c.len() > 2048
                || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            return Err(Problem::bad_request("invalid_cursor", "The cursor is not valid for this list."));
        }
        other => other.cloned(),
    };
    Ok(PageRequest { limit, cursor })
}

#[derive(Debug, Serialize)]
pub struct ListBody<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> From<Page<T>> for ListBody<T> {
    fn from(page: Page<T>) -> Self {
        Self { items: page.items, next_cursor: page.next_cursor }
    }
}

/// Whose items a list shows: `?partner_id=` for channel managers and admins;
/// always the caller's own for a partner. `None` when a partner asked for
/// another partner's items: the answer is an empty list, which reveals nothing.
pub fn partner_scope(
    principal: &Principal,
    query: &HashMap<String, String>,
) -> Result<Option<Option<PartnerId>>, Problem> {
    let requested = match query.get("partner_id") {
        Some(raw) => Some(PartnerId::parse(raw).map_err(|m| Problem::field("partner_id", m))?),
        None => None,
    };
    Ok(match (principal.partner(), requested) {
        (Some(own), Some(other)) if own != &other => None,
        (Some(own), _) => Some(Some(own.clone())),
        (None, requested) => Some(requested),
    })
}

/// A list with nothing in it.
pub fn empty() -> ListBody<()> {
    ListBody { items: Vec::new(), next_cursor: None }
}
