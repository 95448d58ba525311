//! `reports` (SPEC §19): SLA compliance and sourced-vs-influenced pipeline.
//!
//! Domain events arrive on the reports queue. An event only says which
//! records may have changed; the fold reads those records as they are now
//! (a referral, registration or opportunity with its timers: one item) and
//! replaces each one's stored contribution when its revision moved on. So a
//! second delivery, an out-of-order one or a late breach counts exactly
//! once, on the day the timer fell due or the opportunity was created, and
//! the aggregates always equal a recount of the stored records.

mod api;

pub use api::{ReportApi, router, routes};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use partnerops_api::lambda::{Triggers, each_message};
use partnerops_app::retry::{Attempt, retry_on_conflict};
use partnerops_aws::StoreError;
use partnerops_aws::store::{Opportunities, Partners, Referrals, Registrations, ReportTallies};
use partnerops_domain::event::DomainEvent;
use partnerops_domain::id::{ReferralId, RegistrationId};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::report::{Fact, subject_key, subjects_of};
use partnerops_domain::sla::{SlaSubject, SlaTimer};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The template's queue of domain events for reports.
pub const QUEUE: &str = "ReportsQueue";
pub const DEAD_LETTER_QUEUE: &str = "ReportsDLQ";
/// The detail-types the reports rule routes: every event after which a
/// timer or an opportunity may count differently.
pub const QUEUE_EVENTS: &[&str] = &[
    "ReferralReceived",
    "DealRegistrationSubmitted",
    "DealRegistrationDecided",
    "DealRegistrationWithdrawn",
    "OpportunityLinked",
    "OpportunityUpdated",
    "SlaBreached",
    "SlaEscalated",
    "DealClosed",
    "DealLost",
];
/// Reads of a subject before a fold gives up on a record other folds keep
/// changing (SQS then delivers the event again).
const FOLD_ATTEMPTS: usize = 4;

/// What the fold reads and writes.
pub trait Store: ReportTallies + Referrals + Registrations + Opportunities + Partners {}

impl<T: ReportTallies + Referrals + Registrations + Opportunities + Partners + ?Sized> Store for T {}

pub struct Reports {
    pub store: Arc<dyn Store>,
}

/// What folding one event did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Folded {
    pub subjects: usize,
    /// Records whose contribution was replaced.
    pub replaced: usize,
}

impl Reports {
    /// Folds one event: every subject it names, brought up to date.
    pub async fn fold(&self, event: &DomainEvent) -> anyhow::Result<Folded> {
        let mut folded = Folded::default();
        for subject in subjects_of(event) {
            folded.subjects += 1;
            folded.replaced += self.refresh(&subject).await?;
        }
        Ok(folded)
    }

    /// Brings one subject's facts up to date with its records.
    pub async fn refresh(&self, subject: &SlaSubject) -> anyhow::Result<usize> {
        let key = subject_key(subject);
        retry_on_conflict(FOLD_ATTEMPTS, || async {
            let current = self.current(subject).await.map_err(Attempt::Failed)?;
            let stored = self.store.report_facts(&key).await?;
            let mut replaced = 0;
            let mut conflicted = false;
            for fact in &current {
                let before = stored.iter().find(|f| f.record == fact.record);
                if !fact.replaces(before) {
                    continue;
                }
                match self.store.replace_fact(before, fact).await {
                    Ok(()) => replaced += 1,
                    Err(StoreError::Conflict(_)) => conflicted = true,
                    Err(e) => return Err(Attempt::Failed(e.into())),
                }
            }
            // The facts that lost are read again with the record they follow.
            if conflicted { Err(Attempt::Conflict) } else { Ok(replaced) }
        })
        .await
        .map_err(|e: anyhow::Error| e.context(format!("folding {key}")))
    }

    /// The facts of a subject's records as they are stored now.
    async fn current(&self, subject: &SlaSubject) -> anyhow::Result<Vec<Fact>> {
        let (timers, opportunity) = match subject {
            SlaSubject::Referral(id) => match ReferralId::parse(id) {
                Some(id) => (self.store.referral(&id).await?.map(|r| r.timers).unwrap_or_default(), None),
                None => (Vec::new(), None),
            },
            SlaSubject::DealRegistration(id) => match RegistrationId::parse(id) {
                Some(id) => (self.store.registration(&id).await?.map(|r| r.timers).unwrap_or_default(), None),
                None => (Vec::new(), None),
            },
            SlaSubject::Opportunity(id) => match self.store.opportunity(id).await? {
                Some(record) => (record.timers, Some(record.opportunity)),
                None => (Vec::new(), None),
            },
        };
        let managers = self.managers(&timers).await?;
        let mut facts: Vec<Fact> =
            timers.iter().map(|t| Fact::of_timer(t, managers.get(&t.partner_id).and_then(|m| m.as_deref()))).collect();
        facts.extend(opportunity.as_ref().map(Fact::of_opportunity));
        Ok(facts)
    }

    /// Each timer partner's manager (by email, lower case), read once.
    async fn managers(&self, timers: &[SlaTimer]) -> Result<BTreeMap<PartnerId, Option<String>>, StoreError> {
        let mut out = BTreeMap::new();
        for timer in timers {
            if out.contains_key(&timer.partner_id) {
                continue;
            }
            let manager = self
                .store
                .partner(&timer.partner_id)
                .await?
                .and_then(|p| p.manager)
                .map(|m| m.email.to_ascii_lowercase());
            out.insert(timer.partner_id.clone(), manager);
        }
        Ok(out)
    }

    /// Handles a batch from the reports queue, every event at once.
    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        each_message(&batch, batch.records.len(), |event: DomainEvent| async move { self.fold(&event).await.map(drop) })
            .await
    }
}

impl Triggers for Reports {
    async fn batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        self.handle_batch(batch).await
    }
}

#[cfg(test)]
mod tests;
