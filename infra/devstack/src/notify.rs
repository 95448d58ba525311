//! The notifier in the local stack: the Lambda's handler with its real
//! transports (Slack when `SLACK_WEBHOOK_URL` is set, SES on moto), each send
//! also recorded for `GET /_dev/outbox`.

use crate::queues::QueueConsumer;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use notifier::{Notifier, SendError, Transport};
use partnerops_aws::Clock;
use partnerops_domain::notify::Notification;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// A notification the stack sent (`GET /_dev/outbox`).
#[derive(Debug, Clone, Serialize)]
pub struct SentNotification {
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub event_id: String,
    pub sent_at: String,
}

pub type SentLog = Arc<Mutex<Vec<SentNotification>>>;

/// The Slack app where there is none (webhook mode): every call refused.
pub struct NoSlack;

fn app_mode_off<T>() -> Result<T, SendError> {
    Err(SendError::Permanent("Slack app mode is off".into()))
}

#[async_trait]
impl partnerops_aws::slack::SlackApp for NoSlack {
    async fn post_message(
        &self,
        _: &str,
        _: &serde_json::Value,
    ) -> Result<partnerops_domain::slack::MessageRef, SendError> {
        app_mode_off()
    }

    async fn update_message(
        &self,
        _: &partnerops_domain::slack::MessageRef,
        _: &serde_json::Value,
    ) -> Result<(), SendError> {
        app_mode_off()
    }

    async fn open_view(&self, _: &str, _: &serde_json::Value) -> Result<(), SendError> {
        app_mode_off()
    }

    async fn respond(&self, _: &str, _: &serde_json::Value) -> Result<(), SendError> {
        app_mode_off()
    }
}

/// Sends through `inner` (if any) and records every send that succeeded.
pub struct Recording {
    pub inner: Option<Arc<dyn Transport>>,
    pub sent: SentLog,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl Transport for Recording {
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        if let Some(inner) = &self.inner {
            inner.send(notification).await?;
        }
        let record = SentNotification {
            channel: notification.channel.as_str().to_owned(),
            to: notification.to.clone(),
            subject: notification.subject.clone(),
            text: notification.text.clone(),
            event_id: notification.event_id.clone(),
            sent_at: self.clock.now().to_rfc3339(),
        };
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(record);
        }
        Ok(())
    }
}

pub struct NotifierConsumer(pub Notifier);

#[async_trait]
impl QueueConsumer for NotifierConsumer {
    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse> {
        let (response, report) = self.0.handle_batch(event).await;
        report.log();
        Ok(response)
    }
}
