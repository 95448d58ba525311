//! The entry points of the functions: configuration and SDK clients built
//! once per container, then the router served by `lambda_http`, or, for a
//! function that also has a queue or a schedule, every trigger told apart
//! by the shape of its event.

use crate::state::AppState;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt as _;
use lambda_http::tower::Service as _;
use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use std::future::Future;
use std::sync::Arc;

pub async fn run(router: fn(AppState) -> axum::Router) -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let store = DynamoStore::from_sdk_config(&sdk, &config.table_name);
    let state = AppState::new(Arc::new(store), Arc::new(SystemClock), Arc::new(config.terms));
    lambda_http::run(router(state)).await
}

/// What a function serves besides its routes.
pub trait Triggers: Send + Sync {
    /// One batch from the function's queue.
    fn batch(&self, batch: SqsEvent) -> impl Future<Output = SqsBatchResponse> + Send;

    /// One run of the function's schedule; what it did is the invocation's
    /// answer, and an error makes the scheduler retry and then dead-letter it.
    fn scheduled(&self) -> impl Future<Output = anyhow::Result<serde_json::Value>> + Send {
        async { Err(anyhow::anyhow!("this function has no schedule")) }
    }
}

/// Serves one binary's triggers: an SQS batch carries `Records`, an API
/// Gateway request a `requestContext`, and any other event is the schedule.
pub async fn serve<T: Triggers>(app: axum::Router, triggers: &T) -> Result<(), lambda_runtime::Error> {
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let (payload, context) = event.into_parts();
        if payload.get("Records").is_some() {
            let batch: SqsEvent = serde_json::from_value(payload)?;
            return Ok::<serde_json::Value, lambda_runtime::Error>(serde_json::to_value(triggers.batch(batch).await)?);
        }
        if payload.get("requestContext").is_some() {
            let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
            let mut adapter = lambda_http::Adapter::from(app.clone());
            let response = adapter.call(LambdaEvent::new(request, context)).await?;
            return Ok(serde_json::to_value(response)?);
        }
        Ok(triggers.scheduled().await?)
    }))
    .await
}

/// Handles every message of a queue batch, at most `concurrency` at once,
/// and names the ones that failed: SQS delivers only those again, and the
/// queue's redrive policy dead-letters a message after its last receive.
pub async fn each_message<'a, F, Fut>(batch: &'a SqsEvent, concurrency: usize, handle: F) -> SqsBatchResponse
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + 'a,
{
    // The futures are made up front (none runs until polled), so the
    // stream holds no closure and the batch's future stays `Send`.
    let handled: Vec<_> = batch
        .records
        .iter()
        .map(|record| {
            let handled = handle(record.body.as_deref().unwrap_or_default());
            async move { (record.message_id.as_deref().unwrap_or_default(), handled.await) }
        })
        .collect();
    let outcomes: Vec<(&str, anyhow::Result<()>)> =
        futures::stream::iter(handled).buffer_unordered(concurrency.max(1)).collect().await;
    let mut response = SqsBatchResponse::default();
    for (message_id, outcome) in outcomes {
        if let Err(e) = outcome {
            tracing::error!(message_id, error = %format!("{e:#}"), "message not handled; SQS delivers it again");
            response.add_failure(message_id.to_owned());
        }
    }
    response
}
