//! Pages of a list: the request (`limit`, opaque `cursor`) and the page, and
//! how the in-memory twin pages the way DynamoDB does (the limit applies
//! before any filter; a cursor holds only in the list it came from).

use crate::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u16,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct MemoryCursor {
    partition: String,
    after: String,
}

/// Where a page starts: the id after which the previous page ended.
pub(super) fn page_start(page: &PageRequest, partition: &str) -> Result<Option<String>, StoreError> {
    let Some(raw) = &page.cursor else {
        return Ok(None);
    };
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| StoreError::InvalidCursor)?;
    let cursor: MemoryCursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    if cursor.partition != partition {
        return Err(StoreError::InvalidCursor);
    }
    Ok(Some(cursor.after))
}

/// A page of a list, newest first: all of `records`, or only the ids in
/// `index` (a partner's), below the cursor's id.
pub(super) fn list_page<K: Ord + Clone + fmt::Display, T: Clone>(
    records: &BTreeMap<K, T>,
    index: Option<&BTreeSet<K>>,
    after: Option<K>,
    partition: String,
    keep: impl Fn(&T) -> bool,
    page: &PageRequest,
    visited: &mut u64,
) -> Page<T> {
    let ids: Box<dyn Iterator<Item = &K>> = match (index, &after) {
        (None, Some(a)) => Box::new(records.range(..a.clone()).rev().map(|(id, _)| id)),
        (None, None) => Box::new(records.keys().rev()),
        (Some(index), Some(a)) => Box::new(index.range(..a.clone()).rev()),
        (Some(index), None) => Box::new(index.iter().rev()),
    };
    let rows = ids.filter_map(|id| Some((id.to_string(), records.get(id)?.clone())));
    page_of(rows, partition, keep, page, visited)
}

/// One page, newest first, from ids already below the cursor, as the
/// DynamoDB store pages: the limit applies before the status filter.
pub(super) fn page_of<T>(
    mut newest_first: impl Iterator<Item = (String, T)>,
    partition: String,
    keep: impl Fn(&T) -> bool,
    page: &PageRequest,
    visited: &mut u64,
) -> Page<T> {
    let window: Vec<(String, T)> = newest_first.by_ref().take(usize::from(page.limit)).collect();
    let more = newest_first.next().is_some();
    *visited += window.len() as u64 + u64::from(more);
    let next_cursor = match window.last() {
        Some((last, _)) if more => {
            serde_json::to_vec(&MemoryCursor { partition, after: last.clone() }).ok().map(|b| URL_SAFE_NO_PAD.encode(b))
        }
        _ => None,
    };
    Page { items: window.into_iter().map(|(_, r)| r).filter(|r| keep(r)).collect(), next_cursor }
}
