//! Where notifications go: a Slack incoming webhook and SES v2.

use async_trait::async_trait;
use aws_sdk_sesv2::error::ProvideErrorMetadata as _;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use partnerops_domain::notify::Notification;
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Try again after this many seconds (Slack's `Retry-After`).
    RetryAfter(u32, String),
    /// A 5xx, a timeout, a throttled call: try again later.
    Transient(String),
    /// It will never work (a 4xx): dead-letter it.
    Permanent(String),
}

#[async_trait]
pub trait Transport: Send + Sync {
    async fn send(&self, notification: &Notification) -> Result<(), SendError>;
}

/// The webhook URL is the credential: it never appears in logs or errors.
#[derive(Clone)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if raw.starts_with("https://") || raw.starts_with("http://") {
            Ok(Self(raw.to_owned()))
        } else {
            Err("the Slack webhook URL must be an http(s) URL")
        }
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

/// Slack asks for 1 message per second per webhook; without a
/// `Retry-After` a 429 waits this long.
const DEFAULT_RETRY_AFTER_SECONDS: u32 = 30;
pub const SLACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts Block Kit payloads to an incoming webhook. One per container: the
/// client keeps its connections.
pub struct SlackWebhook {
    client: reqwest::Client,
    url: WebhookUrl,
}

impl SlackWebhook {
    pub fn new(url: WebhookUrl) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(SLACK_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .user_agent("partnerops-notifier")
            .build()?;
        Ok(Self { client, url })
    }
}

/// How a webhook's HTTP answer is treated.
pub fn classify_slack(status: u16, retry_after: Option<&str>, body: &str) -> Result<(), SendError> {
    let detail: String = body.chars().take(200).collect();
    match status {
        200..=299 => Ok(()),
        429 => {
            let seconds = retry_after.and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(DEFAULT_RETRY_AFTER_SECONDS);
            Err(SendError::RetryAfter(seconds, format!("Slack answered 429 (retry after {seconds} s)")))
        }
        500..=599 => Err(SendError::Transient(format!("Slack answered {status}: {detail}"))),
        _ => Err(SendError::Permanent(format!("Slack answered {status}: {detail}"))),
    }
}

#[async_trait]
impl Transport for SlackWebhook {
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let response = self
            .client
            .post(&self.url.0)
            .json(&notification.slack)
            .send()
            .await
            // without_url: the URL is the secret.
            .map_err(|e| SendError::Transient(format!("posting to Slack: {}", e.without_url())))?;
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.text().await.unwrap_or_default();
        classify_slack(status, retry_after.as_deref(), &body)
    }
}

/// Sends through SES v2 with a text and an HTML part.
pub struct SesEmail {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesEmail {
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self { client, from: from.into() }
    }

    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, from: impl Into<String>) -> Self {
        Self::new(aws_sdk_sesv2::Client::new(sdk), from)
    }
}

fn content(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::Permanent(format!("building the email: {e}")))
}

/// SES error codes worth another try; every other service error is permanent.
const SES_RETRYABLE: [&str; 4] =
    ["TooManyRequestsException", "LimitExceededException", "ThrottlingException", "SendingPausedException"];

#[async_trait]
impl Transport for SesEmail {
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let message = Message::builder()
            .subject(content(&notification.subject)?)
            .body(Body::builder().text(content(&notification.text)?).html(content(&notification.html)?).build())
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&notification.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e.code().unwrap_or("").to_owned();
                let text = format!("SES: {}", aws_sdk_sesv2::error::DisplayErrorContext(&e));
                match (e.as_service_error().is_some(), status) {
                    (true, Some(s)) if s < 500 && !SES_RETRYABLE.contains(&code.as_str()) => {
                        Err(SendError::Permanent(text))
                    }
                    _ => Err(SendError::Transient(text)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_answers_map_to_retry_or_dead_letter() {
        assert_eq!(classify_slack(200, None, "ok"), Ok(()));
        assert!(matches!(classify_slack(429, Some("7"), ""), Err(SendError::RetryAfter(7, _))));
        assert!(matches!(classify_slack(429, None, ""), Err(SendError::RetryAfter(30, _))));
        assert!(matches!(classify_slack(429, Some("soon"), ""), Err(SendError::RetryAfter(30, _))));
        assert!(matches!(classify_slack(503, None, ""), Err(SendError::Transient(_))));
        assert!(
            matches!(classify_slack(404, None, "no_service"), Err(SendError::Permanent(r)) if r.contains("no_service"))
        );
        assert!(matches!(classify_slack(400, None, "invalid_payload"), Err(SendError::Permanent(_))));
    }

    #[test]
    fn the_webhook_url_never_prints() {
        let url = WebhookUrl::parse("https://hooks.slack.com/services/T0/B0/secret").unwrap();
        assert!(!format!("{url:?}").contains("secret"));
        assert!(WebhookUrl::parse("hooks.slack.com").is_err());
    }
}
