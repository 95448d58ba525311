//! `?limit=&cursor=` and the `{ items, next_cursor }` envelope.

use crate::problem::Problem;
use partnerops_aws::store::{Page, PageRequest};
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
        Some(c) if c.is_empty() || c.len() > 2048 => {
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
