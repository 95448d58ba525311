use super::*;
use crate::Timestamp;
use crate::event::EventPayload;
use crate::id::{Entropy, EventId, ReferralId};
use crate::money::MoneyDraft;
use crate::partner::{Motion, PartnerId};
use crate::prospect::ProspectKey;
use crate::sla::{SlaKind, SlaStatus, SlaSubject, SlaTimer};
use crate::terms::{AttributionRole, ProgramTerms};
use chrono::Duration;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn now() -> Timestamp {
    at("2026-11-22T12:00:00Z")
}

fn terms() -> ProgramTerms {
    ProgramTerms::from_toml("").unwrap()
}

fn eid() -> EventId {
    EventId::generate(now(), Entropy(5))
}

fn referral_id() -> ReferralId {
    ReferralId::generate(at("2026-11-22T00:00:00Z"), Entropy(1))
}

fn draft(kind: &str, occurred: &str) -> CrmEventDraft {
    CrmEventDraft {
        event_id: Some(format!("crm-{kind}-{occurred}")),
        kind: Some(kind.into()),
        occurred_at: Some(occurred.into()),
        opportunity_id: Some("006Dn00000ABC".into()),
        ..Default::default()
    }
}

fn created(occurred: &str) -> CrmEvent {
    let mut d = draft("opportunity.created", occurred);
    d.referral_id = Some(referral_id().to_string());
    d.name = Some("Acme - Platform".into());
    d.amount = Some(MoneyDraft { amount: Some("50000.00".into()), currency: Some("USD".into()) });
    d.owner_email = Some("owner@example.com".into());
    CrmEvent::parse(d, now().plus(Duration::days(30))).unwrap()
}

fn source() -> SourceFacts {
    SourceFacts {
        source: Source::Referral(referral_id()),
        partner_id: PartnerId::parse("alpha").unwrap(),
        prospect_key: ProspectKey::from_stored("acme.com".into()),
        motion: Motion::Referral,
        status: "received".into(),
        creation_timer: Some(SlaTimer::start(
            SlaSubject::Referral(referral_id().to_string()),
            SlaKind::OpportunityCreation,
            "0",
            PartnerId::parse("alpha").unwrap(),
            ProspectKey::from_stored("acme.com".into()),
            at("2026-11-22T00:00:00Z"),
            24,
        )),
    }
}

fn opened() -> CrmChange {
    create_opportunity(&created("2026-11-22T10:00:00Z"), &source(), &terms(), now(), eid()).unwrap()
}

fn apply(change: &CrmChange, d: CrmEventDraft) -> Result<Option<CrmChange>, CrmRefusal> {
    let event = CrmEvent::parse(d, now().plus(Duration::days(30))).unwrap();
    apply_to_opportunity(&event, &change.opportunity, &change.opportunity_timers, &terms(), now(), eid())
}

#[test]
fn creation_links_meets_the_referral_timer_and_starts_the_notes_timer() {
    let change = opened();
    let update = change.source_update.clone().unwrap();
    assert_eq!((update.from.as_deref(), update.to.as_str()), (Some("received"), "opportunity_created"));
    let met = update.timer.unwrap();
    assert_eq!(met.status, SlaStatus::Met);
    assert_eq!(met.met_at, Some(at("2026-11-22T10:00:00Z")));
    assert_eq!(
        change.opportunity.attribution,
        vec![Attribution {
            partner_id: PartnerId::parse("alpha").unwrap(),
            role: AttributionRole::Sourced,
            share_bps: 10_000
        }]
    );
    let notes = &change.opportunity_timers[0];
    assert_eq!(notes.kind, SlaKind::NotesUpdate);
    assert_eq!(notes.due_at, at("2026-11-29T10:00:00Z"));
    assert_eq!(change.events[0].detail_type(), "OpportunityLinked");
}

#[test]
fn a_late_opportunity_does_not_meet_the_timer() {
    let late =
        create_opportunity(&created("2026-11-23T00:00:01Z"), &source(), &terms(), now().plus(Duration::days(1)), eid())
            .unwrap();
    assert_eq!(late.source_update.unwrap().timer, None);
}

#[test]
fn notes_updates_roll_the_timer_and_ignore_older_ones() {
    let change = opened();
    let next = apply(&change, draft("opportunity.notes_updated", "2026-11-25T10:00:00Z")).unwrap().unwrap();
    assert_eq!(next.opportunity.notes_seq, 2);
    let first = next.opportunity_timers.iter().find(|t| t.seq == "000001").unwrap();
    assert_eq!(first.status, SlaStatus::Met);
    let second = next.opportunity_timers.iter().find(|t| t.seq == "000002").unwrap();
    assert_eq!(second.due_at, at("2026-12-02T10:00:00Z"));
    assert_eq!(
        apply(&next, draft("opportunity.notes_updated", "2026-11-24T10:00:00Z")).unwrap(),
        None,
        "older changes nothing"
    );
}

#[test]
fn meetings_start_and_meet_follow_ups() {
    let change = opened();
    let mut held = draft("meeting.held", "2026-11-23T09:00:00Z");
    held.meeting_id = Some("m-1".into());
    let held = apply(&change, held).unwrap().unwrap();
    let timer = held.changed_timers[0].clone();
    assert_eq!((timer.kind, timer.due_at), (SlaKind::PartnerFollowUp, at("2026-11-24T09:00:00Z")));
    let mut sent = draft("meeting.follow_up_sent", "2026-11-24T09:00:00Z");
    sent.meeting_id = Some("m-1".into());
    let sent = apply(&held, sent).unwrap().unwrap();
    assert_eq!(sent.changed_timers[0].status, SlaStatus::Met, "met exactly at due_at");
    let mut unknown = draft("meeting.follow_up_sent", "2026-11-24T09:00:00Z");
    unknown.meeting_id = Some("m-2".into());
    assert_eq!(apply(&held, unknown), Err(CrmRefusal::UnknownMeeting));
}

fn closed(outcome: &str, amount: &str) -> CrmEventDraft {
    let mut d = draft("opportunity.closed", "2026-12-01T00:00:00Z");
    d.outcome = Some(outcome.into());
    d.amount = Some(MoneyDraft { amount: Some(amount.into()), currency: Some("USD".into()) });
    d.closed_at = Some("2026-12-01T00:00:00Z".into());
    d
}

fn refund(amount: &str) -> CrmEventDraft {
    let mut d = draft("opportunity.refunded", "2026-12-10T00:00:00Z");
    d.refunded_amount = Some(MoneyDraft { amount: Some(amount.into()), currency: Some("USD".into()) });
    d.refunded_at = Some("2026-12-10T00:00:00Z".into());
    d
}

#[test]
fn closing_ends_notes_emits_closed_or_lost_and_refunds_are_capped() {
    let change = opened();
    let won = apply(&change, closed("won", "48000.00")).unwrap().unwrap();
    assert_eq!(won.opportunity.status, OpportunityStatus::Won);
    assert_eq!(won.events[0].detail_type(), "DealClosed");
    assert_eq!(won.source_update.as_ref().unwrap().to, "won");
    let notes = &won.opportunity_timers[0];
    assert_eq!(notes.ended_at, Some(at("2026-12-01T00:00:00Z")), "notes_update ends at close");
    assert_eq!(notes.next_check_at(), Some(notes.due_at), "closed after it was due: the sweep still breaches it");
    let first = apply(&won, refund("40000.00")).unwrap().unwrap();
    assert_eq!(first.opportunity.refunded_minor, 4_000_000);
    assert_eq!(first.events[0].detail_type(), "DealRefunded");
    assert_eq!(apply(&first, refund("8000.01")), Err(CrmRefusal::RefundExceedsAmount));
    assert!(apply(&first, refund("8000.00")).unwrap().is_some());
    let lost = apply(&change, closed("lost", "1.00")).unwrap().unwrap();
    assert_eq!(lost.events.len(), 1);
    assert_eq!(lost.events[0].detail_type(), "DealLost", "a lost deal is announced too (webhooks, reports)");
    assert!(matches!(&won.events[0].payload, EventPayload::DealClosed(c) if c.partner_id.is_some()));
    assert_eq!(apply(&lost, refund("1.00")), Err(CrmRefusal::NotWon));
}

#[test]
fn parsing_checks_time_types_and_attribution() {
    let future = CrmEvent::parse(draft("opportunity.notes_updated", "2026-11-22T12:05:01Z"), now());
    assert!(matches!(future, Err(CrmParseError::Fields(e)) if e.as_slice()[0].field == "occurred_at"));
    assert!(CrmEvent::parse(draft("opportunity.notes_updated", "2026-11-22T12:05:00Z"), now()).is_ok());
    let unknown = CrmEvent::parse(draft("opportunity.deleted", "2026-11-22T12:00:00Z"), now());
    assert!(matches!(unknown, Err(CrmParseError::Fields(e)) if e.as_slice()[0].field == "type"));
    let mut over = draft("opportunity.closed", "2026-11-22T12:00:00Z");
    over.outcome = Some("won".into());
    over.amount = Some(MoneyDraft { amount: Some("1.00".into()), currency: Some("USD".into()) });
    over.closed_at = Some("2026-11-22T12:00:00Z".into());
    over.attribution = Some(vec![
        AttributionDraft { partner_id: Some("alpha".into()), role: Some("sourced".into()), share_bps: Some(7000) },
        AttributionDraft { partner_id: Some("beta".into()), role: Some("influenced".into()), share_bps: Some(3001) },
    ]);
    assert_eq!(CrmEvent::parse(over, now()), Err(CrmParseError::AttributionOver100));
}
