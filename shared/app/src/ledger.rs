//! The payout ledger (SPEC §10): each `DealClosed` and `DealRefunded`
//! reconciled into append-only payout lines, written with their
//! announcement in one transaction, conditional on the ledger's version.

use crate::entropy;
use crate::retry::{Attempt, retry_on_conflict};
use partnerops_aws::StoreError;
use partnerops_aws::store::{Partners, PayoutLines};
use partnerops_domain::event::{DomainEvent, EventPayload, PayoutLinesCreated};
use partnerops_domain::id::EventId;
use partnerops_domain::payout::{PartnerAtClose, reconcile, record_close, record_refund};
use partnerops_domain::terms::ProgramTerms;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Ledger writes lost to a concurrent one are re-read and retried this often.
const ATTEMPTS: usize = 8;

/// What the ledger reads and writes: its lines, and the partners it pays.
pub trait LedgerStore: PayoutLines + Partners {}

impl<T: PayoutLines + Partners + ?Sized> LedgerStore for T {}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{0} is not a payout event")]
    NotAPayoutEvent(&'static str),
    #[error(transparent)]
    Refused(#[from] partnerops_domain::payout::PayoutError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Ledger {
    pub store: Arc<dyn LedgerStore>,
    pub terms: Arc<ProgramTerms>,
}

impl Ledger {
    /// Applies one `DealClosed` or `DealRefunded` to its deal's ledger; the
    /// number of lines it added (none for an event applied before).
    pub async fn apply(&self, event: &DomainEvent) -> Result<usize, LedgerError> {
        let opportunity = match &event.payload {
            EventPayload::DealClosed(c) => &c.opportunity_id,
            EventPayload::DealRefunded(r) => &r.opportunity_id,
            _ => return Err(LedgerError::NotAPayoutEvent(event.detail_type())),
        };
        retry_on_conflict(ATTEMPTS, || async {
            let (ledger, lines) = self.store.payout_ledger(opportunity).await?;
            let next = match &event.payload {
                EventPayload::DealClosed(close) => {
                    let mut partners = BTreeMap::new();
                    for entry in &close.attribution {
                        if let Some(p) = self.store.partner(&entry.partner_id).await? {
                            partners.insert(p.id.clone(), PartnerAtClose { name: p.name, tier: p.tier });
                        }
                    }
                    record_close(&ledger, close, event.occurred_at, partners)
                }
                EventPayload::DealRefunded(refund) => {
                    record_refund(&ledger, refund, &self.terms).map_err(|e| Attempt::Failed(e.into()))?
                }
                _ => return Ok(0),
            };
            let new = reconcile(&next, &lines, &self.terms);
            if next == ledger && new.is_empty() {
                return Ok(0);
            }
            // The lines' announcement carries the triggering event's time
            // and an id of its own, written in the ledger's transaction.
            let announced: Vec<DomainEvent> = (!new.is_empty())
                .then(|| {
                    DomainEvent::new(
                        EventId::generate(event.occurred_at, entropy()),
                        event.occurred_at,
                        EventPayload::PayoutLinesCreated(PayoutLinesCreated {
                            opportunity_id: opportunity.clone(),
                            lines: new.iter().map(Into::into).collect(),
                        }),
                    )
                })
                .into_iter()
                .collect();
            self.store.save_payout_ledger(ledger.version, &next, &new, &announced).await?;
            tracing::info!(opportunity = %opportunity, lines = new.len(), "payout ledger updated");
            Ok(new.len())
        })
        .await
    }
}
