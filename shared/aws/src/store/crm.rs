//! CRM events: their dedupe records, opportunities and the changes they make.

use super::dynamo::*;
use super::items::*;
use super::memory::*;
use super::*;
use crate::outbox::outbox_item;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::crm::{CrmChange, Opportunity, Source};
use partnerops_domain::referral::ReferralStatus;
use partnerops_domain::registration::RegistrationStatus;
use partnerops_domain::sla::SlaTimer;
use std::collections::HashMap;

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

#[async_trait]
impl Opportunities for MemoryStore {
    async fn crm_event_seen(&self, event_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.state().crm_events.get(event_id).is_some_and(|ttl| *ttl > now.unix_seconds()))
    }

    async fn opportunity(&self, id: &str) -> Result<Option<OpportunityRecord>, StoreError> {
        let mut state = self.state();
        let Some(opportunity) = state.opportunities.get(id).cloned() else {
            return Ok(None);
        };
        Ok(Some(OpportunityRecord { opportunity, timers: timers_of(&mut state, id) }))
    }

    async fn apply_crm(&self, change: &CrmChange, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.crm_events.get(&change.event_id).is_some_and(|ttl| *ttl > now.unix_seconds()) {
            return Err(StoreError::AlreadyApplied);
        }
        let current = state.opportunities.get(&change.opportunity.id).map(|o| o.rev);
        if current != change.opportunity_read_rev {
            return Err(StoreError::Conflict("the opportunity"));
        }
        if let Some(update) = &change.source_update {
            let status = match &update.source {
                Source::Referral(id) => state.referrals.get(id).map(|r| r.referral.status.as_str().to_owned()),
                Source::Registration(id) => {
                    state.registrations.get(id).map(|r| r.registration.status.as_str().to_owned())
                }
            };
            if status.is_none() || update.from.as_ref().is_some_and(|from| status.as_ref() != Some(from)) {
                return Err(StoreError::Conflict("the referral or registration"));
            }
        }
        // Decoded before anything is written: a status no reader could decode
        // changes nothing.
        let source_status = match &change.source_update {
            Some(update) => Some(match &update.source {
                Source::Referral(_) => SourceStatus::Referral(status_of(&update.to)?),
                Source::Registration(_) => SourceStatus::Registration(status_of(&update.to)?),
            }),
            None => None,
        };
        let source_timer = change.source_update.as_ref().and_then(|u| u.timer.as_ref());
        if !change.changed_timers.iter().chain(source_timer).all(|t| timer_condition_holds(&state, t)) {
            return Err(StoreError::Conflict("an SLA timer"));
        }
        let ttl = now.plus(chrono::Duration::days(partnerops_domain::crm::DEDUPE_DAYS)).unix_seconds();
        state.crm_events.insert(change.event_id.clone(), ttl);
        state.opportunities.insert(change.opportunity.id.clone(), change.opportunity.clone());
        for timer in &change.changed_timers {
            put_timer(&mut state, timer);
        }
        if let Some(update) = &change.source_update {
            match (&update.source, source_status) {
                (Source::Referral(id), Some(SourceStatus::Referral(status))) => {
                    if let Some(record) = state.referrals.get_mut(id) {
                        record.referral.status = status;
                        if update.opportunity_id.is_some() {
                            record.referral.opportunity_id = update.opportunity_id.clone();
                        }
                        record.referral.updated_at = now;
                    }
                }
                (Source::Registration(id), Some(SourceStatus::Registration(status))) => {
                    if let Some(record) = state.registrations.get_mut(id) {
                        record.registration.status = status;
                        if update.opportunity_id.is_some() {
                            record.registration.opportunity_id = update.opportunity_id.clone();
                        }
                        record.registration.updated_at = now;
                    }
                }
                _ => {}
            }
            if let Some(timer) = &update.timer {
                put_timer(&mut state, timer);
            }
        }
        state.outbox.extend(change.events.iter().map(outbox_item));
        Ok(())
    }
}

/// The status a CRM change moves its referral or registration to.
enum SourceStatus {
    Referral(ReferralStatus),
    Registration(RegistrationStatus),
}

/// A status as the store writes it: DynamoDB takes the string as it is, and a
/// value no reader can decode would make the record unreadable, so it is an
/// error here rather than silently kept as before.
fn status_of<T: serde::de::DeserializeOwned>(to: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(to.to_owned()))
        .map_err(|_| StoreError::Unexpected(anyhow::anyhow!("unknown status {to:?} in a source update")))
}
