//! Domain events: what the outbox stores and the relay publishes to the
//! `partnerops` bus. The detail of every event carries `event_id`,
//! `occurred_at` and `schema_version`; docs/events.md describes each one.

use crate::Timestamp;
use crate::id::{EventId, ExportId, ReferralId, RegistrationId};
use crate::money::Money;
use crate::partner::{Motion, PartnerId};
use crate::prospect::ProspectKey;
use crate::sla::{SlaKind, SlaSignal, SlaSubject, SlaTimer};
use crate::status::{RegistrationStatus, RejectionReason};
use serde::{Deserialize, Serialize};

pub const EVENT_SOURCE: &str = "partnerops";
pub const SCHEMA_VERSION: u32 = 1;

/// Every detail-type the system emits (SPEC §12).
pub const DETAIL_TYPES: &[&str] = &[
    "ReferralReceived",
    "ReferralRejected",
    "DealRegistrationSubmitted",
    "DealRegistrationDecided",
    "DealRegistrationWithdrawn",
    "DealRegistrationExpiring",
    "DealRegistrationExpired",
    "OpportunityLinked",
    "OpportunityUpdated",
    "SlaDueSoon",
    "SlaBreached",
    "SlaEscalated",
    "DealClosed",
    "DealLost",
    "DealRefunded",
    "PayoutLinesCreated",
    "PayoutExportReady",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralReceived {
    pub referral_id: ReferralId,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    pub company_name: String,
    pub motion: Motion,
    pub opportunity_creation_due_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralRejected {
    pub referral_id: ReferralId,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    pub company_name: String,
    pub reason: RejectionReason,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRegistrationSubmitted {
    pub registration_id: RegistrationId,
    pub partner_id: PartnerId,
    pub customer_key: ProspectKey,
    pub customer_name: String,
    pub motion: Motion,
    pub estimated_value: Money,
    pub status: RegistrationStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRegistrationDecided {
    pub registration_id: RegistrationId,
    pub partner_id: PartnerId,
    pub customer_key: ProspectKey,
    pub customer_name: String,
    pub status: RegistrationStatus,
    pub reason: Option<String>,
    pub decided_by: String,
    pub protected_until: Option<Timestamp>,
}

/// A partner withdrew its registration (pending or approved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRegistrationWithdrawn {
    pub registration_id: RegistrationId,
    pub partner_id: PartnerId,
    pub customer_key: ProspectKey,
    pub customer_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityLinked {
    pub opportunity_id: String,
    pub referral_id: Option<ReferralId>,
    pub deal_registration_id: Option<RegistrationId>,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    pub amount: Money,
}

/// A CRM activity that changed an opportunity's SLA timers without changing
/// its stage: notes updated, a meeting held, a follow-up sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpportunityUpdated {
    pub opportunity_id: String,
    pub partner_id: PartnerId,
    /// `notes_updated`, `meeting_held` or `follow_up_sent`.
    pub activity: String,
    /// The activity's `occurred_at` in the CRM.
    pub activity_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealClosed {
    pub opportunity_id: String,
    pub referral_id: Option<ReferralId>,
    pub deal_registration_id: Option<RegistrationId>,
    /// The partner of the referral or registration the opportunity came
    /// from (absent from events written before it was added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<PartnerId>,
    pub prospect_key: ProspectKey,
    pub motion: Motion,
    pub amount: Money,
    pub closed_at: Timestamp,
    pub attribution: Vec<crate::attribution::Attribution>,
}

/// An opportunity closed lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealLost {
    pub opportunity_id: String,
    pub referral_id: Option<ReferralId>,
    pub deal_registration_id: Option<RegistrationId>,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    pub motion: Motion,
    pub amount: Money,
    pub closed_at: Timestamp,
}

/// New lines in a deal's payout ledger (earned, adjustment or clawback),
/// written with the ledger change that made them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutLinesCreated {
    pub opportunity_id: String,
    pub lines: Vec<CreatedLine>,
}

/// One new payout line, as its event tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedLine {
    pub line_id: crate::id::PayoutLineId,
    pub partner_id: PartnerId,
    /// `earned`, `adjustment` or `clawback`.
    pub kind: String,
    pub motion: Motion,
    pub role: crate::terms::AttributionRole,
    pub share_bps: u32,
    pub rate_bps: u32,
    /// Negative for clawbacks and downward adjustments.
    pub amount: Money,
    pub earned_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DealRefunded {
    pub opportunity_id: String,
    pub refunded_amount: Money,
    /// Everything refunded on this deal so far, this refund included.
    pub refunded_total: Money,
    pub refunded_at: Timestamp,
    pub amount: Money,
    pub closed_at: Option<Timestamp>,
}

/// A month's payout files are in the exports bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutExportReady {
    pub export_id: ExportId,
    /// `YYYY-MM`.
    pub period: String,
    pub partners: u32,
    pub lines: u64,
    /// Net paid out, one entry per currency.
    pub totals: Vec<Money>,
    /// Partner/currency groups held back (below the minimum, or negative).
    pub carried_forward: u32,
    /// Object keys in the exports bucket.
    pub files: Vec<String>,
}

/// An approval's protection is about to end, or has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationProtectionNotice {
    pub registration_id: RegistrationId,
    pub partner_id: PartnerId,
    pub customer_key: ProspectKey,
    pub customer_name: String,
    pub protected_until: Timestamp,
}

/// A timer's due-soon, breach or escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaSignalled {
    pub subject: SlaSubject,
    pub kind: SlaKind,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    #[serde(default)]
    pub prospect_name: String,
    pub started_at: Timestamp,
    pub due_at: Timestamp,
    pub window_hours: u32,
    /// Seconds past `due_at` when signalled (negative: time left).
    pub overdue_seconds: i64,
}

impl SlaSignalled {
    pub fn new(timer: &SlaTimer, now: Timestamp) -> Self {
        Self {
            subject: timer.subject.clone(),
            kind: timer.kind,
            partner_id: timer.partner_id.clone(),
            prospect_key: timer.prospect_key.clone(),
            prospect_name: timer.prospect_name.clone(),
            started_at: timer.started_at,
            due_at: timer.due_at,
            window_hours: timer.window_hours,
            overdue_seconds: now.since(timer.due_at).num_seconds(),
        }
    }
}

/// The events a sweep's signals about `timer` produce.
pub fn sla_events(
    timer: &SlaTimer,
    signals: &[SlaSignal],
    now: Timestamp,
    mut id: impl FnMut() -> EventId,
) -> Vec<DomainEvent> {
    signals
        .iter()
        .map(|signal| {
            let detail = SlaSignalled::new(timer, now);
            let payload = match signal {
                SlaSignal::DueSoon => EventPayload::SlaDueSoon(detail),
                SlaSignal::Breached => EventPayload::SlaBreached(detail),
                SlaSignal::Escalated => EventPayload::SlaEscalated(detail),
            };
            DomainEvent::new(id(), now, payload)
        })
        .collect()
}

/// The payload of an event; the variant name is its EventBridge detail-type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "detail_type", content = "payload")]
pub enum EventPayload {
    ReferralReceived(ReferralReceived),
    ReferralRejected(ReferralRejected),
    DealRegistrationSubmitted(DealRegistrationSubmitted),
    DealRegistrationDecided(DealRegistrationDecided),
    DealRegistrationWithdrawn(DealRegistrationWithdrawn),
    OpportunityLinked(OpportunityLinked),
    OpportunityUpdated(OpportunityUpdated),
    DealClosed(DealClosed),
    DealLost(DealLost),
    DealRefunded(DealRefunded),
    PayoutLinesCreated(PayoutLinesCreated),
    DealRegistrationExpiring(RegistrationProtectionNotice),
    DealRegistrationExpired(RegistrationProtectionNotice),
    SlaDueSoon(SlaSignalled),
    SlaBreached(SlaSignalled),
    SlaEscalated(SlaSignalled),
    PayoutExportReady(PayoutExportReady),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub event_id: EventId,
    pub occurred_at: Timestamp,
    pub schema_version: u32,
    #[serde(flatten)]
    pub payload: EventPayload,
}

impl DomainEvent {
    pub fn new(event_id: EventId, occurred_at: Timestamp, payload: EventPayload) -> Self {
        Self { event_id, occurred_at, schema_version: SCHEMA_VERSION, payload }
    }

    pub fn detail_type(&self) -> &'static str {
        match self.payload {
            EventPayload::ReferralReceived(_) => "ReferralReceived",
            EventPayload::ReferralRejected(_) => "ReferralRejected",
            EventPayload::DealRegistrationSubmitted(_) => "DealRegistrationSubmitted",
            EventPayload::DealRegistrationDecided(_) => "DealRegistrationDecided",
            EventPayload::DealRegistrationWithdrawn(_) => "DealRegistrationWithdrawn",
            EventPayload::OpportunityLinked(_) => "OpportunityLinked",
            EventPayload::OpportunityUpdated(_) => "OpportunityUpdated",
            EventPayload::DealClosed(_) => "DealClosed",
            EventPayload::DealLost(_) => "DealLost",
            EventPayload::DealRefunded(_) => "DealRefunded",
            EventPayload::PayoutLinesCreated(_) => "PayoutLinesCreated",
            EventPayload::DealRegistrationExpiring(_) => "DealRegistrationExpiring",
            EventPayload::DealRegistrationExpired(_) => "DealRegistrationExpired",
            EventPayload::SlaDueSoon(_) => "SlaDueSoon",
            EventPayload::SlaBreached(_) => "SlaBreached",
            EventPayload::SlaEscalated(_) => "SlaEscalated",
            EventPayload::PayoutExportReady(_) => "PayoutExportReady",
        }
    }

    /// The EventBridge detail: the payload's fields plus the envelope fields.
    pub fn detail(&self) -> serde_json::Value {
        let mut detail = match &self.payload {
            EventPayload::ReferralReceived(p) => serde_json::to_value(p),
            EventPayload::ReferralRejected(p) => serde_json::to_value(p),
            EventPayload::DealRegistrationSubmitted(p) => serde_json::to_value(p),
            EventPayload::DealRegistrationDecided(p) => serde_json::to_value(p),
            EventPayload::DealRegistrationWithdrawn(p) => serde_json::to_value(p),
            EventPayload::OpportunityLinked(p) => serde_json::to_value(p),
            EventPayload::OpportunityUpdated(p) => serde_json::to_value(p),
            EventPayload::DealClosed(p) => serde_json::to_value(p),
            EventPayload::DealLost(p) => serde_json::to_value(p),
            EventPayload::DealRefunded(p) => serde_json::to_value(p),
            EventPayload::PayoutLinesCreated(p) => serde_json::to_value(p),
            EventPayload::DealRegistrationExpiring(p) | EventPayload::DealRegistrationExpired(p) => {
                serde_json::to_value(p)
            }
            EventPayload::SlaDueSoon(p) | EventPayload::SlaBreached(p) | EventPayload::SlaEscalated(p) => {
                serde_json::to_value(p)
            }
            EventPayload::PayoutExportReady(p) => serde_json::to_value(p),
        }
        .unwrap_or(serde_json::Value::Null);
        if let serde_json::Value::Object(map) = &mut detail {
            map.insert("event_id".into(), serde_json::Value::String(self.event_id.to_string()));
            map.insert("occurred_at".into(), serde_json::Value::String(self.occurred_at.to_rfc3339()));
            map.insert("schema_version".into(), serde_json::Value::from(self.schema_version));
        }
        detail
    }

    /// [`DomainEvent::detail`] written straight to JSON text, as the outbox
    /// keeps it: the same members, without building the value first.
    pub fn detail_json(&self) -> String {
        match &self.payload {
            EventPayload::ReferralReceived(p) => self.with_meta(p),
            EventPayload::ReferralRejected(p) => self.with_meta(p),
            EventPayload::DealRegistrationSubmitted(p) => self.with_meta(p),
            EventPayload::DealRegistrationDecided(p) => self.with_meta(p),
            EventPayload::DealRegistrationWithdrawn(p) => self.with_meta(p),
            EventPayload::OpportunityLinked(p) => self.with_meta(p),
            EventPayload::OpportunityUpdated(p) => self.with_meta(p),
            EventPayload::DealClosed(p) => self.with_meta(p),
            EventPayload::DealLost(p) => self.with_meta(p),
            EventPayload::DealRefunded(p) => self.with_meta(p),
            EventPayload::PayoutLinesCreated(p) => self.with_meta(p),
            EventPayload::DealRegistrationExpiring(p) | EventPayload::DealRegistrationExpired(p) => self.with_meta(p),
            EventPayload::SlaDueSoon(p) | EventPayload::SlaBreached(p) | EventPayload::SlaEscalated(p) => {
                self.with_meta(p)
            }
            EventPayload::PayoutExportReady(p) => self.with_meta(p),
        }
    }

    fn with_meta<P: Serialize>(&self, payload: &P) -> String {
        #[derive(Serialize)]
        struct Detail<'a, P> {
            #[serde(flatten)]
            payload: &'a P,
            event_id: &'a str,
            occurred_at: String,
            schema_version: u32,
        }
        let detail = Detail {
            payload,
            event_id: self.event_id.as_str(),
            occurred_at: self.occurred_at.to_rfc3339(),
            schema_version: self.schema_version,
        };
        serde_json::to_string(&detail).unwrap_or_else(|_| self.detail().to_string())
    }

    /// The event in an EventBridge event's JSON, as an SQS target of a rule
    /// receives it (`detail-type` and `detail`, the rest ignored).
    pub fn from_eventbridge(body: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(rename = "detail-type")]
            detail_type: String,
            detail: serde_json::Value,
        }
        let envelope: Envelope = serde_json::from_str(body).map_err(|e| format!("not an EventBridge event: {e}"))?;
        Self::from_detail(&envelope.detail_type, envelope.detail)
            .map_err(|e| format!("not a {} event this version knows: {e}", envelope.detail_type))
    }

    /// The event an EventBridge delivery carries: its `detail-type` and
    /// `detail`, as [`DomainEvent::detail`] wrote them.
    pub fn from_detail(detail_type: &str, detail: serde_json::Value) -> Result<Self, serde_json::Error> {
        let serde_json::Value::Object(mut fields) = detail else {
            return Err(serde::de::Error::custom("detail must be an object"));
        };
        let mut envelope = serde_json::Map::new();
        for key in ["event_id", "occurred_at", "schema_version"] {
            if let Some(value) = fields.remove(key) {
                envelope.insert(key.into(), value);
            }
        }
        envelope.insert("detail_type".into(), serde_json::Value::String(detail_type.to_owned()));
        envelope.insert("payload".into(), serde_json::Value::Object(fields));
        serde_json::from_value(serde_json::Value::Object(envelope))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Entropy;

    #[test]
    fn detail_carries_the_envelope() {
        let now = Timestamp::parse("2026-11-22T00:00:00Z").unwrap();
        let event = DomainEvent::new(
            EventId::generate(now, Entropy(1)),
            now,
            EventPayload::ReferralRejected(ReferralRejected {
                referral_id: ReferralId::generate(now, Entropy(2)),
                partner_id: PartnerId::parse("acme").unwrap(),
                prospect_key: ProspectKey::from_stored("globex.com".into()),
                company_name: "Globex".into(),
                reason: RejectionReason::ExistingCustomer,
            }),
        );
        let detail = event.detail();
        assert_eq!(event.detail_type(), "ReferralRejected");
        assert_eq!(detail["schema_version"], 1);
        assert_eq!(detail["occurred_at"], "2026-11-22T00:00:00.000Z");
        assert_eq!(detail["reason"], "existing_customer");
        assert!(detail["event_id"].as_str().unwrap().starts_with("evt_"));
        assert!(DETAIL_TYPES.contains(&event.detail_type()));
        let back = DomainEvent::from_detail(event.detail_type(), detail.clone()).unwrap();
        assert_eq!(back, event);
        let delivered =
            serde_json::json!({ "source": "partnerops", "detail-type": event.detail_type(), "detail": detail });
        assert_eq!(DomainEvent::from_eventbridge(&delivered.to_string()).unwrap(), event);
        assert!(DomainEvent::from_eventbridge("{not json").unwrap_err().starts_with("not an EventBridge event"));
    }

    #[test]
    fn a_detail_of_the_wrong_shape_is_an_error() {
        assert!(DomainEvent::from_detail("ReferralRejected", serde_json::json!({"event_id": "evt_x"})).is_err());
        assert!(DomainEvent::from_detail("NoSuchEvent", serde_json::json!({})).is_err());
        assert!(DomainEvent::from_detail("ReferralRejected", serde_json::json!([1])).is_err());
    }
}
