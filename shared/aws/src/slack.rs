//! Slack's Web API in app mode (SPEC §17): `chat.postMessage`, `chat.update`
//! and `views.open` with the bot token, and replies through an interaction's
//! `response_url`. Behind the `SlackApp` port so the notifier and the
//! interactions function can be tested against a stand-in.

use crate::notify::{SendError, Transport, classify_slack};
use async_trait::async_trait;
use partnerops_domain::notify::Notification;
use partnerops_domain::slack::MessageRef;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// Where Slack's `response_url`s point; a reply goes nowhere else.
pub const DEFAULT_RESPONSE_ORIGIN: &str = "https://hooks.slack.com/";
/// Interactions must be answered within 3 s: each Web API call gets less.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(2500);

/// The bot token and the signing secret (Secrets Manager when deployed).
#[derive(Clone)]
pub struct AppCredentials {
    pub bot_token: String,
    pub signing_secret: String,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppCredentials(<redacted>)")
    }
}

impl AppCredentials {
    /// The secret's JSON: `{"bot_token": "xoxb-…", "signing_secret": "…"}`.
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|_| anyhow::anyhow!("the Slack app secret is not JSON"))?;
        let field = |name: &str| {
            value
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("the Slack app secret has no {name}"))
        };
        Ok(Self { bot_token: field("bot_token")?, signing_secret: field("signing_secret")? })
    }
}

#[async_trait]
pub trait SlackApp: Send + Sync {
    async fn post_message(&self, channel: &str, payload: &Value) -> Result<MessageRef, SendError>;
    async fn update_message(&self, message: &MessageRef, payload: &Value) -> Result<(), SendError>;
    async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SendError>;
    /// Posts to an interaction's `response_url` (an ephemeral note).
    async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SendError>;
}

pub struct SlackWebApi {
    client: reqwest::Client,
    api_url: String,
    response_origin: String,
    token: String,
}

impl SlackWebApi {
    pub fn new(api_url: &str, response_origin: &str, bot_token: &str) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(1))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("partnerops")
            .build()?;
        Ok(Self {
            client,
            api_url: api_url.trim_end_matches('/').to_owned(),
            response_origin: response_origin.to_owned(),
            token: bot_token.to_owned(),
        })
    }

    async fn call(&self, method: &str, body: &Value) -> Result<Value, SendError> {
        let response = self
            .client
            .post(format!("{}/{method}", self.api_url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("calling Slack {method}: {}", e.without_url())))?;
        let status = response.status().as_u16();
        let retry_after =
            response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = response.text().await.unwrap_or_default();
        classify_slack(status, retry_after.as_deref(), &text)?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|_| SendError::Transient(format!("Slack {method} answered something that is not JSON")))?;
        api_result(method, value)
    }
}

/// Slack answers 200 with `ok: false` and an error code for refusals.
pub fn api_result(method: &str, value: Value) -> Result<Value, SendError> {
    if value.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(value);
    }
    let code = value.get("error").and_then(Value::as_str).unwrap_or("unknown_error").to_owned();
    match code.as_str() {
        "ratelimited" => Err(SendError::RetryAfter(30, format!("Slack {method}: ratelimited"))),
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            Err(SendError::Transient(format!("Slack {method}: {code}")))
        }
        _ => Err(SendError::Permanent(format!("Slack {method}: {code}"))),
    }
}

fn with(payload: &Value, extra: &[(&str, Value)]) -> Value {
    let mut body = payload.clone();
    if let Some(map) = body.as_object_mut() {
        for (k, v) in extra {
            map.insert((*k).to_owned(), v.clone());
        }
    }
    body
}

#[async_trait]
impl SlackApp for SlackWebApi {
    async fn post_message(&self, channel: &str, payload: &Value) -> Result<MessageRef, SendError> {
        let answer = self.call("chat.postMessage", &with(payload, &[("channel", Value::from(channel))])).await?;
        let field = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
        match (field("channel"), field("ts")) {
            (Some(channel), Some(ts)) => Ok(MessageRef { channel, ts }),
            _ => Err(SendError::Permanent("Slack chat.postMessage answered without channel and ts".into())),
        }
    }

    async fn update_message(&self, message: &MessageRef, payload: &Value) -> Result<(), SendError> {
        let body = with(
            payload,
            &[("channel", Value::from(message.channel.as_str())), ("ts", Value::from(message.ts.as_str()))],
        );
        self.call("chat.update", &body).await.map(|_| ())
    }

    async fn open_view(&self, trigger_id: &str, view: &Value) -> Result<(), SendError> {
        let body = serde_json::json!({ "trigger_id": trigger_id, "view": view });
        self.call("views.open", &body).await.map(|_| ())
    }

    async fn respond(&self, response_url: &str, body: &Value) -> Result<(), SendError> {
        if !response_url.starts_with(&self.response_origin) {
            return Err(SendError::Permanent("a response_url outside Slack's hooks is not followed".into()));
        }
        let response = self
            .client
            .post(response_url)
            .json(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("replying to Slack: {}", e.without_url())))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        classify_slack(status, None, &text)
    }
}

/// Alerts in app mode: each Slack notification posted to the alerts channel.
pub struct AlertsChannel {
    pub app: std::sync::Arc<dyn SlackApp>,
    pub channel: String,
}

#[async_trait]
impl Transport for AlertsChannel {
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        self.app.post_message(&self.channel, &notification.slack).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_are_told_apart_from_outages() {
        assert!(api_result("chat.update", json!({ "ok": true })).is_ok());
        assert!(matches!(
            api_result("m", json!({ "ok": false, "error": "channel_not_found" })),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            api_result("m", json!({ "ok": false, "error": "ratelimited" })),
            Err(SendError::RetryAfter(30, _))
        ));
        assert!(matches!(
            api_result("m", json!({ "ok": false, "error": "internal_error" })),
            Err(SendError::Transient(_))
        ));
        assert!(matches!(api_result("m", json!({})), Err(SendError::Permanent(_))));
    }

    #[test]
    fn the_secret_needs_both_credentials() {
        let ok = AppCredentials::from_json(r#"{"bot_token":"xoxb-1","signing_secret":"s"}"#).unwrap();
        assert_eq!(format!("{ok:?}"), "AppCredentials(<redacted>)");
        assert!(AppCredentials::from_json(r#"{"bot_token":"xoxb-1"}"#).is_err());
        assert!(AppCredentials::from_json("off").is_err());
    }
}
