//! An approved registration's expiry watch: when its protection ends, when
//! the notice before it is due, and whether either was sent.

use crate::Timestamp;
use crate::event::{DomainEvent, EventPayload, RegistrationProtectionNotice};
use crate::id::{EventId, RegistrationId};
use crate::partner::PartnerId;
use crate::prospect::ProspectKey;
use crate::registration::Registration;
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

    pub(super) fn event(&self, id: EventId, now: Timestamp, expired: bool) -> DomainEvent {
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
