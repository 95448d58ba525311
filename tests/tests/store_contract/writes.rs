//! The write ports called directly with what the domain decides, as the use
//! cases call them: each write holds once, a stale or repeated one is a
//! conflict, and the reads that follow see exactly what was written.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_aws::Clock;
use partnerops_aws::StoreError;
use partnerops_aws::store::IdempotencyKey;
use partnerops_domain::Timestamp;
use partnerops_domain::crm::{CrmEvent, CrmEventDraft, Source, SourceFacts, create_opportunity};
use partnerops_domain::id::{Entropy, EventId};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::prospect::ProspectKey;
use partnerops_domain::referral::{IntakeDecision, IntakeIds, decide_referral_intake};
use partnerops_domain::registration::{
    Decision, DecisionDraft, RegistrationDraft, RegistrationSubmission, SubmissionIds, SubmissionOutcome,
    decide_registration, decide_submission,
};
use partnerops_domain::sla::SlaKind;
use partnerops_e2e::terms_options;
use partnerops_fixtures as fixtures;
use serde_json::json;

fn eid(n: u128) -> EventId {
    EventId::generate(Timestamp::parse(START).unwrap(), Entropy(n))
}

#[tokio::test]
async fn referrals_and_customers_are_written_once_and_read_back() {
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let terms = terms_options().terms;
        let accepted = fixtures::accepted_referral("alpha", "globex.com", now, 1, &terms);
        let mut seen = vec![conflict_name(t.store.record_accepted_referral(&accepted).await)];
        // The prospect's claim is conditional: the same write again loses.
        seen.push(conflict_name(t.store.record_accepted_referral(&accepted).await));
        let read = t.store.referral(&accepted.referral.id).await.unwrap().unwrap();
        seen.push(json!([read.referral.status.as_str(), read.timers.len(), read.slas[0].kind.as_str()]));
        // Another partner's referral of the same prospect is rejected, and kept.
        let standing = t.store.prospect_standing(&ProspectKey::from_stored("globex.com".into())).await.unwrap();
        let ids =
            IntakeIds { referral_id: partnerops_domain::id::ReferralId::generate(now, Entropy(2)), event_id: eid(2) };
        let beta = PartnerId::parse("beta").unwrap();
        let rejected =
            match decide_referral_intake(fixtures::submission("globex.com"), &beta, &standing, &terms, now, ids) {
                IntakeDecision::Rejected(rejected) => rejected,
                other => panic!("{other:?}"),
            };
        seen.push(conflict_name(t.store.record_rejected_referral(&rejected).await));
        let kept = t.store.referral(&rejected.referral.id).await.unwrap().unwrap();
        seen.push(json!([kept.referral.status.as_str(), kept.timers.len()]));
        // Existing customers: marked once, seen by both standings.
        let initech = ProspectKey::from_stored("initech.com".into());
        t.store.mark_customers(std::slice::from_ref(&initech), now).await.unwrap();
        t.store.mark_customers(std::slice::from_ref(&initech), now).await.unwrap();
        let prospect = t.store.prospect_standing(&initech).await.unwrap();
        let customer = t.store.customer_standing(&initech).await.unwrap();
        seen.push(json!([prospect.existing_customer, customer.existing_customer]));
        json!(seen)
    })
    .await;
    assert_eq!(
        observed,
        json!([
            "ok",
            "the prospect's referral claim",
            ["received", 1, "opportunity_creation"],
            "ok",
            ["rejected", 0],
            [true, true]
        ])
    );
}

fn registration_draft(domain: &str) -> RegistrationDraft {
    serde_json::from_value(json!({
        "customer": { "name": "Hooli", "domain": domain }, "motion": "resell",
        "estimated_value": { "amount": "125000.00", "currency": "USD" },
        "products": ["platform"], "expected_close_date": "2027-03-31"
    }))
    .unwrap()
}

#[tokio::test]
async fn registrations_their_queue_and_a_decision_are_conditional_writes() {
    let observed = on_both(|t| async move {
        t.partner("alpha").await;
        t.partner("beta").await;
        let now = t.clock.now();
        let terms = terms_options().terms;
        let key = ProspectKey::from_stored("hooli.com".into());
        let mut seen = Vec::new();
        let mut ids = Vec::new();
        for (n, partner) in [(10u128, "alpha"), (11, "beta")] {
            let owner = t.store.partner(&PartnerId::parse(partner).unwrap()).await.unwrap().unwrap();
            let standing = t.store.customer_standing(&key).await.unwrap();
            let submission =
                RegistrationSubmission::parse(registration_draft("hooli.com"), now.as_datetime().date_naive()).unwrap();
            let submission_ids = SubmissionIds {
                registration_id: partnerops_domain::id::RegistrationId::generate(now, Entropy(n)),
                event_ids: [eid(n), eid(n + 100)],
            };
            let SubmissionOutcome::Accepted(recorded) =
                decide_submission(submission, &owner, &standing, &terms, now, submission_ids)
            else {
                panic!("submission of {partner}")
            };
            seen.push(conflict_name(t.store.record_registration(&recorded).await));
            // Written against the queue it read: the same write again loses.
            seen.push(conflict_name(t.store.record_registration(&recorded).await));
            ids.push(recorded.registration.id.clone());
        }
        let queue = t.store.registration_queue(&key).await.unwrap();
        seen.push(json!([queue.position_of(&ids[0]), queue.position_of(&ids[1])]));
        let lead = t.store.registration(&ids[0]).await.unwrap().unwrap();
        let (queue, owner) = t.store.queue_and_partner(&key, &lead.registration.partner_id).await.unwrap();
        let owner = owner.unwrap();
        seen.push(json!([owner.id.as_str(), queue.queue.len()]));
        let decision =
            Decision::parse(DecisionDraft { decision: Some("approve".into()), reason: None, protection_days: None })
                .unwrap();
        let mut n = 200;
        let change = decide_registration(
            &lead.registration,
            &lead.timers,
            &queue,
            &decision,
            &owner,
            "key_cm",
            &terms,
            now,
            || {
                n += 1;
                eid(n)
            },
        )
        .unwrap();
        seen.push(conflict_name(t.store.apply_queue_change(&change).await));
        // A change decided on the queue as it was is refused once it moved.
        seen.push(conflict_name(t.store.apply_queue_change(&change).await));
        for id in &ids {
            let record = t.store.registration(id).await.unwrap().unwrap();
            seen.push(json!([
                record.registration.status.as_str(),
                record.timers.iter().map(|t| t.status).collect::<Vec<_>>()
            ]));
        }
        json!(seen)
    })
    .await;
    assert_eq!(observed[0], json!("ok"));
    assert_eq!(observed[4], json!([1, 2]));
    assert_eq!(observed[6], json!("ok"));
    assert_ne!(observed[7], json!("ok"), "a stale queue change must be refused: {observed}");
    assert_eq!(observed[8][0], json!("approved"));
    assert_eq!(observed[9][0], json!("rejected"));
}

#[tokio::test]
async fn an_opportunity_change_is_applied_once() {
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let terms = terms_options().terms;
        let accepted = fixtures::accepted_referral("alpha", "umbrella.com", now, 20, &terms);
        t.store.record_accepted_referral(&accepted).await.unwrap();
        let draft: CrmEventDraft = serde_json::from_value(json!({
            "event_id": "crm-contract-1", "type": "opportunity.created", "occurred_at": START,
            "opportunity_id": "006-UMBRELLA", "referral_id": accepted.referral.id.as_str(), "name": "Umbrella",
            "amount": { "amount": "1000.00", "currency": "USD" }, "owner_email": "owner@example.com"
        }))
        .unwrap();
        let event = CrmEvent::parse(draft, now).unwrap();
        let facts = SourceFacts {
            source: Source::Referral(accepted.referral.id.clone()),
            partner_id: accepted.referral.partner_id.clone(),
            prospect_key: accepted.referral.prospect_key.clone(),
            motion: accepted.referral.motion,
            status: "received".into(),
            creation_timer: Some(accepted.timer.clone()),
        };
        let change = create_opportunity(&event, &facts, &terms, now, eid(21)).unwrap();
        let mut seen = vec![conflict_name(t.store.apply_crm(&change, now).await)];
        // The same CRM event again: already applied, whatever else changed.
        seen.push(match t.store.apply_crm(&change, now).await {
            Err(StoreError::AlreadyApplied) => json!("already applied"),
            other => json!(format!("{other:?}")),
        });
        let opportunity = t.store.opportunity("006-UMBRELLA").await.unwrap().unwrap();
        let kinds: Vec<&str> = opportunity.timers.iter().map(|t| t.kind.as_str()).collect();
        seen.push(json!([opportunity.opportunity.status.as_str(), kinds]));
        let referral = t.store.referral(&accepted.referral.id).await.unwrap().unwrap();
        let creation = referral.timers.iter().find(|t| t.kind == SlaKind::OpportunityCreation).unwrap();
        seen.push(json!([referral.referral.status.as_str(), creation.status]));
        seen.push(json!(t.store.crm_event_seen("crm-contract-1", now).await.unwrap()));
        json!(seen)
    })
    .await;
    assert_eq!(
        observed,
        json!(["ok", "already applied", ["open", ["notes_update"]], ["opportunity_created", "met"], true])
    );
}

#[tokio::test]
async fn an_abandoned_idempotency_key_can_be_taken_again_and_a_user_read_by_id() {
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let key = IdempotencyKey { record_key: "key_contract#abandon".into(), request_hash: "h".into() };
        let mut seen = vec![format!("{:?}", t.store.idempotency_begin(&key, now).await.unwrap())];
        t.store.idempotency_abandon(&key).await.unwrap();
        seen.push(format!("{:?}", t.store.idempotency_begin(&key, now).await.unwrap()));
        // Abandoning a key nobody holds changes nothing.
        t.store
            .idempotency_abandon(&IdempotencyKey { record_key: "key_contract#none".into(), ..key.clone() })
            .await
            .unwrap();
        let (status, body) = t
            .post("/v1/admin/users", &t.admin, json!({ "email": "ada@example.com", "name": "Ada", "role": "finance" }))
            .await;
        assert_eq!(status, 201, "{body}");
        let id = partnerops_domain::id::UserId::parse(body["id"].as_str().unwrap()).unwrap();
        let user = t.store.user(&id).await.unwrap().unwrap();
        seen.push(format!("{} {}", user.email, user.role));
        let nobody = partnerops_domain::id::UserId::generate(now, Entropy(9));
        seen.push(format!("{:?}", t.store.user(&nobody).await.unwrap().map(|u| u.email)));
        json!(seen)
    })
    .await;
    assert_eq!(observed, json!(["Started", "Started", "ada@example.com finance", "None"]));
}
