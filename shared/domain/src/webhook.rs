//! Partner webhooks (SPEC §18): endpoints, the messages a domain event makes
//! for each partner, Standard Webhooks signatures, the retry schedule and the
//! address rules that keep deliveries off private networks.
//!
//! Everything here is pure: resolving a host and sending a request happen in
//! the function; what may be called and what an outcome means is decided here.

use crate::Timestamp;
use crate::event::{CreatedLine, DomainEvent, EventPayload};
use crate::field::FieldErrors;
use crate::id::{Entropy, EventId};
use crate::money::Money;
use crate::partner::PartnerId;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use ulid::Ulid;

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

/// Seconds from one failed attempt to the next: the first attempt and these
/// seven retries, then the message is `failed`.
pub const RETRY_DELAYS_SECONDS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
pub const MAX_ATTEMPTS: u32 = RETRY_DELAYS_SECONDS.len() as u32 + 1;
/// An endpoint with nothing but failures for this long is disabled.
pub const DISABLE_AFTER_DAYS: i64 = 5;
/// How long the secret before a rotation still signs.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;
/// A receiver answers within this many seconds or the attempt failed.
pub const TIMEOUT_SECONDS: u64 = 10;
/// How much of a receiver's answer is kept, for the deliveries log.
pub const RESPONSE_KEEP_BYTES: usize = 1024;
/// How long a claimed attempt holds before the retry sweep may take it over:
/// well over the timeout, so a slow receiver is never called twice at once.
pub const ATTEMPT_LEASE_SECONDS: i64 = 60;
/// Endpoints one partner may have.
pub const MAX_ENDPOINTS_PER_PARTNER: usize = 10;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_DESCRIPTION_LEN: usize = 200;
/// Random bytes behind each secret.
pub const SECRET_BYTES: usize = 32;

pub use crate::id::{EndpointId, MessageId};

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

/// A signing secret: `whsec_` and the base64 of its bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn from_bytes(bytes: [u8; SECRET_BYTES]) -> Self {
        Self(bytes.to_vec())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        let bytes = STANDARD.decode(raw.strip_prefix("whsec_")?).ok()?;
        (bytes.len() >= 24).then_some(Self(bytes))
    }

    pub fn reveal(&self) -> String {
        format!("whsec_{}", STANDARD.encode(&self.0))
    }

    /// `v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(message_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl TryFrom<String> for Secret {
    type Error = &'static str;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).ok_or("not a whsec_ secret")
    }
}

impl From<Secret> for String {
    fn from(secret: Secret) -> Self {
        secret.reveal()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

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

/// What the dev stack allows beyond the deployed rules: plain http to a
/// loopback receiver, so that webhooks can be tried on one machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow_loopback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("must be an https:// URL")]
    NotHttps,
    #[error("must be an absolute URL with a host")]
    Malformed,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("must be at most {MAX_URL_LEN} characters")]
    TooLong,
    #[error("points at a loopback, private, link-local, shared or multicast address")]
    PrivateAddress,
    #[error("the host does not resolve")]
    Unresolvable,
}

/// A URL the rules allow: where to connect and what to check its host
/// resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedUrl {
    pub url: url::Url,
    /// Set when the host is a name (to resolve and then check); `None` for
    /// an address literal, already checked.
    pub host_to_resolve: Option<String>,
}

/// Checks a URL's shape and any address literal in it; a named host still
/// has to resolve to allowed addresses ([`addresses_allowed`]).
pub fn check_url(raw: &str, policy: UrlPolicy) -> Result<CheckedUrl, UrlRefusal> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlRefusal::TooLong);
    }
    let url = url::Url::parse(raw).map_err(|_| UrlRefusal::Malformed)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    let host = url.host().ok_or(UrlRefusal::Malformed)?;
    let loopback_host = match &host {
        url::Host::Domain(name) => is_localhost_name(name),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    match url.scheme() {
        "https" => {}
        // The dev stack's one exception: plain http to a loopback receiver
        // on an explicit port.
        "http" if policy.allow_loopback && loopback_host && url.port().is_some() => {}
        _ => return Err(UrlRefusal::NotHttps),
    }
    let host_to_resolve = match host {
        url::Host::Domain(name) => {
            if is_localhost_name(name) && !policy.allow_loopback {
                return Err(UrlRefusal::PrivateAddress);
            }
            Some(name.to_owned())
        }
        url::Host::Ipv4(ip) => {
            addresses_allowed(&[IpAddr::V4(ip)], policy)?;
            None
        }
        url::Host::Ipv6(ip) => {
            addresses_allowed(&[IpAddr::V6(ip)], policy)?;
            None
        }
    };
    Ok(CheckedUrl { url, host_to_resolve })
}

fn is_localhost_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// What a host resolved to may be called only if every address is public:
/// one private answer among public ones is how rebinding attacks get in.
pub fn addresses_allowed(addresses: &[IpAddr], policy: UrlPolicy) -> Result<(), UrlRefusal> {
    if addresses.is_empty() {
        return Err(UrlRefusal::Unresolvable);
    }
    let refused = addresses.iter().any(|ip| match public_address(*ip) {
        true => false,
        false => !(policy.allow_loopback && ip_is_loopback(*ip)),
    });
    if refused { Err(UrlRefusal::PrivateAddress) } else { Ok(()) }
}

fn ip_is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// Not loopback, private, link-local (the instance metadata address among
/// them), shared CGNAT, multicast, broadcast, reserved or unspecified.
pub fn public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    let cgnat = a == 100 && (64..128).contains(&b);
    let this_network = a == 0;
    let reserved = a >= 240;
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let ietf = a == 192 && b == 0 && ip.octets()[2] == 0;
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || cgnat
        || this_network
        || reserved
        || benchmarking
        || ietf)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    // An IPv4 address inside IPv6 (mapped, or NAT64) is judged as IPv4.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let segments = ip.segments();
    if segments[0] == 0x64 && segments[1] == 0xff9b && segments[2..6] == [0, 0, 0, 0] {
        let o = ip.octets();
        return public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    let unique_local = (segments[0] & 0xfe00) == 0xfc00;
    let link_local = (segments[0] & 0xffc0) == 0xfe80;
    let documentation = segments[0] == 0x2001 && segments[1] == 0x0db8;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || documentation)
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

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx within the timeout.
    Succeeded { status: u16, response: String },
    /// 410: the receiver wants no more; the endpoint is disabled at once.
    Gone { response: String },
    /// Any other status, a timeout, a refused or failed connection.
    Failed { status: Option<u16>, error: String, response: String },
}

impl Outcome {
    /// The outcome of a response with `status` and (the start of) its body.
    pub fn of_status(status: u16, body: &[u8]) -> Self {
        let response = keep_response(body);
        match status {
            200..=299 => Self::Succeeded { status, response },
            410 => Self::Gone { response },
            _ => Self::Failed { status: Some(status), error: format!("the receiver answered {status}"), response },
        }
    }
}

/// At most [`RESPONSE_KEEP_BYTES`] of a response, cut at a character boundary.
pub fn keep_response(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(RESPONSE_KEEP_BYTES)]).into_owned();
    let mut end = text.len().min(RESPONSE_KEEP_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Succeeded,
    Failed,
}

/// One message to one endpoint, and how its attempts went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub endpoint_id: EndpointId,
    pub partner_id: PartnerId,
    pub message_id: MessageId,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The exact body every attempt sends.
    pub body: String,
    pub created_at: Timestamp,
    pub state: DeliveryState,
    pub attempts: u32,
    /// When the next attempt is due (while pending; a claimed attempt holds
    /// it [`ATTEMPT_LEASE_SECONDS`] ahead).
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default)]
    pub last_attempt_at: Option<Timestamp>,
    #[serde(default)]
    pub last_status: Option<u16>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_response: Option<String>,
    pub version: u64,
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

/// A claim on the next attempt: the delivery with the attempt counted and
/// its due time held by a lease; `None` when it is not due (or not pending).
pub fn claim(delivery: &Delivery, now: Timestamp) -> Option<Delivery> {
    if delivery.state != DeliveryState::Pending || delivery.next_attempt_at.is_none_or(|due| due > now) {
        return None;
    }
    let mut next = delivery.clone();
    next.attempts += 1;
    next.next_attempt_at = Some(now.plus(Duration::seconds(ATTEMPT_LEASE_SECONDS)));
    next.version += 1;
    Some(next)
}

/// The delivery after the claimed attempt, made at `at`, came to `outcome`.
pub fn record(claimed: &Delivery, outcome: &Outcome, at: Timestamp) -> Delivery {
    let mut next = claimed.clone();
    next.last_attempt_at = Some(at);
    next.version += 1;
    match outcome {
        Outcome::Succeeded { status, response } => {
            next.state = DeliveryState::Succeeded;
            next.next_attempt_at = None;
            next.last_status = Some(*status);
            next.last_error = None;
            next.last_response = Some(response.clone());
        }
        Outcome::Gone { response } => {
            next.state = DeliveryState::Failed;
            next.next_attempt_at = None;
            next.last_status = Some(410);
            next.last_error = Some("the receiver answered 410 Gone: the endpoint is disabled".into());
            next.last_response = Some(response.clone());
        }
        Outcome::Failed { status, error, response } => {
            next.last_status = *status;
            next.last_error = Some(error.clone());
            next.last_response = Some(response.clone());
            match retry_delay(claimed.attempts) {
                Some(delay) => next.next_attempt_at = Some(at.plus(delay)),
                None => {
                    next.state = DeliveryState::Failed;
                    next.next_attempt_at = None;
                }
            }
        }
    }
    next
}

/// The wait after failed attempt number `attempt` (1-based); `None` after
/// the last.
pub fn retry_delay(attempt: u32) -> Option<Duration> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    RETRY_DELAYS_SECONDS.get(index).map(|s| Duration::seconds(*s))
}

/// A delivery whose endpoint is gone or disabled: it ends without an attempt.
pub fn abandon(delivery: &Delivery, reason: &str, now: Timestamp) -> Delivery {
    let mut next = delivery.clone();
    next.state = DeliveryState::Failed;
    next.next_attempt_at = None;
    next.last_error = Some(reason.into());
    next.last_attempt_at = next.last_attempt_at.or(Some(now));
    next.version += 1;
    next
}

/// Why a manual retry is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RetryRefusal {
    #[error("the message was delivered already")]
    Succeeded,
}

/// A delivery set to be tried now, whatever its schedule said. A retry of
/// a message that has used its attempts makes one more and, failing, ends
/// `failed` again.
pub fn manual_retry(delivery: &Delivery, now: Timestamp) -> Result<Delivery, RetryRefusal> {
    if delivery.state == DeliveryState::Succeeded {
        return Err(RetryRefusal::Succeeded);
    }
    let mut next = delivery.clone();
    next.state = DeliveryState::Pending;
    next.next_attempt_at = Some(now);
    next.version += 1;
    Ok(next)
}

#[cfg(test)]
mod tests;
