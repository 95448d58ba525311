//! The store on one DynamoDB table.

use super::items::*;
use super::{
    ApiKeyRecord, IDEMPOTENCY_HOURS, IdempotencyBegin, IdempotencyKey, Page, PageRequest, ReferralQuery,
    ReferralRecord, Store, StoreError, StoredResponse,
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
    AttributeValue, KeysAndAttributes, Put, PutRequest, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    WriteRequest,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::id::{KeyId, ReferralId};
use partnerops_domain::partner::{Certification, Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::{
    AcceptedReferral, ProspectStanding, ReferralClaim, RegistrationProtection, RejectedReferral,
};
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
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| StoreError::Unexpected(anyhow!("building Put: {e}")))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Runs a transaction; a failed condition on item `index` maps to
    /// `Conflict(names[index])`.
    async fn transact(&self, items: Vec<TransactWriteItem>, names: &[&'static str]) -> Result<(), StoreError> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(e) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) = e.as_service_error() {
                    let failed =
                        cancel.cancellation_reasons().iter().position(|r| r.code() == Some("ConditionalCheckFailed"));
                    if let Some(index) = failed {
                        return Err(StoreError::Conflict(names.get(index).copied().unwrap_or("an item")));
                    }
                }
                Err(unexpected("TransactWriteItems")(e))
            }
        }
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

    async fn put_certification(&self, certification: &Certification) -> Result<(), StoreError> {
        self.put_item(to_item(&Keyed::certification(certification.clone()))?, None, None).await.map(drop)
    }

    async fn certifications(&self, partner: &PartnerId) -> Result<Vec<Certification>, StoreError> {
        let items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(partner_pk(partner)))
            .expression_attribute_values(":prefix", s(CERT_SK_PREFIX))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(unexpected("Query"))?;
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
                    let view: RegistrationClaimView = from_item(item)?;
                    standing.registration = view
                        .protected_until
                        .map(|until| RegistrationProtection { partner_id: view.partner_id, protected_until: until });
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
        let slas = vec![accepted.timer.view()];
        let items = vec![
            claim_write,
            self.put(to_item(&ReferralItem::new(accepted.referral.clone(), slas))?, Some("attribute_not_exists(PK)"))?,
            self.put(to_item(&SlaTimerItem::new(referral_pk(&referral_id), accepted.timer.clone()))?, None)?,
            self.put(to_item(&outbox_item(&accepted.event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the prospect's referral claim", "the referral", "the SLA timer", "the outbox"]).await
    }

    async fn record_rejected_referral(&self, rejected: &RejectedReferral) -> Result<(), StoreError> {
        let items = vec![
            self.put(
                to_item(&ReferralItem::new(rejected.referral.clone(), Vec::new()))?,
                Some("attribute_not_exists(PK)"),
            )?,
            self.put(to_item(&outbox_item(&rejected.event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the referral", "the outbox"]).await
    }

    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError> {
        let item: Option<ReferralItem> = self.get(referral_pk(id.as_str()), REFERRAL_SK).await?;
        Ok(item.map(|i| ReferralRecord { referral: i.referral, slas: i.slas }))
    }

    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError> {
        let (index, index_pk, index_sk, partition) = match &query.partner_id {
            Some(partner) => (GSI1, GSI1PK, GSI1SK, partner_referrals(partner)),
            None => (GSI2, GSI2PK, GSI2SK, ALL_REFERRALS.to_owned()),
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
        if let Some(status) = query.status {
            request = request
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(status.as_str()));
        }
        let output = request.send().await.map_err(unexpected("Query"))?;
        let items = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<ReferralItem>(i).map(|r| ReferralRecord { referral: r.referral, slas: r.slas }))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = output.last_evaluated_key.as_ref().and_then(encode_cursor);
        Ok(Page { items, next_cursor })
    }

    async fn idempotency_begin(&self, idem: &IdempotencyKey, now: Timestamp) -> Result<IdempotencyBegin, StoreError> {
        let item = to_item(&IdempotencyItem {
            pk: idempotency_pk(&idem.record_key),
            sk: IDEMPOTENCY_SK.into(),
            entity: "idempotency".into(),
            request_hash: idem.request_hash.clone(),
            state: "in_progress".into(),
            response: None,
            ttl: now.plus(Duration::hours(IDEMPOTENCY_HOURS)).unix_seconds(),
        })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK) OR #ttl <= :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", AttributeValue::N(now.unix_seconds().to_string()))
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
