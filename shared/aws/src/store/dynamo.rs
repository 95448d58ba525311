//! The store on one DynamoDB table.

use crate::StoreError;
use crate::store::items::{GSI1, GSI1PK, GSI1SK, GSI2, GSI2PK, GSI2SK, PK, SK, SlaTimerItem, subject_pk};
use crate::store::{Page, PageRequest};
use anyhow::anyhow;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use partnerops_domain::sla::SlaTimer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;

/// Attempts for batch calls that return unprocessed keys or items.
pub(super) const BATCH_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    pub(super) client: Client,
    pub(super) table: String,
}

pub(super) fn unexpected<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::Unexpected(anyhow!("{operation}: {}", DisplayErrorContext(&e)))
}

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Unexpected(anyhow!("encoding item: {e}")))
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unexpected(anyhow!("decoding item: {e}")))
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn to_value<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Unexpected(anyhow!("encoding attribute: {e}")))
}

pub(super) fn key_of(pk: &str, sk: &str) -> Item {
    key(pk.to_owned(), sk)
}

/// The `Conflict` of a transaction cancelled by a concurrent one.
pub(super) const CONCURRENT_TRANSACTION: &str = "a concurrent transaction";

/// Which list index a query reads.
pub(super) enum Partition {
    Partner(String),
    All(&'static str),
}

pub(super) fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub(super) fn is_conditional_put_failure(e: &SdkError<PutItemError>) -> bool {
    matches!(e.as_service_error(), Some(PutItemError::ConditionalCheckFailedException(_)))
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// One `PutItem`; `Ok(false)` when `condition` did not hold.
    pub(super) async fn put_item(
        &self,
        item: Item,
        condition: Option<&str>,
        values: Option<Item>,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_values(values)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_put_failure(&e) => Ok(false),
            Err(e) => Err(unexpected("PutItem")(e)),
        }
    }

    pub(super) fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| StoreError::Unexpected(anyhow!("building Put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) fn put_with_values(
        &self,
        item: Item,
        condition: &str,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        self.put_named(item, condition, Vec::new(), values)
    }

    pub(super) fn put_named(
        &self,
        item: Item,
        condition: &str,
        names: Vec<(&str, &str)>,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let names: HashMap<String, String> = names.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Unexpected(anyhow!("building Put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) fn update(
        &self,
        key: Item,
        expression: &str,
        condition: Option<&str>,
        names: Vec<(&str, &str)>,
        values: Item,
    ) -> Result<TransactWriteItem, StoreError> {
        let names: HashMap<String, String> = names.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .set_condition_expression(condition.map(str::to_owned))
            .set_expression_attribute_names((!names.is_empty()).then_some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .build()
            .map_err(|e| StoreError::Unexpected(anyhow!("building Update: {e}")))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Writes a timer conditional on the revision it was changed from: a new
    /// timer must not exist yet, a changed one must be as it was read.
    pub(super) fn timer_write(&self, timer: &SlaTimer) -> Result<TransactWriteItem, StoreError> {
        let item = to_item(&SlaTimerItem::new(subject_pk(&timer.subject), timer.clone()))?;
        match timer.rev {
            0 => self.put(item, Some("attribute_not_exists(PK)")),
            rev => self.put_with_values(item, "rev = :rev", HashMap::from([(":rev".to_owned(), n(rev - 1))])),
        }
    }

    /// Runs a transaction; a failed condition on item `index` maps to
    /// `Conflict(names[index])`.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        names: &[&'static str],
    ) -> Result<(), StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancel)) => {
                        let reasons = cancel.cancellation_reasons();
                        if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
                            return Err(StoreError::Conflict(names.get(index).copied().unwrap_or("an item")));
                        }
                        // Another transaction was working on one of the items: the
                        // caller re-reads and tries again, like a failed condition.
                        if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                            return Err(StoreError::Conflict(CONCURRENT_TRANSACTION));
                        }
                    }
                    Some(TransactWriteItemsError::TransactionInProgressException(_)) => {
                        return Err(StoreError::Conflict(CONCURRENT_TRANSACTION));
                    }
                    _ => {}
                }
                Err(unexpected("TransactWriteItems")(e))
            }
        }
    }

    /// One page of a list index, newest first, optionally filtered by status.
    pub(super) async fn list(
        &self,
        partition: Partition,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let (index, index_pk, index_sk, partition) = match partition {
            Partition::Partner(p) => (GSI1, GSI1PK, GSI1SK, p),
            Partition::All(p) => (GSI2, GSI2PK, GSI2SK, p.to_owned()),
        };
        let start = page.cursor.as_deref().map(|c| decode_cursor(c, index_pk, index_sk, &partition)).transpose()?;
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index_pk)
            .expression_attribute_values(":pk", s(partition))
            .scan_index_forward(false)
            .limit(i32::from(page.limit))
            .set_exclusive_start_key(start);
        if let Some(status) = status {
            request = request
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status));
        }
        let output = request.send().await.map_err(unexpected("Query"))?;
        let next_cursor = output.last_evaluated_key.as_ref().and_then(encode_cursor);
        Ok((output.items.unwrap_or_default(), next_cursor))
    }

    /// One page of a list index decoded as `I` and turned into records.
    pub(super) async fn list_records<I: DeserializeOwned, R: From<I>>(
        &self,
        partition: Partition,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<R>, StoreError> {
        let (items, next_cursor) = self.list(partition, status, page).await?;
        let items = items.into_iter().map(|i| from_item::<I>(i).map(R::from)).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// Every item of one GSI1 partition, in sort-key order or newest first.
    pub(super) async fn gsi1_partition(&self, pk: String, newest_first: bool) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(!newest_first)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(unexpected("Query"))
    }

    /// Every item of a partition whose sort key starts with `prefix`.
    pub(super) async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(unexpected("Query"))
    }

    pub(super) async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unexpected("GetItem"))?;
        output.item.map(from_item).transpose()
    }

    /// BatchGetItem with retries of unprocessed keys; returns the found items.
    pub(crate) async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending = keys;
        for attempt in 0..BATCH_ATTEMPTS {
            if pending.is_empty() {
                return Ok(found);
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError::Unexpected(anyhow!("building BatchGetItem: {e}")))?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(unexpected("BatchGetItem"))?;
            if let Some(mut responses) = output.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending =
                output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            if !pending.is_empty() {
                backoff(attempt).await;
            }
        }
        Err(StoreError::Unexpected(anyhow!("BatchGetItem left keys unprocessed after {BATCH_ATTEMPTS} attempts")))
    }

    pub(crate) async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        for chunk in items.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .map(|put| WriteRequest::builder().put_request(put).build())
                        .map_err(|e| StoreError::Unexpected(anyhow!("building PutRequest: {e}")))
                })
                .collect::<Result<_, _>>()?;
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == BATCH_ATTEMPTS {
                    return Err(StoreError::Unexpected(anyhow!("BatchWriteItem left items unprocessed")));
                }
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut pending))
                    .send()
                    .await
                    .map_err(unexpected("BatchWriteItem"))?;
                pending = output.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
                if !pending.is_empty() {
                    backoff(attempt).await;
                }
                attempt += 1;
            }
        }
        Ok(())
    }
}

/// Every item of a query over all its pages, with what reading them cost.
#[derive(Debug, Default)]
pub(super) struct Counted {
    pub items: Vec<Item>,
    /// Requests sent: one per page.
    pub queries: usize,
    /// Items DynamoDB read (`ScannedCount`, summed over pages): what it
    /// bills, which a filter expression does not reduce.
    pub items_read: usize,
}

pub(super) async fn query_counted(query: QueryFluentBuilder) -> Result<Counted, StoreError> {
    let pages = query.into_paginator().send().collect::<Result<Vec<_>, _>>().await.map_err(unexpected("Query"))?;
    let mut counted = Counted::default();
    for page in pages {
        counted.queries += 1;
        counted.items_read += usize::try_from(page.scanned_count).unwrap_or(0);
        counted.items.extend(page.items.unwrap_or_default());
    }
    Ok(counted)
}

pub(super) async fn backoff(attempt: u32) {
    let millis = 25u64.saturating_mul(1 << attempt.min(6));
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

/// Encodes a DynamoDB `LastEvaluatedKey` (string attributes only) as an opaque cursor.
pub(super) fn encode_cursor(last: &Item) -> Option<String> {
    let map: std::collections::BTreeMap<&str, &str> =
        last.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str()))).collect();
    serde_json::to_vec(&map).ok().map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

/// Decodes a cursor, accepting it only for the index and partition queried.
pub(super) fn decode_cursor(cursor: &str, index_pk: &str, index_sk: &str, partition: &str) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| StoreError::InvalidCursor)?;
    let map: HashMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let expected = [PK, SK, index_pk, index_sk];
    if map.len() != expected.len()
        || !expected.iter().all(|k| map.contains_key(*k))
        || map.get(index_pk).map(String::as_str) != Some(partition)
    {
        return Err(StoreError::InvalidCursor);
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_only_work_for_their_partition() {
        let last: Item = HashMap::from([
            (PK.to_owned(), s("REFERRAL#ref_1")),
            (SK.to_owned(), s("REFERRAL")),
            (GSI1PK.to_owned(), s("PARTNER#alpha#REFERRALS")),
            (GSI1SK.to_owned(), s("ref_1")),
        ]);
        let cursor = encode_cursor(&last).unwrap();
        assert_eq!(decode_cursor(&cursor, GSI1PK, GSI1SK, "PARTNER#alpha#REFERRALS").unwrap(), last);
        assert!(matches!(
            decode_cursor(&cursor, GSI1PK, GSI1SK, "PARTNER#beta#REFERRALS"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(decode_cursor(&cursor, GSI2PK, GSI2SK, "REFERRALS"), Err(StoreError::InvalidCursor)));
        assert!(matches!(decode_cursor("%%%", GSI1PK, GSI1SK, "x"), Err(StoreError::InvalidCursor)));
    }
}
