//! The messages a domain event makes for each partner it concerns, each
//! about that partner's own items only.

use super::delivery::{Delivery, DeliveryState};
use super::endpoint::{Endpoint, TEST_EVENT};
use crate::Timestamp;
use crate::event::{CreatedLine, DomainEvent, EventPayload};
use crate::id::{EndpointId, Entropy, EventId, MessageId};
use crate::money::Money;
use crate::partner::PartnerId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use ulid::Ulid;

impl MessageId {
    /// The message an event makes for one partner (and, where one event makes
    /// several, one `part` of it): the same inputs always give the same id,
    /// so a redelivered event finds the message it made before.
    pub fn derive(event: &EventId, occurred_at: Timestamp, partner: &PartnerId, part: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(event.as_str())
            .chain_update([0])
            .chain_update(partner.as_str())
            .chain_update([0])
            .chain_update(part)
            .finalize();
        let mut random = [0u8; 16];
        random.copy_from_slice(&digest[..16]);
        let millis = u64::try_from(occurred_at.unix_millis()).unwrap_or(0);
        Self::from_ulid(Ulid::from_parts(millis, u128::from_be_bytes(random)))
    }
}
/// A message for one partner, before it meets that partner's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub partner_id: PartnerId,
    pub message_id: MessageId,
    pub event_type: &'static str,
    pub body: String,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: Timestamp,
    data: serde_json::Value,
}

impl Message {
    fn new(
        partner_id: PartnerId,
        message_id: MessageId,
        event_type: &'static str,
        timestamp: Timestamp,
        data: serde_json::Value,
    ) -> Self {
        let body = serde_json::to_string(&Body { event_type, timestamp, data }).unwrap_or_default();
        Self { partner_id, message_id, event_type, body }
    }

    /// The `webhook.test` message of `POST …/{id}/test`.
    pub fn test(partner_id: PartnerId, now: Timestamp, entropy: Entropy, endpoint: &EndpointId) -> Self {
        let data = serde_json::json!({ "endpoint_id": endpoint, "message": "partnerops webhook test" });
        Self::new(partner_id, MessageId::generate(now, entropy), TEST_EVENT, now, data)
    }

    pub fn delivery_to(&self, endpoint: &Endpoint, now: Timestamp) -> Delivery {
        Delivery {
            endpoint_id: endpoint.id.clone(),
            partner_id: self.partner_id.clone(),
            message_id: self.message_id.clone(),
            event_type: self.event_type.into(),
            body: self.body.clone(),
            created_at: now,
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at: Some(now),
            last_attempt_at: None,
            last_status: None,
            last_error: None,
            last_response: None,
            version: 1,
        }
    }
}

fn money(m: &Money) -> serde_json::Value {
    serde_json::to_value(m).unwrap_or(serde_json::Value::Null)
}

/// The messages `event` makes: one per partner it concerns, each about that
/// partner's own items only. Payout exports name their groups separately
/// ([`export_messages`]); events no partner hears about make none.
pub fn messages_for(event: &DomainEvent) -> Vec<Message> {
    use serde_json::json;
    let one = |partner: &PartnerId, event_type: &'static str, data: serde_json::Value| {
        vec![Message::new(
            partner.clone(),
            MessageId::derive(&event.event_id, event.occurred_at, partner, event_type),
            event_type,
            event.occurred_at,
            data,
        )]
    };
    match &event.payload {
        EventPayload::ReferralReceived(r) => one(
            &r.partner_id,
            "referral.received",
            json!({
                "referral_id": r.referral_id,
                "company_name": r.company_name,
                "company_domain": r.prospect_key,
                "motion": r.motion,
                "opportunity_creation_due_at": r.opportunity_creation_due_at,
            }),
        ),
        EventPayload::ReferralRejected(r) => one(
            &r.partner_id,
            "referral.rejected",
            json!({
                "referral_id": r.referral_id,
                "company_name": r.company_name,
                "company_domain": r.prospect_key,
                "reason": r.reason,
            }),
        ),
        EventPayload::OpportunityLinked(o) => match &o.referral_id {
            Some(referral) => one(
                &o.partner_id,
                "referral.updated",
                json!({
                    "referral_id": referral,
                    "status": "opportunity_created",
                    "opportunity_id": o.opportunity_id,
                    "amount": money(&o.amount),
                }),
            ),
            None => Vec::new(),
        },
        EventPayload::DealClosed(c) => match (&c.referral_id, &c.partner_id) {
            (Some(referral), Some(partner)) => one(
                partner,
                "referral.updated",
                json!({
                    "referral_id": referral,
                    "status": "won",
                    "opportunity_id": c.opportunity_id,
                    "amount": money(&c.amount),
                    "closed_at": c.closed_at,
                }),
            ),
            _ => Vec::new(),
        },
        EventPayload::DealLost(l) => match &l.referral_id {
            Some(referral) => one(
                &l.partner_id,
                "referral.updated",
                json!({
                    "referral_id": referral,
                    "status": "lost",
                    "opportunity_id": l.opportunity_id,
                    "amount": money(&l.amount),
                    "closed_at": l.closed_at,
                }),
            ),
            None => Vec::new(),
        },
        EventPayload::DealRegistrationSubmitted(r) => one(
            &r.partner_id,
            "registration.submitted",
            json!({
                "registration_id": r.registration_id,
                "customer_name": r.customer_name,
                "customer_domain": r.customer_key,
                "motion": r.motion,
                "estimated_value": money(&r.estimated_value),
                "status": r.status,
            }),
        ),
        EventPayload::DealRegistrationDecided(r) => one(
            &r.partner_id,
            "registration.decided",
            json!({
                "registration_id": r.registration_id,
                "customer_name": r.customer_name,
                "customer_domain": r.customer_key,
                "status": r.status,
                "reason": r.reason,
                "protected_until": r.protected_until,
            }),
        ),
        EventPayload::DealRegistrationExpiring(r) | EventPayload::DealRegistrationExpired(r) => one(
            &r.partner_id,
            match &event.payload {
                EventPayload::DealRegistrationExpiring(_) => "registration.expiring",
                _ => "registration.expired",
            },
            json!({
                "registration_id": r.registration_id,
                "customer_name": r.customer_name,
                "customer_domain": r.customer_key,
                "protected_until": r.protected_until,
            }),
        ),
        EventPayload::SlaBreached(s) => one(
            &s.partner_id,
            "sla.breached",
            json!({
                "kind": s.kind,
                "subject": s.subject,
                "prospect_name": s.prospect_name,
                "prospect_domain": s.prospect_key,
                "started_at": s.started_at,
                "due_at": s.due_at,
                "window_hours": s.window_hours,
                "overdue_seconds": s.overdue_seconds,
            }),
        ),
        EventPayload::PayoutLinesCreated(p) => p
            .lines
            .iter()
            .map(|line| {
                Message::new(
                    line.partner_id.clone(),
                    MessageId::derive(&event.event_id, event.occurred_at, &line.partner_id, line.line_id.as_str()),
                    "payout.line_created",
                    event.occurred_at,
                    line_data(&p.opportunity_id, line),
                )
            })
            .collect(),
        EventPayload::DealRegistrationWithdrawn(_)
        | EventPayload::OpportunityUpdated(_)
        | EventPayload::DealRefunded(_)
        | EventPayload::SlaDueSoon(_)
        | EventPayload::SlaEscalated(_)
        | EventPayload::PayoutExportReady(_) => Vec::new(),
    }
}

/// A payout line as its partner sees it: no other partner's share or name.
fn line_data(opportunity: &str, line: &CreatedLine) -> serde_json::Value {
    serde_json::json!({
        "line_id": line.line_id,
        "opportunity_id": opportunity,
        "kind": line.kind,
        "motion": line.motion,
        "role": line.role,
        "share_bps": line.share_bps,
        "rate_bps": line.rate_bps,
        "amount": money(&line.amount),
        "earned_at": line.earned_at,
    })
}

/// One partner's group in a finished export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedGroup {
    pub partner_id: PartnerId,
    pub lines: u64,
    pub total: Money,
    pub carried_forward: bool,
}

/// The `payout.exported` messages of a `PayoutExportReady`: one per partner
/// group, each with only that group's total.
pub fn export_messages(event: &DomainEvent, groups: &[ExportedGroup]) -> Vec<Message> {
    let EventPayload::PayoutExportReady(ready) = &event.payload else {
        return Vec::new();
    };
    groups
        .iter()
        .map(|group| {
            let part = format!("payout.exported/{}", group.total.currency().code());
            Message::new(
                group.partner_id.clone(),
                MessageId::derive(&event.event_id, event.occurred_at, &group.partner_id, &part),
                "payout.exported",
                event.occurred_at,
                serde_json::json!({
                    "export_id": ready.export_id,
                    "period": ready.period,
                    "lines": group.lines,
                    "total": money(&group.total),
                    "carried_forward": group.carried_forward,
                }),
            )
        })
        .collect()
}
