//! The end of an approval's protection: the notice before it and the expiry itself.

use super::queue::{ChangeRefused, QueueChange, RegistrationQueue, change};
use super::watch::ExpiryWatch;
use crate::Timestamp;
use crate::event::DomainEvent;
use crate::id::EventId;
use crate::registration::{Registration, SYSTEM_ACTOR};
use crate::status::RegistrationStatus;

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
