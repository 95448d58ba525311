//! A span per request: its id, method and path on every log line written
//! while it is handled (the JSON logs list the spans of each line). The id
//! is Lambda's request id when deployed, a caller's `x-request-id` when it
//! sent a plain one, or a new one.

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use lambda_http::RequestExt as _;
use tracing::Instrument as _;

/// The most of a caller's `x-request-id` that is kept.
const MAX_CALLER_ID: usize = 64;

pub fn request_id(request: &Request) -> String {
    if let Some(context) = request.lambda_context_ref() {
        return context.request_id.clone();
    }
    let caller = request.headers().get("x-request-id").and_then(|v| v.to_str().ok());
    match caller {
        Some(id) if !id.is_empty() && id.len() <= MAX_CALLER_ID && id.bytes().all(|b| b.is_ascii_graphic()) => {
            id.to_owned()
        }
        _ => format!("req_{:016x}", rand::random::<u64>()),
    }
}

async fn in_request_span(request: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "request",
        request_id = %request_id(&request),
        method = %request.method(),
        path = %request.uri().path(),
    );
    next.run(request).instrument(span).await
}

/// `router` with a span around every request it handles.
pub fn traced<S: Clone + Send + Sync + 'static>(router: axum::Router<S>) -> axum::Router<S> {
    router.layer(middleware::from_fn(in_request_span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::each_message;
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    use partnerops_domain::event::DomainEvent;
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The JSON lines logged while `work` ran on a runtime of its own.
    fn logged<F: std::future::Future>(work: F) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber =
            tracing_subscriber::registry().with(partnerops_aws::telemetry::json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let runtime = tokio::runtime::Builder::new_current_thread().build();
            if let Ok(runtime) = runtime {
                runtime.block_on(work);
            }
        });
        let bytes = captured.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    fn spans(line: &serde_json::Value) -> String {
        line["spans"].to_string()
    }

    #[test]
    fn a_queue_message_logs_with_its_message_and_event_ids() {
        use partnerops_domain::Timestamp;
        use partnerops_domain::event::{EventPayload, SlaSignalled};
        use partnerops_domain::id::{Entropy, EventId};
        use partnerops_domain::sla::{SlaKind, SlaSubject, SlaTimer};
        let now = Timestamp::parse("2026-11-22T10:00:00Z").unwrap();
        let timer = SlaTimer::start(
            SlaSubject::Referral("ref_01kaqz8m2r5v3x9q7w2e4t6y8p".into()),
            SlaKind::OpportunityCreation,
            "0",
            partnerops_domain::partner::PartnerId::parse("alpha").unwrap(),
            partnerops_domain::prospect::ProspectKey::from_stored("acme.com".into()),
            now,
            24,
        );
        let breached = DomainEvent::new(
            EventId::generate(now, Entropy(7)),
            now,
            EventPayload::SlaBreached(SlaSignalled::new(&timer, now)),
        );
        let event_id = breached.event_id.to_string();
        let event = serde_json::json!({ "detail-type": breached.detail_type(), "detail": breached.detail() });
        let mut batch = SqsEvent::default();
        let mut record = SqsMessage::default();
        record.message_id = Some("m-1".into());
        record.body = Some(event.to_string());
        batch.records.push(record);
        let lines = logged(async {
            let response = each_message(&batch, 1, |event: DomainEvent| async move {
                tracing::info!(kind = event.detail_type(), "handling");
                Err(anyhow::anyhow!("refused"))
            })
            .await;
            assert_eq!(response.batch_item_failures.len(), 1);
        });
        let failed = lines.iter().find(|l| l["fields"]["message"].as_str().is_some_and(|m| m.contains("SQS delivers")));
        let failed = failed.unwrap_or_else(|| panic!("no failure line in {lines:?}"));
        assert!(spans(failed).contains("\"message_id\":\"m-1\""), "{failed}");
        assert!(spans(failed).contains(&format!("\"event_id\":\"{event_id}\"")), "{failed}");
    }

    #[test]
    fn a_request_logs_with_its_id_method_and_path() {
        let router = traced(axum::Router::new().route(
            "/v1/things/{id}",
            axum::routing::get(|| async {
                tracing::info!("inside");
                "ok"
            }),
        ));
        let lines = logged(async {
            let request = axum::http::Request::get("/v1/things/7?secret=x")
                .header("x-request-id", "caller-42")
                .body(axum::body::Body::empty());
            if let Ok(request) = request {
                let _ = router.oneshot(request).await;
            }
        });
        let inside = lines.iter().find(|l| l["fields"]["message"] == "inside");
        let inside = inside.unwrap_or_else(|| panic!("no line from the handler in {lines:?}"));
        let spans = spans(inside);
        assert!(spans.contains("\"request_id\":\"caller-42\""), "{spans}");
        assert!(spans.contains("\"path\":\"/v1/things/7\"") && !spans.contains("secret"), "{spans}");
        assert!(spans.contains("\"method\":\"GET\""), "{spans}");
    }
}
