//! One binary, two triggers: the report routes (API Gateway) and the reports
//! queue (SQS), told apart by the shape of the event.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::tower::Service as _;
use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_api::AppState;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use reports::Reports;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let engine = Arc::new(Reports { store: store.clone() });
    let app = reports::router(AppState::new(store, Arc::new(SystemClock), Arc::new(config.terms)));
    let engine = &engine;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let (payload, context) = event.into_parts();
        if payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(payload)?;
            let response = engine.handle_batch(batch).await;
            return Ok::<serde_json::Value, lambda_runtime::Error>(serde_json::to_value(response)?);
        }
        let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
        let mut adapter = lambda_http::Adapter::from(app.clone());
        let response = adapter.call(LambdaEvent::new(request, context)).await?;
        Ok(serde_json::to_value(response)?)
    }))
    .await
}
