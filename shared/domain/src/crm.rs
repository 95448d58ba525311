//! CRM events (SPEC §7): opportunities linked to referrals and registrations,
//! notes, meetings, closing and refunds, and the SLA timers they meet and start.

use crate::Timestamp;
pub use crate::attribution::Attribution;
use crate::event::{
    DealClosed, DealLost, DealRefunded, DomainEvent, EventPayload, OpportunityLinked, OpportunityUpdated,
};
use crate::field::{FieldErrors, bounded_text};
use crate::id::{EventId, ReferralId, RegistrationId};
use crate::money::Money;
use crate::money::{MoneyDraft, parse_money};
use crate::partner::{Motion, PartnerId, parse_email};
use crate::prospect::ProspectKey;
use crate::sla::{SlaKind, SlaSubject, SlaTimer};
use crate::terms::{AttributionRole, ProgramTerms};
use chrono::Duration;
use serde::{Deserialize, Serialize};

/// How far in the future an `occurred_at` may be (clock skew).
pub const MAX_FUTURE_SKEW_MINUTES: i64 = 5;
/// How long an `event_id` is remembered.
pub const DEDUPE_DAYS: i64 = 30;

#[derive(Debug, Default, Clone, Deserialize)]
pub struct AttributionDraft {
    pub partner_id: Option<String>,
    pub role: Option<String>,
    pub share_bps: Option<i64>,
}

/// The body of `POST /v1/crm/events`: every field any type uses.
#[derive(Debug, Default, Deserialize)]
pub struct CrmEventDraft {
    pub event_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub occurred_at: Option<String>,
    pub opportunity_id: Option<String>,
    pub referral_id: Option<String>,
    pub deal_registration_id: Option<String>,
    pub name: Option<String>,
    pub amount: Option<MoneyDraft>,
    pub owner_email: Option<String>,
    pub attribution: Option<Vec<AttributionDraft>>,
    pub meeting_id: Option<String>,
    pub outcome: Option<String>,
    pub closed_at: Option<String>,
    pub refunded_amount: Option<MoneyDraft>,
    pub refunded_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Referral(ReferralId),
    Registration(RegistrationId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Won,
    Lost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmEventKind {
    OpportunityCreated {
        source: Source,
        name: String,
        amount: Money,
        owner_email: String,
        attribution: Option<Vec<Attribution>>,
    },
    NotesUpdated,
    MeetingHeld {
        meeting_id: String,
    },
    FollowUpSent {
        meeting_id: String,
    },
    Closed {
        outcome: Outcome,
        amount: Money,
        closed_at: Timestamp,
        attribution: Option<Vec<Attribution>>,
    },
    Refunded {
        refunded_amount: Money,
        refunded_at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmEvent {
    pub event_id: String,
    pub opportunity_id: String,
    pub occurred_at: Timestamp,
    pub kind: CrmEventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmParseError {
    Fields(FieldErrors),
    /// Shares above 10000 bps in total: 422 `attribution_exceeds_100_percent`.
    AttributionOver100,
}

/// Whether `raw` can be a CRM-side identifier at all: a read by any other
/// id is answered 404 without a store call (and never sends DynamoDB a key
/// over its size limit).
pub fn is_external_id(raw: &str) -> bool {
    external_id(raw).is_ok()
}

/// CRM-side identifiers: 1-128 visible ASCII characters.
fn external_id(raw: &str) -> Result<String, &'static str> {
    if (1..=128).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(raw.to_owned())
    } else {
        Err("must be 1-128 visible ASCII characters")
    }
}

fn parse_attribution(
    drafts: Vec<AttributionDraft>,
    errors: &mut FieldErrors,
) -> Result<Option<Vec<Attribution>>, CrmParseError> {
    if drafts.is_empty() || drafts.len() > 20 {
        errors.push("attribution", "must list 1-20 entries");
        return Ok(None);
    }
    let mut out = Vec::new();
    for (i, d) in drafts.into_iter().enumerate() {
        let partner = errors.required(&format!("attribution[{i}].partner_id"), d.partner_id);
        let partner = partner.and_then(|p| errors.check(&format!("attribution[{i}].partner_id"), PartnerId::parse(&p)));
        let role = errors.required(&format!("attribution[{i}].role"), d.role).and_then(|r| match r.as_str() {
            "sourced" => Some(AttributionRole::Sourced),
            "influenced" => Some(AttributionRole::Influenced),
            _ => {
                errors.push(format!("attribution[{i}].role"), "must be sourced or influenced");
                None
            }
        });
        let share =
            errors.required(&format!("attribution[{i}].share_bps"), d.share_bps).and_then(|s| match u32::try_from(s) {
                Ok(s) if (1..=10_000).contains(&s) => Some(s),
                _ => {
                    errors.push(format!("attribution[{i}].share_bps"), "must be from 1 to 10000");
                    None
                }
            });
        if let (Some(partner_id), Some(role), Some(share_bps)) = (partner, role, share) {
            out.push(Attribution { partner_id, role, share_bps });
        }
    }
    if errors.is_empty() && out.iter().map(|a| u64::from(a.share_bps)).sum::<u64>() > 10_000 {
        return Err(CrmParseError::AttributionOver100);
    }
    Ok(Some(out))
}

impl CrmEvent {
    pub fn parse(draft: CrmEventDraft, now: Timestamp) -> Result<Self, CrmParseError> {
        let mut errors = FieldErrors::new();
        let event_id =
            errors.required("event_id", draft.event_id).and_then(|e| errors.check("event_id", external_id(&e)));
        let opportunity_id = errors
            .required("opportunity_id", draft.opportunity_id)
            .and_then(|o| errors.check("opportunity_id", external_id(&o)));
        let occurred_at = errors.required("occurred_at", draft.occurred_at).and_then(|t| {
            let parsed = Timestamp::parse(&t).map_err(|e| e.to_string()).and_then(|t| {
                if t > now.plus(Duration::minutes(MAX_FUTURE_SKEW_MINUTES)) {
                    Err("must not be more than 5 minutes in the future".to_owned())
                } else {
                    Ok(t)
                }
            });
            errors.check("occurred_at", parsed)
        });
        let timestamp = |field: &str, value: Option<String>, errors: &mut FieldErrors| {
            errors.required(field, value).and_then(|t| errors.check(field, Timestamp::parse(&t)))
        };
        let kind = match errors.required("type", draft.kind).as_deref() {
            None => None,
            Some("opportunity.created") => {
                let source = match (draft.referral_id, draft.deal_registration_id) {
                    (Some(r), None) => ReferralId::parse(&r).map(Source::Referral).or_else(|| {
                        errors.push("referral_id", "is not a referral id");
                        None
                    }),
                    (None, Some(r)) => RegistrationId::parse(&r).map(Source::Registration).or_else(|| {
                        errors.push("deal_registration_id", "is not a deal registration id");
                        None
                    }),
                    _ => {
                        errors.push("referral_id", "give exactly one of referral_id or deal_registration_id");
                        None
                    }
                };
                let name =
                    errors.required("name", draft.name).and_then(|n| errors.check("name", bounded_text(&n, 1, 200)));
                let amount = parse_money("amount", draft.amount, &mut errors);
                let owner = errors
                    .required("owner_email", draft.owner_email)
                    .and_then(|e| errors.check("owner_email", parse_email(&e)));
                let attribution = match draft.attribution {
                    Some(a) => parse_attribution(a, &mut errors)?,
                    None => None,
                };
                (|| {
                    Some(CrmEventKind::OpportunityCreated {
                        source: source?,
                        name: name?,
                        amount: amount?,
                        owner_email: owner?,
                        attribution,
                    })
                })()
            }
            Some("opportunity.notes_updated") => Some(CrmEventKind::NotesUpdated),
            Some(kind @ ("meeting.held" | "meeting.follow_up_sent")) => {
                let meeting = errors
                    .required("meeting_id", draft.meeting_id)
                    .and_then(|m| errors.check("meeting_id", external_id(&m)));
                meeting.map(|meeting_id| {
                    if kind == "meeting.held" {
                        CrmEventKind::MeetingHeld { meeting_id }
                    } else {
                        CrmEventKind::FollowUpSent { meeting_id }
                    }
                })
            }
            Some("opportunity.closed") => {
                let outcome = errors.required("outcome", draft.outcome).and_then(|o| match o.as_str() {
                    "won" => Some(Outcome::Won),
                    "lost" => Some(Outcome::Lost),
                    _ => {
                        errors.push("outcome", "must be won or lost");
                        None
                    }
                });
                let amount = parse_money("amount", draft.amount, &mut errors);
                let closed_at = timestamp("closed_at", draft.closed_at, &mut errors);
                let attribution = match draft.attribution {
                    Some(a) => parse_attribution(a, &mut errors)?,
                    None => None,
                };
                (|| {
                    Some(CrmEventKind::Closed {
                        outcome: outcome?,
                        amount: amount?,
                        closed_at: closed_at?,
                        attribution,
                    })
                })()
            }
            Some("opportunity.refunded") => {
                let refunded_amount = parse_money("refunded_amount", draft.refunded_amount, &mut errors);
                let refunded_at = timestamp("refunded_at", draft.refunded_at, &mut errors);
                (|| Some(CrmEventKind::Refunded { refunded_amount: refunded_amount?, refunded_at: refunded_at? }))()
            }
            Some(_) => {
                errors.push(
                    "type",
                    "must be opportunity.created, opportunity.notes_updated, meeting.held, meeting.follow_up_sent, opportunity.closed or opportunity.refunded",
                );
                None
            }
        };
        let event = (|| {
            Some(CrmEvent {
                event_id: event_id?,
                opportunity_id: opportunity_id?,
                occurred_at: occurred_at?,
                kind: kind?,
            })
        })();
        errors.finish(event).map_err(CrmParseError::Fields)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityStatus {
    Open,
    Won,
    Lost,
}

impl OpportunityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityStatus::Open => "open",
            OpportunityStatus::Won => "won",
            OpportunityStatus::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opportunity {
    pub id: String,
    pub name: String,
    pub amount: Money,
    pub owner_email: String,
    #[serde(default)]
    pub referral_id: Option<ReferralId>,
    #[serde(default)]
    pub deal_registration_id: Option<RegistrationId>,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    pub motion: Motion,
    pub attribution: Vec<Attribution>,
    pub status: OpportunityStatus,
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    /// Refunded so far, in minor units of `amount`'s currency.
    #[serde(default)]
    pub refunded_minor: i64,
    pub last_notes_at: Timestamp,
    pub notes_seq: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The `occurred_at` of its `opportunity.created` (absent on
    /// opportunities stored before it was kept: `created_at` stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<Timestamp>,
    #[serde(default)]
    pub rev: u64,
}

impl Opportunity {
    /// When the CRM says it was created.
    pub fn opened(&self) -> Timestamp {
        self.opened_at.unwrap_or(self.created_at)
    }
}

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

#[cfg(test)]
mod tests;
