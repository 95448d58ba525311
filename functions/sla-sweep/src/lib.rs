//! `sla-sweep`: every five minutes, reads the timers that are due from the
//! sparse due-time index and applies SPEC §8: due soon at 75% of the window,
//! breach when `due_at < now`, escalation one window later, each exactly once.
//!
//! Each timer's change is written with its events in one transaction,
//! conditional on the timer's revision, so concurrent or repeated sweeps
//! signal nothing twice.

use partnerops_aws::{Store, StoreError};
use partnerops_domain::Timestamp;
use partnerops_domain::event::sla_events;
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::sla::sweep_timer;
use serde::Serialize;

/// The schedule the template gives this function.
pub const SCHEDULE: &str = "rate(5 minutes)";

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
}

pub async fn sweep(store: &dyn Store, now: Timestamp) -> Result<SweepReport, StoreError> {
    let due = store.due_timers(now).await?;
    let mut report =
        SweepReport { items_read: due.items_read, queries: due.queries, due: due.timers.len(), ..Default::default() };
    for timer in &due.timers {
        let Some((after, signals)) = sweep_timer(timer, now) else { continue };
        let events =
            sla_events(&after, &signals, now, || EventId::generate(now, Entropy(rand::random::<u128>() >> 48)));
        match store.record_sweep(timer, &after, &events).await {
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
            Err(e) => return Err(e),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
