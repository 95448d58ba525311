//! End-to-end: CRM events and the SLAs they meet, through the dev stack (SPEC §7, §8).

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::{TestStack, referral};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn setup() -> (TestStack, String, String, String) {
    let t = TestStack::start().await;
    t.set_clock("2026-11-22T10:00:00Z").await;
    let alpha = t.partner("alpha", "gold").await;
    let crm = t.key("crm", None).await;
    let created = t.post("/v1/referrals", &alpha, referral("acme.com")).await;
    let referral_id = created.body["id"].as_str().unwrap().to_owned();
    (t, alpha, crm, referral_id)
}

fn event(id: &str, kind: &str, occurred_at: &str, extra: Value) -> Value {
    let mut body = json!({ "event_id": id, "type": kind, "occurred_at": occurred_at, "opportunity_id": "006-ACME" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn created(referral_id: &str, at: &str) -> Value {
    event(
        "e-created",
        "opportunity.created",
        at,
        json!({ "referral_id": referral_id, "name": "Acme - Platform", "amount": { "amount": "50000.00", "currency": "USD" },
                "owner_email": "owner@example.com" }),
    )
}

#[tokio::test]
async fn an_opportunity_walks_from_creation_to_refund() {
    let (t, alpha, crm, referral_id) = setup().await;
    t.set_clock("2026-11-22T12:00:00Z").await;
    let linked = t.post("/v1/crm/events", &crm, created(&referral_id, "2026-11-22T12:00:00Z")).await;
    assert_eq!(linked.status, StatusCode::OK, "{:?}", linked.body);
    assert_eq!(linked.body["duplicate"], false);
    let replay = t.post("/v1/crm/events", &crm, created(&referral_id, "2026-11-22T12:00:00Z")).await;
    assert_eq!(replay.body, json!({ "duplicate": true }));

    let read = t.get(&format!("/v1/referrals/{referral_id}"), &alpha).await;
    assert_eq!(read.body["status"], "opportunity_created");
    assert_eq!(read.body["opportunity_id"], "006-ACME");
    assert_eq!(read.body["slas"][0]["status"], "met");
    assert_eq!(read.body["slas"][0]["met_at"], "2026-11-22T12:00:00.000Z");

    let opp = t.get("/v1/opportunities/006-ACME", &alpha).await;
    assert_eq!(opp.status, StatusCode::OK, "a partner in the attribution may read it");
    assert_eq!(opp.body["attribution"], json!([{ "partner_id": "alpha", "role": "sourced", "share_bps": 10000 }]));
    assert_eq!(opp.body["motion"], "referral");
    assert_eq!(opp.body["slas"][0]["kind"], "notes_update");
    assert_eq!(opp.body["slas"][0]["due_at"], "2026-11-29T12:00:00.000Z");
    let stranger = t.partner("beta", "gold").await;
    assert_eq!(t.get("/v1/opportunities/006-ACME", &stranger).await.status, StatusCode::NOT_FOUND);

    t.set_clock("2026-11-25T12:00:00Z").await;
    let notes = t
        .post(
            "/v1/crm/events",
            &crm,
            event("e-notes-1", "opportunity.notes_updated", "2026-11-25T11:00:00Z", json!({})),
        )
        .await;
    assert_eq!(notes.body["changed"], true);
    let older = t
        .post(
            "/v1/crm/events",
            &crm,
            event("e-notes-0", "opportunity.notes_updated", "2026-11-24T11:00:00Z", json!({})),
        )
        .await;
    assert_eq!(older.body["changed"], false, "an older occurred_at changes nothing");
    let slas = t.get("/v1/opportunities/006-ACME", &crm).await.body["slas"].clone();
    assert_eq!(slas.as_array().unwrap().len(), 2);
    assert_eq!(slas[0]["status"], "met");
    assert_eq!(slas[1]["due_at"], "2026-12-02T11:00:00.000Z");

    let held = t
        .post(
            "/v1/crm/events",
            &crm,
            event("e-meet", "meeting.held", "2026-11-25T12:00:00Z", json!({ "meeting_id": "m1" })),
        )
        .await;
    assert_eq!(held.body["changed"], true);
    t.set_clock("2026-11-26T12:00:00Z").await;
    let sent = t
        .post(
            "/v1/crm/events",
            &crm,
            event("e-sent", "meeting.follow_up_sent", "2026-11-26T12:00:00Z", json!({ "meeting_id": "m1" })),
        )
        .await;
    assert_eq!(sent.body["changed"], true);
    let follow_up = sent.body["opportunity"]["slas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "partner_follow_up")
        .unwrap()
        .clone();
    assert_eq!(follow_up["status"], "met", "met exactly at due_at");

    let closed = t
        .post(
            "/v1/crm/events",
            &crm,
            event("e-won", "opportunity.closed", "2026-11-26T12:00:00Z", json!({ "outcome": "won", "amount": { "amount": "48000.00", "currency": "USD" }, "closed_at": "2026-11-26T12:00:00Z" })),
        )
        .await;
    assert_eq!(closed.body["opportunity"]["status"], "won");
    assert_eq!(t.get(&format!("/v1/referrals/{referral_id}"), &alpha).await.body["status"], "won");
    let too_much = t
        .post(
            "/v1/crm/events",
            &crm,
            event("e-r1", "opportunity.refunded", "2026-11-26T12:00:00Z", json!({ "refunded_amount": { "amount": "48000.01", "currency": "USD" }, "refunded_at": "2026-11-26T12:00:00Z" })),
        )
        .await;
    assert_eq!(too_much.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(too_much.code(), "refund_exceeds_amount");
    let refund = t
        .post(
            "/v1/crm/events",
            &crm,
            event("e-r2", "opportunity.refunded", "2026-11-26T12:00:00Z", json!({ "refunded_amount": { "amount": "1000.00", "currency": "USD" }, "refunded_at": "2026-11-26T12:00:00Z" })),
        )
        .await;
    assert_eq!(refund.body["opportunity"]["refunded_minor"], 100_000);
    let tick = t.tick().await;
    // ReferralReceived, OpportunityLinked, OpportunityUpdated (notes, meeting, follow-up),
    // DealClosed, PayoutLinesCreated (earned), DealRefunded, PayoutLinesCreated (clawback);
    // no SLA signals: everything was met. The older notes update changed nothing and emitted nothing.
    assert_eq!(tick["events_published"], 9, "{tick}");
}

#[tokio::test]
async fn crm_events_are_validated_before_anything_changes() {
    let (t, alpha, crm, referral_id) = setup().await;
    let future = t.post("/v1/crm/events", &crm, created(&referral_id, "2026-11-22T10:05:01Z")).await;
    assert_eq!(future.error_fields(), ["occurred_at"]);
    let mut shared = created(&referral_id, "2026-11-22T10:00:00Z");
    shared["attribution"] = json!([
        { "partner_id": "alpha", "role": "sourced", "share_bps": 6000 },
        { "partner_id": "beta", "role": "influenced", "share_bps": 4001 }
    ]);
    assert_eq!(t.post("/v1/crm/events", &crm, shared).await.code(), "attribution_exceeds_100_percent");
    assert_eq!(
        t.post("/v1/crm/events", &crm, event("x", "opportunity.deleted", "2026-11-22T10:00:00Z", json!({})))
            .await
            .error_fields(),
        ["type"]
    );
    assert_eq!(
        t.post("/v1/crm/events", &alpha, created(&referral_id, "2026-11-22T10:00:00Z")).await.code(),
        "forbidden"
    );
    let unknown = t
        .post("/v1/crm/events", &crm, event("n1", "opportunity.notes_updated", "2026-11-22T10:00:00Z", json!({})))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        t.get(&format!("/v1/referrals/{referral_id}"), &alpha).await.body["status"],
        "received",
        "nothing changed"
    );
}

#[tokio::test]
async fn late_events_leave_breached_timers_breached() {
    let (t, alpha, crm, referral_id) = setup().await;
    t.set_clock("2026-11-23T10:00:01Z").await;
    assert_eq!(t.tick().await["sla_signals"], 1, "the opportunity_creation timer breaches");
    let linked = t.post("/v1/crm/events", &crm, created(&referral_id, "2026-11-23T10:00:01Z")).await;
    assert_eq!(linked.status, StatusCode::OK);
    let read = t.get(&format!("/v1/referrals/{referral_id}"), &alpha).await;
    assert_eq!(read.body["status"], "opportunity_created");
    assert_eq!(read.body["slas"][0]["status"], "breached", "breached is final");
    t.post(
        "/v1/crm/events",
        &crm,
        event("e-meet", "meeting.held", "2026-11-23T10:00:01Z", json!({ "meeting_id": "m1" })),
    )
    .await;
    t.set_clock("2026-11-24T10:00:02Z").await;
    let tick = t.tick().await;
    assert_eq!(tick["sla_signals"], 2, "follow-up breached, creation escalated: {tick}");
    let opp = t.get("/v1/opportunities/006-ACME", &crm).await;
    let follow_up =
        opp.body["slas"].as_array().unwrap().iter().find(|s| s["kind"] == "partner_follow_up").unwrap().clone();
    assert_eq!(follow_up["status"], "breached");
}

fn linked_again(registration_id: &str) -> Value {
    event(
        "r-created",
        "opportunity.created",
        "2026-11-22T10:00:00Z",
        json!({ "deal_registration_id": registration_id, "name": "Globex", "amount": { "amount": "10.00", "currency": "USD" }, "owner_email": "o@example.com" }),
    )
}

#[tokio::test]
async fn a_registration_follows_its_opportunity_to_won() {
    let t = TestStack::start().await;
    t.set_clock("2026-11-22T10:00:00Z").await;
    let alpha = t.certified_partner("alpha", "platinum").await;
    let crm = t.key("crm", None).await;
    let reg = t.post("/v1/deal-registrations", &alpha, partnerops_e2e::registration("globex.com", "10.00")).await;
    let reg_id = reg.body["id"].as_str().unwrap();
    let linked = t
        .post(
            "/v1/crm/events",
            &crm,
            event(
                "r-created",
                "opportunity.created",
                "2026-11-22T10:00:00Z",
                json!({ "deal_registration_id": reg_id, "name": "Globex", "amount": { "amount": "10.00", "currency": "USD" }, "owner_email": "o@example.com" }),
            ),
        )
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{:?}", linked.body);
    assert_eq!(linked.body["opportunity"]["motion"], "resell", "the motion of the registration");
    let mut second = linked_again(reg_id);
    second["event_id"] = json!("r-created-2");
    second["opportunity_id"] = json!("006-OTHER");
    assert_eq!(
        t.post("/v1/crm/events", &crm, second).await.code(),
        "source_unavailable",
        "one opportunity per registration"
    );
    let gold = t.certified_partner("gamma", "gold").await;
    let pending = t.post("/v1/deal-registrations", &gold, partnerops_e2e::registration("initech.com", "10.00")).await;
    let mut on_pending = linked_again(pending.body["id"].as_str().unwrap());
    on_pending["event_id"] = json!("r-created-3");
    on_pending["opportunity_id"] = json!("006-INITECH");
    assert_eq!(
        t.post("/v1/crm/events", &crm, on_pending).await.code(),
        "source_unavailable",
        "only approved registrations"
    );
    t.post(
        "/v1/crm/events",
        &crm,
        event("r-won", "opportunity.closed", "2026-11-22T10:00:00Z", json!({ "outcome": "won", "amount": { "amount": "10.00", "currency": "USD" }, "closed_at": "2026-11-22T10:00:00Z" })),
    )
    .await;
    assert_eq!(t.get(&format!("/v1/deal-registrations/{reg_id}"), &alpha).await.body["status"], "won");
    t.set_clock("2027-06-01T00:00:00Z").await;
    let tick = t.tick().await;
    assert_eq!(tick["registrations_expired"], 0, "a won registration does not expire: {tick}");
    t.set_clock("2027-06-01T00:05:00Z").await;
    let next = t.tick().await;
    assert_eq!(next["schedules_run"], json!(["sla-sweep"]));
    assert_eq!(next["sla_items_read"], 0, "its watch and the ended notes timer left the due index: {next}");
}

#[tokio::test]
async fn every_sla_kind_walks_through_due_soon_breach_and_escalation() {
    let (t, alpha, crm, referral_id) = setup().await;
    let beta = t.certified_partner("beta", "gold").await;
    let manager = t.key("channel_manager", None).await;
    t.set_clock("2026-11-22T12:00:00Z").await;
    let reg = t.post("/v1/deal-registrations", &beta, partnerops_e2e::registration("globex.com", "10.00")).await;
    t.post("/v1/crm/events", &crm, created(&referral_id, "2026-11-22T12:00:00Z")).await;
    t.post(
        "/v1/crm/events",
        &crm,
        event("e-meet", "meeting.held", "2026-11-22T12:00:00Z", json!({ "meeting_id": "m1" })),
    )
    .await;
    assert_eq!(t.tick().await["sla_signals"], 0, "the referral's timer was met; nothing else is due");

    // (clock, signals): follow-up (24 h), registration decision (48 h), notes update (168 h)
    let steps = [
        ("2026-11-23T06:00:00Z", 1), // follow-up due soon
        ("2026-11-23T12:05:00Z", 1), // follow-up breached
        ("2026-11-24T00:00:00Z", 1), // decision due soon
        ("2026-11-24T12:10:00Z", 2), // follow-up escalated, decision breached
        ("2026-11-26T12:15:00Z", 1), // decision escalated
        ("2026-11-27T18:00:00Z", 1), // notes due soon
        ("2026-11-29T12:05:00Z", 1), // notes breached
        ("2026-12-06T12:05:00Z", 1), // notes escalated
        ("2026-12-31T00:00:00Z", 0), // nothing twice
    ];
    for (at, signals) in steps {
        t.set_clock(at).await;
        let tick = t.tick().await;
        assert_eq!(tick["sla_signals"], signals, "at {at}: {tick}");
    }
    let opp = t.get("/v1/opportunities/006-ACME", &crm).await;
    for sla in opp.body["slas"].as_array().unwrap() {
        assert_eq!(sla["status"], "breached", "{sla}");
    }
    let reg = t.get(&format!("/v1/deal-registrations/{}", reg.body["id"].as_str().unwrap()), &manager).await;
    assert_eq!(reg.body["slas"][0]["status"], "breached");
    assert_eq!(reg.body["slas"][0]["breached_at"], "2026-11-24T12:10:00.000Z");
    assert_eq!(t.get(&format!("/v1/referrals/{referral_id}"), &alpha).await.body["slas"][0]["status"], "met");
}
