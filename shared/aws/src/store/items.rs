//! The single-table layout: key builders and item shapes. docs/data-model.md
//! lists every item type with its keys and access patterns.

use chrono::Duration;
use partnerops_domain::Timestamp;
use partnerops_domain::crm::Opportunity;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::partner::{Certification, Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::{Referral, ReferralClaim};
use partnerops_domain::registration::{AuditEntry, ExpiryWatch, Registration, RegistrationQueue};
use partnerops_domain::sla::{SlaSubject, SlaTimer};
use serde::{Deserialize, Serialize};

pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1PK: &str = "GSI1PK";
pub const GSI1SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2PK: &str = "GSI2PK";
pub const GSI2SK: &str = "GSI2SK";

pub fn api_key_pk(key_id: &str) -> String {
    format!("APIKEY#{key_id}")
}
pub const API_KEY_SK: &str = "APIKEY";

pub fn partner_pk(id: &PartnerId) -> String {
    format!("PARTNER#{id}")
}
pub const PARTNER_SK: &str = "PROFILE";
pub const CERT_SK_PREFIX: &str = "CERT#";

pub fn prospect_pk(key: &ProspectKey) -> String {
    format!("PROSPECT#{key}")
}
pub const CUSTOMER_SK: &str = "CUSTOMER";
pub const REFERRAL_CLAIM_SK: &str = "REFERRAL_CLAIM";
pub const REGISTRATION_CLAIM_SK: &str = "REGISTRATION_CLAIM";

pub fn referral_pk(id: &str) -> String {
    format!("REFERRAL#{id}")
}
pub const REFERRAL_SK: &str = "REFERRAL";
pub fn partner_referrals(partner: &PartnerId) -> String {
    format!("PARTNER#{partner}#REFERRALS")
}
pub const ALL_REFERRALS: &str = "REFERRALS";

pub fn outbox_pk(event_id: &str) -> String {
    format!("OUTBOX#{event_id}")
}
pub const OUTBOX_SK: &str = "OUTBOX";

pub fn delivery_pk(event_id: &str) -> String {
    format!("NOTIFY#{event_id}")
}
pub fn delivery_sk(delivery: &str) -> String {
    format!("DELIVERY#{delivery}")
}

pub fn idempotency_pk(record_key: &str) -> String {
    format!("IDEMPOTENCY#{record_key}")
}
pub const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

/// The partition of the item a timer measures.
pub fn subject_pk(subject: &SlaSubject) -> String {
    match subject {
        SlaSubject::Referral(id) => referral_pk(id),
        SlaSubject::DealRegistration(id) => registration_pk(id),
        SlaSubject::Opportunity(id) => opportunity_pk(id),
    }
}

/// The subject item's sort key.
pub fn subject_sk(subject: &SlaSubject) -> &'static str {
    match subject {
        SlaSubject::Referral(_) => REFERRAL_SK,
        SlaSubject::DealRegistration(_) => REGISTRATION_SK,
        SlaSubject::Opportunity(_) => OPPORTUNITY_SK,
    }
}

pub const DUE_INDEX: &str = "DUE";

/// A timer's key within its subject: `<kind>#<seq>`.
pub fn timer_key(timer: &SlaTimer) -> String {
    format!("{}#{}", timer.kind.as_str(), timer.seq)
}

pub fn timer_sk(timer: &SlaTimer) -> String {
    format!("SLA#{}", timer_key(timer))
}

/// A subject's timers keyed by `timer_key`, as stored on the subject so the
/// sweep can update one without reading the subject.
pub fn timer_map(timers: Vec<SlaTimer>) -> std::collections::BTreeMap<String, SlaTimer> {
    timers.into_iter().map(|t| (timer_key(&t), t)).collect()
}

/// Timers in the order they started.
pub fn timer_list(map: std::collections::BTreeMap<String, SlaTimer>) -> Vec<SlaTimer> {
    let mut timers: Vec<SlaTimer> = map.into_values().collect();
    timers.sort_by(|a, b| (a.started_at, a.kind.as_str(), &a.seq).cmp(&(b.started_at, b.kind.as_str(), &b.seq)));
    timers
}

/// Spreads the due-time index over a few partitions so that no single
/// partition takes every timer write; the sweep queries each shard.
pub fn due_shard(pk: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in pk.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % DUE_INDEX_SHARDS
}

/// An item that is one domain value under its keys.
#[derive(Debug, Serialize, Deserialize)]
pub struct Keyed<T> {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(flatten)]
    pub value: T,
}

impl<T> Keyed<T> {
    pub(super) fn new(pk: String, sk: impl Into<String>, entity: &str, value: T) -> Self {
        Self { pk, sk: sk.into(), entity: entity.to_owned(), value }
    }
}

impl Keyed<Partner> {
    pub fn partner(partner: Partner) -> Self {
        Self::new(partner_pk(&partner.id), PARTNER_SK, "partner", partner)
    }
}

impl Keyed<Certification> {
    pub fn certification(certification: Certification) -> Self {
        let sk = format!("{CERT_SK_PREFIX}{}", certification.id);
        Self::new(partner_pk(&certification.partner_id), sk, "certification", certification)
    }
}

impl Keyed<ReferralClaim> {
    pub fn referral_claim(claim: ReferralClaim) -> Self {
        Self::new(prospect_pk(&claim.prospect_key), REFERRAL_CLAIM_SK, "referral_claim", claim)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CustomerItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub prospect_key: ProspectKey,
    pub marked_at: Timestamp,
}

impl Keyed<RegistrationQueue> {
    pub fn registration_queue(key: &ProspectKey, queue: RegistrationQueue) -> Self {
        Self::new(prospect_pk(key), REGISTRATION_CLAIM_SK, "registration_queue", queue)
    }
}

pub fn registration_pk(id: &str) -> String {
    format!("REGISTRATION#{id}")
}
pub const REGISTRATION_SK: &str = "REGISTRATION";
pub const HISTORY_SK_PREFIX: &str = "HIST#";
pub fn partner_registrations(partner: &PartnerId) -> String {
    format!("PARTNER#{partner}#REGISTRATIONS")
}
pub const ALL_REGISTRATIONS: &str = "REGISTRATIONS";

/// Where an audit entry sorts in its registration's history: by time, then
/// by the stage of its status, so entries of one instant keep their order.
pub fn audit_sk(entry: &AuditEntry) -> String {
    format!("{HISTORY_SK_PREFIX}{}#{}#{}", entry.at.to_rfc3339(), entry.to.stage(), entry.to.as_str())
}

impl Keyed<AuditEntry> {
    pub fn audit(entry: AuditEntry) -> Self {
        let sk = audit_sk(&entry);
        Self::new(registration_pk(entry.registration_id.as_str()), sk, "audit", entry)
    }
}

/// A referral or registration: listed per partner (GSI1) and program-wide
/// (GSI2), newest first by id, with its SLA timers kept on the item.
#[derive(Debug, Serialize, Deserialize)]
pub struct Listed<T> {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "GSI1PK")]
    pub gsi1pk: String,
    #[serde(rename = "GSI1SK")]
    pub gsi1sk: String,
    #[serde(rename = "GSI2PK")]
    pub gsi2pk: String,
    #[serde(rename = "GSI2SK")]
    pub gsi2sk: String,
    pub entity: String,
    #[serde(flatten)]
    pub value: T,
    #[serde(default)]
    pub sla_timers: std::collections::BTreeMap<String, SlaTimer>,
}

pub type ReferralItem = Listed<Referral>;
pub type RegistrationItem = Listed<Registration>;

impl<T> Listed<T> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        pk: String,
        sk: &str,
        partner_list: String,
        all: &str,
        id: String,
        entity: &str,
        value: T,
        timers: Vec<SlaTimer>,
    ) -> Self {
        Self {
            pk,
            sk: sk.into(),
            gsi1pk: partner_list,
            gsi1sk: id.clone(),
            gsi2pk: all.into(),
            gsi2sk: id,
            entity: entity.into(),
            value,
            sla_timers: timer_map(timers),
        }
    }
}

impl Listed<Referral> {
    pub fn referral(referral: Referral, timers: Vec<SlaTimer>) -> Self {
        let id = referral.id.to_string();
        let partner_list = partner_referrals(&referral.partner_id);
        Self::new(referral_pk(&id), REFERRAL_SK, partner_list, ALL_REFERRALS, id, "referral", referral, timers)
    }
}

impl Listed<Registration> {
    pub fn registration(registration: Registration, timers: Vec<SlaTimer>) -> Self {
        let id = registration.id.to_string();
        let partner_list = partner_registrations(&registration.partner_id);
        Self::new(
            registration_pk(&id),
            REGISTRATION_SK,
            partner_list,
            ALL_REGISTRATIONS,
            id,
            "registration",
            registration,
            timers,
        )
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SlaTimerItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    /// Present only while the sweep still has something to decide: the
    /// due-time index is sparse.
    #[serde(rename = "DUEPK", default, skip_serializing_if = "Option::is_none")]
    pub due_pk: Option<String>,
    #[serde(rename = "DUESK", default, skip_serializing_if = "Option::is_none")]
    pub due_sk: Option<String>,
    pub entity: String,
    #[serde(flatten)]
    pub timer: SlaTimer,
}

impl SlaTimerItem {
    pub fn new(subject_pk: String, timer: SlaTimer) -> Self {
        let sk = timer_sk(&timer);
        let (due_pk, due_sk) = match timer.next_check_at() {
            Some(at) => (
                Some(format!("DUE#{}", due_shard(&subject_pk))),
                Some(format!("{}#{subject_pk}#{sk}", at.to_rfc3339())),
            ),
            None => (None, None),
        };
        Self { pk: subject_pk, sk, due_pk, due_sk, entity: "sla_timer".into(), timer }
    }
}

pub fn opportunity_pk(id: &str) -> String {
    format!("OPPORTUNITY#{id}")
}
pub const OPPORTUNITY_SK: &str = "OPPORTUNITY";

pub fn crm_event_pk(event_id: &str) -> String {
    format!("CRMEVENT#{event_id}")
}
pub const CRM_EVENT_SK: &str = "CRMEVENT";

#[derive(Debug, Serialize, Deserialize)]
pub struct OpportunityItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    #[serde(flatten)]
    pub opportunity: Opportunity,
    #[serde(default)]
    pub sla_timers: std::collections::BTreeMap<String, SlaTimer>,
}

impl OpportunityItem {
    pub fn new(opportunity: Opportunity, timers: Vec<SlaTimer>) -> Self {
        Self {
            pk: opportunity_pk(&opportunity.id),
            sk: OPPORTUNITY_SK.into(),
            entity: "opportunity".into(),
            opportunity,
            sla_timers: timer_map(timers),
        }
    }
}

/// Remembers a processed CRM `event_id` for 30 days.
#[derive(Debug, Serialize, Deserialize)]
pub struct CrmEventItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub processed_at: Timestamp,
    pub ttl: i64,
}

pub const EXPIRY_SK: &str = "EXPIRY";

/// An approval's expiry watch; in the due-time index while it has work left.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExpiryWatchItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    #[serde(rename = "DUEPK", default, skip_serializing_if = "Option::is_none")]
    pub due_pk: Option<String>,
    #[serde(rename = "DUESK", default, skip_serializing_if = "Option::is_none")]
    pub due_sk: Option<String>,
    pub entity: String,
    #[serde(flatten)]
    pub watch: ExpiryWatch,
}

impl ExpiryWatchItem {
    pub fn new(watch: ExpiryWatch) -> Self {
        let pk = registration_pk(watch.registration_id.as_str());
        let (due_pk, due_sk) = match watch.next_check_at() {
            Some(at) => {
                (Some(format!("DUE#{}", due_shard(&pk))), Some(format!("{}#{pk}#{EXPIRY_SK}", at.to_rfc3339())))
            }
            None => (None, None),
        };
        Self { pk, sk: EXPIRY_SK.into(), due_pk, due_sk, entity: "registration_expiry".into(), watch }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    pub event_id: String,
    pub detail_type: String,
    /// The EventBridge detail, as the JSON text that will be published.
    pub detail: String,
    pub occurred_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<Timestamp>,
    /// DynamoDB TTL (epoch seconds).
    pub ttl: i64,
}

/// One notification delivery, (event, channel, recipient): claimed before
/// the send, marked sent after it.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliveryItem {
    #[serde(rename = "PK")]
    pub pk: String,
    #[serde(rename = "SK")]
    pub sk: String,
    pub entity: String,
    /// `sending` or `sent`.
    pub state: String,
    /// While sending: until when (epoch seconds) the claim holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    pub ttl: i64,
}

/// Number of partitions the SLA due-time index is spread over.
pub const DUE_INDEX_SHARDS: u32 = 8;

/// DynamoDB's limit on the items of one TransactWriteItems; both twins split
/// a registration cascade at it the same way.
pub(crate) const MAX_TRANSACTION_ITEMS: usize = 100;

/// How long a published outbox item stays in the table.
pub const OUTBOX_RETENTION_DAYS: i64 = 7;

pub fn outbox_item(event: &DomainEvent) -> OutboxItem {
    OutboxItem {
        pk: outbox_pk(event.event_id.as_str()),
        sk: OUTBOX_SK.into(),
        entity: "outbox".into(),
        event_id: event.event_id.to_string(),
        detail_type: event.detail_type().into(),
        detail: event.detail_json(),
        occurred_at: event.occurred_at,
        published_at: None,
        ttl: event.occurred_at.plus(Duration::days(OUTBOX_RETENTION_DAYS)).unix_seconds(),
    }
}
