//! The payout ledger's consumer of `DealClosed` / `DealRefunded` (SQS).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_api::lambda::Wiring;
use partnerops_app::ledger::Ledger;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wiring = Wiring::from_env().await?;
    let ledger = Ledger { store: wiring.store.clone(), terms: wiring.terms.clone() };
    let ledger = &ledger;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(payouts::handle_batch(ledger, event.payload).await)
    }))
    .await
}
