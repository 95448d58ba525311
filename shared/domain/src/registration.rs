//! Deal registrations: validation, the checks of SPEC §6 in their order, the
//! per-customer queue (first to register leads), decisions, withdrawal and
//! the audit trail.

use crate::Timestamp;
use crate::id::RegistrationId;
use crate::money::Money;
use crate::partner::{Motion, PartnerId};
use crate::prospect::{Company, ProspectKey};
pub use crate::status::RegistrationStatus;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The certification a partner needs when the program requires one.
pub const REQUIRED_CERTIFICATION: &str = "deal_registration";

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

pub(crate) fn audit(
    registration: &Registration,
    actor: &str,
    from: Option<RegistrationStatus>,
    now: Timestamp,
) -> AuditEntry {
    AuditEntry {
        registration_id: registration.id.clone(),
        at: now,
        actor: actor.to_owned(),
        from,
        to: registration.status,
        reason: registration.reason.clone(),
    }
}

mod decision;
mod expiry;
mod queue;
mod submission;
mod watch;

pub use decision::{Decision, DecisionDraft, Verdict, decide_registration, withdraw_registration};
pub use expiry::{ExpiryStep, expire_registration, sweep_expiry};
pub use queue::{
    ApprovedHolder, ChangeRefused, CustomerStanding, QueueChange, QueueEntry, QueueWrite, RegistrationQueue,
    StatusChange,
};
pub use submission::{
    Recorded, RegistrationDraft, RegistrationSubmission, SubmissionIds, SubmissionOutcome, SubmissionRefusal,
    decide_submission, decision_timer, is_certified, protection_days,
};
pub use watch::ExpiryWatch;

#[cfg(test)]
mod tests;
