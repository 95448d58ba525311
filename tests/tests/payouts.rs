//! Payouts through the dev stack: a referral becomes a won co-sell deal
//! shared by two partners, part of it is refunded, the month ends, finance
//! exports it, and the files in the bucket say exactly what is owed.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_e2e::TestStack;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn partner(t: &TestStack, id: &str, name: &str, tier: &str) -> String {
    let body = json!({ "id": id, "name": name, "tier": tier, "motions": ["referral", "co_sell"] });
    let created = t.post("/v1/admin/partners", &t.admin(), body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    t.key("partner", Some(id)).await
}

fn crm_event(id: &str, kind: &str, occurred_at: &str, extra: Value) -> Value {
    let mut body = json!({ "event_id": id, "type": kind, "occurred_at": occurred_at, "opportunity_id": "006-GLOBEX" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

async fn crm(t: &TestStack, key: &str, at: &str, event: Value) {
    t.set_clock(at).await;
    let reply = t.post("/v1/crm/events", key, event).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

async fn object(t: &TestStack, key: &str) -> String {
    let s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&t.stack.sdk).force_path_style(true).build());
    let bucket = t.stack.provisioned.reference("ExportsBucket").unwrap();
    let got = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
    String::from_utf8(got.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn a_shared_deal_with_a_refund_is_exported_line_by_line() {
    let t = TestStack::start().await;
    t.set_clock("2026-11-22T10:00:00Z").await;
    let alpha = partner(&t, "alpha", "Alpha Consulting", "gold").await;
    partner(&t, "beta", "=Beta, Ltd", "silver").await;
    let crm_key = t.key("crm", None).await;
    let finance = t.key("finance", None).await;
    t.tick().await;

    let mut body = partnerops_e2e::referral("globex.com");
    body["motion"] = json!("co_sell");
    let referral = t.post("/v1/referrals", &alpha, body).await;
    assert_eq!(referral.status, StatusCode::CREATED, "{:?}", referral.body);
    let referral_id = referral.body["id"].as_str().unwrap().to_owned();

    let created = crm_event(
        "c-1",
        "opportunity.created",
        "2026-11-22T11:00:00Z",
        json!({ "referral_id": referral_id, "name": "Globex - Platform", "owner_email": "owner@example.com",
                "amount": { "amount": "100000.00", "currency": "USD" },
                "attribution": [ { "partner_id": "alpha", "role": "sourced", "share_bps": 6000 },
                                 { "partner_id": "beta", "role": "influenced", "share_bps": 4000 } ] }),
    );
    crm(&t, &crm_key, "2026-11-22T11:00:00Z", created).await;
    let won = json!({ "outcome": "won", "amount": { "amount": "100000.00", "currency": "USD" }, "closed_at": "2026-11-25T12:00:00Z" });
    crm(&t, &crm_key, "2026-11-25T12:00:00Z", crm_event("c-2", "opportunity.closed", "2026-11-25T12:00:00Z", won))
        .await;
    let refund = json!({ "refunded_amount": { "amount": "10000.00", "currency": "USD" }, "refunded_at": "2026-11-28T12:00:00Z" });
    crm(&t, &crm_key, "2026-11-28T12:00:00Z", crm_event("c-3", "opportunity.refunded", "2026-11-28T12:00:00Z", refund))
        .await;

    // A small deal: 400.00 × 10 % = 40.00 for gamma, below the 50.00 minimum.
    let gamma = partner(&t, "gamma", "Gamma Partners", "registered").await;
    t.set_clock("2026-11-28T13:00:00Z").await;
    let small = t.post("/v1/referrals", &gamma, partnerops_e2e::referral("initech.com")).await;
    assert_eq!(small.status, StatusCode::CREATED, "{:?}", small.body);
    let small_id = small.body["id"].as_str().unwrap().to_owned();
    let small_created = json!({ "opportunity_id": "006-SMALL", "referral_id": small_id, "name": "Initech",
        "owner_email": "owner@example.com", "amount": { "amount": "400.00", "currency": "USD" } });
    crm(
        &t,
        &crm_key,
        "2026-11-28T14:00:00Z",
        crm_event("s-1", "opportunity.created", "2026-11-28T14:00:00Z", small_created),
    )
    .await;
    let small_won = json!({ "opportunity_id": "006-SMALL", "outcome": "won",
        "amount": { "amount": "400.00", "currency": "USD" }, "closed_at": "2026-11-28T15:00:00Z" });
    crm(
        &t,
        &crm_key,
        "2026-11-28T15:00:00Z",
        crm_event("s-2", "opportunity.closed", "2026-11-28T15:00:00Z", small_won),
    )
    .await;

    let summary = t.tick().await;
    assert!(summary["messages_processed"].as_u64().unwrap() >= 3, "{summary}");

    // The month is still open.
    let early = t.post("/v1/payouts/exports", &finance, json!({ "period": "2026-11" })).await;
    assert_eq!((early.status, early.code()), (StatusCode::CONFLICT, "period_open"), "{:?}", early.body);
    assert_eq!(
        t.post("/v1/payouts/exports", &alpha, json!({ "period": "2026-10" })).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.post("/v1/payouts/exports", &finance, json!({ "period": "2026-13" })).await.error_fields(),
        ["period"]
    );

    t.set_clock("2026-12-01T01:00:00Z").await;
    let started = t.post("/v1/payouts/exports", &finance, json!({ "period": "2026-11" })).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    assert_eq!(started.body["status"], "running");
    assert_eq!(started.headers["location"], "/v1/payouts/exports/2026-11");
    let running = t.get("/v1/payouts/exports/2026-11", &finance).await;
    assert_eq!((running.status, running.body["status"].as_str()), (StatusCode::OK, Some("running")));
    let early_file = t.get("/v1/payouts/exports/2026-11/lines.csv", &finance).await;
    assert_eq!((early_file.status, early_file.code()), (StatusCode::CONFLICT, "export_not_done"), "no file until done");
    // The worker runs from the export queue.
    let worked = t.tick().await;
    assert!(worked["messages_processed"].as_u64().unwrap() >= 1, "{worked}");
    let export = t.get("/v1/payouts/exports/2026-11", &finance).await;
    assert_eq!(export.body["status"], "done", "{:?}", export.body);
    assert_eq!(export.body["export_id"], started.body["export_id"]);
    let export_id = export.body["export_id"].as_str().unwrap().to_owned();
    assert_eq!(export.body["lines"], 4);
    assert_eq!(export.body["totals"], json!([{ "amount": "3987.00", "currency": "USD" }]));
    assert_eq!(
        export.body["files"],
        json!(["exports/payouts/2026-11/lines.csv", "exports/payouts/2026-11/summary.csv"])
    );

    // alpha: 100,000.00 × 60% × 5% × 1.1 + 500.00 × 60% × 1.1 = 3,630.00; 10% refunded → −363.00.
    // beta: 100,000.00 × 40% × 2% × 1.0 = 800.00; → −80.00.
    let lines = object(&t, "exports/payouts/2026-11/lines.csv").await;
    let rows: Vec<&str> = lines.split("\r\n").collect();
    assert_eq!(rows.len(), 6, "{lines}");
    assert_eq!(
        rows[0],
        "export_id,period,partner_id,partner_name,line_id,opportunity_id,kind,motion,role,share_bps,rate_bps,tier,amount,currency,earned_at"
    );
    let expected = [
        (
            "alpha,Alpha Consulting",
            "006-GLOBEX,earned,co_sell,sourced,6000,500,gold,3630.00,USD,2026-11-25T12:00:00.000Z",
        ),
        (
            "alpha,Alpha Consulting",
            "006-GLOBEX,clawback,co_sell,sourced,6000,500,gold,-363.00,USD,2026-11-28T12:00:00.000Z",
        ),
        (
            "beta,\"'=Beta, Ltd\"",
            "006-GLOBEX,earned,co_sell,influenced,4000,200,silver,800.00,USD,2026-11-25T12:00:00.000Z",
        ),
        (
            "beta,\"'=Beta, Ltd\"",
            "006-GLOBEX,clawback,co_sell,influenced,4000,200,silver,-80.00,USD,2026-11-28T12:00:00.000Z",
        ),
    ];
    for (row, (who, rest)) in rows[1..5].iter().zip(expected) {
        assert!(row.starts_with(&format!("{export_id},2026-11,{who},pay_")), "{row}");
        assert!(row.ends_with(&format!(",{rest}")), "{row}");
    }
    assert_eq!(rows[5], "");

    let summary = object(&t, "exports/payouts/2026-11/summary.csv").await;
    assert_eq!(
        summary,
        format!(
            "export_id,period,partner_id,partner_name,currency,lines,amount,status\r\n\
             {export_id},2026-11,alpha,Alpha Consulting,USD,2,3267.00,paid\r\n\
             {export_id},2026-11,beta,\"'=Beta, Ltd\",USD,2,720.00,paid\r\n\
             {export_id},2026-11,gamma,Gamma Partners,USD,1,40.00,carried_forward\r\n"
        )
    );

    // Exporting again answers with the same export and leaves the files as they were.
    let again = t.post("/v1/payouts/exports", &finance, json!({ "period": "2026-11" })).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, export.body);
    assert_eq!(object(&t, "exports/payouts/2026-11/lines.csv").await, lines);
    let read = t.get("/v1/payouts/exports/2026-11", &finance).await;
    assert_eq!(read.body, export.body);
    let streamed = t
        .http
        .get(format!("{}/v1/payouts/exports/2026-11/lines.csv", t.stack.url))
        .bearer_auth(&finance)
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(streamed.text().await.unwrap(), lines);
    assert_eq!(t.get("/v1/payouts/exports/2026-10", &finance).await.status, StatusCode::NOT_FOUND);

    // The schedule at 02:00 on the 1st finds November done; PayoutExportReady reached finance.
    t.set_clock("2026-12-01T03:00:00Z").await;
    let tick = t.tick().await;
    assert_eq!(tick["schedules_run"], json!(["sla-sweep", "payout-exports"]), "{tick}");
    let outbox = t.send(Method::GET, "/_dev/outbox", None, None).await.body;
    let ready: Vec<&Value> = outbox.as_array().unwrap().iter().filter(|n| n["to"] == "finance@example.com").collect();
    assert_eq!(ready.len(), 1, "{outbox}");
    assert!(ready[0]["text"].as_str().unwrap().contains("3987.00 USD"), "{}", ready[0]["text"]);

    // A duplicate close changes nothing: December's export has no lines.
    let closed_again = crm_event(
        "c-4",
        "opportunity.closed",
        "2026-12-01T03:00:00Z",
        json!({ "outcome": "won", "amount": { "amount": "100000.00", "currency": "USD" }, "closed_at": "2026-11-25T12:00:00Z" }),
    );
    let reply = t.post("/v1/crm/events", &crm_key, closed_again).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    t.tick().await;
    t.set_clock("2027-01-01T01:00:00Z").await;
    let queued = t.post("/v1/payouts/exports", &finance, json!({ "period": "2026-12" })).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{:?}", queued.body);
    t.tick().await;
    let december = t.get("/v1/payouts/exports/2026-12", &finance).await;
    assert_eq!(december.body["status"], "done", "{:?}", december.body);
    assert_eq!(december.body["lines"], 0);
    // gamma's 40.00 is still open, still carried forward.
    let carried: Vec<&Value> =
        december.body["groups"].as_array().unwrap().iter().filter(|g| g["partner_id"] == "gamma").collect();
    assert_eq!(carried.len(), 1, "{}", december.body);
    assert_eq!(carried[0]["amount"], json!({ "amount": "40.00", "currency": "USD" }));
    assert_eq!(carried[0]["carried_forward"], true);
    assert_eq!(t.get("/v1/payouts/exports/2026-12", &t.admin()).await.status, StatusCode::OK, "admin reads exports");
}
