//! CRM events (SPEC §7): one parsed event applied to its opportunity, once.
//! The JSON API posts here, and so will any connector that turns a CRM's own
//! changes into events.

use crate::fresh_event_id;
use crate::retry::{Attempt, retry_on_conflict};
use partnerops_aws::store::{Opportunities, OpportunityRecord, Referrals, Registrations};
use partnerops_aws::{Clock, StoreError};
use partnerops_domain::crm::{
    CrmEvent, CrmEventKind, CrmRefusal, Source, SourceFacts, apply_to_opportunity, create_opportunity,
};
use partnerops_domain::registration::RegistrationStatus;
use partnerops_domain::sla::SlaKind;
use partnerops_domain::terms::ProgramTerms;

const ATTEMPTS: usize = 5;

/// What applying an event reads and writes: the opportunities and the CRM
/// events seen, and the referral or registration a new opportunity links.
pub trait CrmStore: Opportunities + Referrals + Registrations {}

impl<T: Opportunities + Referrals + Registrations + ?Sized> CrmStore for T {}

/// What an event did.
#[derive(Debug)]
pub enum Applied {
    /// Its `event_id` was applied before: nothing changed.
    Duplicate,
    /// Applied, and it changed nothing (an older notes update, say).
    Unchanged(OpportunityRecord),
    Changed(OpportunityRecord),
}

#[derive(Debug, thiserror::Error)]
pub enum CrmError {
    #[error(transparent)]
    Refused(CrmRefusal),
    /// The event names a referral or registration that does not exist; the
    /// field is the one that names it.
    #[error("no such {}", .0.replace('_', " ").trim_end_matches(" id"))]
    NoSuchSource(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refused<T>(refusal: CrmRefusal) -> Result<T, Attempt<CrmError>> {
    Err(Attempt::Failed(CrmError::Refused(refusal)))
}

/// What a referral or registration offers a new opportunity.
async fn source_facts(store: &dyn CrmStore, source: &Source) -> Result<SourceFacts, Attempt<CrmError>> {
    match source {
        Source::Referral(id) => {
            let Some(record) = store.referral(id).await? else {
                return Err(Attempt::Failed(CrmError::NoSuchSource("referral_id")));
            };
            let r = &record.referral;
            if r.opportunity_id.is_some() || r.status.as_str() != "received" {
                return refused(CrmRefusal::SourceUnavailable("the referral is not open"));
            }
            Ok(SourceFacts {
                source: source.clone(),
                partner_id: r.partner_id.clone(),
                prospect_key: r.prospect_key.clone(),
                motion: r.motion,
                status: r.status.as_str().to_owned(),
                creation_timer: record.timers.iter().find(|t| t.kind == SlaKind::OpportunityCreation).cloned(),
            })
        }
        Source::Registration(id) => {
            let Some(record) = store.registration(id).await? else {
                return Err(Attempt::Failed(CrmError::NoSuchSource("deal_registration_id")));
            };
            let r = &record.registration;
            // Only an approval protects a deal; a pending registration still sits
            // in its customer's queue, which a close must not leave behind.
            if r.status != RegistrationStatus::Approved || r.opportunity_id.is_some() {
                return refused(CrmRefusal::SourceUnavailable(
                    "the registration is not approved, or is linked already",
                ));
            }
            Ok(SourceFacts {
                source: source.clone(),
                partner_id: r.partner_id.clone(),
                prospect_key: r.customer_key.clone(),
                motion: r.motion,
                status: r.status.as_str().to_owned(),
                creation_timer: None,
            })
        }
    }
}

/// Applies one CRM event: once per `event_id` (30 days), in `occurred_at`
/// order per opportunity, each change written with its events.
pub async fn apply_event(
    store: &dyn CrmStore,
    clock: &dyn Clock,
    terms: &ProgramTerms,
    event: &CrmEvent,
) -> Result<Applied, CrmError> {
    if store.crm_event_seen(&event.event_id, clock.now()).await? {
        return Ok(Applied::Duplicate);
    }
    retry_on_conflict(ATTEMPTS, || async {
        let now = clock.now();
        let existing = store.opportunity(&event.opportunity_id).await?;
        let event_id = fresh_event_id(now);
        let change = match (&event.kind, &existing) {
            (CrmEventKind::OpportunityCreated { source, .. }, None) => {
                let facts = source_facts(store, source).await?;
                match create_opportunity(event, &facts, terms, now, event_id) {
                    Ok(change) => Some(change),
                    Err(refusal) => return refused(refusal),
                }
            }
            (_, Some(record)) => {
                match apply_to_opportunity(event, &record.opportunity, &record.timers, terms, now, event_id) {
                    Ok(change) => change,
                    Err(refusal) => return refused(refusal),
                }
            }
            (_, None) => return refused(CrmRefusal::UnknownOpportunity),
        };
        let Some(change) = change else {
            let record = existing.ok_or_else(|| {
                StoreError::Unexpected(anyhow::anyhow!("an unchanged opportunity {} is not stored", event.opportunity_id))
            })?;
            return Ok(Applied::Unchanged(record));
        };
        match store.apply_crm(&change, now).await {
            Ok(()) => {
                tracing::info!(opportunity_id = %change.opportunity.id, events = change.events.len(), "CRM event applied");
                Ok(Applied::Changed(OpportunityRecord {
                    opportunity: change.opportunity,
                    timers: change.opportunity_timers,
                }))
            }
            Err(StoreError::AlreadyApplied) => Ok(Applied::Duplicate),
            Err(e) => Err(e.into()),
        }
    })
    .await
}
