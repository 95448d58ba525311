//! One binary, three triggers: the HTTP routes (API Gateway), the payout
//! queue (SQS) and the monthly schedule (EventBridge Scheduler), told apart
//! by the shape of the event.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::tower::Service as _;
use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_api::AppState;
use partnerops_aws::config::{Env, PayoutsSettings};
use partnerops_aws::objects::S3Objects;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use payouts::Payouts;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut env = Env::from_process();
    let settings = PayoutsSettings::from_env(&mut env);
    env.finish()?;
    let sdk = load_sdk_config().await;
    let bucket = settings.exports_bucket;
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let terms = Arc::new(config.terms);
    let payouts = Arc::new(Payouts {
        store: store.clone(),
        files: Arc::new(S3Objects::from_sdk_config(&sdk, bucket)),
        terms: terms.clone(),
        clock: Arc::new(SystemClock),
    });
    let state = AppState::new(store, Arc::new(SystemClock), terms);
    let app = payouts::router(state, payouts.clone());
    let payouts = &payouts;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let (payload, context) = event.into_parts();
        if payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(payload)?;
            let response = payouts.handle_batch(batch).await;
            return Ok::<serde_json::Value, lambda_runtime::Error>(serde_json::to_value(response)?);
        }
        if payload.get("requestContext").is_some() {
            let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
            let mut adapter = lambda_http::Adapter::from(app.clone());
            let response = adapter.call(LambdaEvent::new(request, context)).await?;
            return Ok(serde_json::to_value(response)?);
        }
        let record = payouts.scheduled_export().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(period = %record.period, lines = record.lines, "scheduled payout export done");
        Ok(serde_json::to_value(record)?)
    }))
    .await
}
