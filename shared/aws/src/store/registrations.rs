//! Deal registrations, the per-customer queue, decisions and the audit history.

use super::dynamo::*;
use super::items::*;
use super::memory::*;
use super::*;
use crate::outbox::outbox_item;
use anyhow::anyhow;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use partnerops_domain::Timestamp;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::partner::{Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::registration::{
    AuditEntry, QueueChange, QueueWrite, Recorded, Registration, RegistrationQueue, RegistrationStatus, StatusChange,
};
use partnerops_domain::sla::SlaTimer;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

#[async_trait]
impl Registrations for MemoryStore {
    async fn registration_queue(&self, key: &ProspectKey) -> Result<RegistrationQueue, StoreError> {
        Ok(self.state().queues.get(key).cloned().unwrap_or_default())
    }

    async fn queue_and_partner(
        &self,
        key: &ProspectKey,
        partner: &PartnerId,
    ) -> Result<(RegistrationQueue, Option<Partner>), StoreError> {
        let state = self.state();
        Ok((state.queues.get(key).cloned().unwrap_or_default(), state.partners.get(partner).cloned()))
    }

    async fn record_registration(&self, recorded: &Recorded) -> Result<(), StoreError> {
        let mut state = self.state();
        let registration = &recorded.registration;
        let key = &registration.customer_key;
        let current = state.queues.get(key).cloned();
        let next = match &recorded.queue_write {
            None => current,
            Some(QueueWrite::Replace { queue, read_version }) => {
                if current.as_ref().map(|q| q.version) != *read_version {
                    return Err(StoreError::Conflict("the customer's registration queue"));
                }
                Some(queue.clone())
            }
            Some(QueueWrite::Append(entry)) => match current {
                Some(mut q) if !q.queue.is_empty() && q.approved.is_none() => {
                    q.queue.push(entry.clone());
                    q.version += 1;
                    Some(q)
                }
                _ => return Err(StoreError::Conflict("the customer's registration queue")),
            },
        };
        if state.registrations.contains_key(&registration.id) {
            return Err(StoreError::Conflict("the registration"));
        }
        if !recorded.timer.iter().all(|t| timer_condition_holds(&state, t)) {
            return Err(StoreError::Conflict("the SLA timer"));
        }
        if let Some(queue) = next {
            state.queues.insert(key.clone(), queue);
        }
        let timers: Vec<SlaTimer> = recorded.timer.iter().cloned().collect();
        for timer in &timers {
            put_timer(&mut state, timer);
        }
        if let Some(watch) = &recorded.watch {
            put_watch(&mut state, watch);
        }
        state.partner_registrations.entry(registration.partner_id.clone()).or_default().insert(registration.id.clone());
        state
            .registrations
            .insert(registration.id.clone(), RegistrationRecord { registration: registration.clone(), timers });
        state
            .history
            .entry(recorded.audit.registration_id.clone())
            .or_default()
            .insert(audit_sk(&recorded.audit), recorded.audit.clone());
        state.outbox.extend(recorded.events.iter().map(outbox_item));
        Ok(())
    }

    async fn registration(&self, id: &RegistrationId) -> Result<Option<RegistrationRecord>, StoreError> {
        Ok(self.state().registrations.get(id).cloned())
    }

    async fn registrations(
        &self,
        query: &RegistrationQuery,
        page: &PageRequest,
    ) -> Result<Page<RegistrationRecord>, StoreError> {
        let partition = query.partner_id.as_ref().map_or_else(|| "*".to_owned(), |p| p.to_string());
        let after = match page_start(page, &partition)? {
            Some(raw) => Some(RegistrationId::parse(&raw).ok_or(StoreError::InvalidCursor)?),
            None => None,
        };
        let mut state = self.state();
        let State { registrations, partner_registrations, visited, .. } = &mut *state;
        let index = match &query.partner_id {
            Some(partner) => match partner_registrations.get(partner) {
                Some(ids) => Some(ids),
                None => return Ok(Page { items: Vec::new(), next_cursor: None }),
            },
            None => None,
        };
        let keep = |r: &RegistrationRecord| query.status.is_none_or(|s| r.registration.status == s);
        Ok(list_page(registrations, index, after, partition, keep, page, visited))
    }

    async fn registration_history(&self, id: &RegistrationId) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.state().history.get(id).map(|h| h.values().cloned().collect()).unwrap_or_default())
    }

    /// As DynamoDB applies it: a first transaction with the queue, the timers,
    /// the watches, the promoted registrations and as many status changes as
    /// fit in 100 items; further status changes in further transactions, one
    /// after another, each all-or-nothing, earlier ones kept if a later fails.
    async fn apply_queue_change(&self, change: &QueueChange) -> Result<(), StoreError> {
        let mut state = self.state();
        let untouched_owners: Vec<&RegistrationId> =
            change.timer_owners.iter().filter(|o| change.changes.iter().all(|c| &c.registration_id != *o)).collect();
        let fixed = 1 + change.timers.len() + change.watches.len() + untouched_owners.len();
        let mut batches: Vec<(usize, Vec<&partnerops_domain::registration::StatusChange>)> = vec![(fixed, Vec::new())];
        for c in &change.changes {
            let items = 2 + usize::from(c.event.is_some());
            match batches.last_mut() {
                Some((size, batch)) if *size + items <= super::MAX_TRANSACTION_ITEMS => {
                    *size += items;
                    batch.push(c);
                }
                _ => batches.push((items, vec![c])),
            }
        }
        for (index, (_, batch)) in batches.into_iter().enumerate() {
            if index == 0 {
                let version = state.queues.get(&change.customer_key).map(|q| q.version);
                if version != Some(change.queue_read) {
                    return Err(StoreError::Conflict("the customer's registration queue"));
                }
                if !change.timers.iter().all(|t| timer_condition_holds(&state, t)) {
                    return Err(StoreError::Conflict("an SLA timer"));
                }
                let all_pending = untouched_owners.iter().all(|owner| {
                    state.registrations.get(*owner).map(|r| r.registration.status) == Some(RegistrationStatus::Pending)
                });
                if !all_pending {
                    return Err(StoreError::Conflict("the promoted registration"));
                }
            }
            for c in &batch {
                if state.registrations.get(&c.registration_id).map(|r| r.registration.status) != Some(c.from) {
                    return Err(StoreError::Conflict("a registration's status"));
                }
            }
            if index == 0 {
                state.queues.insert(change.customer_key.clone(), change.queue_after.clone());
                for timer in &change.timers {
                    put_timer(&mut state, timer);
                }
                for watch in &change.watches {
                    put_watch(&mut state, watch);
                }
            }
            for c in batch {
                if let Some(record) = state.registrations.get_mut(&c.registration_id) {
                    record.registration.apply(c);
                }
                state
                    .history
                    .entry(c.audit.registration_id.clone())
                    .or_default()
                    .insert(audit_sk(&c.audit), c.audit.clone());
                if let Some(event) = &c.event {
                    state.outbox.push(outbox_item(event));
                }
            }
        }
        Ok(())
    }
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
