//! A channel manager's decision and a partner's withdrawal.

use super::queue::{ApprovedHolder, QueueChange, RegistrationQueue, StatusChange};
use super::submission::protection_days;
use super::watch::ExpiryWatch;
use crate::Timestamp;
use crate::event::{DealRegistrationDecided, DealRegistrationWithdrawn, DomainEvent, EventPayload};
use crate::field::{FieldErrors, bounded_text};
use crate::id::EventId;
use crate::partner::Partner;
use crate::registration::queue::{ChangeRefused, change, meet_decision_timer, promote};
use crate::registration::{Registration, SYSTEM_ACTOR};
use crate::sla::SlaTimer;
use crate::status::RegistrationStatus;
use crate::terms::ProgramTerms;
use chrono::Duration;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
}

#[derive(Debug, Default, Deserialize)]
pub struct DecisionDraft {
    pub decision: Option<String>,
    pub reason: Option<String>,
    pub protection_days: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reason: Option<String>,
    pub protection_days: Option<u32>,
}

impl Decision {
    pub fn parse(draft: DecisionDraft) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let verdict = errors.required("decision", draft.decision).and_then(|d| match d.as_str() {
            "approve" => Some(Verdict::Approve),
            "reject" => Some(Verdict::Reject),
            _ => {
                errors.push("decision", "must be approve or reject");
                None
            }
        });
        let reason = draft.reason.and_then(|r| errors.check("reason", bounded_text(&r, 1, 1000)));
        if verdict == Some(Verdict::Reject) && reason.is_none() && errors.is_empty() {
            errors.push("reason", "is required to reject");
        }
        let protection_days = draft.protection_days.and_then(|d| match u32::try_from(d) {
            Ok(days) if (1..=365).contains(&days) => Some(days),
            _ => {
                errors.push("protection_days", "must be from 1 to 365");
                None
            }
        });
        let decision = verdict.map(|verdict| Decision { verdict, reason, protection_days });
        errors.finish(decision)
    }
}

pub(crate) fn decided_event(registration: &Registration, c: &StatusChange, id: EventId, now: Timestamp) -> DomainEvent {
    DomainEvent::new(
        id,
        now,
        EventPayload::DealRegistrationDecided(DealRegistrationDecided {
            registration_id: c.registration_id.clone(),
            partner_id: c.partner_id.clone(),
            customer_key: registration.customer_key.clone(),
            customer_name: registration.customer.name.clone(),
            status: c.to,
            reason: c.reason.clone(),
            decided_by: c.decided_by.clone().unwrap_or_else(|| SYSTEM_ACTOR.to_owned()),
            protected_until: c.protected_until,
        }),
    )
}

/// A channel manager's decision on a pending registration (SPEC §6).
#[allow(clippy::too_many_arguments)]
pub fn decide_registration(
    registration: &Registration,
    timers: &[SlaTimer],
    queue: &RegistrationQueue,
    decision: &Decision,
    owner: &Partner,
    actor: &str,
    terms: &ProgramTerms,
    now: Timestamp,
    mut event_id: impl FnMut() -> EventId,
) -> Result<QueueChange, ChangeRefused> {
    if registration.status != RegistrationStatus::Pending {
        return Err(ChangeRefused::AlreadyDecided);
    }
    let mut after = RegistrationQueue { version: queue.version + 1, ..queue.clone() };
    let mut changes = Vec::new();
    let mut watches = Vec::new();
    let mut timer_writes = Vec::new();
    let mut owners = Vec::new();
    if let Some(met) = meet_decision_timer(timers, now) {
        timer_writes.push(met);
        owners.push(registration.id.clone());
    }
    match decision.verdict {
        Verdict::Approve => {
            if queue.lead().map(|l| &l.registration_id) != Some(&registration.id) {
                return Err(ChangeRefused::NotLead);
            }
            let days = protection_days(decision.protection_days, owner, terms);
            let until = now.plus(Duration::days(i64::from(days)));
            let mut approved = change(
                &registration.id,
                &registration.partner_id,
                RegistrationStatus::Pending,
                RegistrationStatus::Approved,
                decision.reason.clone(),
                actor,
                now,
            );
            approved.protected_until = Some(until);
            approved.event = Some(decided_event(registration, &approved, event_id(), now));
            changes.push(approved);
            for other in queue.queue.iter().skip(1) {
                let mut rejected = change(
                    &other.registration_id,
                    &other.partner_id,
                    RegistrationStatus::Pending,
                    RegistrationStatus::Rejected,
                    Some("already_registered".to_owned()),
                    SYSTEM_ACTOR,
                    now,
                );
                rejected.event = Some(decided_event(registration, &rejected, event_id(), now));
                changes.push(rejected);
            }
            after.queue.clear();
            after.approved = Some(ApprovedHolder {
                registration_id: registration.id.clone(),
                partner_id: registration.partner_id.clone(),
                protected_until: until,
            });
            watches.push(ExpiryWatch::new(registration, until, terms));
        }
        Verdict::Reject => {
            let mut rejected = change(
                &registration.id,
                &registration.partner_id,
                RegistrationStatus::Pending,
                RegistrationStatus::Rejected,
                decision.reason.clone(),
                actor,
                now,
            );
            rejected.event = Some(decided_event(registration, &rejected, event_id(), now));
            changes.push(rejected);
            after.queue.retain(|e| e.registration_id != registration.id);
            if let Some((id, timer)) = promote(queue, &after, registration, terms, now) {
                timer_writes.push(timer);
                owners.push(id);
            }
        }
    }
    Ok(QueueChange {
        customer_key: registration.customer_key.clone(),
        changes,
        queue_after: after,
        queue_read: queue.version,
        timers: timer_writes,
        timer_owners: owners,
        watches,
    })
}

/// A partner withdraws its own pending or approved registration; an
/// approval's claim on the customer is released, a lead's place passes on.
pub fn withdraw_registration(
    registration: &Registration,
    timers: &[SlaTimer],
    queue: &RegistrationQueue,
    terms: &ProgramTerms,
    now: Timestamp,
    event_id: EventId,
) -> Result<QueueChange, ChangeRefused> {
    let from = registration.status;
    if !matches!(from, RegistrationStatus::Pending | RegistrationStatus::Approved) {
        return Err(ChangeRefused::NotWithdrawable);
    }
    let mut after = RegistrationQueue { version: queue.version + 1, ..queue.clone() };
    let mut timer_writes = Vec::new();
    let mut owners = Vec::new();
    if let Some(met) = meet_decision_timer(timers, now) {
        timer_writes.push(met);
        owners.push(registration.id.clone());
    }
    let mut watches = Vec::new();
    if let Some(holder) = after.approved.take_if(|a| a.registration_id == registration.id) {
        // Close the approval's watch: nothing is left to notify or expire.
        watches.push(ExpiryWatch::new(registration, holder.protected_until, terms).close());
    }
    after.queue.retain(|e| e.registration_id != registration.id);
    if let Some((id, timer)) = promote(queue, &after, registration, terms, now) {
        timer_writes.push(timer);
        owners.push(id);
    }
    let actor = registration.partner_id.to_string();
    let mut withdrawn =
        change(&registration.id, &registration.partner_id, from, RegistrationStatus::Withdrawn, None, &actor, now);
    withdrawn.event = Some(DomainEvent::new(
        event_id,
        now,
        EventPayload::DealRegistrationWithdrawn(DealRegistrationWithdrawn {
            registration_id: registration.id.clone(),
            partner_id: registration.partner_id.clone(),
            customer_key: registration.customer_key.clone(),
            customer_name: registration.customer.name.clone(),
        }),
    ));
    Ok(QueueChange {
        customer_key: registration.customer_key.clone(),
        changes: vec![withdrawn],
        queue_after: after,
        queue_read: queue.version,
        timers: timer_writes,
        timer_owners: owners,
        watches,
    })
}
