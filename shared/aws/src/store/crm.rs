//! CRM events: their dedupe records, opportunities and the changes they make.

use super::items::outbox_item;
use crate::store::dynamo::{key_of, n, s, to_item, to_value};
use crate::store::items::{
    CRM_EVENT_SK, CrmEventItem, OPPORTUNITY_SK, OpportunityItem, REFERRAL_SK, REGISTRATION_SK, crm_event_pk,
    opportunity_pk, referral_pk, registration_pk, timer_key, timer_list,
};
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::crm::{CrmChange, Opportunity, Source};
use partnerops_domain::sla::SlaTimer;
use std::collections::{BTreeMap, HashMap};

/// The item name of a CRM event's dedupe record in `apply_crm`'s write.
const CRM_EVENT_SEEN: &str = "the CRM event";

/// An opportunity with its SLA timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityRecord {
    pub opportunity: Opportunity,
    pub timers: Vec<SlaTimer>,
}

#[async_trait]
pub trait Opportunities: Send + Sync {
    /// Whether a CRM `event_id` was processed within the last 30 days.
    async fn crm_event_seen(&self, event_id: &str, now: Timestamp) -> Result<bool, StoreError>;

    async fn opportunity(&self, id: &str) -> Result<Option<OpportunityRecord>, StoreError>;

    /// Writes a CRM event's effects with its dedupe record in one transaction.
    /// `Conflict("the CRM event")` when the event was processed meanwhile;
    /// any other `Conflict` when something it read changed.
    async fn apply_crm(&self, change: &CrmChange, now: Timestamp) -> Result<(), StoreError>;
}

#[async_trait]
impl Opportunities for DynamoStore {
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
}

/// The in-memory twin's opportunities and the CRM events seen (id → when).
#[derive(Default, Clone)]
pub(super) struct OpportunityState {
    pub(super) records: BTreeMap<String, Opportunity>,
    pub(super) crm_events: HashMap<String, i64>,
}
