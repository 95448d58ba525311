use super::*;
use crate::id::Entropy;
use crate::id::EventId;
use crate::money::MoneyDraft;
use crate::partner::Partner;
use crate::partner::{PartnerDraft, new_partner};
use crate::prospect::CompanyDraft;
use crate::sla::SlaKind;
use crate::sla::SlaStatus;
use crate::terms::ProgramTerms;
use chrono::Duration;
use proptest::prelude::*;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn now() -> Timestamp {
    at("2026-11-22T10:00:00Z")
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
}

fn terms() -> ProgramTerms {
    ProgramTerms::from_toml(include_str!("../../../../infra/program.toml")).unwrap()
}

fn partner(id: &str, tier: &str, certified: bool) -> Partner {
    let draft =
        PartnerDraft { id: Some(id.into()), name: Some(id.into()), tier: Some(tier.into()), ..Default::default() };
    let mut p = new_partner(draft, now()).unwrap();
    if certified {
        p.certifications.insert(REQUIRED_CERTIFICATION.into(), at("2027-06-01T00:00:00Z"));
    }
    p
}

fn draft(amount: &str, currency: &str) -> RegistrationDraft {
    RegistrationDraft {
        customer: Some(CompanyDraft { name: Some("Globex".into()), domain: Some("www.globex.com".into()) }),
        motion: Some("resell".into()),
        estimated_value: Some(MoneyDraft { amount: Some(amount.into()), currency: Some(currency.into()) }),
        products: Some(vec!["platform".into()]),
        expected_close_date: Some("2027-03-31".into()),
        notes: None,
    }
}

fn ids(n: u128) -> SubmissionIds {
    SubmissionIds {
        registration_id: RegistrationId::generate(now(), Entropy(n)),
        event_ids: [EventId::generate(now(), Entropy(n * 10)), EventId::generate(now(), Entropy(n * 10 + 1))],
    }
}

fn submit(p: &Partner, standing: &CustomerStanding, amount: &str, n: u128) -> SubmissionOutcome {
    let submission = RegistrationSubmission::parse(draft(amount, "USD"), today()).unwrap();
    decide_submission(submission, p, standing, &terms(), now(), ids(n))
}

fn accepted(outcome: SubmissionOutcome) -> Recorded {
    match outcome {
        SubmissionOutcome::Accepted(r) => *r,
        other => panic!("expected accepted, got {other:?}"),
    }
}

/// The standing once `r` committed on top of `before`.
fn after(before: &CustomerStanding, r: &Recorded) -> CustomerStanding {
    let queue = match r.queue_write.clone().unwrap() {
        QueueWrite::Replace { queue, .. } => queue,
        QueueWrite::Append(entry) => {
            let mut q = before.queue.clone();
            q.queue.push(entry);
            q.version += 1;
            q
        }
    };
    CustomerStanding { existing_customer: false, queue }
}

fn standing_after(r: &Recorded) -> CustomerStanding {
    after(&CustomerStanding::default(), r)
}

fn position(standing: &CustomerStanding, r: &Recorded) -> Option<usize> {
    standing.queue.position_of(&r.registration.id)
}

#[test]
fn uncertified_partners_are_refused_before_anything_else() {
    let standing = CustomerStanding { existing_customer: true, ..Default::default() };
    assert_eq!(submit(&partner("alpha", "gold", false), &standing, "100.00", 1), SubmissionOutcome::NotCertified);
    let mut expired = partner("alpha", "gold", false);
    expired.certifications.insert(REQUIRED_CERTIFICATION.into(), now());
    assert_eq!(submit(&expired, &standing, "100.00", 1), SubmissionOutcome::NotCertified);
}

#[test]
fn existing_customers_and_protected_customers_are_rejected() {
    let alpha = partner("alpha", "gold", true);
    let standing = CustomerStanding { existing_customer: true, ..Default::default() };
    let SubmissionOutcome::Rejected(r, refusal) = submit(&alpha, &standing, "100.00", 1) else { panic!() };
    assert_eq!(refusal, SubmissionRefusal::ExistingCustomer);
    assert_eq!(r.registration.reason.as_deref(), Some("existing_customer"));
    assert_eq!(r.registration.status, RegistrationStatus::Rejected);

    let beta = partner("beta", "platinum", true);
    let approved = accepted(submit(&beta, &CustomerStanding::default(), "100.00", 2));
    assert_eq!(approved.registration.status, RegistrationStatus::Approved);
    let SubmissionOutcome::Rejected(r, refusal) = submit(&alpha, &standing_after(&approved), "100.00", 3) else {
        panic!()
    };
    assert_eq!(refusal, SubmissionRefusal::AlreadyRegistered);
    assert_eq!(r.registration.reason.as_deref(), Some("already_registered"));
    assert_eq!(
        submit(&beta, &standing_after(&approved), "5.00", 4),
        SubmissionOutcome::Existing(approved.registration.id)
    );
}

#[test]
fn the_first_pending_registration_leads_and_later_ones_queue() {
    let lead = accepted(submit(&partner("alpha", "gold", true), &CustomerStanding::default(), "125000.00", 1));
    assert_eq!(lead.registration.status, RegistrationStatus::Pending);
    let timer = lead.timer.clone().unwrap();
    assert_eq!(timer.kind, SlaKind::RegistrationDecision);
    assert_eq!(timer.due_at, at("2026-11-24T10:00:00Z"));
    assert!(matches!(lead.queue_write, Some(QueueWrite::Replace { read_version: None, .. })));
    let s1 = standing_after(&lead);
    assert_eq!(position(&s1, &lead), Some(1));

    let second = accepted(submit(&partner("beta", "gold", true), &s1, "10.00", 2));
    assert!(matches!(second.queue_write, Some(QueueWrite::Append(_))));
    let s2 = after(&s1, &second);
    assert_eq!(position(&s2, &second), Some(2));
    assert!(second.timer.is_none(), "only the lead can be decided, so only it is timed");
    let third = accepted(submit(&partner("gamma", "platinum", true), &s2, "10.00", 3));
    let s3 = after(&s2, &third);
    assert_eq!(position(&s3, &third), Some(3));
    assert_eq!(third.registration.status, RegistrationStatus::Pending, "no auto-approval with a conflict");
}

#[test]
fn auto_approval_needs_the_tier_and_a_value_within_the_limit_in_its_currency() {
    let platinum = partner("alpha", "platinum", true);
    let ok = accepted(submit(&platinum, &CustomerStanding::default(), "25000.00", 1));
    assert_eq!(ok.registration.status, RegistrationStatus::Approved);
    assert_eq!(ok.registration.decided_by.as_deref(), Some("system"));
    assert_eq!(ok.registration.protected_until, Some(at("2027-05-21T10:00:00Z")), "platinum tier: 180 days");
    assert_eq!(ok.events.len(), 2);
    let over = accepted(submit(&platinum, &CustomerStanding::default(), "25000.01", 2));
    assert_eq!(over.registration.status, RegistrationStatus::Pending);
    let submission = RegistrationSubmission::parse(draft("100", "EUR"), today()).unwrap();
    let eur = accepted(decide_submission(submission, &platinum, &CustomerStanding::default(), &terms(), now(), ids(3)));
    assert_eq!(eur.registration.status, RegistrationStatus::Pending, "no limit in EUR: never automatic");
    let gold = accepted(submit(&partner("beta", "gold", true), &CustomerStanding::default(), "1.00", 4));
    assert_eq!(gold.registration.status, RegistrationStatus::Pending);
}

fn queue_of(n: usize) -> (Vec<Recorded>, CustomerStanding) {
    let mut standing = CustomerStanding::default();
    let mut recorded = Vec::new();
    for i in 0..n {
        let r = accepted(submit(&partner(&format!("p{i}"), "gold", true), &standing, "10.00", i as u128 + 1));
        standing = after(&standing, &r);
        recorded.push(r);
    }
    (recorded, standing)
}

fn events() -> impl FnMut() -> EventId {
    let mut n = 1000;
    move || {
        n += 1;
        EventId::generate(now(), Entropy(n))
    }
}

fn approve(days: Option<u32>) -> Decision {
    Decision { verdict: Verdict::Approve, reason: None, protection_days: days }
}

#[test]
fn approving_the_lead_rejects_every_other_pending_registration() {
    let (regs, standing) = queue_of(3);
    let lead = &regs[0];
    let timers = vec![lead.timer.clone().unwrap()];
    let owner = partner("p0", "gold", true);
    let later = now().plus(Duration::hours(1));
    let change = decide_registration(
        &lead.registration,
        &timers,
        &standing.queue,
        &approve(None),
        &owner,
        "key_cm",
        &terms(),
        later,
        events(),
    )
    .unwrap();
    assert_eq!(change.changes.len(), 3);
    assert_eq!(change.changes[0].to, RegistrationStatus::Approved);
    assert_eq!(change.changes[0].protected_until, Some(later.plus(Duration::days(120))), "gold tier default");
    for rejected in &change.changes[1..] {
        assert_eq!(rejected.to, RegistrationStatus::Rejected);
        assert_eq!(rejected.reason.as_deref(), Some("already_registered"));
        assert!(rejected.event.is_some());
    }
    assert!(change.queue_after.queue.is_empty());
    assert_eq!(change.queue_after.approved.as_ref().unwrap().registration_id, lead.registration.id);
    assert_eq!(change.queue_read, 3);
    assert_eq!(change.timers.len(), 1);
    assert_eq!(change.timers[0].status, SlaStatus::Met);
    assert_eq!(change.timers[0].met_at, Some(later));
}

#[test]
fn protection_days_come_from_the_request_then_the_tier_then_the_program() {
    let (regs, standing) = queue_of(1);
    let lead = &regs[0];
    let decide = |owner: &Partner, days| {
        decide_registration(
            &lead.registration,
            &[],
            &standing.queue,
            &approve(days),
            owner,
            "cm",
            &terms(),
            now(),
            events(),
        )
        .unwrap()
        .changes[0]
            .protected_until
    };
    assert_eq!(decide(&partner("p0", "gold", true), Some(30)), Some(now().plus(Duration::days(30))));
    assert_eq!(decide(&partner("p0", "gold", true), None), Some(now().plus(Duration::days(120))));
    assert_eq!(decide(&partner("p0", "silver", true), None), Some(now().plus(Duration::days(90))));
}

#[test]
fn only_the_lead_can_be_approved_and_only_pending_ones_decided() {
    let (regs, standing) = queue_of(2);
    let owner = partner("p1", "gold", true);
    let refused = decide_registration(
        &regs[1].registration,
        &[],
        &standing.queue,
        &approve(None),
        &owner,
        "cm",
        &terms(),
        now(),
        events(),
    );
    assert_eq!(refused, Err(ChangeRefused::NotLead));
    let mut decided = regs[0].registration.clone();
    decided.status = RegistrationStatus::Rejected;
    let again =
        decide_registration(&decided, &[], &standing.queue, &approve(None), &owner, "cm", &terms(), now(), events());
    assert_eq!(again, Err(ChangeRefused::AlreadyDecided));
}

#[test]
fn rejecting_the_lead_promotes_the_next_and_starts_its_timer() {
    let (regs, standing) = queue_of(3);
    let reject =
        Decision { verdict: Verdict::Reject, reason: Some("duplicate of an open deal".into()), protection_days: None };
    let owner = partner("p0", "gold", true);
    let later = now().plus(Duration::hours(50));
    let timers = vec![regs[0].timer.clone().unwrap()];
    let change = decide_registration(
        &regs[0].registration,
        &timers,
        &standing.queue,
        &reject,
        &owner,
        "cm",
        &terms(),
        later,
        events(),
    )
    .unwrap();
    assert_eq!(change.changes.len(), 1);
    assert_eq!(change.queue_after.lead().unwrap().registration_id, regs[1].registration.id);
    assert_eq!(change.timers.len(), 1, "the late decision does not meet the timer; the promotion starts one");
    assert_eq!(change.timer_owners, vec![regs[1].registration.id.clone()]);
    assert_eq!(change.timers[0].started_at, later);
    assert_eq!(change.timers[0].status, SlaStatus::Open);
}

#[test]
fn withdrawing_an_approval_releases_the_customer() {
    let platinum = partner("alpha", "platinum", true);
    let approved = accepted(submit(&platinum, &CustomerStanding::default(), "10.00", 1));
    let queue = standing_after(&approved).queue;
    let change = withdraw_registration(
        &approved.registration,
        &[],
        &queue,
        &terms(),
        now(),
        EventId::generate(now(), Entropy(5)),
    )
    .unwrap();
    assert_eq!(change.changes[0].to, RegistrationStatus::Withdrawn);
    assert_eq!(change.queue_after.approved, None);
    let next = accepted(submit(
        &partner("beta", "gold", true),
        &CustomerStanding { existing_customer: false, queue: change.queue_after },
        "1.00",
        2,
    ));
    assert!(matches!(next.queue_write, Some(QueueWrite::Replace { .. })), "the customer is free again");
    let mut gone = approved.registration.clone();
    gone.status = RegistrationStatus::Withdrawn;
    assert_eq!(
        withdraw_registration(&gone, &[], &queue, &terms(), now(), EventId::generate(now(), Entropy(5))),
        Err(ChangeRefused::NotWithdrawable)
    );
}

#[test]
fn validation_names_every_bad_field() {
    let bad = RegistrationDraft {
        customer: Some(CompanyDraft { name: Some("".into()), domain: Some("hotmail.com".into()) }),
        motion: Some("barter".into()),
        estimated_value: Some(MoneyDraft { amount: Some("10.5".into()), currency: Some("JPY".into()) }),
        products: Some(vec!["".into()]),
        expected_close_date: Some("2030-01-01".into()),
        notes: None,
    };
    let errors = RegistrationSubmission::parse(bad, today()).unwrap_err();
    let fields: Vec<_> = errors.as_slice().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        ["customer.name", "customer.domain", "motion", "estimated_value.amount", "products[0]", "expected_close_date"]
    );
    let mut past = draft("1.00", "USD");
    past.expected_close_date = Some("2026-11-21".into());
    assert!(RegistrationSubmission::parse(past, today()).is_err());
    let bhd = RegistrationSubmission::parse(draft("1.234", "BHD"), today()).unwrap();
    assert_eq!(bhd.estimated_value.minor_units(), 1234);
}

#[test]
fn decisions_validate_their_fields() {
    let reject_without_reason = DecisionDraft { decision: Some("reject".into()), reason: None, protection_days: None };
    assert_eq!(Decision::parse(reject_without_reason).unwrap_err().as_slice()[0].field, "reason");
    let bad_days = DecisionDraft { decision: Some("approve".into()), reason: None, protection_days: Some(366) };
    assert_eq!(Decision::parse(bad_days).unwrap_err().as_slice()[0].field, "protection_days");
    let unknown = DecisionDraft { decision: Some("maybe".into()), reason: None, protection_days: None };
    assert_eq!(Decision::parse(unknown).unwrap_err().as_slice()[0].field, "decision");
}

proptest! {
    /// However submissions interleave, a queue has at most one lead, every
    /// position is unique and positions count from 2.
    #[test]
    fn queue_positions_are_unique(n in 1usize..30) {
        let (regs, standing) = queue_of(n);
        let positions: Vec<usize> = regs.iter().skip(1).map(|r| position(&standing, r).unwrap()).collect();
        prop_assert_eq!(positions, (2..=n).collect::<Vec<_>>());
        prop_assert_eq!(standing.queue.queue.len(), n);
        prop_assert_eq!(regs.iter().filter(|r| r.timer.is_some()).count(), 1);
    }
}

#[test]
fn an_approval_is_watched_until_it_expires() {
    let platinum = partner("alpha", "platinum", true);
    let approved = accepted(submit(&platinum, &CustomerStanding::default(), "10.00", 1));
    let watch = approved.watch.clone().unwrap();
    assert_eq!(watch.protected_until, at("2027-05-21T10:00:00Z"));
    assert_eq!(watch.next_check_at(), Some(at("2027-05-07T10:00:00Z")), "14 days before");
    let event = || EventId::generate(now(), Entropy(77));
    assert_eq!(sweep_expiry(&watch, at("2027-05-07T09:59:59Z"), event()), None);
    let Some(ExpiryStep::Notice(noticed, notice)) = sweep_expiry(&watch, at("2027-05-07T10:00:00Z"), event()) else {
        panic!()
    };
    assert_eq!(notice.detail_type(), "DealRegistrationExpiring");
    let noticed = *noticed;
    assert_eq!(noticed.next_check_at(), Some(watch.protected_until));
    assert_eq!(sweep_expiry(&noticed, at("2027-05-10T00:00:00Z"), event()), None, "the notice is sent once");
    assert_eq!(sweep_expiry(&noticed, watch.protected_until, event()), Some(ExpiryStep::Expire));

    let queue = standing_after(&approved).queue;
    let change = expire_registration(&approved.registration, &queue, &noticed, watch.protected_until, event()).unwrap();
    assert_eq!(change.changes[0].to, RegistrationStatus::Expired);
    assert_eq!(change.changes[0].event.as_ref().unwrap().detail_type(), "DealRegistrationExpired");
    assert_eq!(change.queue_after.approved, None, "the claim is released");
    assert_eq!(change.watches[0].next_check_at(), None);
    let mut withdrawn = approved.registration.clone();
    withdrawn.status = RegistrationStatus::Withdrawn;
    let closing = expire_registration(&withdrawn, &queue, &noticed, now(), event()).unwrap();
    assert!(closing.changes.is_empty(), "a registration that is no longer approved is left as it is");
    assert_eq!(closing.watches[0].next_check_at(), None, "but its watch is closed");
}

#[test]
fn approving_and_withdrawing_open_and_close_the_watch() {
    let (regs, standing) = queue_of(1);
    let owner = partner("p0", "gold", true);
    let approved = decide_registration(
        &regs[0].registration,
        &[],
        &standing.queue,
        &approve(None),
        &owner,
        "cm",
        &terms(),
        now(),
        events(),
    )
    .unwrap();
    assert_eq!(approved.watches.len(), 1);
    assert!(approved.watches[0].next_check_at().is_some());
    let mut registration = regs[0].registration.clone();
    registration.status = RegistrationStatus::Approved;
    let withdrawn = withdraw_registration(
        &registration,
        &[],
        &approved.queue_after,
        &terms(),
        now(),
        EventId::generate(now(), Entropy(5)),
    )
    .unwrap();
    assert_eq!(withdrawn.watches.len(), 1);
    assert_eq!(withdrawn.watches[0].next_check_at(), None);
}
