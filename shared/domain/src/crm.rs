//! CRM events (SPEC §7): opportunities linked to referrals and registrations,
//! notes, meetings, closing and refunds, and the SLA timers they meet and start.

pub use crate::attribution::Attribution;

mod apply;
mod event;
mod opportunity;

pub use apply::{
    CrmChange, CrmRefusal, SourceFacts, SourceUpdate, UNCHANGED, apply_to_opportunity, create_opportunity,
};
pub use event::{
    AttributionDraft, CrmEvent, CrmEventDraft, CrmEventKind, CrmParseError, DEDUPE_DAYS, MAX_FUTURE_SKEW_MINUTES,
    Outcome, Source, is_external_id,
};
pub use opportunity::{Opportunity, OpportunityStatus};

#[cfg(test)]
mod tests;
