//! The entry points of the functions: configuration and SDK clients built
//! once per container, then the router served by `lambda_http`, or, for a
//! function that also has a queue or a schedule, every trigger told apart
//! by the shape of its event.

use crate::context::ApiContext;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use futures::StreamExt as _;
use lambda_http::tower::Service as _;
use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_aws::{Clock, Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use partnerops_domain::terms::ProgramTerms;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument as _;

/// What a function is built from, once per container: the one table, the
/// clock, the program terms, the SDK configuration and the API conventions.
pub struct Wiring {
    pub sdk: aws_config::SdkConfig,
    pub store: Arc<DynamoStore>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
    pub context: ApiContext,
    /// `PUBLIC_BASE_URL`, or empty (links then use the request's domain).
    pub base_url: Arc<str>,
}

impl Wiring {
    /// Telemetry, then the typed configuration and the SDK clients.
    pub async fn from_env() -> Result<Self, lambda_runtime::Error> {
        telemetry::init();
        let config = Config::from_env()?;
        let sdk = load_sdk_config().await;
        let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let context = ApiContext::new(store.clone(), store.clone(), clock.clone());
        Ok(Self { sdk, store, clock, terms: Arc::new(config.terms), context, base_url: crate::base_url::configured() })
    }
}

/// An HTTP function: its router over the container's wiring.
pub async fn run(router: impl FnOnce(&Wiring) -> axum::Router) -> Result<(), lambda_http::Error> {
    let wiring = Wiring::from_env().await?;
    lambda_http::run(router(&wiring)).await
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
        let span = tracing::info_span!("invocation", request_id = %context.request_id);
        async move {
            if payload.get("Records").is_some() {
                let batch: SqsEvent = serde_json::from_value(payload)?;
                return Ok::<serde_json::Value, lambda_runtime::Error>(serde_json::to_value(
                    triggers.batch(batch).await,
                )?);
            }
            if payload.get("requestContext").is_some() {
                let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
                let mut adapter = lambda_http::Adapter::from(app.clone());
                let response = adapter.call(LambdaEvent::new(request, context)).await?;
                return Ok(serde_json::to_value(response)?);
            }
            Ok(triggers.scheduled().await?)
        }
        .instrument(span)
        .await
    }))
    .await
}

/// A queue message's body, decoded into what the queue carries.
pub trait MessageBody: Sized {
    fn decode(body: &str) -> anyhow::Result<Self>;

    /// The domain event id the message carries, for its log lines.
    fn event_id(&self) -> Option<String> {
        None
    }
}

/// A JSON body of type `T` (the export queue's jobs, say).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned> MessageBody for Json<T> {
    fn decode(body: &str) -> anyhow::Result<Self> {
        serde_json::from_str(body).map(Json).map_err(|e| anyhow::anyhow!("not a {}: {e}", std::any::type_name::<T>()))
    }
}

impl MessageBody for partnerops_domain::event::DomainEvent {
    /// An EventBridge envelope around a domain event (a rule's target).
    fn decode(body: &str) -> anyhow::Result<Self> {
        partnerops_domain::event::DomainEvent::from_eventbridge(body).map_err(|e| anyhow::anyhow!(e))
    }

    fn event_id(&self) -> Option<String> {
        Some(self.event_id.to_string())
    }
}

/// Handles every message of a queue batch, decoded as `B`, at most
/// `concurrency` at once, each in a span with its message id; names the
/// ones that failed: SQS delivers only those again, and the queue's redrive
/// policy dead-letters a message after its last receive. A body that does
/// not decode fails like a message its handler refused.
pub async fn each_message<'a, B, F, Fut>(batch: &'a SqsEvent, concurrency: usize, handle: F) -> SqsBatchResponse
where
    B: MessageBody,
    F: Fn(B) -> Fut,
    Fut: Future<Output = anyhow::Result<()>> + 'a,
{
    // The futures are made up front (none runs until polled), so the
    // stream holds no closure and the batch's future stays `Send`.
    let handled: Vec<_> = batch
        .records
        .iter()
        .map(|record| {
            let message_id = record.message_id.as_deref().unwrap_or_default();
            let span = tracing::info_span!("message", message_id, event_id = tracing::field::Empty);
            let decoded = B::decode(record.body.as_deref().unwrap_or_default());
            if let Some(event_id) = decoded.as_ref().ok().and_then(MessageBody::event_id) {
                span.record("event_id", event_id);
            }
            let handled = decoded.map(&handle);
            async move {
                let outcome = match handled {
                    Ok(future) => future.await,
                    Err(e) => Err(e),
                };
                if let Err(e) = &outcome {
                    tracing::error!(error = %format!("{e:#}"), "message not handled; SQS delivers it again");
                }
                (message_id, outcome.is_ok())
            }
            .instrument(span)
        })
        .collect();
    let outcomes: Vec<(&str, bool)> =
        futures::stream::iter(handled).buffer_unordered(concurrency.max(1)).collect().await;
    let mut response = SqsBatchResponse::default();
    for (message_id, handled) in outcomes {
        if !handled {
            response.add_failure(message_id.to_owned());
        }
    }
    response
}
