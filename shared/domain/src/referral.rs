//! Referral intake: validation, the prospect's standing, and the decision
//! between a new referral, a repeat of one already made, or a rejection.

use crate::Timestamp;
use crate::event::{DomainEvent, EventPayload, ReferralReceived, ReferralRejected};
use crate::field::{FieldErrors, bounded_text};
use crate::id::{EventId, ReferralId};
use crate::partner::{Motion, PartnerId, parse_email};
use crate::prospect::ProspectKey;
pub use crate::prospect::{Company, CompanyDraft};
use crate::sla::{SlaKind, SlaSubject, SlaTimer};
pub use crate::status::{ReferralStatus, RejectionReason};
use crate::terms::ProgramTerms;
use chrono::Duration;
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Deserialize)]
pub struct ContactDraft {
    pub name: Option<String>,
    pub email: Option<String>,
    pub title: Option<String>,
    pub phone: Option<String>,
}

/// The body of `POST /v1/referrals` as it arrived, before any rule.
#[derive(Debug, Default, Deserialize)]
pub struct ReferralDraft {
    pub company: Option<CompanyDraft>,
    pub contact: Option<ContactDraft>,
    pub motion: Option<String>,
    pub notes: Option<String>,
    pub consent: Option<bool>,
    pub external_ref: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// A referral a partner may make: every field valid, prospect key derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralSubmission {
    pub company: Company,
    pub prospect_key: ProspectKey,
    pub contact: Contact,
    pub motion: Motion,
    pub notes: Option<String>,
    pub external_ref: Option<String>,
    /// Who at the partner filled in the hosted form; `None` through the API.
    pub submitter: Option<Submitter>,
}

/// The person at the partner who submitted a referral through its hosted
/// form (SPEC §16), kept on the referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitter {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct SubmitterDraft {
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Submitter {
    pub fn parse(draft: SubmitterDraft, errors: &mut FieldErrors) -> Option<Self> {
        let name = errors.required("submitter.name", draft.name.filter(|n| !n.trim().is_empty()));
        let name = name.and_then(|n| errors.check("submitter.name", bounded_text(&n, 1, 200)));
        let email = errors.required("submitter.email", draft.email.filter(|e| !e.trim().is_empty()));
        let email = email.and_then(|e| errors.check("submitter.email", parse_email(e.trim())));
        Some(Self { name: name?, email: email? })
    }
}

impl ReferralSubmission {
    /// A hosted-form submission: the referral's rules plus its submitter,
    /// every error reported at once.
    pub fn parse_hosted(draft: ReferralDraft, submitter: SubmitterDraft) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let submitter = Submitter::parse(submitter, &mut errors);
        match Self::parse(draft) {
            Ok(mut submission) if errors.is_empty() => {
                submission.submitter = submitter;
                Ok(submission)
            }
            Ok(_) => Err(errors),
            Err(more) => {
                let mut all = more.into_vec();
                all.extend(errors.into_vec());
                Err(FieldErrors::from(all))
            }
        }
    }

    pub fn parse(draft: ReferralDraft) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let company = Company::parse("company", draft.company, &mut errors);
        let contact = errors.required("contact", draft.contact).and_then(|c| {
            let name = errors.required("contact.name", c.name);
            let name = name.and_then(|n| errors.check("contact.name", bounded_text(&n, 1, 200)));
            let email = errors.required("contact.email", c.email);
            let email = email.and_then(|e| errors.check("contact.email", parse_email(&e)));
            let title = c.title.and_then(|t| errors.check("contact.title", bounded_text(&t, 0, 200)));
            let phone = c.phone.and_then(|p| errors.check("contact.phone", bounded_text(&p, 0, 32)));
            Some(Contact { name: name?, email: email?, title, phone })
        });
        let motion = match draft.motion.as_deref() {
            None | Some("referral") => Some(Motion::Referral),
            Some("co_sell") => Some(Motion::CoSell),
            Some(_) => {
                errors.push("motion", "must be referral or co_sell");
                None
            }
        };
        let notes = draft.notes.and_then(|n| errors.check("notes", bounded_text(&n, 0, 4000)));
        let external_ref = draft.external_ref.and_then(|r| errors.check("external_ref", bounded_text(&r, 0, 128)));
        if draft.consent != Some(true) {
            errors.push("consent", "must be true: the contact agreed to be referred");
        }
        let submission = (|| {
            let (company, prospect_key) = company?;
            Some(ReferralSubmission {
                company,
                prospect_key,
                contact: contact?,
                motion: motion?,
                notes,
                external_ref,
                submitter: None,
            })
        })();
        errors.finish(submission)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    pub id: ReferralId,
    pub partner_id: PartnerId,
    pub company: Company,
    pub prospect_key: ProspectKey,
    pub contact: Contact,
    pub motion: Motion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    pub status: ReferralStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<RejectionReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter: Option<Submitter>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Who holds the prospect for referrals: the partner whose accepted referral
/// is within the dedupe window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralClaim {
    pub prospect_key: ProspectKey,
    pub partner_id: PartnerId,
    pub referral_id: ReferralId,
    pub claimed_at: Timestamp,
    pub expires_at: Timestamp,
}

impl ReferralClaim {
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// A registration that protects a prospect: approved and unexpired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationProtection {
    pub partner_id: PartnerId,
    pub protected_until: Timestamp,
}

/// Everything known about a prospect when a referral for it arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProspectStanding {
    pub existing_customer: bool,
    pub referral_claim: Option<ReferralClaim>,
    pub registration: Option<RegistrationProtection>,
}

/// Server-made values a new referral needs.
#[derive(Debug, Clone)]
pub struct IntakeIds {
    pub referral_id: ReferralId,
    pub event_id: EventId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedReferral {
    pub referral: Referral,
    pub claim: ReferralClaim,
    /// The claim this one replaces (expired), which the write must still see
    /// unchanged; `None` when the prospect had no claim at all.
    pub replaces_claim: Option<ReferralClaim>,
    pub timer: SlaTimer,
    pub event: DomainEvent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedReferral {
    pub referral: Referral,
    pub reason: RejectionReason,
    pub event: DomainEvent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeDecision {
    /// The same partner referred this prospect within the window: nothing new.
    AlreadyReferred(ReferralId),
    Accepted(Box<AcceptedReferral>),
    Rejected(Box<RejectedReferral>),
}

/// Decides a referral. Precedence: the partner's own live referral (a repeat
/// is answered with the first), then existing customer, then another
/// partner's approved registration, then another partner's live referral.
pub fn decide_referral_intake(
    submission: ReferralSubmission,
    partner_id: &PartnerId,
    standing: &ProspectStanding,
    terms: &ProgramTerms,
    now: Timestamp,
    ids: IntakeIds,
) -> IntakeDecision {
    let live_claim = standing.referral_claim.as_ref().filter(|c| c.is_live_at(now));
    if let Some(claim) = live_claim.filter(|c| &c.partner_id == partner_id) {
        return IntakeDecision::AlreadyReferred(claim.referral_id.clone());
    }
    let protected_by_other =
        standing.registration.as_ref().is_some_and(|r| &r.partner_id != partner_id && now < r.protected_until);
    let reason = if standing.existing_customer {
        Some(RejectionReason::ExistingCustomer)
    } else if protected_by_other {
        Some(RejectionReason::RegisteredByAnotherPartner)
    } else if live_claim.is_some() {
        Some(RejectionReason::ProspectAlreadyReferred)
    } else {
        None
    };
    let mut referral = Referral {
        id: ids.referral_id,
        partner_id: partner_id.clone(),
        company: submission.company,
        prospect_key: submission.prospect_key,
        contact: submission.contact,
        motion: submission.motion,
        notes: submission.notes,
        external_ref: submission.external_ref,
        status: ReferralStatus::Received,
        rejection_reason: None,
        opportunity_id: None,
        submitter: submission.submitter,
        created_at: now,
        updated_at: now,
    };
    if let Some(reason) = reason {
        referral.status = ReferralStatus::Rejected;
        referral.rejection_reason = Some(reason);
        let event = DomainEvent::new(
            ids.event_id,
            now,
            EventPayload::ReferralRejected(ReferralRejected {
                referral_id: referral.id.clone(),
                partner_id: referral.partner_id.clone(),
                prospect_key: referral.prospect_key.clone(),
                company_name: referral.company.name.clone(),
                reason,
            }),
        );
        return IntakeDecision::Rejected(Box::new(RejectedReferral { referral, reason, event }));
    }
    let timer = SlaTimer::start(
        SlaSubject::Referral(referral.id.to_string()),
        SlaKind::OpportunityCreation,
        "0",
        referral.partner_id.clone(),
        referral.prospect_key.clone(),
        now,
        terms.sla.windows_hours.opportunity_creation,
    )
    .named(referral.company.name.clone());
    let claim = ReferralClaim {
        prospect_key: referral.prospect_key.clone(),
        partner_id: referral.partner_id.clone(),
        referral_id: referral.id.clone(),
        claimed_at: now,
        expires_at: now.plus(Duration::days(i64::from(terms.program.referral_dedupe_days))),
    };
    let event = DomainEvent::new(
        ids.event_id,
        now,
        EventPayload::ReferralReceived(ReferralReceived {
            referral_id: referral.id.clone(),
            partner_id: referral.partner_id.clone(),
            prospect_key: referral.prospect_key.clone(),
            company_name: referral.company.name.clone(),
            motion: referral.motion,
            opportunity_creation_due_at: timer.due_at,
        }),
    );
    IntakeDecision::Accepted(Box::new(AcceptedReferral {
        referral,
        claim,
        replaces_claim: standing.referral_claim.clone(),
        timer,
        event,
    }))
}

#[cfg(test)]
mod tests;
