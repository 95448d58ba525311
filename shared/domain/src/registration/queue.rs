//! A customer's queue of registrations and the changes one decision or withdrawal makes to it.

use super::watch::ExpiryWatch;
use crate::Timestamp;
use crate::event::DomainEvent;
use crate::id::RegistrationId;
use crate::partner::PartnerId;
use crate::prospect::ProspectKey;
use crate::registration::{AuditEntry, Registration};
use crate::sla::{SlaKind, SlaSubject, SlaTimer};
use crate::status::RegistrationStatus;
use crate::terms::ProgramTerms;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub registration_id: RegistrationId,
    pub partner_id: PartnerId,
}

/// A customer's registrations in commit order: the first pending one leads;
/// once one is approved the queue is empty and `approved` holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationQueue {
    pub queue: Vec<QueueEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<ApprovedHolder>,
    /// Bumped by every change; writes are conditional on the version read.
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovedHolder {
    pub registration_id: RegistrationId,
    pub partner_id: PartnerId,
    pub protected_until: Timestamp,
}

impl RegistrationQueue {
    pub fn lead(&self) -> Option<&QueueEntry> {
        self.queue.first()
    }

    /// 1-based place of a pending registration.
    pub fn position_of(&self, id: &RegistrationId) -> Option<usize> {
        self.queue.iter().position(|e| &e.registration_id == id).map(|i| i + 1)
    }

    /// The approval that protects the customer at `now`, if any.
    pub fn protection_at(&self, now: Timestamp) -> Option<&ApprovedHolder> {
        self.approved.as_ref().filter(|a| now < a.protected_until)
    }
}

/// Everything the checks need to know about the customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerStanding {
    pub existing_customer: bool,
    pub queue: RegistrationQueue,
}

/// How a submission changes the customer's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueWrite {
    /// Replace the queue, conditional on the version read (`None`: no queue
    /// existed). Used when the submission leads or is approved.
    Replace { queue: RegistrationQueue, read_version: Option<u64> },
    /// Append to a queue that has a pending lead. Appends commute, so
    /// concurrent submissions all land, in commit order, without retries.
    Append(QueueEntry),
}

/// One registration's status change, with its audit entry and event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub registration_id: RegistrationId,
    pub partner_id: PartnerId,
    pub from: RegistrationStatus,
    pub to: RegistrationStatus,
    pub reason: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub protected_until: Option<Timestamp>,
    pub audit: AuditEntry,
    pub event: Option<DomainEvent>,
}

/// Everything one decision or withdrawal writes, conditional on the queue
/// version read and on each registration's previous status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueChange {
    pub customer_key: ProspectKey,
    pub changes: Vec<StatusChange>,
    pub queue_after: RegistrationQueue,
    pub queue_read: u64,
    /// Timers to write: the decided registration's (met) and the new lead's (started).
    pub timers: Vec<SlaTimer>,
    /// The registration whose `slas` change with those timers.
    pub timer_owners: Vec<RegistrationId>,
    /// Expiry watches to write: a new approval's, or a closed one.
    pub watches: Vec<ExpiryWatch>,
}

pub(crate) fn change(
    registration_id: &RegistrationId,
    partner_id: &PartnerId,
    from: RegistrationStatus,
    to: RegistrationStatus,
    reason: Option<String>,
    actor: &str,
    now: Timestamp,
) -> StatusChange {
    let decided = matches!(to, RegistrationStatus::Approved | RegistrationStatus::Rejected);
    StatusChange {
        registration_id: registration_id.clone(),
        partner_id: partner_id.clone(),
        from,
        to,
        reason: reason.clone(),
        decided_by: decided.then(|| actor.to_owned()),
        decided_at: decided.then_some(now),
        protected_until: None,
        audit: AuditEntry {
            registration_id: registration_id.clone(),
            at: now,
            actor: actor.to_owned(),
            from: Some(from),
            to,
            reason,
        },
        event: None,
    }
}

/// Meets a registration's open decision timer if the decision came in time;
/// a late decision leaves it for the sweep to breach.
pub(crate) fn meet_decision_timer(timers: &[SlaTimer], now: Timestamp) -> Option<SlaTimer> {
    timers.iter().filter(|t| t.kind == SlaKind::RegistrationDecision).find_map(|t| t.meet(now))
}

/// The new lead's decision timer when the queue's head changed.
pub(crate) fn promote(
    before: &RegistrationQueue,
    after: &RegistrationQueue,
    registration: &Registration,
    terms: &ProgramTerms,
    now: Timestamp,
) -> Option<(RegistrationId, SlaTimer)> {
    let next = after.lead()?;
    if before.lead().map(|l| &l.registration_id) == Some(&next.registration_id) {
        return None;
    }
    let timer = SlaTimer::start(
        SlaSubject::DealRegistration(next.registration_id.to_string()),
        SlaKind::RegistrationDecision,
        "0",
        next.partner_id.clone(),
        registration.customer_key.clone(),
        now,
        terms.sla.windows_hours.registration_decision,
    );
    Some((next.registration_id.clone(), timer))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefused {
    #[error("the registration is not pending")]
    AlreadyDecided,
    #[error("another registration for this customer is earlier in the queue")]
    NotLead,
    #[error("only pending or approved registrations can be withdrawn")]
    NotWithdrawable,
}

impl Registration {
    /// The registration as `change` leaves it.
    pub fn apply(&mut self, change: &StatusChange) {
        self.status = change.to;
        self.reason = change.reason.clone();
        self.decided_by = change.decided_by.clone();
        self.decided_at = change.decided_at;
        self.protected_until = change.protected_until;
        self.updated_at = change.audit.at;
    }
}
