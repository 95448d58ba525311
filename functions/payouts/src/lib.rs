//! `payouts` (SPEC §10): keeps the payout ledger from `DealClosed` and
//! `DealRefunded` (SQS), with the ledger use case
//! (`partnerops_app::ledger`). The monthly exports are `payout-exports`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use partnerops_api::lambda::each_message;
use partnerops_app::ledger::Ledger;
use partnerops_domain::event::DomainEvent;

/// The template's queue of `DealClosed` / `DealRefunded`.
pub const QUEUE: &str = "PayoutQueue";

/// Handles a batch from the payout queue one event at a time, in the order
/// received: a refund in the batch finds its close applied.
pub async fn handle_batch(ledger: &Ledger, batch: SqsEvent) -> SqsBatchResponse {
    each_message(&batch, 1, |event: DomainEvent| async move {
        ledger.apply(&event).await?;
        Ok(())
    })
    .await
}
