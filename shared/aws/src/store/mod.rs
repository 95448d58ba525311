//! The store port: every read and write the handlers need, named by what it
//! means. `DynamoStore` is the real one; `MemoryStore` keeps the same
//! conditional semantics in memory for benchmarks and fast tests.

mod dynamo;
pub mod items;
mod memory;

pub use dynamo::{DynamoStore, ExportCursor, ExportRecord, ExportState, OPEN_SHARDS};
pub use memory::MemoryStore;

use async_trait::async_trait;
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{KeyHash, Role};
use partnerops_domain::crm::{CrmChange, Opportunity};
use partnerops_domain::event::DomainEvent;
use partnerops_domain::id::RegistrationId;
use partnerops_domain::id::{KeyId, ReferralId};
use partnerops_domain::partner::{Certification, Partner, PartnerId};
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::{AcceptedReferral, ProspectStanding, Referral, ReferralStatus, RejectedReferral};
use partnerops_domain::registration::{
    AuditEntry, CustomerStanding, ExpiryWatch, QueueChange, Recorded, Registration, RegistrationQueue,
    RegistrationStatus,
};
use partnerops_domain::sla::{SlaTimer, SlaView};
use serde::{Deserialize, Serialize};

/// DynamoDB's limit on the items of one TransactWriteItems; both twins split
/// a registration cascade at it the same way.
pub(crate) const MAX_TRANSACTION_ITEMS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost to a concurrent one; re-read and decide again.
    #[error("a concurrent write changed {0}")]
    Conflict(&'static str),
    #[error("cursor is not valid for this list")]
    InvalidCursor,
    /// The CRM event was applied already (it is delivered at least once).
    #[error("the CRM event was applied already")]
    AlreadyApplied,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What an API key grants, as stored (the key itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub key_id: KeyId,
    pub hash: KeyHash,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<PartnerId>,
    pub label: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

/// A referral with its SLA timers as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralRecord {
    #[serde(flatten)]
    pub referral: Referral,
    pub slas: Vec<SlaView>,
    /// The timers behind `slas`, for rules that meet them.
    #[serde(skip)]
    pub timers: Vec<SlaTimer>,
}

/// An opportunity with its SLA timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpportunityRecord {
    pub opportunity: Opportunity,
    pub timers: Vec<SlaTimer>,
}

impl From<items::ReferralItem> for ReferralRecord {
    fn from(item: items::ReferralItem) -> Self {
        let timers = items::timer_list(item.sla_timers);
        Self { referral: item.value, slas: timers.iter().map(SlaTimer::view).collect(), timers }
    }
}

impl From<items::RegistrationItem> for RegistrationRecord {
    fn from(item: items::RegistrationItem) -> Self {
        Self { registration: item.value, timers: items::timer_list(item.sla_timers) }
    }
}

/// What one sweep read from the due-time index.
#[derive(Debug, Clone, Default)]
pub struct DueTimers {
    pub timers: Vec<SlaTimer>,
    pub expiries: Vec<ExpiryWatch>,
    /// Index items read (DynamoDB's `ScannedCount`, summed over pages).
    pub items_read: usize,
    pub queries: usize,
}

/// A registration with its SLA timers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRecord {
    #[serde(flatten)]
    pub registration: Registration,
    pub timers: Vec<SlaTimer>,
}

#[derive(Debug, Clone, Default)]
pub struct RegistrationQuery {
    pub partner_id: Option<PartnerId>,
    pub status: Option<RegistrationStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct ReferralQuery {
    pub partner_id: Option<PartnerId>,
    pub status: Option<ReferralStatus>,
}

#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u16,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A response kept for an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub content_type: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use of the key: run the request, then complete or abandon.
    Started,
    /// The same request already ran: answer with its response.
    Completed(StoredResponse),
    /// The same request is running right now.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// The outcome of claiming a notification delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryClaim {
    /// Send it, then mark it sent (or release it if the send failed).
    Claimed,
    /// It was sent already: send nothing.
    Sent,
    /// Another delivery of the event is sending it right now: try later.
    InFlight,
}

#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The principal's key id and a hash of the client's key.
    pub record_key: String,
    pub request_hash: String,
}

#[async_trait]
pub trait Store: Send + Sync {
    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;
    /// `false` when no such key exists. Revoking twice keeps the first time.
    async fn revoke_api_key(&self, key_id: &KeyId, at: Timestamp) -> Result<bool, StoreError>;

    async fn partner(&self, id: &PartnerId) -> Result<Option<Partner>, StoreError>;
    /// `false` when a partner with that id exists already.
    async fn create_partner(&self, partner: &Partner) -> Result<bool, StoreError>;
    /// Replaces a partner read at `read_at` (its `updated_at`); a concurrent
    /// update in between is a `Conflict`.
    async fn update_partner(&self, partner: &Partner, read_at: Timestamp) -> Result<(), StoreError>;
    async fn certifications(&self, partner: &PartnerId) -> Result<Vec<Certification>, StoreError>;

    /// Marks prospects as existing customers (idempotent).
    async fn mark_customers(&self, keys: &[ProspectKey], at: Timestamp) -> Result<(), StoreError>;
    async fn prospect_standing(&self, key: &ProspectKey) -> Result<ProspectStanding, StoreError>;

    /// Writes the referral, its claim, its SLA timer and its event in one
    /// transaction; `Conflict` if the prospect's claim changed since read.
    async fn record_accepted_referral(&self, accepted: &AcceptedReferral) -> Result<(), StoreError>;
    /// Writes the rejected referral and its event in one transaction.
    async fn record_rejected_referral(&self, rejected: &RejectedReferral) -> Result<(), StoreError>;
    async fn referral(&self, id: &ReferralId) -> Result<Option<ReferralRecord>, StoreError>;
    async fn referrals(&self, query: &ReferralQuery, page: &PageRequest) -> Result<Page<ReferralRecord>, StoreError>;

    /// Existing-customer mark and registration queue of a customer (one read).
    async fn customer_standing(&self, key: &ProspectKey) -> Result<CustomerStanding, StoreError>;
    async fn registration_queue(&self, key: &ProspectKey) -> Result<RegistrationQueue, StoreError>;
    /// A customer's queue and a partner, in one read: what a decision needs
    /// besides the registration itself.
    async fn queue_and_partner(
        &self,
        key: &ProspectKey,
        partner: &PartnerId,
    ) -> Result<(RegistrationQueue, Option<Partner>), StoreError>;
    /// Writes a submitted registration with its audit entry, timer, events and
    /// queue change in one transaction; `Conflict` if the queue moved.
    async fn record_registration(&self, recorded: &Recorded) -> Result<(), StoreError>;
    async fn registration(&self, id: &RegistrationId) -> Result<Option<RegistrationRecord>, StoreError>;
    async fn registrations(
        &self,
        query: &RegistrationQuery,
        page: &PageRequest,
    ) -> Result<Page<RegistrationRecord>, StoreError>;
    async fn registration_history(&self, id: &RegistrationId) -> Result<Vec<AuditEntry>, StoreError>;
    /// Applies a decision or withdrawal: every status change (conditional on
    /// the status read), the queue (conditional on its version), timers,
    /// audit entries and events. `Conflict` if anything moved.
    async fn apply_queue_change(&self, change: &QueueChange) -> Result<(), StoreError>;
    /// Records a certification and the partner it updates (read at `read_at`).
    async fn add_certification(
        &self,
        certification: &Certification,
        partner: &Partner,
        read_at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Whether a CRM `event_id` was processed within the last 30 days.
    async fn crm_event_seen(&self, event_id: &str, now: Timestamp) -> Result<bool, StoreError>;
    async fn opportunity(&self, id: &str) -> Result<Option<OpportunityRecord>, StoreError>;
    /// Writes a CRM event's effects with its dedupe record in one transaction.
    /// `Conflict("the CRM event")` when the event was processed meanwhile;
    /// any other `Conflict` when something it read changed.
    async fn apply_crm(&self, change: &CrmChange, now: Timestamp) -> Result<(), StoreError>;

    /// Every timer whose next check is due at `now`, from the sparse due-time
    /// index (never a scan), with the number of items read.
    async fn due_timers(&self, now: Timestamp) -> Result<DueTimers, StoreError>;
    /// Writes a swept timer, its copy on its subject and its events in one
    /// transaction; `Conflict` if the timer changed since it was read.
    async fn record_sweep(&self, before: &SlaTimer, after: &SlaTimer, events: &[DomainEvent])
    -> Result<(), StoreError>;
    /// Records an expiry notice with its event, conditional on the watch's `rev`.
    async fn record_expiry_notice(
        &self,
        before: &ExpiryWatch,
        after: &ExpiryWatch,
        event: &DomainEvent,
    ) -> Result<(), StoreError>;

    /// Claims (event, delivery) before a send, with a conditional put: at
    /// most one claim holds at a time, and none once it is sent.
    async fn claim_delivery(&self, event_id: &str, delivery: &str, now: Timestamp)
    -> Result<DeliveryClaim, StoreError>;
    async fn delivery_sent(&self, event_id: &str, delivery: &str, now: Timestamp) -> Result<(), StoreError>;
    /// Gives a claim back after a failed send, so a retry may send.
    async fn release_delivery(&self, event_id: &str, delivery: &str) -> Result<(), StoreError>;

    async fn idempotency_begin(&self, key: &IdempotencyKey, now: Timestamp) -> Result<IdempotencyBegin, StoreError>;
    async fn idempotency_complete(
        &self,
        key: &IdempotencyKey,
        response: &StoredResponse,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    async fn idempotency_abandon(&self, key: &IdempotencyKey) -> Result<(), StoreError>;
}

/// The item name of a CRM event's dedupe record in `apply_crm`'s write.
pub(crate) const CRM_EVENT_SEEN: &str = "the CRM event";

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_HOURS: i64 = 24;
/// How long a running request holds its `Idempotency-Key` (well over any
/// function timeout); after that a retry may take it over.
pub const IDEMPOTENCY_LEASE_SECONDS: i64 = 60;
/// How long a claimed delivery holds before a retry may take it over (well
/// over the notifier's timeout, so a slow send is never repeated).
pub const DELIVERY_LEASE_SECONDS: i64 = 120;
/// How long a sent delivery is remembered (longer than any redelivery).
pub const DELIVERY_RETENTION_DAYS: i64 = 30;
/// How long a published outbox item stays in the table.
pub const OUTBOX_RETENTION_DAYS: i64 = 7;
/// Number of partitions the SLA due-time index is spread over.
pub const DUE_INDEX_SHARDS: u32 = 8;
