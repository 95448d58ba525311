//! Deal registrations: validation, the checks of SPEC §6 in their order, the
//! per-customer queue (first to register leads), decisions, withdrawal and
//! the audit trail.

use crate::Timestamp;
use crate::event::{
    DealRegistrationDecided, DealRegistrationSubmitted, DomainEvent, EventPayload, RegistrationProtectionNotice,
};
use crate::field::{FieldErrors, bounded_text};
use crate::id::{EventId, RegistrationId};
use crate::money::{Currency, Money};
use crate::partner::{Motion, Partner, PartnerId};
use crate::prospect::ProspectKey;
use crate::referral::Company;
use crate::sla::{SlaKind, SlaSubject, SlaTimer};
use crate::terms::ProgramTerms;
use chrono::{Duration, NaiveDate};
use serde::{Deserialize, Serialize};

/// The certification a partner needs when the program requires one.
pub const REQUIRED_CERTIFICATION: &str = "deal_registration";
/// How far ahead an expected close date may be.
const MAX_CLOSE_YEARS: i32 = 2;

#[derive(Debug, Default, Deserialize)]
pub struct CustomerDraft {
    pub name: Option<String>,
    pub domain: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct MoneyDraft {
    pub amount: Option<String>,
    pub currency: Option<String>,
}

/// The body of `POST /v1/deal-registrations` as it arrived.
#[derive(Debug, Default, Deserialize)]
pub struct RegistrationDraft {
    pub customer: Option<CustomerDraft>,
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

/// Parses `{ amount, currency }` under `field`, reporting on its members.
pub fn parse_money(field: &str, draft: Option<MoneyDraft>, errors: &mut FieldErrors) -> Option<Money> {
    let draft = errors.required(field, draft)?;
    let currency = errors.required(&format!("{field}.currency"), draft.currency);
    let currency = currency.and_then(|c| errors.check(&format!("{field}.currency"), Currency::parse(&c)));
    let amount = errors.required(&format!("{field}.amount"), draft.amount)?;
    errors.check(&format!("{field}.amount"), Money::parse(&amount, currency?))
}

impl RegistrationSubmission {
    /// Validates a draft; `today` bounds the expected close date.
    pub fn parse(draft: RegistrationDraft, today: NaiveDate) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let customer = errors.required("customer", draft.customer).and_then(|c| {
            let name = errors.required("customer.name", c.name);
            let name = name.and_then(|n| errors.check("customer.name", bounded_text(&n, 1, 200)));
            let domain = errors.required("customer.domain", c.domain);
            let key =
                domain.as_deref().and_then(|d| errors.check("customer.domain", ProspectKey::from_domain_input(d)));
            Some((Company { name: name?, domain: domain?.trim().to_owned() }, key?))
        });
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    Pending,
    Approved,
    Rejected,
    Withdrawn,
    Expired,
    /// The deal it protects closed (`opportunity.closed`).
    Won,
    Lost,
}

impl RegistrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected, Self::Withdrawn, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// Who made a change: a person's key, or the system.
pub const SYSTEM_ACTOR: &str = "system";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub id: RegistrationId,
    pub partner_id: PartnerId,
    pub customer: Company,
    pub customer_key: ProspectKey,
    pub motion: Motion,
    pub estimated_value: Money,
    pub products: Vec<String>,
    pub expected_close_date: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub status: RegistrationStatus,
    /// `existing_customer` or `already_registered` for the system's
    /// rejections; the channel manager's words for theirs.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub decided_by: Option<String>,
    #[serde(default)]
    pub decided_at: Option<Timestamp>,
    #[serde(default)]
    pub protected_until: Option<Timestamp>,
    /// The CRM opportunity linked to this registration, once there is one.
    #[serde(default)]
    pub opportunity_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
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

/// One status change, as kept in the registration's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub registration_id: RegistrationId,
    pub at: Timestamp,
    pub actor: String,
    pub from: Option<RegistrationStatus>,
    pub to: RegistrationStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

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

pub fn is_certified(partner: &Partner, now: Timestamp) -> bool {
    partner.certifications.get(REQUIRED_CERTIFICATION).is_some_and(|until| now < *until)
}

pub struct SubmissionIds {
    pub registration_id: RegistrationId,
    pub event_ids: [EventId; 2],
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

fn registration_event(registration: &Registration, id: EventId, now: Timestamp, decided: bool) -> DomainEvent {
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

fn audit(registration: &Registration, actor: &str, from: Option<RegistrationStatus>, now: Timestamp) -> AuditEntry {
    AuditEntry {
        registration_id: registration.id.clone(),
        at: now,
        actor: actor.to_owned(),
        from,
        to: registration.status,
        reason: registration.reason.clone(),
    }
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChangeRefused {
    #[error("the registration is not pending")]
    AlreadyDecided,
    #[error("another registration for this customer is earlier in the queue")]
    NotLead,
    #[error("only pending or approved registrations can be withdrawn")]
    NotWithdrawable,
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

fn change(
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

fn decided_event(registration: &Registration, c: &StatusChange, id: EventId, now: Timestamp) -> DomainEvent {
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

/// Meets a registration's open decision timer if the decision came in time;
/// a late decision leaves it for the sweep to breach.
fn meet_decision_timer(timers: &[SlaTimer], now: Timestamp) -> Option<SlaTimer> {
    timers.iter().filter(|t| t.kind == SlaKind::RegistrationDecision).find_map(|t| t.meet(now))
}

/// The new lead's decision timer when the queue's head changed.
fn promote(
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
    let withdrawn =
        change(&registration.id, &registration.partner_id, from, RegistrationStatus::Withdrawn, None, &actor, now);
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

#[cfg(test)]
mod tests;
