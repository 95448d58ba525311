//! Reports (SPEC §19): what one SLA timer or one opportunity contributes to
//! the per-day aggregates, and the rows a report reads back from them.
//!
//! A report never recounts history: every change to a timer or opportunity
//! replaces its previous contribution with its new one, so the aggregates of
//! a day always equal a recount of that day's records. Rates and medians are
//! exact (integers, half-even); money stays in minor units per currency.

mod days;
mod fact;
mod measures;
mod pipeline;
mod sla;

pub use days::{DayRange, MAX_RANGE_DAYS, Slot, day_of, delta};
pub use fact::{Contribution, Fact, subject_key, subjects_of};
pub use measures::{median_minutes, median_tenth_days, rate_bps, tenth_days_json};
pub use pipeline::{
    PIPELINE_CSV_HEADER, PipelineCounts, PipelineGrouping, PipelineRow, RoleCounts, RoleSide, opportunity_contribution,
    pipeline_rows, write_pipeline_csv,
};
pub use sla::{
    SLA_CSV_HEADER, SlaCounts, SlaGrouping, SlaRow, UNASSIGNED, sla_rows, timer_contribution, write_sla_csv,
};

#[cfg(test)]
mod tests;
