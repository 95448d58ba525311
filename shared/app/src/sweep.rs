//! The SLA sweep: every five minutes (deployed), reads the timers that are due from the
//! sparse due-time index and applies SPEC §8: due soon at 75% of the window,
//! breach when `due_at < now`, escalation one window later, each exactly once.
//!
//! Each timer's change is written with its events in one transaction,
//! conditional on the timer's revision, so concurrent or repeated sweeps
//! signal nothing twice.

use crate::fresh_event_id;
use futures::StreamExt as _;
use partnerops_aws::StoreError;
use partnerops_aws::store::{Registrations, SlaTimers};
use partnerops_domain::Timestamp;
use partnerops_domain::event::{DomainEvent, sla_events};
use partnerops_domain::registration::{ExpiryStep, ExpiryWatch, expire_registration, sweep_expiry};
use partnerops_domain::sla::{SlaSignal, SlaTimer, sweep_timer};
use serde::Serialize;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Index items read: grows with the number of due timers, not with history.
    pub items_read: usize,
    pub queries: usize,
    pub due: usize,
    pub changed: usize,
    pub signals: usize,
    /// Timers another sweep changed first; skipped without signalling.
    pub skipped: usize,
    pub expiring_notices: usize,
    pub expired: usize,
}

/// What the sweep reads and writes: the timers, and the registrations
/// whose protection expires.
pub trait SweepStore: SlaTimers + Registrations {}

impl<T: SlaTimers + Registrations + ?Sized> SweepStore for T {}

/// Timer writes in flight at once. Each is its own conditional transaction,
/// so their order does not matter, and a sweep that breaches thousands of
/// timers waits on the table's latency that many times over, not one by one.
pub const CONCURRENT_WRITES: usize = 16;

pub async fn sweep<S: SweepStore + ?Sized>(store: &S, now: Timestamp) -> Result<SweepReport, StoreError> {
    let due = store.due_timers(now).await?;
    let mut report =
        SweepReport { items_read: due.items_read, queries: due.queries, due: due.timers.len(), ..Default::default() };
    // Collected, so the future holds no closure over the timers' borrows
    // (which would keep it from being Send to a spawned handler).
    let writes: Vec<_> = due
        .timers
        .iter()
        .filter_map(|timer| sweep_timer(timer, now).map(|(after, signals)| record(store, timer, after, signals, now)))
        .collect();
    let mut written = futures::stream::iter(writes).buffer_unordered(CONCURRENT_WRITES);
    let mut failure = None;
    while let Some((after, events, written)) = written.next().await {
        match written {
            Ok(()) => {
                report.changed += 1;
                report.signals += events.len();
                for event in &events {
                    tracing::info!(
                        detail_type = event.detail_type(),
                        subject = after.subject.id(),
                        kind = after.kind.as_str(),
                        "SLA signal"
                    );
                }
            }
            Err(StoreError::Conflict(_)) => report.skipped += 1,
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    drop(written);
    if let Some(e) = failure {
        return Err(e);
    }
    for watch in &due.expiries {
        let Some(step) = sweep_expiry(watch, now, fresh_event_id(now)) else { continue };
        let result = match step {
            ExpiryStep::Notice(after, event) => store.record_expiry_notice(watch, &after, &event).await.map(|()| {
                report.expiring_notices += 1;
            }),
            ExpiryStep::Expire => expire(store, watch, now).await.map(|expired| {
                report.expired += usize::from(expired);
            }),
        };
        match result {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => report.skipped += 1,
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

/// Writes one timer's change with its events: the change, the events and how it went.
async fn record<S: SweepStore + ?Sized>(
    store: &S,
    timer: &SlaTimer,
    after: SlaTimer,
    signals: Vec<SlaSignal>,
    now: Timestamp,
) -> (SlaTimer, Vec<DomainEvent>, Result<(), StoreError>) {
    let events = sla_events(&after, &signals, now, || fresh_event_id(now));
    let written = store.record_sweep(timer, &after, &events).await;
    (after, events, written)
}

/// Expires a registration whose protection ended and releases its customer.
async fn expire<S: SweepStore + ?Sized>(store: &S, watch: &ExpiryWatch, now: Timestamp) -> Result<bool, StoreError> {
    let Some(record) = store.registration(&watch.registration_id).await? else { return Ok(false) };
    let queue = store.registration_queue(&watch.customer_key).await?;
    let change = expire_registration(&record.registration, &queue, watch, now, fresh_event_id(now))
        .map_err(|_| StoreError::Conflict("the registration"))?;
    store.apply_queue_change(&change).await?;
    let expired = !change.changes.is_empty();
    if expired {
        tracing::info!(registration_id = %watch.registration_id, "deal registration expired");
    }
    Ok(expired)
}

#[cfg(test)]
mod tests;
