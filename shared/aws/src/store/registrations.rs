//! Deal registrations, the per-customer queue, decisions and the audit history.

use super::items::outbox_item;
use crate::store::dynamo::{Partition, from_item, key_of, n, s, to_item, to_value};
use crate::store::items::{
    ALL_REGISTRATIONS, ExpiryWatchItem, HISTORY_SK_PREFIX, Keyed, Listed, MAX_TRANSACTION_ITEMS, PARTNER_SK,
    REGISTRATION_CLAIM_SK, REGISTRATION_SK, RegistrationItem, SK, partner_pk, partner_registrations, prospect_pk,
    registration_pk, timer_list, timer_map,
};
use crate::store::{Page, PageRequest};
use crate::{DynamoStore, StoreError};
use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use partnerops_domain::Timestamp;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::partner::{Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::registration::ExpiryWatch;
use partnerops_domain::registration::{
    AuditEntry, QueueChange, QueueWrite, Recorded, Registration, RegistrationQueue, RegistrationStatus, StatusChange,
};
use partnerops_domain::sla::SlaTimer;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

impl From<RegistrationItem> for RegistrationRecord {
    fn from(item: RegistrationItem) -> Self {
        Self { registration: item.value, timers: timer_list(item.sla_timers) }
    }
}

/// A registration with its SLA timers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRecord {
    #[serde(flatten)]
    pub registration: Registration,
    pub timers: Vec<SlaTimer>,
}

#[derive(Debug, Clone, Default)]
pub struct RegistrationQuery {
    pub partner_id: Option<PartnerId>,
    pub status: Option<RegistrationStatus>,
}

#[async_trait]
pub trait Registrations: Send + Sync {
    async fn registration_queue(&self, key: &ProspectKey) -> Result<RegistrationQueue, StoreError>;

    /// A customer's queue and a partner, in one read: what a decision needs
    /// besides the registration itself.
    async fn queue_and_partner(
        &self,
        key: &ProspectKey,
        partner: &PartnerId,
    ) -> Result<(RegistrationQueue, Option<Partner>), StoreError>;

    /// Writes a submitted registration with its audit entry, timer, events and
    /// queue change in one transaction; `Conflict` if the queue moved.
    async fn record_registration(&self, recorded: &Recorded) -> Result<(), StoreError>;

    async fn registration(&self, id: &RegistrationId) -> Result<Option<RegistrationRecord>, StoreError>;

    async fn registrations(
        &self,
        query: &RegistrationQuery,
        page: &PageRequest,
    ) -> Result<Page<RegistrationRecord>, StoreError>;

    async fn registration_history(&self, id: &RegistrationId) -> Result<Vec<AuditEntry>, StoreError>;

    /// Applies a decision or withdrawal: every status change (conditional on
    /// the status read), the queue (conditional on its version), timers,
    /// audit entries and events. `Conflict` if anything moved.
    async fn apply_queue_change(&self, change: &QueueChange) -> Result<(), StoreError>;
}

#[async_trait]
impl Registrations for DynamoStore {
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
}

/// The in-memory twin's registrations: records, their partners' index
/// (GSI1), each customer's queue, each registration's history by its sort
/// key, and the expiry watches with their due index.
#[derive(Default, Clone)]
pub(super) struct RegistrationState {
    pub(super) records: BTreeMap<RegistrationId, RegistrationRecord>,
    pub(super) by_partner: HashMap<PartnerId, BTreeSet<RegistrationId>>,
    pub(super) queues: HashMap<ProspectKey, RegistrationQueue>,
    pub(super) history: HashMap<RegistrationId, BTreeMap<String, AuditEntry>>,
    pub(super) watches: BTreeMap<RegistrationId, ExpiryWatch>,
    pub(super) watch_due: BTreeSet<(Timestamp, RegistrationId)>,
}

impl DynamoStore {
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
}
