//! The end of an approval's protection: the notice before it and the expiry itself.

use super::*;
use crate::Timestamp;
use crate::event::{DomainEvent, EventPayload, RegistrationProtectionNotice};
use crate::id::{EventId, RegistrationId};
use crate::partner::PartnerId;
use crate::prospect::ProspectKey;
use crate::terms::ProgramTerms;
use chrono::Duration;
use serde::{Deserialize, Serialize};

/// Watches an approved registration's protection: the notice before it ends
/// and the expiry itself. It sits in the sweep's due-time index until done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryWatch {
    pub registration_id: RegistrationId,
    pub partner_id: PartnerId,
    pub customer_key: ProspectKey,
    pub customer_name: String,
    pub protected_until: Timestamp,
    pub notice_at: Timestamp,
    #[serde(default)]
    pub notified_at: Option<Timestamp>,
    #[serde(default)]
    pub closed: bool,
    #[serde(default)]
    pub rev: u64,
}

impl ExpiryWatch {
    pub fn new(registration: &Registration, protected_until: Timestamp, terms: &ProgramTerms) -> Self {
        let notice = Duration::days(i64::from(terms.registration.expiring_notice_days));
        Self {
            registration_id: registration.id.clone(),
            partner_id: registration.partner_id.clone(),
            customer_key: registration.customer_key.clone(),
            customer_name: registration.customer.name.clone(),
            protected_until,
            notice_at: protected_until.minus(notice),
            notified_at: None,
            closed: false,
            rev: 0,
        }
    }

    pub fn close(&self) -> Self {
        Self { closed: true, rev: self.rev + 1, ..self.clone() }
    }

    /// When the sweep next has something to do; `None` takes the watch out
    /// of the due-time index.
    pub fn next_check_at(&self) -> Option<Timestamp> {
        if self.closed {
            None
        } else if self.notified_at.is_none() && self.notice_at < self.protected_until {
            Some(self.notice_at)
        } else {
            Some(self.protected_until)
        }
    }

    fn event(&self, id: EventId, now: Timestamp, expired: bool) -> DomainEvent {
        let notice = RegistrationProtectionNotice {
            registration_id: self.registration_id.clone(),
            partner_id: self.partner_id.clone(),
            customer_key: self.customer_key.clone(),
            customer_name: self.customer_name.clone(),
            protected_until: self.protected_until,
        };
        let payload = if expired {
            EventPayload::DealRegistrationExpired(notice)
        } else {
            EventPayload::DealRegistrationExpiring(notice)
        };
        DomainEvent::new(id, now, payload)
    }
}

/// What the sweep does about a watched approval at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpiryStep {
    /// `DealRegistrationExpiring`, once.
    Notice(Box<ExpiryWatch>, Box<DomainEvent>),
    /// Protection has ended: expire the registration (see [`expire_registration`]).
    Expire,
}

pub fn sweep_expiry(watch: &ExpiryWatch, now: Timestamp, event_id: EventId) -> Option<ExpiryStep> {
    if watch.closed {
        return None;
    }
    if watch.protected_until <= now {
        return Some(ExpiryStep::Expire);
    }
    if watch.notified_at.is_none() && watch.notice_at <= now {
        let after = ExpiryWatch { notified_at: Some(now), rev: watch.rev + 1, ..watch.clone() };
        let event = after.event(event_id, now, false);
        return Some(ExpiryStep::Notice(Box::new(after), Box::new(event)));
    }
    None
}

/// Expires an approved registration whose protection ended: status
/// `expired`, the customer's claim released, `DealRegistrationExpired`.
pub fn expire_registration(
    registration: &Registration,
    queue: &RegistrationQueue,
    watch: &ExpiryWatch,
    now: Timestamp,
    event_id: EventId,
) -> Result<QueueChange, ChangeRefused> {
    let mut after = RegistrationQueue { version: queue.version + 1, ..queue.clone() };
    if registration.status != RegistrationStatus::Approved {
        // Won, lost or withdrawn meanwhile: only the watch is left to close.
        return Ok(QueueChange {
            customer_key: registration.customer_key.clone(),
            changes: Vec::new(),
            queue_after: after,
            queue_read: queue.version,
            timers: Vec::new(),
            timer_owners: Vec::new(),
            watches: vec![watch.close()],
        });
    }
    if after.approved.as_ref().is_some_and(|a| a.registration_id == registration.id) {
        after.approved = None;
    }
    let mut expired = change(
        &registration.id,
        &registration.partner_id,
        RegistrationStatus::Approved,
        RegistrationStatus::Expired,
        None,
        SYSTEM_ACTOR,
        now,
    );
    expired.protected_until = registration.protected_until;
    expired.decided_by = registration.decided_by.clone();
    expired.decided_at = registration.decided_at;
    expired.event = Some(watch.event(event_id, now, true));
    Ok(QueueChange {
        customer_key: registration.customer_key.clone(),
        changes: vec![expired],
        queue_after: after,
        queue_read: queue.version,
        timers: Vec::new(),
        timer_owners: Vec::new(),
        watches: vec![watch.close()],
    })
}
