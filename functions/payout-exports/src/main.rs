//! One binary, three triggers: the export routes (API Gateway), the export
//! queue (SQS) and the monthly schedule (EventBridge Scheduler), told apart
//! by the shape of the event.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::tower::Service as _;
use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_api::AppState;
use partnerops_aws::config::{Env, ExportsSettings};
use partnerops_aws::objects::S3Objects;
use partnerops_aws::queue::SqsWorkQueue;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use payout_exports::Exports;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut env = Env::from_process();
    let settings = ExportsSettings::from_env(&mut env);
    env.finish()?;
    let sdk = load_sdk_config().await;
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let terms = Arc::new(config.terms);
    let exports = Arc::new(Exports {
        store: store.clone(),
        files: Arc::new(S3Objects::from_sdk_config(&sdk, settings.exports_bucket)),
        work: Arc::new(SqsWorkQueue::from_sdk_config(&sdk, settings.export_queue_url)),
        terms: terms.clone(),
        clock: Arc::new(SystemClock),
    });
    let state = AppState::new(store, Arc::new(SystemClock), terms);
    let app = payout_exports::router(state, exports.clone());
    let exports = &exports;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let (payload, context) = event.into_parts();
        if payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(payload)?;
            let response = exports.handle_batch(batch).await;
            return Ok::<serde_json::Value, lambda_runtime::Error>(serde_json::to_value(response)?);
        }
        if payload.get("requestContext").is_some() {
            let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
            let mut adapter = lambda_http::Adapter::from(app.clone());
            let response = adapter.call(LambdaEvent::new(request, context)).await?;
            return Ok(serde_json::to_value(response)?);
        }
        let record = exports.scheduled_export().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        tracing::info!(period = %record.period, "scheduled payout export queued");
        Ok(serde_json::to_value(record)?)
    }))
    .await
}
