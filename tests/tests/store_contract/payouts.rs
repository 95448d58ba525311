//! Payout ledgers and lines, and the export passes over them.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_app::exports::Started;
use partnerops_aws::Clock;
use partnerops_aws::store::{ExportCursor, ExportRecord, ExportState, OPEN_SHARDS};
use partnerops_domain::Timestamp;
use partnerops_domain::event::{DomainEvent, EventPayload};
use partnerops_domain::id::{Entropy, EventId, ExportId};
use partnerops_domain::payout::Period;
use serde_json::{Value, json};

fn deal_closed(opportunity: &str, at: &str, partners: &[(&str, u32)]) -> DomainEvent {
    let occurred = Timestamp::parse(at).unwrap();
    let attribution: Vec<Value> = partners
        .iter()
        .enumerate()
        .map(|(n, (p, bps))| {
            json!({ "partner_id": p, "role": if n == 0 { "sourced" } else { "influenced" }, "share_bps": bps })
        })
        .collect();
    let closed = serde_json::from_value(json!({
        "opportunity_id": opportunity, "referral_id": null, "deal_registration_id": null,
        "prospect_key": format!("{opportunity}.example"), "motion": "referral",
        "amount": { "amount": "100000.00", "currency": "USD" }, "closed_at": at, "attribution": attribution,
    }))
    .unwrap();
    DomainEvent::new(EventId::generate(occurred, Entropy(1)), occurred, EventPayload::DealClosed(closed))
}

#[tokio::test]
async fn payout_ledgers_lines_and_export_passes_agree() {
    let observed = on_both(|t| async move {
        t.partner("alpha").await;
        t.partner("beta").await;
        let mut seen = serde_json::Map::new();
        let mut applied = Vec::new();
        for n in 0..12 {
            let event = deal_closed(&format!("006-{n:02}"), "2026-10-05T12:00:00Z", &[("alpha", 6000), ("beta", 4000)]);
            applied.push(t.payouts.apply(&event).await.unwrap());
            // A redelivered close changes nothing.
            applied.push(t.payouts.apply(&event).await.unwrap());
        }
        seen.insert("lines_applied".into(), json!(applied));
        let (ledger, lines) = t.store.payout_ledger("006-00").await.unwrap();
        // The ledger moved on: a write from the version before loses, and so
        // does a line that exists already.
        let stale = t.store.save_payout_ledger(ledger.version - 1, &ledger, &[], &[]).await;
        let duplicate = t.store.save_payout_ledger(ledger.version, &ledger, &lines[..1], &[]).await;
        let fresh = t.store.save_payout_ledger(0, &ledger, &[], &[]).await;
        seen.insert("ledger_writes".into(), json!([conflict_name(stale), conflict_name(duplicate), conflict_name(fresh)]));

        let period = Period::parse("2026-10").unwrap();
        let cutoff = period.cutoff(t.exports.terms.payouts.hold_days);
        let mut open = 0;
        for shard in 0..OPEN_SHARDS {
            let mut after: Option<String> = None;
            loop {
                let (page, next) = t.store.open_payout_page(cutoff, shard, after.as_deref()).await.unwrap();
                open += page.len();
                match next {
                    Some(key) => after = Some(key),
                    None => break,
                }
            }
        }
        seen.insert("open_before".into(), json!(open));
        // Another period cannot take a line this one exported.
        let other = Period::parse("2026-09").unwrap();
        t.store.mark_payout_lines_exported(period, &lines[..1]).await.unwrap();
        let again = t.store.mark_payout_lines_exported(period, &lines[..1]).await;
        let taken = t.store.mark_payout_lines_exported(other, &lines[..1]).await;
        seen.insert("marks".into(), json!([conflict_name(again), conflict_name(taken)]));

        t.clock.set(Timestamp::parse("2026-11-20T00:00:00Z").unwrap());
        // Started, queued once, failed on the way and resumed by the worker.
        let (started, how) = t.exports.start(period).await.unwrap();
        let queued = t.jobs.take().len();
        let failed = t.store.mark_payout_export(period, ExportState::Failed, Some("the bucket was away".into())).await;
        let failure = t.store.payout_export(period).await.unwrap().unwrap().failure;
        let (restarted, _) = t.exports.start(period).await.unwrap();
        let requeued = t.jobs.take().len();
        let record = t.exports.run(period).await.unwrap();
        let (repeat, how_again) = t.exports.start(period).await.unwrap();
        let mark_done = t.store.mark_payout_export(period, ExportState::Failed, None).await;
        let created = how == Started::Queued && started.status == ExportState::Running;
        let created_again = how_again == Started::Queued;
        seen.insert("export_flow".into(), json!({
            "queued": [queued, requeued],
            "failed": conflict_name(failed),
            "failure": failure,
            "restarted": [format!("{:?}", restarted.status), restarted.failure],
            "done": format!("{:?}", record.status),
            "mark_done": conflict_name(mark_done),
            "nothing_queued_once_done": t.jobs.take().is_empty(),
        }));
        let mut exported = Vec::new();
        let mut cursor: Option<ExportCursor> = None;
        loop {
            let (page, next) = t.store.exported_payout_page(period, cursor).await.unwrap();
            exported.extend(page.into_iter().map(|l| (l.partner_id.to_string(), l.amount)));
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let finished_again = t
            .store
            .finish_payout_export(period, &record, &deal_closed("006-x", "2026-11-20T00:00:00Z", &[("alpha", 10000)]))
            .await;
        let begun = ExportRecord {
            export_id: ExportId::generate(t.clock.now(), Entropy(2)),
            period: "2026-09".into(),
            status: ExportState::Running,
            failure: None,
            created_at: t.clock.now(),
            completed_at: None,
            lines: 0,
            groups: Vec::new(),
            totals: Vec::new(),
            files: Vec::new(),
        };
        let first_begin = t.store.begin_payout_export(other, &begun).await.unwrap();
        let second = ExportRecord { export_id: ExportId::generate(t.clock.now(), Entropy(3)), ..begun.clone() };
        let second_begin = t.store.begin_payout_export(other, &second).await.unwrap();
        let lines_csv = String::from_utf8(t.files.object("exports/payouts/2026-10/lines.csv").unwrap()).unwrap();
        seen.insert("export".into(), json!({
            "created": [created, created_again],
            "same_record": repeat.export_id == record.export_id,
            "lines": record.lines,
            "totals": record.totals,
            "exported": exported,
            "finish_again": conflict_name(finished_again),
            "begin_keeps_the_first": first_begin.export_id == begun.export_id && second_begin.export_id == begun.export_id,
            "csv_rows": lines_csv.lines().count(),
        }));
        // A partner's lines, each with the period that exported it; every
        // export, newest period first.
        let alpha = partnerops_domain::partner::PartnerId::parse("alpha").unwrap();
        let lines = t.store.partner_payout_lines(&alpha).await.unwrap();
        let periods: Vec<Option<String>> = lines.iter().map(|(_, p)| p.clone()).collect();
        let exports: Vec<(String, &'static str)> =
            t.store.payout_exports().await.unwrap().into_iter().map(|e| (e.period, e.status.as_str())).collect();
        seen.insert("read_back".into(), json!({ "alpha_periods": periods, "exports": exports }));
        Value::Object(seen)
    })
    .await;
    // Referral deals pay their sourcing partner only (one line each).
    assert_eq!(
        observed["lines_applied"],
        json!([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0])
    );
    assert_eq!(observed["ledger_writes"], json!(["the deal's ledger", "a payout line", "the deal's ledger"]));
    assert_eq!(observed["open_before"], json!(12));
    assert_eq!(observed["marks"], json!(["ok", "a payout line"]));
    assert_eq!(observed["export"]["lines"], json!(12), "{observed}");
    assert_eq!(observed["export"]["csv_rows"], json!(13), "a header and 12 lines: {observed}");
    assert_eq!(observed["export"]["finish_again"], json!("the export"));
    assert_eq!(observed["export"]["begin_keeps_the_first"], json!(true));
    assert_eq!(observed["export"]["created"], json!([true, false]));
    let periods = observed["read_back"]["alpha_periods"].as_array().unwrap();
    assert!(!periods.is_empty() && periods.iter().all(|p| p == "2026-10"), "{observed}");
    assert_eq!(observed["read_back"]["exports"], json!([["2026-10", "done"], ["2026-09", "running"]]), "newest first");
    assert_eq!(
        observed["export_flow"],
        json!({
            "queued": [1, 1],
            "failed": "ok",
            "failure": "the bucket was away",
            "restarted": ["Running", null],
            "done": "Done",
            "mark_done": "the export",
            "nothing_queued_once_done": true,
        })
    );
}
