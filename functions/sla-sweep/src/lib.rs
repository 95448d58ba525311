//! `sla-sweep`: every five minutes, the SLA sweep (`partnerops_app::sweep`)
//! at the wall clock.

/// The schedule the template gives this function.
pub const SCHEDULE: &str = "rate(5 minutes)";
