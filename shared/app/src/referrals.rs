//! Referral intake (SPEC §5): one parsed submission on behalf of a partner.
//! The API, the portal's form and the hosted form all come through here.

use crate::retry::{Attempt, retry_on_conflict};
use crate::{entropy, fresh_event_id};
use partnerops_aws::store::{Prospects, ReferralRecord, Referrals};
use partnerops_aws::{Clock, StoreError};
use partnerops_domain::id::ReferralId;
use partnerops_domain::partner::PartnerId;
use partnerops_domain::referral::{
    IntakeDecision, IntakeIds, ReferralSubmission, RejectionReason, decide_referral_intake,
};
use partnerops_domain::terms::ProgramTerms;

/// Attempts at an intake whose prospect claim keeps changing underneath it.
const INTAKE_ATTEMPTS: usize = 5;

/// What intake reads and writes: the prospect's standing and the referrals.
pub trait IntakeStore: Prospects + Referrals {}

impl<T: Prospects + Referrals + ?Sized> IntakeStore for T {}

/// What an intake came to: a new referral, or the partner's own live
/// referral of the same prospect.
#[derive(Debug)]
pub enum Intake {
    Created(ReferralRecord),
    Existing(ReferralRecord),
}

impl Intake {
    pub fn record(&self) -> &ReferralRecord {
        match self {
            Self::Created(record) | Self::Existing(record) => record,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    /// The rejected referral is recorded (the audit trail); its reason never
    /// names the other partner.
    #[error("{}", reason.detail())]
    Rejected { reason: RejectionReason, referral_id: ReferralId },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn missing(id: &ReferralId) -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!("the prospect's claim names referral {id}, which is not stored"))
}

/// SPEC §5 for one parsed submission on behalf of `partner_id`.
pub async fn intake(
    store: &dyn IntakeStore,
    clock: &dyn Clock,
    terms: &ProgramTerms,
    partner_id: &PartnerId,
    submission: &ReferralSubmission,
) -> Result<Intake, IntakeError> {
    retry_on_conflict(INTAKE_ATTEMPTS, || async {
        let now = clock.now();
        let standing = store.prospect_standing(&submission.prospect_key).await?;
        let ids = IntakeIds { referral_id: ReferralId::generate(now, entropy()), event_id: fresh_event_id(now) };
        match decide_referral_intake(submission.clone(), partner_id, &standing, terms, now, ids) {
            IntakeDecision::AlreadyReferred(id) => {
                let record = store.referral(&id).await?.ok_or_else(|| missing(&id))?;
                Ok(Intake::Existing(record))
            }
            IntakeDecision::Accepted(accepted) => {
                store.record_accepted_referral(&accepted).await?;
                tracing::info!(referral_id = %accepted.referral.id, partner_id = %partner_id, "referral received");
                Ok(Intake::Created(ReferralRecord {
                    slas: vec![accepted.timer.view()],
                    timers: vec![accepted.timer.clone()],
                    referral: accepted.referral,
                }))
            }
            IntakeDecision::Rejected(rejected) => {
                store.record_rejected_referral(&rejected).await?;
                tracing::info!(referral_id = %rejected.referral.id, reason = rejected.reason.code(), "referral rejected");
                Err(Attempt::Failed(IntakeError::Rejected { reason: rejected.reason, referral_id: rejected.referral.id }))
            }
        }
    })
    .await
}
