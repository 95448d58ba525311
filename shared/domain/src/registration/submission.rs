//! Submission: a draft validated, then SPEC §6's checks in order, giving a pending or rejected registration and what it writes.

use super::queue::{ApprovedHolder, CustomerStanding, QueueEntry, QueueWrite, RegistrationQueue};
use super::watch::ExpiryWatch;
use crate::Timestamp;
use crate::event::{DealRegistrationDecided, DealRegistrationSubmitted, DomainEvent, EventPayload};
use crate::field::{FieldErrors, bounded_text};
use crate::id::{EventId, RegistrationId};
use crate::money::{Money, MoneyDraft, parse_money};
use crate::partner::{Motion, Partner};
use crate::prospect::{Company, CompanyDraft, ProspectKey};
use crate::registration::{AuditEntry, REQUIRED_CERTIFICATION, Registration, SYSTEM_ACTOR, audit};
use crate::sla::{SlaKind, SlaSubject, SlaTimer};
use crate::status::RegistrationStatus;
use crate::terms::ProgramTerms;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

/// How far ahead an expected close date may be.
pub(crate) const MAX_CLOSE_YEARS: i32 = 2;

/// The body of `POST /v1/deal-registrations` as it arrived.
#[derive(Debug, Default, Deserialize)]
pub struct RegistrationDraft {
    pub customer: Option<CompanyDraft>,
    pub motion: Option<String>,
    pub estimated_value: Option<MoneyDraft>,
    pub products: Option<Vec<String>>,
    pub expected_close_date: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationSubmission {
    pub customer: Company,
    pub customer_key: ProspectKey,
    pub motion: Motion,
    pub estimated_value: Money,
    pub products: Vec<String>,
    pub expected_close_date: NaiveDate,
    pub notes: Option<String>,
}

impl RegistrationSubmission {
    /// Validates a draft; `today` bounds the expected close date.
    pub fn parse(draft: RegistrationDraft, today: NaiveDate) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let customer = Company::parse("customer", draft.customer, &mut errors);
        let motion = errors
            .required("motion", draft.motion)
            .and_then(|m| errors.check("motion", Motion::parse(&m).map_err(|_| "must be resell, co_sell or referral")));
        let value = parse_money("estimated_value", draft.estimated_value, &mut errors);
        let products = match draft.products {
            None => Some(Vec::new()),
            Some(list) if list.len() > 50 => {
                errors.push("products", "must list at most 50 products");
                None
            }
            Some(list) => {
                let checked: Vec<Option<String>> = list
                    .iter()
                    .enumerate()
                    .map(|(i, p)| errors.check(&format!("products[{i}]"), bounded_text(p, 1, 100)))
                    .collect();
                checked.into_iter().collect()
            }
        };
        let latest = today.checked_add_months(chrono::Months::new(12 * MAX_CLOSE_YEARS as u32)).unwrap_or(today);
        let close = errors.required("expected_close_date", draft.expected_close_date).and_then(|raw| {
            let parsed = NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                .map_err(|_| "must be a date such as 2027-03-31".to_owned())
                .and_then(|d| {
                    if d < today {
                        Err(format!("must not be before today ({today})"))
                    } else if d > latest {
                        Err(format!("must be within two years (by {latest})"))
                    } else {
                        Ok(d)
                    }
                });
            errors.check("expected_close_date", parsed)
        });
        let notes = draft.notes.and_then(|n| errors.check("notes", bounded_text(&n, 0, 4000)));
        let submission = (|| {
            let (customer, customer_key) = customer?;
            Some(Self {
                customer,
                customer_key,
                motion: motion?,
                estimated_value: value?,
                products: products?,
                expected_close_date: close?,
                notes,
            })
        })();
        errors.finish(submission)
    }
}

pub fn is_certified(partner: &Partner, now: Timestamp) -> bool {
    partner.certifications.get(REQUIRED_CERTIFICATION).is_some_and(|until| now < *until)
}

pub struct SubmissionIds {
    pub registration_id: RegistrationId,
    pub event_ids: [EventId; 2],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub registration: Registration,
    pub audit: AuditEntry,
    pub timer: Option<SlaTimer>,
    pub events: Vec<DomainEvent>,
    pub queue_write: Option<QueueWrite>,
    /// An automatic approval's expiry watch.
    pub watch: Option<ExpiryWatch>,
}

/// Why a submission was refused and stored as `rejected` (SPEC §6, checks 2–3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionRefusal {
    ExistingCustomer,
    AlreadyRegistered,
}

impl SubmissionRefusal {
    /// The problem code, also stored as the registration's `reason`.
    pub fn code(self) -> &'static str {
        match self {
            Self::ExistingCustomer => "existing_customer",
            Self::AlreadyRegistered => "already_registered",
        }
    }

    /// What the partner is told; it never names the other partner.
    pub fn detail(self) -> &'static str {
        match self {
            Self::ExistingCustomer => "This customer is already a customer.",
            Self::AlreadyRegistered => "This customer is covered by another partner's approved registration.",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmissionOutcome {
    /// 403 `not_certified`: nothing is stored.
    NotCertified,
    /// 200: this partner already holds a pending or approved registration.
    Existing(RegistrationId),
    /// 409 with the stored rejection.
    Rejected(Box<Recorded>, SubmissionRefusal),
    /// 201: leads the queue (pending, or approved automatically) or waits in it.
    Accepted(Box<Recorded>),
}

pub(crate) fn registration_event(
    registration: &Registration,
    id: EventId,
    now: Timestamp,
    decided: bool,
) -> DomainEvent {
    let payload = if decided {
        EventPayload::DealRegistrationDecided(DealRegistrationDecided {
            registration_id: registration.id.clone(),
            partner_id: registration.partner_id.clone(),
            customer_key: registration.customer_key.clone(),
            customer_name: registration.customer.name.clone(),
            status: registration.status,
            reason: registration.reason.clone(),
            decided_by: registration.decided_by.clone().unwrap_or_else(|| SYSTEM_ACTOR.to_owned()),
            protected_until: registration.protected_until,
        })
    } else {
        EventPayload::DealRegistrationSubmitted(DealRegistrationSubmitted {
            registration_id: registration.id.clone(),
            partner_id: registration.partner_id.clone(),
            customer_key: registration.customer_key.clone(),
            customer_name: registration.customer.name.clone(),
            motion: registration.motion,
            estimated_value: registration.estimated_value,
            status: registration.status,
        })
    };
    DomainEvent::new(id, now, payload)
}

/// Protection days: the request's, else the tier's, else the program's.
pub fn protection_days(requested: Option<u32>, partner: &Partner, terms: &ProgramTerms) -> u32 {
    requested
        .or_else(|| terms.registration.tier_protection_days.get(&partner.tier).copied())
        .unwrap_or(terms.registration.protection_days)
}

pub fn decision_timer(registration: &Registration, terms: &ProgramTerms, now: Timestamp) -> SlaTimer {
    SlaTimer::start(
        SlaSubject::DealRegistration(registration.id.to_string()),
        SlaKind::RegistrationDecision,
        "0",
        registration.partner_id.clone(),
        registration.customer_key.clone(),
        now,
        terms.sla.windows_hours.registration_decision,
    )
    .named(registration.customer.name.clone())
}

/// Applies SPEC §6's checks in order to a submission.
pub fn decide_submission(
    submission: RegistrationSubmission,
    partner: &Partner,
    standing: &CustomerStanding,
    terms: &ProgramTerms,
    now: Timestamp,
    ids: SubmissionIds,
) -> SubmissionOutcome {
    if terms.program.require_certification && !is_certified(partner, now) {
        return SubmissionOutcome::NotCertified;
    }
    let queue = &standing.queue;
    let mut registration = Registration {
        id: ids.registration_id,
        partner_id: partner.id.clone(),
        customer: submission.customer,
        customer_key: submission.customer_key,
        motion: submission.motion,
        estimated_value: submission.estimated_value,
        products: submission.products,
        expected_close_date: submission.expected_close_date,
        notes: submission.notes,
        status: RegistrationStatus::Pending,
        reason: None,
        decided_by: None,
        decided_at: None,
        protected_until: None,
        opportunity_id: None,
        created_at: now,
        updated_at: now,
    };
    let [first_event, second_event] = ids.event_ids;
    let protection = queue.protection_at(now);
    let rejection = if standing.existing_customer {
        Some(SubmissionRefusal::ExistingCustomer)
    } else if protection.is_some_and(|p| p.partner_id != partner.id) {
        Some(SubmissionRefusal::AlreadyRegistered)
    } else {
        None
    };
    if let Some(refusal) = rejection {
        registration.status = RegistrationStatus::Rejected;
        registration.reason = Some(refusal.code().to_owned());
        registration.decided_by = Some(SYSTEM_ACTOR.to_owned());
        registration.decided_at = Some(now);
        let audit = audit(&registration, SYSTEM_ACTOR, None, now);
        let event = registration_event(&registration, first_event, now, true);
        return SubmissionOutcome::Rejected(
            Box::new(Recorded {
                registration,
                audit,
                timer: None,
                events: vec![event],
                queue_write: None,
                watch: None,
            }),
            refusal,
        );
    }
    if let Some(own) = protection.filter(|p| p.partner_id == partner.id) {
        return SubmissionOutcome::Existing(own.registration_id.clone());
    }
    if let Some(own) = queue.queue.iter().find(|e| e.partner_id == partner.id) {
        return SubmissionOutcome::Existing(own.registration_id.clone());
    }

    let mut after = RegistrationQueue { version: queue.version + 1, ..queue.clone() };
    // An approval whose protection ended no longer holds the customer.
    if after.approved.as_ref().is_some_and(|a| now >= a.protected_until) {
        after.approved = None;
    }
    let read_version = (queue.version > 0).then_some(queue.version);
    let entry = QueueEntry { registration_id: registration.id.clone(), partner_id: partner.id.clone() };
    if !after.queue.is_empty() {
        let submitted = registration_event(&registration, first_event, now, false);
        let audit = audit(&registration, &partner.id.to_string(), None, now);
        return SubmissionOutcome::Accepted(Box::new(Recorded {
            registration,
            audit,
            timer: None,
            events: vec![submitted],
            queue_write: Some(QueueWrite::Append(entry)),
            watch: None,
        }));
    }

    let auto = &terms.registration.auto_approve;
    let within_limit = auto
        .max_value
        .get(&registration.estimated_value.currency())
        .is_some_and(|max| registration.estimated_value.minor_units() <= *max);
    let mut events = vec![registration_event(&registration, first_event, now, false)];
    let mut watch = None;
    let timer = if auto.tiers.contains(&partner.tier) && within_limit {
        let days = protection_days(None, partner, terms);
        let until = now.plus(Duration::days(i64::from(days)));
        registration.status = RegistrationStatus::Approved;
        registration.decided_by = Some(SYSTEM_ACTOR.to_owned());
        registration.decided_at = Some(now);
        registration.protected_until = Some(until);
        after.approved = Some(ApprovedHolder {
            registration_id: registration.id.clone(),
            partner_id: partner.id.clone(),
            protected_until: until,
        });
        events.push(registration_event(&registration, second_event, now, true));
        watch = Some(ExpiryWatch::new(&registration, until, terms));
        None
    } else {
        after.queue.push(entry);
        Some(decision_timer(&registration, terms, now))
    };
    let actor = if timer.is_some() { partner.id.to_string() } else { SYSTEM_ACTOR.to_owned() };
    let audit = audit(&registration, &actor, None, now);
    SubmissionOutcome::Accepted(Box::new(Recorded {
        registration,
        audit,
        timer,
        events,
        queue_write: Some(QueueWrite::Replace { queue: after, read_version }),
        watch,
    }))
}
