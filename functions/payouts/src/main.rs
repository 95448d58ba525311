//! The payout ledger's consumer of `DealClosed` / `DealRefunded` (SQS).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_aws::{Config, DynamoStore, load_sdk_config, telemetry};
use payouts::Payouts;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let payouts = Payouts {
        store: Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name)),
        terms: Arc::new(config.terms),
    };
    let payouts = &payouts;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<SqsBatchResponse, lambda_runtime::Error>(payouts.handle_batch(event.payload).await)
    }))
    .await
}
