//! The reports equal a recount of the stored records (SPEC §19): a generated
//! history of thousands of referrals, opportunities, notes, meetings and
//! closes over several months, in three currencies and several attribution
//! shapes, driven through the functions' own routers and the SLA sweep on
//! the memory twin; its domain events folded in a shuffled order, many of
//! them twice; then every row of both reports, per grouping and over several
//! ranges, compared with a count made here from the records themselves.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::body::Body;
use axum::http::Request;
use partnerops_api::ApiContext;
use partnerops_aws::store::ports::*;
use partnerops_aws::store::{ApiKeyRecord, ReportKind};
use partnerops_aws::{FixedClock, MemoryStore};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::crm::OpportunityStatus;
use partnerops_domain::event::DomainEvent;
use partnerops_domain::money::{Currency, div_half_even, format_minor_units};
use partnerops_domain::partner::PartnerId;
use partnerops_domain::report::{DayRange, median_minutes, median_tenth_days, rate_bps};
use partnerops_domain::sla::SlaStatus;
use partnerops_domain::terms::AttributionRole;
use partnerops_e2e::{referral, terms_options};
use partnerops_fixtures as fixtures;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt as _;

const PARTNERS: [(&str, Option<&str>); 4] = [
    ("alpha", Some("mia@vendor.example")),
    ("beta", Some("mia@vendor.example")),
    ("gamma", Some("raj@vendor.example")),
    ("delta", None),
];
const REFERRALS: usize = 1_200;

struct Harness {
    store: Arc<MemoryStore>,
    clock: FixedClock,
    router: axum::Router,
    keys: BTreeMap<&'static str, String>,
}

impl Harness {
    async fn new(start: Timestamp) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = FixedClock::new(start);
        let mut keys = BTreeMap::new();
        for (n, (id, manager)) in PARTNERS.iter().enumerate() {
            store.create_partner(&fixtures::partner(id, *manager, start)).await.unwrap();
            keys.insert(*id, key(&store, Role::Partner, Some(id), n as u8 + 1, start).await);
        }
        keys.insert("crm", key(&store, Role::Crm, None, 20, start).await);
        keys.insert("staff", key(&store, Role::ChannelManager, None, 21, start).await);
        let terms = Arc::new(terms_options().terms);
        let dyn_clock: Arc<dyn partnerops_aws::Clock> = Arc::new(clock.clone());
        let context = ApiContext::new(store.clone(), store.clone(), dyn_clock.clone());
        let referrals =
            referral_intake::ReferralApi { store: store.clone(), clock: dyn_clock.clone(), terms: terms.clone() };
        let crm = crm_events::CrmApi { store: store.clone(), clock: dyn_clock, terms };
        let router = partnerops_api::routes::with_not_found(
            partnerops_api::api_routes(referral_intake::routes(), &context, referrals)
                .merge(partnerops_api::api_routes(crm_events::routes(), &context, crm))
                .merge(partnerops_api::api_routes(
                    reports::routes(),
                    &context,
                    reports::ReportApi { store: store.clone() },
                )),
        );
        Self { store, clock, router, keys }
    }

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.keys[key]))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}

async fn key(store: &MemoryStore, role: Role, partner: Option<&str>, seed: u8, now: Timestamp) -> String {
    let key = NewApiKey::generate([seed; 32]);
    store
        .put_api_key(&ApiKeyRecord {
            key_id: key.key_id.clone(),
            hash: key.hash.clone(),
            role,
            partner_id: partner.map(|p| PartnerId::parse(p).unwrap()),
            label: "replay".into(),
            created_at: now,
            revoked_at: None,
        })
        .await
        .unwrap();
    key.plaintext
}

#[derive(Debug, Clone)]
enum Step {
    Refer(usize),
    Crm(usize, Value),
    Sweep,
}

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn amount(rng: &mut StdRng, currency: &str) -> Value {
    let minor: i64 = rng.random_range(1_001..9_999_999);
    let digits = Currency::parse(currency).unwrap().minor_digits();
    json!({ "amount": format_minor_units(minor, digits), "currency": currency })
}

/// The schedule of a history: every step at its instant, sweeps every six hours.
fn history(rng: &mut StdRng, start: Timestamp) -> Vec<(Timestamp, Step)> {
    let hours = |h: i64| chrono::Duration::minutes(h * 60 + rng_minutes(h));
    let mut steps = Vec::new();
    let mut sweep = start;
    let end = start.plus(chrono::Duration::days(130));
    while sweep < end {
        steps.push((sweep, Step::Sweep));
        sweep = sweep.plus(chrono::Duration::hours(6));
    }
    for i in 0..REFERRALS {
        let referred = start.plus(chrono::Duration::minutes(i as i64 * 131));
        steps.push((referred, Step::Refer(i)));
        if rng.random_bool(0.15) {
            continue;
        }
        let id = |s: &str| format!("{s}-{i}");
        let opportunity = format!("006-{i}");
        let created = referred.plus(hours(rng.random_range(1..40)));
        let currency = ["USD", "EUR", "JPY"][rng.random_range(0..3)];
        let event = |eid: String, kind: &str, when: Timestamp, extra: Value| {
            let mut body = json!({ "event_id": eid, "type": kind, "occurred_at": when.to_rfc3339(), "opportunity_id": opportunity });
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        steps.push((
            created,
            Step::Crm(
                i,
                event(
                    id("created"),
                    "opportunity.created",
                    created,
                    json!({ "name": format!("Company {i}"), "amount": amount(rng, currency), "owner_email": "ae@vendor.example" }),
                ),
            ),
        ));
        let mut last = created;
        for n in 0..rng.random_range(0..5) {
            last = last.plus(hours(rng.random_range(24..240)));
            steps.push((
                last,
                Step::Crm(i, event(id(&format!("notes{n}")), "opportunity.notes_updated", last, json!({}))),
            ));
        }
        for m in 0..rng.random_range(0..3) {
            let held = created.plus(hours(rng.random_range(2..300)));
            let meeting = format!("m{m}");
            steps.push((
                held,
                Step::Crm(i, event(id(&format!("held{m}")), "meeting.held", held, json!({ "meeting_id": meeting }))),
            ));
            if rng.random_bool(0.7) {
                let sent = held.plus(hours(rng.random_range(1..40)));
                steps.push((
                    sent,
                    Step::Crm(
                        i,
                        event(
                            id(&format!("sent{m}")),
                            "meeting.follow_up_sent",
                            sent,
                            json!({ "meeting_id": meeting }),
                        ),
                    ),
                ));
            }
        }
        if rng.random_bool(0.85) {
            let closed = last.plus(hours(rng.random_range(1..600)));
            let source = PARTNERS[i % PARTNERS.len()].0;
            let other = PARTNERS[(i + 1) % PARTNERS.len()].0;
            let third = PARTNERS[(i + 2) % PARTNERS.len()].0;
            let attribution = match rng.random_range(0..4) {
                0 => Value::Null,
                1 => json!([{ "partner_id": source, "role": "sourced", "share_bps": 10000 }]),
                2 => json!([{ "partner_id": source, "role": "sourced", "share_bps": 6000 },
                            { "partner_id": other, "role": "influenced", "share_bps": 3333 }]),
                _ => json!([{ "partner_id": source, "role": "sourced", "share_bps": 5000 },
                            { "partner_id": other, "role": "sourced", "share_bps": 2500 },
                            { "partner_id": third, "role": "influenced", "share_bps": 2499 }]),
            };
            let mut extra = json!({ "outcome": if rng.random_bool(0.7) { "won" } else { "lost" },
                                    "amount": amount(rng, currency), "closed_at": closed.to_rfc3339() });
            if !attribution.is_null() {
                extra["attribution"] = attribution;
            }
            steps.push((closed, Step::Crm(i, event(id("closed"), "opportunity.closed", closed, extra))));
        }
    }
    steps.sort_by_key(|(when, step)| (*when, matches!(step, Step::Sweep)));
    steps
}

fn rng_minutes(h: i64) -> i64 {
    (h * 37) % 60
}

/// Runs the history; the opportunities it created.
async fn run(h: &Harness, steps: &[(Timestamp, Step)]) -> Vec<String> {
    let mut referrals: BTreeMap<usize, String> = BTreeMap::new();
    let mut opportunities = Vec::new();
    for (when, step) in steps {
        h.clock.set(*when);
        match step {
            Step::Sweep => {
                partnerops_app::sweep::sweep(&*h.store, *when).await.unwrap();
            }
            Step::Refer(i) => {
                let partner = PARTNERS[i % PARTNERS.len()].0;
                let mut body = referral(&format!("company{i}.com"));
                body["motion"] = json!(if i % 3 == 0 { "co_sell" } else { "referral" });
                let (status, body) = h.call("POST", "/v1/referrals", partner, Some(body)).await;
                assert_eq!(status, 201, "{body}");
                referrals.insert(*i, body["id"].as_str().unwrap().to_owned());
            }
            Step::Crm(i, body) => {
                let mut body = body.clone();
                if body["type"] == "opportunity.created" {
                    body["referral_id"] = json!(referrals[i]);
                    opportunities.push(body["opportunity_id"].as_str().unwrap().to_owned());
                }
                let (status, answer) = h.call("POST", "/v1/crm/events", "crm", Some(body.clone())).await;
                assert!(status == 200 || status == 201, "{body} → {status} {answer}");
            }
        }
    }
    opportunities
}

fn money_list(amounts: &BTreeMap<String, i64>) -> Value {
    Value::Array(
        amounts
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(c, v)| {
                json!({ "amount": format_minor_units(*v, Currency::parse(c).unwrap().minor_digits()), "currency": c })
            })
            .collect(),
    )
}

#[derive(Default)]
struct SlaTally {
    timers: i64,
    met: i64,
    breached: i64,
    open: i64,
    escalated: i64,
    met_ms: Vec<i64>,
}

/// The SLA report recounted from every stored timer.
fn recount_slas(store: &MemoryStore, grouping: &str, range: &DayRange) -> Value {
    let managers: BTreeMap<&str, &str> = PARTNERS.iter().map(|(p, m)| (*p, m.unwrap_or("unassigned"))).collect();
    let mut rows: BTreeMap<String, SlaTally> = BTreeMap::new();
    for t in store.timers() {
        let day = t.due_at.as_datetime().date_naive();
        if day < range.from || day > range.to {
            continue;
        }
        let met = t.status == SlaStatus::Met && t.met_at.is_some_and(|m| m <= t.due_at);
        let breached = !met && (t.status == SlaStatus::Breached || t.met_at.is_some());
        if !met && !breached && t.ended_at.is_some_and(|e| e <= t.due_at) {
            continue;
        }
        let key = match grouping {
            "kind" => t.kind.as_str().to_owned(),
            "partner" => t.partner_id.to_string(),
            _ => managers[t.partner_id.as_str()].to_owned(),
        };
        let row = rows.entry(key).or_default();
        row.timers += 1;
        row.met += i64::from(met);
        row.breached += i64::from(breached);
        row.open += i64::from(!met && !breached);
        row.escalated += i64::from(t.escalated_at.is_some());
        if met {
            row.met_ms.push(t.met_at.unwrap().since(t.started_at).num_milliseconds());
        }
    }
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(key, r)| {
            json!({ "key": key, "timers": r.timers, "met_on_time": r.met, "breached": r.breached, "open": r.open,
                    "escalated": r.escalated, "on_time_rate_bps": rate_bps(r.met as u64, r.breached as u64),
                    "median_minutes_to_meet": median_minutes(&r.met_ms) })
        })
        .collect();
    json!({ "from": range.from.to_string(), "to": range.to.to_string(), "group_by": grouping, "rows": rows })
}

#[derive(Default)]
struct Side {
    opportunities: i64,
    amount: BTreeMap<String, i64>,
    won: i64,
    won_amount: BTreeMap<String, i64>,
    lost: i64,
    close_ms: Vec<i64>,
}

impl Side {
    fn json(&self) -> Value {
        json!({ "opportunities": self.opportunities, "amount": money_list(&self.amount), "won": self.won,
                "won_amount": money_list(&self.won_amount), "lost": self.lost,
                "win_rate_bps": rate_bps(self.won as u64, self.lost as u64),
                "median_days_to_close": median_tenth_days(&self.close_ms)
                    .map(|t| serde_json::from_str::<Value>(&format!("{}.{}", t / 10, t % 10)).unwrap()) })
    }
}

/// The pipeline report recounted from every stored opportunity.
async fn recount_pipeline(store: &MemoryStore, ids: &[String], grouping: &str, range: &DayRange) -> Value {
    let mut rows: BTreeMap<String, (Side, Side)> = BTreeMap::new();
    for id in ids {
        let o = store.opportunity(id).await.unwrap().unwrap().opportunity;
        let opened = o.opened_at.unwrap();
        let day = opened.as_datetime().date_naive();
        if day < range.from || day > range.to {
            continue;
        }
        let attribution: Vec<(String, AttributionRole, u32)> = if o.attribution.is_empty() {
            vec![(o.partner_id.to_string(), AttributionRole::Sourced, 10_000)]
        } else {
            o.attribution.iter().map(|a| (a.partner_id.to_string(), a.role, a.share_bps)).collect()
        };
        // (key, role) → summed share: a motion once per role, a partner per its own share.
        let mut credited: BTreeMap<(String, bool), u32> = BTreeMap::new();
        for (partner, role, share) in &attribution {
            let key = if grouping == "motion" { o.motion.as_str().to_owned() } else { partner.clone() };
            *credited.entry((key, *role == AttributionRole::Sourced)).or_default() += share;
        }
        for ((key, sourced), share) in credited {
            let row = rows.entry(key).or_default();
            let side = if sourced { &mut row.0 } else { &mut row.1 };
            let attributed = div_half_even(i128::from(o.amount.minor_units()) * i128::from(share), 10_000) as i64;
            let currency = o.amount.currency().code().to_owned();
            side.opportunities += 1;
            *side.amount.entry(currency.clone()).or_default() += attributed;
            match o.status {
                OpportunityStatus::Won => {
                    side.won += 1;
                    *side.won_amount.entry(currency).or_default() += attributed;
                }
                OpportunityStatus::Lost => side.lost += 1,
                _ => {}
            }
            if matches!(o.status, OpportunityStatus::Won | OpportunityStatus::Lost) {
                side.close_ms.push(o.closed_at.unwrap().since(opened).num_milliseconds());
            }
        }
    }
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(key, (s, i))| json!({ "key": key, "sourced": s.json(), "influenced": i.json() }))
        .collect();
    json!({ "from": range.from.to_string(), "to": range.to.to_string(), "group_by": grouping, "rows": rows })
}

#[tokio::test]
async fn every_report_row_equals_a_recount_of_the_stored_records() {
    let start = at("2026-06-01T08:00:00Z");
    let h = Harness::new(start).await;
    let mut rng = StdRng::seed_from_u64(19);
    let steps = history(&mut rng, start);
    let opportunities = run(&h, &steps).await;

    let mut events: Vec<DomainEvent> = h
        .store
        .outbox()
        .iter()
        .map(|o| DomainEvent::from_detail(&o.detail_type, serde_json::from_str(&o.detail).unwrap()).unwrap())
        .collect();
    let delivered = events.len();
    let again: Vec<DomainEvent> = events.iter().filter(|_| rng.random_bool(0.3)).cloned().collect();
    events.extend(again);
    events.shuffle(&mut rng);
    let engine = reports::Reports { store: h.store.clone() };
    for event in &events {
        engine.fold(event).await.unwrap();
    }
    let timers = h.store.timers().len();
    assert!(timers > 3_000 && opportunities.len() > 900, "{timers} timers, {} opportunities", opportunities.len());
    assert!(delivered > 5_000, "{delivered} events");

    let ranges = [
        ("2026-06-01", "2026-12-31"),
        ("2026-07-01", "2026-07-31"),
        ("2026-08-15", "2026-08-15"),
        ("2026-05-01", "2026-06-01"),
    ];
    for (from, to) in ranges {
        let range = DayRange::parse(Some(from), Some(to)).unwrap();
        for grouping in ["kind", "partner", "manager"] {
            let (status, answer) = h
                .call("GET", &format!("/v1/reports/slas?from={from}&to={to}&group_by={grouping}"), "staff", None)
                .await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer, recount_slas(&h.store, grouping, &range), "slas {from}..{to} by {grouping}");
        }
        for grouping in ["motion", "partner"] {
            let (status, answer) = h
                .call("GET", &format!("/v1/reports/pipeline?from={from}&to={to}&group_by={grouping}"), "staff", None)
                .await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(
                answer,
                recount_pipeline(&h.store, &opportunities, grouping, &range).await,
                "pipeline {from}..{to} by {grouping}"
            );
        }
    }

    let (_, motions) =
        h.call("GET", "/v1/reports/pipeline?from=2026-06-01&to=2026-12-31&group_by=motion", "staff", None).await;
    let keys: Vec<&str> = motions["rows"].as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["co_sell", "referral"]);
    let currencies = motions["rows"][1]["sourced"]["amount"].as_array().unwrap().len();
    assert_eq!(currencies, 3, "amounts stay per currency: {motions}");

    // A year's report reads one item per day and key, however many records
    // made them: here fewer items than there are timers.
    let year = DayRange::parse(Some("2026-06-01"), Some("2027-05-31")).unwrap();
    let read = h.store.report_days(ReportKind::Sla, "kind", &year).await.unwrap();
    assert!(read.items_read <= 366 * 4, "{} items", read.items_read);
    assert!(read.items_read < timers / 2, "{} items for {timers} timers", read.items_read);
    assert_eq!(read.queries, 12, "one month partition per month");
}
