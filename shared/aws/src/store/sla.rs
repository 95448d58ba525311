//! SLA timers as the sweep reads and writes them, and registration expiry watches.

use super::items::outbox_item;
use crate::store::DUE_INDEX_SHARDS;
use crate::store::dynamo::{from_item, key_of, n, query_counted, s, to_item, to_value};
use crate::store::items::{DUE_INDEX, ExpiryWatchItem, SlaTimerItem, subject_pk, subject_sk, timer_key};
use crate::{DynamoStore, StoreError};
use async_trait::async_trait;
use partnerops_domain::Timestamp;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::registration::ExpiryWatch;
use partnerops_domain::sla::SlaTimer;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What one sweep read from the due-time index.
#[derive(Debug, Clone, Default)]
pub struct DueTimers {
    pub timers: Vec<SlaTimer>,
    pub expiries: Vec<ExpiryWatch>,
    /// Index items read (DynamoDB's `ScannedCount`, summed over pages).
    pub items_read: usize,
    pub queries: usize,
}

#[async_trait]
pub trait SlaTimers: Send + Sync {
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
}

#[async_trait]
impl SlaTimers for DynamoStore {
    async fn due_timers(&self, now: Timestamp) -> Result<DueTimers, StoreError> {
        // `~` sorts after every character of a key, so this takes every entry
        // whose next check is at or before `now`.
        let upto = format!("{}#~", now.to_rfc3339());
        let mut due = DueTimers::default();
        for shard in 0..DUE_INDEX_SHARDS {
            let read = query_counted(
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(DUE_INDEX)
                    .key_condition_expression("DUEPK = :shard AND DUESK <= :upto")
                    .expression_attribute_values(":shard", s(format!("DUE#{shard}")))
                    .expression_attribute_values(":upto", s(upto.clone())),
            )
            .await?;
            due.queries += read.queries;
            due.items_read += read.items_read;
            for item in read.items {
                match item.get("entity").and_then(|e| e.as_s().ok()).map(String::as_str) {
                    Some("registration_expiry") => due.expiries.push(from_item::<ExpiryWatchItem>(item)?.watch),
                    _ => due.timers.push(from_item::<SlaTimerItem>(item)?.timer),
                }
            }
        }
        Ok(due)
    }

    async fn record_sweep(
        &self,
        before: &SlaTimer,
        after: &SlaTimer,
        events: &[DomainEvent],
    ) -> Result<(), StoreError> {
        let pk = subject_pk(&after.subject);
        let mut items = vec![
            self.put_with_values(
                to_item(&SlaTimerItem::new(pk.clone(), after.clone()))?,
                "rev = :rev",
                HashMap::from([(":rev".to_owned(), n(before.rev))]),
            )?,
            self.update(
                key_of(&pk, subject_sk(&after.subject)),
                "SET sla_timers.#k = :timer ADD rev :one",
                Some("attribute_exists(PK)"),
                vec![("#k", &timer_key(after))],
                HashMap::from([(":timer".to_owned(), to_value(after)?), (":one".to_owned(), n(1))]),
            )?,
        ];
        let mut names = vec!["the SLA timer", "the timer's subject"];
        for event in events {
            items.push(self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?);
            names.push("the outbox");
        }
        self.transact(items, &names).await
    }

    async fn record_expiry_notice(
        &self,
        before: &ExpiryWatch,
        after: &ExpiryWatch,
        event: &DomainEvent,
    ) -> Result<(), StoreError> {
        let items = vec![
            self.put_with_values(
                to_item(&ExpiryWatchItem::new(after.clone()))?,
                "rev = :rev",
                HashMap::from([(":rev".to_owned(), n(before.rev))]),
            )?,
            self.put(to_item(&outbox_item(event))?, Some("attribute_not_exists(PK)"))?,
        ];
        self.transact(items, &["the expiry watch", "the outbox"]).await
    }
}

/// The in-memory twin's timers by (subject id, timer key), and the due-time
/// index: timers the sweep still has to look at, by their next check, as
/// DynamoDB's sparse DUE index holds them.
#[derive(Default, Clone)]
pub(super) struct TimerState {
    pub(super) records: BTreeMap<(String, String), SlaTimer>,
    pub(super) due: BTreeSet<(Timestamp, String, String)>,
}
