//! A partner's endpoint: what it subscribes to, its secrets and rotation,
//! and how attempts' outcomes disable it.

use super::delivery::Outcome;
use super::signing::Secret;
use super::url::CheckedUrl;
use crate::Timestamp;
use crate::field::FieldErrors;
use crate::id::{EndpointId, MessageId};
use crate::partner::PartnerId;
use chrono::Duration;
use serde::{Deserialize, Serialize};

/// The event types an endpoint can subscribe to, in the order docs list them.
pub const EVENT_TYPES: &[&str] = &[
    "referral.received",
    "referral.rejected",
    "referral.updated",
    "registration.submitted",
    "registration.decided",
    "registration.expiring",
    "registration.expired",
    "sla.breached",
    "payout.line_created",
    "payout.exported",
];

/// What `POST …/{id}/test` sends; every endpoint receives it whatever it
/// subscribed to.
pub const TEST_EVENT: &str = "webhook.test";
/// An endpoint with nothing but failures for this long is disabled.
pub const DISABLE_AFTER_DAYS: i64 = 5;
/// How long the secret before a rotation still signs.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;
/// Endpoints one partner may have.
pub const MAX_ENDPOINTS_PER_PARTNER: usize = 10;
pub const MAX_DESCRIPTION_LEN: usize = 200;
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointStatus {
    Enabled,
    Disabled,
}

/// A secret replaced by a rotation, still signing until `until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub secret: Secret,
    pub until: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: EndpointId,
    pub partner_id: PartnerId,
    pub url: String,
    /// Subscribed types, or `["*"]` for all of them.
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub status: EndpointStatus,
    #[serde(default)]
    pub disabled_reason: Option<String>,
    pub secret: Secret,
    #[serde(default)]
    pub previous_secret: Option<RetiringSecret>,
    /// The first failure since the last success; cleared by a success.
    #[serde(default)]
    pub failing_since: Option<Timestamp>,
    pub created_at: Timestamp,
    /// Bumped by every change; a write holds only on the version it read.
    pub version: u64,
}
/// A new endpoint's fields as a caller sent them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointDraft {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// Whose endpoint, when an admin creates it.
    pub partner_id: Option<String>,
}

/// Checks the subscribed types: known ones, or `["*"]`; duplicates dropped.
fn check_events(events: Option<Vec<String>>, errors: &mut FieldErrors) -> Vec<String> {
    let Some(events) = events else {
        errors.push("events", "is required: a list of event types, or [\"*\"]");
        return Vec::new();
    };
    if events.is_empty() {
        errors.push("events", "must name at least one event type, or be [\"*\"]");
        return Vec::new();
    }
    if events.iter().any(|e| e == "*") {
        if events.len() > 1 {
            errors.push("events", "\"*\" subscribes to every type and stands alone");
        }
        return vec!["*".into()];
    }
    let mut out: Vec<String> = Vec::new();
    for event in events {
        if !EVENT_TYPES.contains(&event.as_str()) {
            errors.push("events", format!("{event:?} is not an event type; see docs/webhooks.md"));
        } else if !out.contains(&event) {
            out.push(event);
        }
    }
    out
}

/// A new endpoint from a draft whose URL passed [`check_url`] (`url`) and
/// whose host resolved to allowed addresses.
pub fn new_endpoint(
    draft: EndpointDraft,
    partner_id: PartnerId,
    url: &CheckedUrl,
    id: EndpointId,
    secret: Secret,
    now: Timestamp,
) -> Result<Endpoint, FieldErrors> {
    let mut errors = FieldErrors::default();
    let events = check_events(draft.events, &mut errors);
    let description = draft.description.map(|d| d.trim().to_owned()).filter(|d| !d.is_empty());
    if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_LEN) {
        errors.push("description", format!("must be at most {MAX_DESCRIPTION_LEN} characters"));
    }
    if description.as_ref().is_some_and(|d| d.chars().any(char::is_control)) {
        errors.push("description", "must not contain control characters");
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Endpoint {
        id,
        partner_id,
        url: url.url.to_string(),
        events,
        description,
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        secret,
        previous_secret: None,
        failing_since: None,
        created_at: now,
        version: 1,
    })
}

impl Endpoint {
    pub fn subscribes_to(&self, event_type: &str) -> bool {
        event_type == TEST_EVENT || self.events.iter().any(|e| e == "*" || e == event_type)
    }

    pub fn enabled(&self) -> bool {
        self.status == EndpointStatus::Enabled
    }

    /// The secrets that sign at `now`: the current one, and for a day after
    /// a rotation the one before it.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&Secret> {
        let mut secrets = vec![&self.secret];
        if let Some(previous) = &self.previous_secret
            && now < previous.until
        {
            secrets.push(&previous.secret);
        }
        secrets
    }

    /// The `webhook-signature` header of one attempt.
    pub fn signature(&self, message: &MessageId, timestamp: Timestamp, body: &str) -> String {
        let at = timestamp.unix_seconds();
        self.signing_secrets(timestamp).iter().map(|s| s.sign(message.as_str(), at, body)).collect::<Vec<_>>().join(" ")
    }

    pub fn rotated(&self, secret: Secret, now: Timestamp) -> Self {
        let mut next = self.clone();
        next.previous_secret = Some(RetiringSecret {
            secret: self.secret.clone(),
            until: now.plus(Duration::hours(ROTATION_OVERLAP_HOURS)),
        });
        next.secret = secret;
        next.version += 1;
        next
    }

    /// The endpoint after an attempt's outcome; with `true` when this change
    /// disabled it for five days of failures (its partner is told).
    pub fn after_attempt(&self, outcome: &Outcome, at: Timestamp) -> (Self, bool) {
        let mut next = self.clone();
        let mut failing_too_long = false;
        match outcome {
            Outcome::Succeeded { .. } => next.failing_since = None,
            Outcome::Gone { .. } => {
                next.status = EndpointStatus::Disabled;
                next.disabled_reason = Some("the receiver answered 410 Gone".into());
            }
            Outcome::Failed { .. } => {
                let since = *next.failing_since.get_or_insert(at);
                if self.enabled() && at.since(since) >= Duration::days(DISABLE_AFTER_DAYS) {
                    next.status = EndpointStatus::Disabled;
                    next.disabled_reason = Some(format!("every delivery failed for {DISABLE_AFTER_DAYS} days"));
                    failing_too_long = true;
                }
            }
        }
        if next != *self {
            next.version += 1;
        }
        (next, failing_too_long)
    }
}
