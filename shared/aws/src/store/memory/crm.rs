//! The in-memory twin of `store::crm`: the same conditional semantics
//! on the twin's one lock.

use async_trait::async_trait;

use crate::store::items::outbox_item;
use crate::store::memory::{put_timer, timer_condition_holds, timers_of};
use crate::store::{Opportunities, OpportunityRecord};
use crate::{MemoryStore, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::crm::{CrmChange, Source};
use partnerops_domain::referral::ReferralStatus;
use partnerops_domain::registration::RegistrationStatus;
#[async_trait]
impl Opportunities for MemoryStore {
    async fn crm_event_seen(&self, event_id: &str, now: Timestamp) -> Result<bool, StoreError> {
        Ok(self.state().opportunities.crm_events.get(event_id).is_some_and(|ttl| *ttl > now.unix_seconds()))
    }

    async fn opportunity(&self, id: &str) -> Result<Option<OpportunityRecord>, StoreError> {
        let mut state = self.state();
        let Some(opportunity) = state.opportunities.records.get(id).cloned() else {
            return Ok(None);
        };
        Ok(Some(OpportunityRecord { opportunity, timers: timers_of(&mut state, id) }))
    }

    async fn apply_crm(&self, change: &CrmChange, now: Timestamp) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.opportunities.crm_events.get(&change.event_id).is_some_and(|ttl| *ttl > now.unix_seconds()) {
            return Err(StoreError::AlreadyApplied);
        }
        let current = state.opportunities.records.get(&change.opportunity.id).map(|o| o.rev);
        if current != change.opportunity_read_rev {
            return Err(StoreError::Conflict("the opportunity"));
        }
        if let Some(update) = &change.source_update {
            let status = match &update.source {
                Source::Referral(id) => state.referrals.records.get(id).map(|r| r.referral.status.as_str().to_owned()),
                Source::Registration(id) => {
                    state.registrations.records.get(id).map(|r| r.registration.status.as_str().to_owned())
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
        state.opportunities.crm_events.insert(change.event_id.clone(), ttl);
        state.opportunities.records.insert(change.opportunity.id.clone(), change.opportunity.clone());
        for timer in &change.changed_timers {
            put_timer(&mut state, timer);
        }
        if let Some(update) = &change.source_update {
            match (&update.source, source_status) {
                (Source::Referral(id), Some(SourceStatus::Referral(status))) => {
                    if let Some(record) = state.referrals.records.get_mut(id) {
                        record.referral.status = status;
                        if update.opportunity_id.is_some() {
                            record.referral.opportunity_id = update.opportunity_id.clone();
                        }
                        record.referral.updated_at = now;
                    }
                }
                (Source::Registration(id), Some(SourceStatus::Registration(status))) => {
                    if let Some(record) = state.registrations.records.get_mut(id) {
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
