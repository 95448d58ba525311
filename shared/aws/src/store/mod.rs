//! The store, one port per area. Each port's file declares it and holds its
//! two implementations side by side: `DynamoStore` on the one table, and
//! `MemoryStore`, which keeps the same conditional semantics in memory for
//! benchmarks and fast tests. One contract suite (tests/tests/store_contract.rs)
//! holds both to the same behaviour.
//!
//! A consumer takes only the ports it uses; `Store` is every port at once,
//! for the HTTP functions' shared state.

mod crm;
mod deliveries;
mod dynamo;
mod idempotency;
pub mod items;
mod keys;
mod memory;
mod partners;
mod payouts;
mod people;
mod prospects;
mod referrals;
mod registrations;
mod reports;
mod sla;
mod slack;
mod webhooks;

pub use crm::{Opportunities, OpportunityRecord};
pub use deliveries::{DELIVERY_LEASE_SECONDS, DELIVERY_RETENTION_DAYS, DeliveryClaim, NotificationDeliveries};
pub use dynamo::DynamoStore;
pub use idempotency::{
    IDEMPOTENCY_HOURS, IDEMPOTENCY_LEASE_SECONDS, Idempotency, IdempotencyBegin, IdempotencyKey, StoredResponse,
};
pub use keys::{ApiKeyRecord, ApiKeys};
pub use memory::MemoryStore;
pub use partners::Partners;
pub use payouts::{ExportCursor, ExportRecord, ExportState, OPEN_SHARDS, PayoutExports, PayoutLines};
pub use people::{RateLimits, ReferralForms, SignIns, Users};
pub use prospects::Prospects;
pub use referrals::{ReferralQuery, ReferralRecord, Referrals};
pub use registrations::{RegistrationQuery, RegistrationRecord, Registrations};
pub use reports::{DayTallies, ReportDays, ReportKind, ReportTallies, Tallies, pipeline_counts, sla_counts};
pub use sla::{DUE_INDEX_SHARDS, DueTimers, SlaTimers};
pub use slack::SlackMessages;
pub use webhooks::{WEBHOOK_DELIVERY_RETENTION_DAYS, WEBHOOK_DUE_SHARDS, WebhookDeliveries, WebhookEndpoints};

/// Every port trait, for code that calls them on a concrete store.
pub mod ports {
    pub use super::{
        ApiKeys, Idempotency, NotificationDeliveries, Opportunities, Partners, PayoutExports, PayoutLines, Prospects,
        RateLimits, ReferralForms, Referrals, Registrations, ReportTallies, SignIns, SlaTimers, SlackMessages, Store,
        Users, WebhookDeliveries, WebhookEndpoints,
    };
}

/// Every port at once: what wiring code (the dev stack, the tests) holds a
/// concrete store to. Handlers and use cases take only the ports they use.
pub trait Store:
    ApiKeys
    + Partners
    + Prospects
    + Referrals
    + Registrations
    + Opportunities
    + SlaTimers
    + NotificationDeliveries
    + Idempotency
    + PayoutLines
    + PayoutExports
    + Users
    + RateLimits
    + SignIns
    + ReferralForms
    + SlackMessages
    + WebhookEndpoints
    + WebhookDeliveries
    + ReportTallies
{
}

impl<T> Store for T where
    T: ApiKeys
        + Partners
        + Prospects
        + Referrals
        + Registrations
        + Opportunities
        + SlaTimers
        + NotificationDeliveries
        + Idempotency
        + PayoutLines
        + PayoutExports
        + Users
        + RateLimits
        + SignIns
        + ReferralForms
        + SlackMessages
        + WebhookEndpoints
        + WebhookDeliveries
        + ReportTallies
        + ?Sized
{
}

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

/// How long a published outbox item stays in the table.
pub const OUTBOX_RETENTION_DAYS: i64 = 7;
