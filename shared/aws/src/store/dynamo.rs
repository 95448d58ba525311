//! The store on one DynamoDB table.

use super::MAX_TRANSACTION_ITEMS;
use super::items::*;
use super::{
    ApiKeyRecord, CRM_EVENT_SEEN, DELIVERY_LEASE_SECONDS, DELIVERY_RETENTION_DAYS, DUE_INDEX_SHARDS, DeliveryClaim,
    DueTimers, IDEMPOTENCY_HOURS, IDEMPOTENCY_LEASE_SECONDS, IdempotencyBegin, IdempotencyKey, OpportunityRecord, Page,
    PageRequest, ReferralQuery, ReferralRecord, RegistrationQuery, RegistrationRecord, Store, StoreError,
    StoredResponse,
};
use crate::outbox::outbox_item;
use anyhow::{Context as _, anyhow};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, PutRequest, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
    WriteRequest,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::crm::{CrmChange, Source};
use partnerops_domain::event::DomainEvent;
use partnerops_domain::id::{KeyId, ReferralId, RegistrationId};
use partnerops_domain::partner::{Certification, Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::{
    AcceptedReferral, ProspectStanding, ReferralClaim, RegistrationProtection, RejectedReferral,
};
use partnerops_domain::registration::{
    AuditEntry, CustomerStanding, ExpiryWatch, QueueChange, QueueWrite, Recorded, RegistrationQueue, StatusChange,
};
use partnerops_domain::sla::SlaTimer;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// Attempts for batch calls that return unprocessed keys or items.
const BATCH_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unexpected<E>(operation: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::Unexpected(anyhow!("{operation}: {}", DisplayErrorContext(&e)))
}

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Unexpected(anyhow!("encoding item: {e}")))
}

fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Unexpected(anyhow!("decoding item: {e}")))
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn to_value<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Unexpected(anyhow!("encoding attribute: {e}")))
}

fn key_of(pk: &str, sk: &str) -> Item {
    key(pk.to_owned(), sk)
}

/// The `Conflict` of a transaction cancelled by a concurrent one.
const CONCURRENT_TRANSACTION: &str = "a concurrent transaction";

/// Which list index a query reads.
enum Partition {
    Partner(String),
    All(&'static str),
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

fn is_conditional_put_failure(e: &SdkError<PutItemError>) -> bool {
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
    async fn put_item(&self, item: Item, condition: Option<&str>, values: Option<Item>) -> Result<bool, StoreError> {
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

    fn put(&self, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| StoreError::Unexpected(anyhow!("building Put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn put_with_values(&self, item: Item, condition: &str, values: Item) -> Result<TransactWriteItem, StoreError> {
        self.put_named(item, condition, Vec::new(), values)
    }

    fn put_named(
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

    fn update(
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
    fn timer_write(&self, timer: &SlaTimer) -> Result<TransactWriteItem, StoreError> {
        let item = to_item(&SlaTimerItem::new(subject_pk(&timer.subject), timer.clone()))?;
        match timer.rev {
            0 => self.put(item, Some("attribute_not_exists(PK)")),
            rev => self.put_with_values(item, "rev = :rev", HashMap::from([(":rev".to_owned(), n(rev - 1))])),
        }
    }

    /// Runs a transaction; a failed condition on item `index` maps to
    /// `Conflict(names[index])`.
    async fn transact(&self, items: Vec<TransactWriteItem>, names: &[&'static str]) -> Result<(), StoreError> {
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
    async fn list(
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
    async fn list_records<I: DeserializeOwned, R: From<I>>(
        &self,
        partition: Partition,
        status: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<R>, StoreError> {
        let (items, next_cursor) = self.list(partition, status, page).await?;
        let items = items.into_iter().map(|i| from_item::<I>(i).map(R::from)).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// Every item of a partition whose sort key starts with `prefix`.
    async fn query_prefix(&self, pk: String, prefix: &str) -> Result<Vec<Item>, StoreError> {
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

    fn status_change_items(
        &self,
        change: &StatusChange,
        timers: Option<Vec<SlaTimer>>,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let optional_time = |t: Option<Timestamp>| t.map_or(AttributeValue::Null(true), |t| s(t.to_rfc3339()));
        let mut expression =
            "SET #status = :to, reason = :reason, decided_by = :by, decided_at = :at, protected_until = :until, updated_at = :now"
                .to_owned();
        let mut values = HashMap::from([
            (":to".to_owned(), s(change.to.as_str())),
            (":from".to_owned(), s(change.from.as_str())),
            (":reason".to_owned(), change.reason.clone().map_or(AttributeValue::Null(true), s)),
            (":by".to_owned(), change.decided_by.clone().map_or(AttributeValue::Null(true), s)),
            (":at".to_owned(), optional_time(change.decided_at)),
            (":until".to_owned(), optional_time(change.protected_until)),
            (":now".to_owned(), s(change.audit.at.to_rfc3339())),
        ]);
        if let Some(timers) = timers {
            expression.push_str(", sla_timers = :timers");
            values.insert(":timers".to_owned(), to_value(&timer_map(timers))?);
        }
        let mut items = vec![
            self.update(
                key_of(&registration_pk(change.registration_id.as_str()), REGISTRATION_SK),
                &expression,
                Some("#status = :from"),
                vec![("#status", "status")],
                values,
            )?,
            self.put(to_item(&Keyed::audit(change.audit.clone()))?, None)?,
        ];
        if let Some(event) = &change.event {
            items.push(self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?);
        }
        Ok(items)
    }

    async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
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

async fn backoff(attempt: u32) {
    let millis = 25u64.saturating_mul(1 << attempt.min(6));
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

/// Encodes a DynamoDB `LastEvaluatedKey` (string attributes only) as an opaque cursor.
fn encode_cursor(last: &Item) -> Option<String> {
    let map: std::collections::BTreeMap<&str, &str> =
        last.iter().filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str()))).collect();
    serde_json::to_vec(&map).ok().map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
}

/// Decodes a cursor, accepting it only for the index and partition queried.
fn decode_cursor(cursor: &str, index_pk: &str, index_sk: &str, partition: &str) -> Result<Item, StoreError> {
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

#[async_trait]
impl Store for DynamoStore {
    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let item: Option<Keyed<ApiKeyRecord>> = self.get(api_key_pk(key_id.as_str()), API_KEY_SK).await?;
        Ok(item.map(|i| i.value))
    }

    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let item = to_item(&Keyed::api_key(record.clone()))?;
        match self.put_item(item, Some("attribute_not_exists(PK)"), None).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the API key")),
        }
    }

    async fn revoke_api_key(&self, key_id: &KeyId, at: Timestamp) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(api_key_pk(key_id.as_str()), API_KEY_SK)))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :at)")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.as_service_error(), Some(UpdateItemError::ConditionalCheckFailedException(_))) => {
                Ok(false)
            }
            Err(e) => Err(unexpected("UpdateItem")(e)),
        }
    }

    async fn partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError> {
        let item: Option<Keyed<Partner>> = self.get(partner_pk(id), PARTNER_SK).await?;
        Ok(item.map(|i| i.value))
    }

    async fn create_partner(&self, partner: &Partner) -> Result<bool, StoreError> {
        self.put_item(to_item(&Keyed::partner(partner.clone()))?, Some("attribute_not_exists(PK)"), None).await
    }

    async fn update_partner(&self, partner: &Partner, read_at: Timestamp) -> Result<(), StoreError> {
        let item = to_item(&Keyed::partner(partner.clone()))?;
        let values = HashMap::from([(":read_at".to_owned(), s(read_at.to_rfc3339()))]);
        match self.put_item(item, Some("updated_at = :read_at"), Some(values)).await? {
            true => Ok(()),
            false => Err(StoreError::Conflict("the partner")),
        }
    }

    async fn certifications(&self, partner: &PartnerId) -> Result<Vec<Certification>, StoreError> {
        let items = self.query_prefix(partner_pk(partner), CERT_SK_PREFIX).await?;
        items.into_iter().map(|i| from_item::<Keyed<Certification>>(i).map(|c| c.value)).collect()
    }

    async fn mark_customers(&self, keys: &[ProspectKey], at: Timestamp) -> Result<(), StoreError> {
        let items = keys
            .iter()
            .map(|k| {
                to_item(&CustomerItem {
                    pk: prospect_pk(k),
                    sk: CUSTOMER_SK.into(),
                    entity: "customer".into(),
                    prospect_key: k.clone(),
                    marked_at: at,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_put(items).await
    }

    async fn prospect_standing(&self, prospect: &ProspectKey) -> Result<ProspectStanding, StoreError> {
        let pk = prospect_pk(prospect);
        let keys = [CUSTOMER_SK, REFERRAL_CLAIM_SK, REGISTRATION_CLAIM_SK].map(|sk| key(pk.clone(), sk)).to_vec();
        let mut standing = ProspectStanding::default();
        for item in self.batch_get(keys).await? {
            match item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some(CUSTOMER_SK) => standing.existing_customer = true,
                Some(REFERRAL_CLAIM_SK) => {
                    standing.referral_claim = Some(from_item::<Keyed<ReferralClaim>>(item)?.value)
                }
                Some(REGISTRATION_CLAIM_SK) => {
                    let queue: Keyed<RegistrationQueue> = from_item(item)?;
                    standing.registration = queue.value.approved.map(|a| RegistrationProtection {
                        partner_id: a.partner_id,
                        protected_until: a.protected_until,
                    });
                }
                _ => {}
            }
        }
        Ok(standing)
    }

    async fn record_accepted_referral(&self, accepted: &AcceptedReferral) -> Result<(), StoreError> {
        let referral_id = accepted.referral.id.to_string();
        let claim = to_item(&Keyed::referral_claim(accepted.claim.clone()))?;
        let claim_write = match &accepted.replaces_claim {
            None => self.put(claim, Some("attribute_not_exists(PK)"))?,
            Some(old) => self.put_with_values(
                claim,
                "referral_id = :old",
                HashMap::from([(":old".to_owned(), s(old.referral_id.to_string()))]),
            )?,
        };
        let items = vec![
            claim_write,
            self.put(
                to_item(&Listed::referral(accepted.referral.clone(), vec![accepted.timer.clone()]))?,
                Some("attribute_not_exists(PK)"),
            )?,
            self.put(to_item(&SlaTimerItem::new(referral_pk(&referral_id), accepted.timer.clone()))?, None)?,
            self.put(to_item(&outbox_item(&accepted.event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the prospect's referral claim", "the referral", "the SLA timer", "the outbox"]).await
    }

    async fn record_rejected_referral(&self, rejected: &RejectedReferral) -> Result<(), StoreError> {
        let items = vec![
            self.put(
                to_item(&Listed::referral(rejected.referral.clone(), Vec::new()))?,
                Some("attribute_not_exists(PK)"),
            )?,
            self.put(to_item(&outbox_item(&rejected.event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the referral", "the outbox"]).await
    }

    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError> {
        let item: Option<ReferralItem> = self.get(referral_pk(id.as_str()), REFERRAL_SK).await?;
        Ok(item.map(ReferralRecord::from))
    }

    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError> {
        let partition = match &query.partner_id {
            Some(partner) => Partition::Partner(partner_referrals(partner)),
            None => Partition::All(ALL_REFERRALS),
        };
        self.list_records::<ReferralItem, _>(partition, query.status.map(|s| s.as_str()), page).await
    }

    async fn customer_standing(&self, key: &ProspectKey) -> Result<CustomerStanding, StoreError> {
        let pk = prospect_pk(key);
        let mut standing = CustomerStanding::default();
        for item in self.batch_get(vec![key_of(&pk, CUSTOMER_SK), key_of(&pk, REGISTRATION_CLAIM_SK)]).await? {
            match item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some(CUSTOMER_SK) => standing.existing_customer = true,
                Some(REGISTRATION_CLAIM_SK) => standing.queue = from_item::<Keyed<RegistrationQueue>>(item)?.value,
                _ => {}
            }
        }
        Ok(standing)
    }

    async fn registration_queue(&self, key: &ProspectKey) -> Result<RegistrationQueue, StoreError> {
        let item: Option<Keyed<RegistrationQueue>> = self.get(prospect_pk(key), REGISTRATION_CLAIM_SK).await?;
        Ok(item.map(|i| i.value).unwrap_or_default())
    }

    async fn queue_and_partner(
        &self,
        key: &ProspectKey,
        partner: &PartnerId,
    ) -> Result<(RegistrationQueue, Option<Partner>), StoreError> {
        let keys = vec![key_of(&prospect_pk(key), REGISTRATION_CLAIM_SK), key_of(&partner_pk(partner), PARTNER_SK)];
        let mut queue = RegistrationQueue::default();
        let mut found = None;
        for item in self.batch_get(keys).await? {
            match item.get(SK).and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some(REGISTRATION_CLAIM_SK) => queue = from_item::<Keyed<RegistrationQueue>>(item)?.value,
                Some(PARTNER_SK) => found = Some(from_item::<Keyed<Partner>>(item)?.value),
                _ => {}
            }
        }
        Ok((queue, found))
    }

    async fn record_registration(&self, recorded: &Recorded) -> Result<(), StoreError> {
        let registration = &recorded.registration;
        let mut items = Vec::new();
        let mut names = Vec::new();
        if let Some(write) = &recorded.queue_write {
            let key = &registration.customer_key;
            items.push(match write {
                QueueWrite::Replace { queue, read_version } => {
                    let item = to_item(&Keyed::registration_queue(key, queue.clone()))?;
                    match read_version {
                        None => self.put(item, Some("attribute_not_exists(PK)"))?,
                        Some(v) => {
                            self.put_with_values(item, "version = :v", HashMap::from([(":v".to_owned(), n(*v))]))?
                        }
                    }
                }
                QueueWrite::Append(entry) => {
                    let entry = serde_dynamo::to_attribute_value(entry)
                        .map_err(|e| StoreError::Unexpected(anyhow!("encoding queue entry: {e}")))?;
                    self.update(
                        key_of(&prospect_pk(key), REGISTRATION_CLAIM_SK),
                        "SET #q = list_append(#q, :entry) ADD version :one",
                        Some("size(#q) > :zero AND attribute_not_exists(approved)"),
                        vec![("#q", "queue")],
                        HashMap::from([
                            (":entry".to_owned(), AttributeValue::L(vec![entry])),
                            (":one".to_owned(), n(1)),
                            (":zero".to_owned(), n(0)),
                        ]),
                    )?
                }
            });
            names.push("the customer's registration queue");
        }
        let timers: Vec<SlaTimer> = recorded.timer.iter().cloned().collect();
        items.push(
            self.put(to_item(&Listed::registration(registration.clone(), timers))?, Some("attribute_not_exists(PK)"))?,
        );
        names.push("the registration");
        items.push(self.put(to_item(&Keyed::audit(recorded.audit.clone()))?, None)?);
        names.push("the audit entry");
        if let Some(timer) = &recorded.timer {
            items.push(self.timer_write(timer)?);
            names.push("the SLA timer");
        }
        if let Some(watch) = &recorded.watch {
            items.push(self.put(to_item(&ExpiryWatchItem::new(watch.clone()))?, None)?);
            names.push("the expiry watch");
        }
        for event in &recorded.events {
            items.push(self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?);
            names.push("the outbox");
        }
        self.transact(items, &names).await
    }

    async fn registration(&self, id: &RegistrationId) -> Result<Option<RegistrationRecord>, StoreError> {
        let item: Option<RegistrationItem> = self.get(registration_pk(id.as_str()), REGISTRATION_SK).await?;
        Ok(item.map(RegistrationRecord::from))
    }

    async fn registrations(
        &self,
        query: &RegistrationQuery,
        page: &PageRequest,
    ) -> Result<Page<RegistrationRecord>, StoreError> {
        let partition = match &query.partner_id {
            Some(partner) => Partition::Partner(partner_registrations(partner)),
            None => Partition::All(ALL_REGISTRATIONS),
        };
        self.list_records::<RegistrationItem, _>(partition, query.status.map(|s| s.as_str()), page).await
    }

    async fn registration_history(&self, id: &RegistrationId) -> Result<Vec<AuditEntry>, StoreError> {
        let items = self.query_prefix(registration_pk(id.as_str()), HISTORY_SK_PREFIX).await?;
        items.into_iter().map(|i| from_item::<Keyed<AuditEntry>>(i).map(|a| a.value)).collect()
    }

    async fn apply_queue_change(&self, change: &QueueChange) -> Result<(), StoreError> {
        let queue = to_item(&Keyed::registration_queue(&change.customer_key, change.queue_after.clone()))?;
        let mut first = vec![self.put_with_values(
            queue,
            "version = :v",
            HashMap::from([(":v".to_owned(), n(change.queue_read))]),
        )?];
        let mut first_names = vec!["the customer's registration queue"];
        for timer in &change.timers {
            first.push(self.timer_write(timer)?);
            first_names.push("an SLA timer");
        }
        for watch in &change.watches {
            first.push(self.put(to_item(&ExpiryWatchItem::new(watch.clone()))?, None)?);
            first_names.push("an expiry watch");
        }
        let timers_of = |id: &RegistrationId| -> Option<Vec<SlaTimer>> {
            let owned: Vec<SlaTimer> = change
                .timer_owners
                .iter()
                .zip(&change.timers)
                .filter(|(owner, _)| *owner == id)
                .map(|(_, t)| t.clone())
                .collect();
            (!owned.is_empty()).then_some(owned)
        };
        for owner in &change.timer_owners {
            if change.changes.iter().all(|c| &c.registration_id != owner) {
                let timers = timers_of(owner).unwrap_or_default();
                first.push(self.update(
                    key_of(&registration_pk(owner.as_str()), REGISTRATION_SK),
                    "SET sla_timers = :timers",
                    Some("#status = :pending"),
                    vec![("#status", "status")],
                    HashMap::from([
                        (":timers".to_owned(), to_value(&timer_map(timers))?),
                        (":pending".to_owned(), s("pending")),
                    ]),
                )?);
                first_names.push("the promoted registration");
            }
        }
        // The first transaction holds the queue and as many status changes as
        // fit; cascades beyond the 100-item limit follow in further ones, each
        // still conditional on the registrations being pending.
        let mut batches: Vec<(Vec<TransactWriteItem>, Vec<&'static str>)> = vec![(first, first_names)];
        for status_change in &change.changes {
            let items = self.status_change_items(status_change, timers_of(&status_change.registration_id))?;
            let fits = batches.last().is_some_and(|(b, _)| b.len() + items.len() <= MAX_TRANSACTION_ITEMS);
            if !fits {
                batches.push((Vec::new(), Vec::new()));
            }
            if let Some((batch, names)) = batches.last_mut() {
                names.extend(std::iter::repeat_n("a registration's status", items.len()));
                batch.extend(items);
            }
        }
        for (items, names) in batches {
            self.transact(items, &names).await?;
        }
        Ok(())
    }

    async fn add_certification(
        &self,
        certification: &Certification,
        partner: &Partner,
        read_at: Timestamp,
    ) -> Result<(), StoreError> {
        let items = vec![
            self.put(to_item(&Keyed::certification(certification.clone()))?, None)?,
            self.put_with_values(
                to_item(&Keyed::partner(partner.clone()))?,
                "updated_at = :read_at",
                HashMap::from([(":read_at".to_owned(), s(read_at.to_rfc3339()))]),
            )?,
        ];
        self.transact(items, &["the certification", "the partner"]).await
    }

    async fn crm_event_seen(&self, event_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        let item: Option<CrmEventItem> = self.get(crm_event_pk(event_id), CRM_EVENT_SK).await?;
        Ok(item.is_some_and(|i| i.ttl > now.unix_seconds()))
    }

    async fn opportunity(&self, id: &str) -> Result<Option<OpportunityRecord>, StoreError> {
        let item: Option<OpportunityItem> = self.get(opportunity_pk(id), OPPORTUNITY_SK).await?;
        Ok(item.map(|i| OpportunityRecord { opportunity: i.opportunity, timers: timer_list(i.sla_timers) }))
    }

    async fn apply_crm(&self, change: &CrmChange, now: Timestamp) -> Result<(), StoreError> {
        let seen = CrmEventItem {
            pk: crm_event_pk(&change.event_id),
            sk: CRM_EVENT_SK.into(),
            entity: "crm_event".into(),
            processed_at: now,
            ttl: now.plus(Duration::days(partnerops_domain::crm::DEDUPE_DAYS)).unix_seconds(),
        };
        let mut items = vec![self.put_named(
            to_item(&seen)?,
            "attribute_not_exists(PK) OR #ttl <= :now",
            vec![("#ttl", "ttl")],
            HashMap::from([(":now".to_owned(), AttributeValue::N(now.unix_seconds().to_string()))]),
        )?];
        let mut names = vec![CRM_EVENT_SEEN];
        let opportunity =
            to_item(&OpportunityItem::new(change.opportunity.clone(), change.opportunity_timers.clone()))?;
        items.push(match change.opportunity_read_rev {
            None => self.put(opportunity, Some("attribute_not_exists(PK)"))?,
            Some(rev) => {
                self.put_with_values(opportunity, "rev = :rev", HashMap::from([(":rev".to_owned(), n(rev))]))?
            }
        });
        names.push("the opportunity");
        let mut timers: Vec<&SlaTimer> = change.changed_timers.iter().collect();
        if let Some(update) = &change.source_update {
            let (pk, sk) = match &update.source {
                Source::Referral(id) => (referral_pk(id.as_str()), REFERRAL_SK),
                Source::Registration(id) => (registration_pk(id.as_str()), REGISTRATION_SK),
            };
            let mut expression = "SET #status = :to, updated_at = :now".to_owned();
            let mut values =
                HashMap::from([(":to".to_owned(), s(update.to.clone())), (":now".to_owned(), s(now.to_rfc3339()))]);
            let mut attribute_names = vec![("#status", "status")];
            if let Some(opportunity_id) = &update.opportunity_id {
                expression.push_str(", opportunity_id = :opp");
                values.insert(":opp".to_owned(), s(opportunity_id.clone()));
            }
            let key_name;
            if let Some(timer) = &update.timer {
                key_name = timer_key(timer);
                expression.push_str(", sla_timers.#k = :timer");
                values.insert(":timer".to_owned(), to_value(timer)?);
                attribute_names.push(("#k", &key_name));
                timers.push(timer);
            }
            let condition = match &update.from {
                None => "attribute_exists(PK)",
                Some(from) => {
                    values.insert(":from".to_owned(), s(from.clone()));
                    "#status = :from"
                }
            };
            items.push(self.update(key_of(&pk, sk), &expression, Some(condition), attribute_names, values)?);
            names.push("the referral or registration");
        }
        for timer in timers {
            items.push(self.timer_write(timer)?);
            names.push("an SLA timer");
        }
        for event in &change.events {
            items.push(self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?);
            names.push("the outbox");
        }
        match self.transact(items, &names).await {
            Err(StoreError::Conflict(CRM_EVENT_SEEN)) => Err(StoreError::AlreadyApplied),
            other => other,
        }
    }

    async fn due_timers(&self, now: Timestamp) -> Result<DueTimers, StoreError> {
        // `~` sorts after every character of a key, so this takes every entry
        // whose next check is at or before `now`.
        let upto = format!("{}#~", now.to_rfc3339());
        let mut due = DueTimers::default();
        for shard in 0..DUE_INDEX_SHARDS {
            let mut start = None;
            loop {
                let output = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(DUE_INDEX)
                    .key_condition_expression("DUEPK = :shard AND DUESK <= :upto")
                    .expression_attribute_values(":shard", s(format!("DUE#{shard}")))
                    .expression_attribute_values(":upto", s(upto.clone()))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(unexpected("Query"))?;
                due.queries += 1;
                due.items_read += usize::try_from(output.scanned_count).unwrap_or(0);
                for item in output.items.unwrap_or_default() {
                    match item.get("entity").and_then(|e| e.as_s().ok()).map(String::as_str) {
                        Some("registration_expiry") => due.expiries.push(from_item::<ExpiryWatchItem>(item)?.watch),
                        _ => due.timers.push(from_item::<SlaTimerItem>(item)?.timer),
                    }
                }
                match output.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => break,
                }
            }
        }
        Ok(due)
    }

    async fn record_sweep(
        &self,
        before: &SlaTimer,
        after: &SlaTimer,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let pk = subject_pk(&after.subject);
        let mut items = vec![
            self.put_with_values(
                to_item(&SlaTimerItem::new(pk.clone(), after.clone()))?,
                "rev = :rev",
                HashMap::from([(":rev".to_owned(), n(before.rev))]),
            )?,
            self.update(
                key_of(&pk, subject_sk(&after.subject)),
                "SET sla_timers.#k = :timer ADD rev :one",
                Some("attribute_exists(PK)"),
                vec![("#k", &timer_key(after))],
                HashMap::from([(":timer".to_owned(), to_value(after)?), (":one".to_owned(), n(1))]),
            )?,
        ];
        let mut names = vec!["the SLA timer", "the timer's subject"];
        for event in events {
            items.push(self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?);
            names.push("the outbox");
        }
        self.transact(items, &names).await
    }

    async fn record_expiry_notice(
        &self,
        before: &ExpiryWatch,
        after: &ExpiryWatch,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let items = vec![
            self.put_with_values(
                to_item(&ExpiryWatchItem::new(after.clone()))?,
                "rev = :rev",
                HashMap::from([(":rev".to_owned(), n(before.rev))]),
            )?,
            self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the expiry watch", "the outbox"]).await
    }

    async fn claim_delivery(
        &self,
        event_id: &str,
        delivery: &str,
        now: Timestamp,
    ) -> Result<DeliveryClaim, StoreError> {
        let item = to_item(&DeliveryItem {
            pk: delivery_pk(event_id),
            sk: delivery_sk(delivery),
            entity: "delivery".into(),
            state: "sending".into(),
            locked_until: Some(now.plus(Duration::seconds(DELIVERY_LEASE_SECONDS)).unix_seconds()),
            sent_at: None,
            ttl: now.plus(Duration::days(DELIVERY_RETENTION_DAYS)).unix_seconds(),
        })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR (#state = :sending AND locked_until <= :now)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", AttributeValue::N(now.unix_seconds().to_string()))
            .expression_attribute_values(":sending", s("sending"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(DeliveryClaim::Claimed),
            Err(SdkError::ServiceError(service)) => match service.into_err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let old: DeliveryItem = from_item(failed.item.context("condition failed without the old item")?)?;
                    Ok(if old.state == "sent" { DeliveryClaim::Sent } else { DeliveryClaim::InFlight })
                }
                other => Err(unexpected("PutItem")(other)),
            },
            Err(e) => Err(unexpected("PutItem")(e)),
        }
    }

    async fn delivery_sent(&self, event_id: &str, delivery: &str, now: Timestamp) -> Result<(), StoreError> {
        let item = to_item(&DeliveryItem {
            pk: delivery_pk(event_id),
            sk: delivery_sk(delivery),
            entity: "delivery".into(),
            state: "sent".into(),
            locked_until: None,
            sent_at: Some(now),
            ttl: now.plus(Duration::days(DELIVERY_RETENTION_DAYS)).unix_seconds(),
        })?;
        self.put_item(item, None, None).await.map(drop)
    }

    async fn release_delivery(&self, event_id: &str, delivery: &str) -> Result<(), StoreError> {
        // Never forget a send that happened: only a claim is given back.
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(delivery_pk(event_id), delivery_sk(delivery))))
            .condition_expression("#state = :sending")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s("sending"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unexpected("DeleteItem")(e)),
        }
    }

    async fn idempotency_begin(&self, idem: &IdempotencyKey, now: Timestamp) -> Result<IdempotencyBegin, StoreError> {
        let item = to_item(&IdempotencyItem {
            pk: idempotency_pk(&idem.record_key),
            sk: IDEMPOTENCY_SK.into(),
            entity: "idempotency".into(),
            request_hash: idem.request_hash.clone(),
            state: "in_progress".into(),
            response: None,
            locked_until: Some(now.plus(Duration::seconds(IDEMPOTENCY_LEASE_SECONDS)).unix_seconds()),
            ttl: now.plus(Duration::hours(IDEMPOTENCY_HOURS)).unix_seconds(),
        })?;
        // A request that died while holding the key (a timeout, a crash) left an
        // in-progress record; once its lease is over, a retry takes the key.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR #ttl <= :now OR (#state = :in_progress AND locked_until <= :now)",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", AttributeValue::N(now.unix_seconds().to_string()))
            .expression_attribute_values(":in_progress", s("in_progress"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(IdempotencyBegin::Started),
            Err(SdkError::ServiceError(service)) => match service.into_err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let old: IdempotencyItem =
                        from_item(failed.item.context("condition failed without the old item")?)?;
                    Ok(match (old.request_hash == idem.request_hash, old.response) {
                        (false, _) => IdempotencyBegin::Mismatch,
                        (true, Some(response)) => IdempotencyBegin::Completed(response),
                        (true, None) => IdempotencyBegin::InProgress,
                    })
                }
                other => Err(unexpected("PutItem")(other)),
            },
            Err(e) => Err(unexpected("PutItem")(e)),
        }
    }

    async fn idempotency_complete(
        &self,
        idem: &IdempotencyKey,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let item = to_item(&IdempotencyItem {
            pk: idempotency_pk(&idem.record_key),
            sk: IDEMPOTENCY_SK.into(),
            entity: "idempotency".into(),
            request_hash: idem.request_hash.clone(),
            state: "completed".into(),
            response: Some(response.clone()),
            locked_until: None,
            ttl: now.plus(Duration::hours(IDEMPOTENCY_HOURS)).unix_seconds(),
        })?;
        self.put_item(item, None, None).await.map(drop)
    }

    async fn idempotency_abandon(&self, idem: &IdempotencyKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(idempotency_pk(&idem.record_key), IDEMPOTENCY_SK)))
            .send()
            .await
            .map_err(unexpected("DeleteItem"))?;
        Ok(())
    }
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
mod payouts;
pub use payouts::{ExportCursor, ExportRecord, ExportState, OPEN_SHARDS};
