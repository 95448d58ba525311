//! What an event does to its opportunity: the change to write (the
//! opportunity, its source's status, the timers it meets and starts, the
//! events it emits) or why it is refused.

use super::event::{CrmEvent, CrmEventKind, Outcome, Source};
use super::opportunity::{Opportunity, OpportunityStatus};
use crate::Timestamp;
use crate::attribution::Attribution;
use crate::event::{
    DealClosed, DealLost, DealRefunded, DomainEvent, EventPayload, OpportunityLinked, OpportunityUpdated,
};
use crate::id::EventId;
use crate::money::Money;
use crate::partner::{Motion, PartnerId};
use crate::prospect::ProspectKey;
use crate::sla::{SlaKind, SlaSubject, SlaTimer};
use crate::terms::{AttributionRole, ProgramTerms};

/// What a referral or registration contributes to a new opportunity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFacts {
    pub source: Source,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    pub motion: Motion,
    /// The status a source must still have for the link (`received`, `approved`…).
    pub status: String,
    /// The referral's open `opportunity_creation` timer, if any.
    pub creation_timer: Option<SlaTimer>,
}

/// A status change on the referral or registration behind an opportunity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUpdate {
    pub source: Source,
    /// The status the write requires the source to still have; `None`: any,
    /// as long as it exists (a close follows whatever the source became).
    pub from: Option<String>,
    pub to: String,
    pub opportunity_id: Option<String>,
    pub timer: Option<SlaTimer>,
}

/// Everything one CRM event writes, in one transaction with its dedupe record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmChange {
    pub event_id: String,
    pub opportunity: Opportunity,
    /// `None`: the opportunity must not exist yet.
    pub opportunity_read_rev: Option<u64>,
    /// Every timer of the opportunity after the change.
    pub opportunity_timers: Vec<SlaTimer>,
    /// The opportunity's timers this change writes (new or changed).
    pub changed_timers: Vec<SlaTimer>,
    pub source_update: Option<SourceUpdate>,
    pub events: Vec<DomainEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmRefusal {
    #[error("no opportunity with this id has been created")]
    UnknownOpportunity,
    #[error("the opportunity exists already")]
    OpportunityExists,
    #[error("the referral or registration cannot take an opportunity: {0}")]
    SourceUnavailable(&'static str),
    #[error("no meeting.held was received for this meeting")]
    UnknownMeeting,
    #[error("the opportunity is not won")]
    NotWon,
    #[error("refunds would exceed the closed amount")]
    RefundExceedsAmount,
    #[error("the amount's currency differs from the opportunity's")]
    CurrencyMismatch,
}

/// A CRM event that changes nothing (an older notes update, a repeated meeting).
pub const UNCHANGED: Option<CrmChange> = None;

/// `opportunity.created`: links the opportunity, meets the referral's
/// creation timer if in time, and starts the weekly notes timer.
pub fn create_opportunity(
    event: &CrmEvent,
    source: &SourceFacts,
    terms: &ProgramTerms,
    now: Timestamp,
    event_id: EventId,
) -> Result<CrmChange, CrmRefusal> {
    let CrmEventKind::OpportunityCreated { name, amount, owner_email, attribution, .. } = &event.kind else {
        return Err(CrmRefusal::UnknownOpportunity);
    };
    let attribution = attribution.clone().unwrap_or_else(|| {
        vec![Attribution { partner_id: source.partner_id.clone(), role: AttributionRole::Sourced, share_bps: 10_000 }]
    });
    let opportunity = Opportunity {
        id: event.opportunity_id.clone(),
        name: name.clone(),
        amount: *amount,
        owner_email: owner_email.clone(),
        referral_id: match &source.source {
            Source::Referral(id) => Some(id.clone()),
            Source::Registration(_) => None,
        },
        deal_registration_id: match &source.source {
            Source::Registration(id) => Some(id.clone()),
            Source::Referral(_) => None,
        },
        partner_id: source.partner_id.clone(),
        prospect_key: source.prospect_key.clone(),
        motion: source.motion,
        attribution,
        status: OpportunityStatus::Open,
        closed_at: None,
        refunded_minor: 0,
        last_notes_at: event.occurred_at,
        notes_seq: 1,
        created_at: now,
        updated_at: now,
        opened_at: Some(event.occurred_at),
        rev: 0,
    };
    let notes = notes_timer(&opportunity, 1, event.occurred_at, terms);
    let to = match source.source {
        Source::Referral(_) => "opportunity_created",
        Source::Registration(_) => source.status.as_str(),
    }
    .to_owned();
    let source_update = SourceUpdate {
        source: source.source.clone(),
        from: Some(source.status.clone()),
        to,
        opportunity_id: Some(opportunity.id.clone()),
        timer: source.creation_timer.as_ref().and_then(|t| t.meet(event.occurred_at)),
    };
    let linked = DomainEvent::new(
        event_id,
        now,
        EventPayload::OpportunityLinked(OpportunityLinked {
            opportunity_id: opportunity.id.clone(),
            referral_id: opportunity.referral_id.clone(),
            deal_registration_id: opportunity.deal_registration_id.clone(),
            partner_id: opportunity.partner_id.clone(),
            prospect_key: opportunity.prospect_key.clone(),
            amount: opportunity.amount,
        }),
    );
    Ok(CrmChange {
        event_id: event.event_id.clone(),
        opportunity,
        opportunity_read_rev: None,
        opportunity_timers: vec![notes.clone()],
        changed_timers: vec![notes],
        source_update: Some(source_update),
        events: vec![linked],
    })
}

fn notes_timer(opportunity: &Opportunity, seq: u32, started: Timestamp, terms: &ProgramTerms) -> SlaTimer {
    SlaTimer::start(
        SlaSubject::Opportunity(opportunity.id.clone()),
        SlaKind::NotesUpdate,
        format!("{seq:06}"),
        opportunity.partner_id.clone(),
        opportunity.prospect_key.clone(),
        started,
        terms.sla.windows_hours.notes_update,
    )
    .named(opportunity.name.clone())
}

/// Every other CRM event type, applied to an existing opportunity with its timers.
pub fn apply_to_opportunity(
    event: &CrmEvent,
    opportunity: &Opportunity,
    timers: &[SlaTimer],
    terms: &ProgramTerms,
    now: Timestamp,
    event_id: EventId,
) -> Result<Option<CrmChange>, CrmRefusal> {
    let mut after = Opportunity { rev: opportunity.rev + 1, updated_at: now, ..opportunity.clone() };
    let mut all: Vec<SlaTimer> = timers.to_vec();
    let mut changed = Vec::new();
    let mut events = Vec::new();
    let mut source_update = None;
    let replace = |all: &mut Vec<SlaTimer>, changed: &mut Vec<SlaTimer>, t: SlaTimer| {
        all.retain(|x| !(x.kind == t.kind && x.seq == t.seq));
        all.push(t.clone());
        changed.push(t);
    };
    let current_notes = |all: &[SlaTimer], seq: u32| {
        all.iter().find(|t| t.kind == SlaKind::NotesUpdate && t.seq == format!("{seq:06}")).cloned()
    };
    match &event.kind {
        CrmEventKind::OpportunityCreated { .. } => return Err(CrmRefusal::OpportunityExists),
        CrmEventKind::NotesUpdated => {
            if opportunity.status != OpportunityStatus::Open || event.occurred_at <= opportunity.last_notes_at {
                return Ok(UNCHANGED);
            }
            if let Some(met) = current_notes(&all, opportunity.notes_seq).and_then(|t| t.meet(event.occurred_at)) {
                replace(&mut all, &mut changed, met);
            } else if let Some(ended) =
                current_notes(&all, opportunity.notes_seq).and_then(|t| t.end(event.occurred_at))
            {
                replace(&mut all, &mut changed, ended);
            }
            after.notes_seq += 1;
            after.last_notes_at = event.occurred_at;
            replace(&mut all, &mut changed, notes_timer(&after, after.notes_seq, event.occurred_at, terms));
        }
        CrmEventKind::MeetingHeld { meeting_id } => {
            if all.iter().any(|t| t.kind == SlaKind::PartnerFollowUp && &t.seq == meeting_id) {
                return Ok(UNCHANGED);
            }
            let timer = SlaTimer::start(
                SlaSubject::Opportunity(opportunity.id.clone()),
                SlaKind::PartnerFollowUp,
                meeting_id.clone(),
                opportunity.partner_id.clone(),
                opportunity.prospect_key.clone(),
                event.occurred_at,
                terms.sla.windows_hours.partner_follow_up,
            )
            .named(opportunity.name.clone());
            replace(&mut all, &mut changed, timer);
        }
        CrmEventKind::FollowUpSent { meeting_id } => {
            let timer = all
                .iter()
                .find(|t| t.kind == SlaKind::PartnerFollowUp && &t.seq == meeting_id)
                .cloned()
                .ok_or(CrmRefusal::UnknownMeeting)?;
            match timer.meet(event.occurred_at) {
                Some(met) => replace(&mut all, &mut changed, met),
                None => return Ok(UNCHANGED),
            }
        }
        CrmEventKind::Closed { outcome, amount, closed_at, attribution } => {
            if amount.currency() != opportunity.amount.currency() {
                return Err(CrmRefusal::CurrencyMismatch);
            }
            if let Some(ended) = current_notes(&all, opportunity.notes_seq).and_then(|t| t.end(event.occurred_at)) {
                replace(&mut all, &mut changed, ended);
            }
            let to = match outcome {
                Outcome::Won => OpportunityStatus::Won,
                Outcome::Lost => OpportunityStatus::Lost,
            };
            after.status = to;
            after.amount = *amount;
            after.closed_at = Some(*closed_at);
            if let Some(a) = attribution {
                after.attribution = a.clone();
            }
            let (source, from) = match (&opportunity.referral_id, &opportunity.deal_registration_id) {
                (Some(r), _) => (Source::Referral(r.clone()), None),
                (None, Some(r)) => (Source::Registration(r.clone()), None),
                (None, None) => return Err(CrmRefusal::UnknownOpportunity),
            };
            let outcome_status = match outcome {
                Outcome::Won => "won",
                Outcome::Lost => "lost",
            };
            source_update =
                Some(SourceUpdate { source, from, to: outcome_status.into(), opportunity_id: None, timer: None });
            let payload = match outcome {
                Outcome::Won => EventPayload::DealClosed(DealClosed {
                    opportunity_id: after.id.clone(),
                    referral_id: after.referral_id.clone(),
                    deal_registration_id: after.deal_registration_id.clone(),
                    partner_id: Some(after.partner_id.clone()),
                    prospect_key: after.prospect_key.clone(),
                    motion: after.motion,
                    amount: after.amount,
                    closed_at: *closed_at,
                    attribution: after.attribution.clone(),
                }),
                Outcome::Lost => EventPayload::DealLost(DealLost {
                    opportunity_id: after.id.clone(),
                    referral_id: after.referral_id.clone(),
                    deal_registration_id: after.deal_registration_id.clone(),
                    partner_id: after.partner_id.clone(),
                    prospect_key: after.prospect_key.clone(),
                    motion: after.motion,
                    amount: after.amount,
                    closed_at: *closed_at,
                }),
            };
            events.push(DomainEvent::new(event_id.clone(), now, payload));
        }
        CrmEventKind::Refunded { refunded_amount, refunded_at } => {
            if opportunity.status != OpportunityStatus::Won {
                return Err(CrmRefusal::NotWon);
            }
            if refunded_amount.currency() != opportunity.amount.currency() {
                return Err(CrmRefusal::CurrencyMismatch);
            }
            let total = opportunity.refunded_minor.saturating_add(refunded_amount.minor_units());
            if total > opportunity.amount.minor_units() {
                return Err(CrmRefusal::RefundExceedsAmount);
            }
            after.refunded_minor = total;
            events.push(DomainEvent::new(
                event_id.clone(),
                now,
                EventPayload::DealRefunded(DealRefunded {
                    opportunity_id: after.id.clone(),
                    refunded_amount: *refunded_amount,
                    refunded_total: Money::from_minor(total, refunded_amount.currency()),
                    refunded_at: *refunded_at,
                    amount: after.amount,
                    closed_at: after.closed_at,
                }),
            ));
        }
    }
    if let Some(activity) = match &event.kind {
        CrmEventKind::NotesUpdated => Some("notes_updated"),
        CrmEventKind::MeetingHeld { .. } => Some("meeting_held"),
        CrmEventKind::FollowUpSent { .. } => Some("follow_up_sent"),
        _ => None,
    } {
        events.push(DomainEvent::new(
            event_id,
            now,
            EventPayload::OpportunityUpdated(OpportunityUpdated {
                opportunity_id: after.id.clone(),
                partner_id: after.partner_id.clone(),
                activity: activity.to_owned(),
                activity_at: event.occurred_at,
            }),
        ));
    }
    Ok(Some(CrmChange {
        event_id: event.event_id.clone(),
        opportunity: after,
        opportunity_read_rev: Some(opportunity.rev),
        opportunity_timers: all,
        changed_timers: changed,
        source_update,
        events,
    }))
}
