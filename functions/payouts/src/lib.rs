//! `payouts` (SPEC §10): keeps the payout ledger from `DealClosed` and
//! `DealRefunded` (SQS). The monthly exports are `payout-exports`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use partnerops_api::lambda::each_message;
use partnerops_aws::StoreError;
use partnerops_aws::store::{Partners, Payouts as Ledger};
use partnerops_domain::event::{DomainEvent, EventPayload, PayoutLinesCreated};
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::payout::{PartnerAtClose, reconcile, record_close, record_refund};
use partnerops_domain::terms::ProgramTerms;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The template's queue of `DealClosed` / `DealRefunded`.
pub const QUEUE: &str = "PayoutQueue";
/// Ledger writes lost to a concurrent one are re-read and retried this often.
const ATTEMPTS: usize = 8;

/// What payouts reads and writes: its ledger, and the partners it pays.
pub trait PayoutStore: Ledger + Partners {}

impl<T: Ledger + Partners + ?Sized> PayoutStore for T {}

pub struct Payouts {
    pub store: Arc<dyn PayoutStore>,
    pub terms: Arc<ProgramTerms>,
}

/// 80 fresh random bits for an event id.
fn entropy() -> Entropy {
    Entropy(rand::random::<u128>() >> 48)
}

impl Payouts {
    /// Applies one `DealClosed` or `DealRefunded` to its deal's ledger.
    pub async fn apply(&self, event: &DomainEvent) -> anyhow::Result<usize> {
        for _ in 0..ATTEMPTS {
            let opportunity = match &event.payload {
                EventPayload::DealClosed(c) => &c.opportunity_id,
                EventPayload::DealRefunded(r) => &r.opportunity_id,
                _ => anyhow::bail!("{} is not a payout event", event.detail_type()),
            };
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
                EventPayload::DealRefunded(refund) => record_refund(&ledger, refund, &self.terms)?,
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
            match self.store.save_payout_ledger(ledger.version, &next, &new, &announced).await {
                Ok(()) => {
                    tracing::info!(opportunity = %opportunity, lines = new.len(), "payout ledger updated");
                    return Ok(new.len());
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::bail!("the ledger kept changing under {ATTEMPTS} attempts")
    }

    /// Handles a batch from the payout queue one event at a time, in the
    /// order received: a refund in the batch finds its close applied.
    pub async fn handle_batch(&self, batch: SqsEvent) -> SqsBatchResponse {
        each_message(&batch, 1, |body| async move {
            let event = DomainEvent::from_eventbridge(body).map_err(|e| anyhow::anyhow!(e))?;
            self.apply(&event).await.map(drop)
        })
        .await
    }
}
