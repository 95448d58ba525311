//! A CRM event as posted (SPEC §7): its draft, the checks that make it an
//! event, and what kind of change it is.

use crate::Timestamp;
use crate::attribution::Attribution;
use crate::field::{FieldErrors, bounded_text};
use crate::id::{ReferralId, RegistrationId};
use crate::money::{Money, MoneyDraft, parse_money};
use crate::partner::{PartnerId, parse_email};
use crate::terms::AttributionRole;
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
