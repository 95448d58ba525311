use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::{LambdaEvent, service_fn};
use outbox_relay::{batch_response, outbox_items, relay};
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher};
use partnerops_aws::{Clock, Config, SystemClock, load_sdk_config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let publisher = EventBridgePublisher::from_sdk_config(&sdk, &config.event_bus_name);
    let ledger = DynamoOutboxLedger::from_sdk_config(&sdk, &config.table_name);
    let publisher = &publisher;
    let ledger = &ledger;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        let (items, _undecodable) = outbox_items(event.payload);
        let report = relay(items, publisher, ledger, SystemClock.now()).await;
        tracing::info!(
            published = report.published,
            skipped = report.already_published,
            failed = report.failed.len(),
            "stream batch relayed"
        );
        Ok::<DynamoDbEventResponse, lambda_runtime::Error>(batch_response(&report))
    }))
    .await
}
