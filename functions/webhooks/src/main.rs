//! One binary, three triggers: the endpoints routes (API Gateway), the
//! webhook queue (SQS) and the retry sweep (EventBridge Scheduler), told
//! apart by the shape of the event.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_http::tower::Service as _;
use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_api::AppState;
use partnerops_aws::config::Env;
use partnerops_aws::notify::SesEmail;
use partnerops_aws::queue::SqsWorkQueue;
use partnerops_aws::webhooks::HttpWebhookSender;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use partnerops_domain::webhook::UrlPolicy;
use std::sync::Arc;
use webhooks::Webhooks;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut env = Env::from_process();
    let queue_url = env.required("WEBHOOK_QUEUE_URL", "the webhook queue, where near retries wait");
    env.finish()?;
    let sdk = load_sdk_config().await;
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let policy = UrlPolicy::default();
    let engine = Arc::new(Webhooks {
        store: store.clone(),
        sender: Arc::new(HttpWebhookSender::new(policy)?),
        mailer: Arc::new(SesEmail::from_sdk_config(&sdk, config.terms.notifications.from_email.clone())),
        clock: Arc::new(SystemClock),
        policy,
        nudges: Some(Arc::new(SqsWorkQueue::from_sdk_config(&sdk, queue_url))),
    });
    let state = AppState::new(store, Arc::new(SystemClock), Arc::new(config.terms));
    let app = webhooks::router(state, engine.clone());
    let engine = &engine;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let (payload, context) = event.into_parts();
        if payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(payload)?;
            let response = engine.handle_batch(batch).await;
            return Ok::<serde_json::Value, lambda_runtime::Error>(serde_json::to_value(response)?);
        }
        if payload.get("requestContext").is_some() {
            let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
            let mut adapter = lambda_http::Adapter::from(app.clone());
            let response = adapter.call(LambdaEvent::new(request, context)).await?;
            return Ok(serde_json::to_value(response)?);
        }
        let report = engine.sweep().await?;
        tracing::info!(
            attempts = report.attempts,
            succeeded = report.succeeded,
            failed = report.failed,
            "webhook retry sweep"
        );
        Ok(serde_json::to_value(report)?)
    }))
    .await
}
