//! Deal registrations (SPEC §6): submit, decide, withdraw, and where a
//! pending one stands in its customer's queue. The API, the portal and Slack
//! all come through here, so a decision is the same decision wherever it is
//! made, and a double click decides once.

use crate::retry::{Attempt, retry_on_conflict};
use crate::{entropy, fresh_event_id};
use partnerops_aws::store::{Prospects, RegistrationRecord, Registrations};
use partnerops_aws::{Clock, StoreError};
use partnerops_domain::id::{EventId, RegistrationId};
use partnerops_domain::partner::{Partner, PartnerId};
use partnerops_domain::registration::{
    ChangeRefused, Decision, QueueChange, QueueWrite, RegistrationStatus, RegistrationSubmission, SubmissionIds,
    SubmissionOutcome, SubmissionRefusal, decide_registration, decide_submission, withdraw_registration,
};
use partnerops_domain::terms::ProgramTerms;

/// Attempts at a write whose queue keeps moving underneath it.
const ATTEMPTS: usize = 8;

/// What a submission reads and writes: the customer's standing and the
/// registrations with their queues.
pub trait SubmissionStore: Prospects + Registrations {}

impl<T: Prospects + Registrations + ?Sized> SubmissionStore for T {}

/// A submission's outcome: the registration (new, or the partner's own
/// existing one for the customer) and its queue position while pending.
#[derive(Debug)]
pub struct Submitted {
    pub record: RegistrationRecord,
    pub position: Option<usize>,
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmissionError {
    /// The program requires a certification the partner does not hold;
    /// nothing is stored.
    #[error("the program requires an unexpired deal_registration certification to register deals")]
    NotCertified,
    /// Recorded as `rejected`; the refusal never names the other partner.
    #[error("{}", refusal.detail())]
    Rejected { refusal: SubmissionRefusal, registration_id: RegistrationId },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a decision or a withdrawal changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// No such registration, or (withdrawing) another partner's.
    #[error("no such registration")]
    NotFound,
    #[error(transparent)]
    Refused(ChangeRefused),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn missing(id: &RegistrationId) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("registration {id} is named but not stored"))
}

/// Where a pending registration stands in its customer's queue (1 = lead).
pub async fn position(store: &dyn Registrations, record: &RegistrationRecord) -> Result<Option<usize>, StoreError> {
    if record.registration.status != RegistrationStatus::Pending {
        return Ok(None);
    }
    let queue = store.registration_queue(&record.registration.customer_key).await?;
    Ok(queue.position_of(&record.registration.id))
}

/// SPEC §6 for one parsed submission by `partner`.
pub async fn submit(
    store: &dyn SubmissionStore,
    clock: &dyn Clock,
    terms: &ProgramTerms,
    partner: &Partner,
    submission: &RegistrationSubmission,
) -> Result<Submitted, SubmissionError> {
    retry_on_conflict(ATTEMPTS, || async {
        let now = clock.now();
        let standing = store.customer_standing(&submission.customer_key).await?;
        let ids = SubmissionIds {
            registration_id: RegistrationId::generate(now, entropy()),
            event_ids: [fresh_event_id(now), fresh_event_id(now)],
        };
        match decide_submission(submission.clone(), partner, &standing, terms, now, ids) {
            SubmissionOutcome::NotCertified => Err(Attempt::Failed(SubmissionError::NotCertified)),
            SubmissionOutcome::Existing(id) => {
                let record = store.registration(&id).await?.ok_or_else(|| missing(&id))?;
                let position = position(store, &record).await?;
                Ok(Submitted { record, position, created: false })
            }
            SubmissionOutcome::Rejected(recorded, refusal) => {
                store.record_registration(&recorded).await?;
                Err(Attempt::Failed(SubmissionError::Rejected {
                    refusal,
                    registration_id: recorded.registration.id.clone(),
                }))
            }
            SubmissionOutcome::Accepted(recorded) => {
                store.record_registration(&recorded).await?;
                let appended = matches!(recorded.queue_write, Some(QueueWrite::Append(_)));
                let record = RegistrationRecord {
                    timers: recorded.timer.iter().cloned().collect(),
                    registration: recorded.registration,
                };
                let position = if appended { position(store, &record).await? } else { None };
                tracing::info!(registration_id = %record.registration.id, status = record.registration.status.as_str(), "deal registration submitted");
                Ok(Submitted { record, position, created: true })
            }
        }
    })
    .await
}

/// The registration after `change`, as it was written.
fn applied(mut record: RegistrationRecord, change: &QueueChange) -> RegistrationRecord {
    if let Some(c) = change.changes.iter().find(|c| c.registration_id == record.registration.id) {
        record.registration.apply(c);
    }
    for (owner, timer) in change.timer_owners.iter().zip(&change.timers) {
        if owner == &record.registration.id {
            record.timers = vec![timer.clone()];
        }
    }
    record
}

/// A channel manager's decision on one registration, recorded as made by
/// `actor` (an API key id or a user id).
pub async fn decide(
    store: &dyn Registrations,
    clock: &dyn Clock,
    terms: &ProgramTerms,
    id: &RegistrationId,
    decision: &Decision,
    actor: &str,
) -> Result<RegistrationRecord, ChangeError> {
    retry_on_conflict(ATTEMPTS, || async {
        let record = store.registration(id).await?.ok_or(Attempt::Failed(ChangeError::NotFound))?;
        let (queue, owner) =
            store.queue_and_partner(&record.registration.customer_key, &record.registration.partner_id).await?;
        let owner = owner
            .ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("the partner of registration {id} is not stored")))?;
        let now = clock.now();
        let mut event_id = || EventId::generate(clock.now(), entropy());
        let change = match decide_registration(
            &record.registration,
            &record.timers,
            &queue,
            decision,
            &owner,
            actor,
            terms,
            now,
            &mut event_id,
        ) {
            Ok(change) => change,
            // The queue was read after the registration: a decision committed in
            // between can make a decided registration look like a queued one.
            Err(ChangeRefused::NotLead) => {
                let now_status = store.registration(id).await?.map(|r| r.registration.status);
                return Err(Attempt::Failed(ChangeError::Refused(
                    if now_status == Some(RegistrationStatus::Pending) {
                        ChangeRefused::NotLead
                    } else {
                        ChangeRefused::AlreadyDecided
                    },
                )));
            }
            Err(other) => return Err(Attempt::Failed(ChangeError::Refused(other))),
        };
        store.apply_queue_change(&change).await?;
        tracing::info!(registration_id = %id, changed = change.changes.len(), "deal registration decided");
        Ok(applied(record, &change))
    })
    .await
}

/// A partner withdraws its own registration; another partner's is not found.
pub async fn withdraw(
    store: &dyn Registrations,
    clock: &dyn Clock,
    terms: &ProgramTerms,
    partner: &PartnerId,
    id: &RegistrationId,
) -> Result<RegistrationRecord, ChangeError> {
    retry_on_conflict(ATTEMPTS, || async {
        let record = store.registration(id).await?.ok_or(Attempt::Failed(ChangeError::NotFound))?;
        if partner != &record.registration.partner_id {
            return Err(Attempt::Failed(ChangeError::NotFound));
        }
        let queue = store.registration_queue(&record.registration.customer_key).await?;
        let now = clock.now();
        let change =
            withdraw_registration(&record.registration, &record.timers, &queue, terms, now, fresh_event_id(now))
                .map_err(|refused| Attempt::Failed(ChangeError::Refused(refused)))?;
        store.apply_queue_change(&change).await?;
        tracing::info!(registration_id = %id, "deal registration withdrawn");
        Ok(applied(record, &change))
    })
    .await
}
