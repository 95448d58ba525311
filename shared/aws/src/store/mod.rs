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
mod error;
mod idempotency;
pub mod items;
mod keys;
mod memory;
mod paging;
mod partners;
mod payout_exports;
mod payout_lines;
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
pub use error::StoreError;
pub use idempotency::{
    IDEMPOTENCY_HOURS, IDEMPOTENCY_LEASE_SECONDS, Idempotency, IdempotencyBegin, IdempotencyKey, StoredResponse,
};
pub use items::{DUE_INDEX_SHARDS, OUTBOX_RETENTION_DAYS};
pub use keys::{ApiKeyRecord, ApiKeys};
pub use memory::MemoryStore;
pub use paging::{Page, PageRequest};
pub use partners::Partners;
pub use payout_exports::{ExportCursor, ExportRecord, ExportState, PayoutExports};
pub use payout_lines::{OPEN_SHARDS, PayoutLines};
pub use people::{RateLimits, ReferralForms, SignIns, Users};
pub use prospects::Prospects;
pub use referrals::{ReferralQuery, ReferralRecord, Referrals};
pub use registrations::{RegistrationQuery, RegistrationRecord, Registrations};
pub use reports::{DayTallies, ReportDays, ReportKind, ReportTallies, Tallies, pipeline_counts, sla_counts};
pub use sla::{DueTimers, SlaTimers};
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
