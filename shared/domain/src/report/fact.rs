//! One record's stored contribution, replaced only when the record's
//! revision moves on; and the records an event may have changed.

use super::days::Slot;
use super::pipeline::{PipelineCounts, opportunity_contribution};
use super::sla::{SlaCounts, timer_contribution};
use crate::crm::Opportunity;
use crate::sla::{SlaSubject, SlaTimer};
use serde::{Deserialize, Serialize};

/// What one record (a timer, an opportunity) adds to the aggregates, as
/// last folded in: kept beside them so the next change replaces it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fact {
    /// The record's subject, `referral#<id>`, `deal_registration#<id>` or
    /// `opportunity#<id>`.
    pub subject: String,
    /// `opportunity`, or the timer's `kind#seq`.
    pub record: String,
    /// The record's own revision when this was computed: an older read
    /// never replaces a newer one.
    pub source_rev: u64,
    pub contribution: Contribution,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "report", content = "slots", rename_all = "snake_case")]
pub enum Contribution {
    Sla(Vec<(Slot, SlaCounts)>),
    Pipeline(Vec<(Slot, PipelineCounts)>),
}

/// The subject key of a fact.
pub fn subject_key(subject: &SlaSubject) -> String {
    match subject {
        SlaSubject::Referral(id) => format!("referral#{id}"),
        SlaSubject::DealRegistration(id) => format!("deal_registration#{id}"),
        SlaSubject::Opportunity(id) => format!("opportunity#{id}"),
    }
}

impl Fact {
    pub fn of_timer(timer: &SlaTimer, manager: Option<&str>) -> Self {
        Self {
            subject: subject_key(&timer.subject),
            record: format!("{}#{}", timer.kind.as_str(), timer.seq),
            source_rev: timer.rev,
            contribution: Contribution::Sla(timer_contribution(timer, manager).into_iter().collect()),
        }
    }

    pub fn of_opportunity(opportunity: &Opportunity) -> Self {
        Self {
            subject: subject_key(&SlaSubject::Opportunity(opportunity.id.clone())),
            record: "opportunity".into(),
            source_rev: opportunity.rev,
            contribution: Contribution::Pipeline(opportunity_contribution(opportunity).into_iter().collect()),
        }
    }

    /// Whether `self`, computed from a fresh read, should replace `stored`:
    /// a newer revision, or the same one grouped differently (a partner's
    /// manager changed). An older read changes nothing.
    pub fn replaces(&self, stored: Option<&Fact>) -> bool {
        match stored {
            None => true,
            Some(old) => {
                self.source_rev > old.source_rev
                    || (self.source_rev == old.source_rev && self.contribution != old.contribution)
            }
        }
    }
}

/// The records whose contributions an event may have changed: the timers
/// (and opportunity) of each subject it names.
pub fn subjects_of(event: &crate::event::DomainEvent) -> Vec<SlaSubject> {
    use crate::event::EventPayload as P;
    let opportunity_and_source =
        |id: &str, referral: &Option<crate::id::ReferralId>, registration: &Option<crate::id::RegistrationId>| {
            let mut out = vec![SlaSubject::Opportunity(id.to_owned())];
            if let Some(r) = referral {
                out.push(SlaSubject::Referral(r.to_string()));
            }
            if let Some(r) = registration {
                out.push(SlaSubject::DealRegistration(r.to_string()));
            }
            out
        };
    match &event.payload {
        P::ReferralReceived(r) => vec![SlaSubject::Referral(r.referral_id.to_string())],
        P::DealRegistrationSubmitted(r) => vec![SlaSubject::DealRegistration(r.registration_id.to_string())],
        P::DealRegistrationDecided(r) => vec![SlaSubject::DealRegistration(r.registration_id.to_string())],
        P::DealRegistrationWithdrawn(r) => vec![SlaSubject::DealRegistration(r.registration_id.to_string())],
        P::OpportunityLinked(o) => opportunity_and_source(&o.opportunity_id, &o.referral_id, &o.deal_registration_id),
        P::OpportunityUpdated(o) => vec![SlaSubject::Opportunity(o.opportunity_id.clone())],
        P::DealClosed(c) => opportunity_and_source(&c.opportunity_id, &c.referral_id, &c.deal_registration_id),
        P::DealLost(c) => opportunity_and_source(&c.opportunity_id, &c.referral_id, &c.deal_registration_id),
        P::SlaBreached(s) | P::SlaEscalated(s) => vec![s.subject.clone()],
        // A due-soon warning or a refund changes nothing a report counts.
        P::SlaDueSoon(_)
        | P::DealRefunded(_)
        | P::ReferralRejected(_)
        | P::DealRegistrationExpiring(_)
        | P::DealRegistrationExpired(_)
        | P::PayoutLinesCreated(_)
        | P::PayoutExportReady(_) => Vec::new(),
    }
}
