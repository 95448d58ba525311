//! An export of 1,000,000 lines generated in process, streamed through the
//! same grouping and CSV code the export runs: prints its time, the bytes
//! written and the peak resident memory (`VmHWM`), which stays flat because
//! no step holds the lines.
//!
//! `cargo bench -p partnerops-app --bench export_million` (`PAYOUT_LINES` to change the count).

// A measurement's set-up failing should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_arithmetic)]

use partnerops_domain::Timestamp;
use partnerops_domain::id::PayoutLineId;
use partnerops_domain::money::Currency;
use partnerops_domain::partner::{Motion, PartnerId, Tier};
use partnerops_domain::payout::{
    GroupTotals, LineKind, PayoutLine, Period, write_line_rows, write_lines_csv, write_summary_csv,
};
use partnerops_domain::terms::{AttributionRole, ProgramTerms};
use std::io::Write;
use std::time::Instant;

/// Counts what is written and drops it.
struct Counting(u64);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let count: u64 = std::env::var("PAYOUT_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let terms = ProgramTerms::from_toml(include_str!("../../../infra/program.toml")).unwrap();
    let usd = Currency::parse("USD").unwrap();
    let start = Timestamp::parse("2026-11-01T00:00:00Z").unwrap();
    let partners: Vec<PartnerId> = (0..1000).map(|i| PartnerId::parse(&format!("partner-{i:04}")).unwrap()).collect();
    // Lines in export order: partner by partner, each partner's by time.
    let lines = || {
        (0..count).map(|i| {
            let per = count.div_ceil(partners.len() as u64).max(1);
            let partner = &partners[usize::try_from(i / per).unwrap_or(0).min(partners.len() - 1)];
            PayoutLine {
                line_id: PayoutLineId::from_ulid(ulid::Ulid(u128::from(i) + 1)),
                opportunity_id: format!("006-{i:08}"),
                partner_id: partner.clone(),
                partner_name: format!("Partner {partner}"),
                kind: if i % 10 == 9 { LineKind::Clawback } else { LineKind::Earned },
                motion: Motion::CoSell,
                role: AttributionRole::Sourced,
                share_bps: 10_000,
                rate_bps: 500,
                tier: Tier::Gold,
                amount: if i % 10 == 9 { -1_250 } else { 52_800 },
                currency: usd,
                earned_at: start.plus(chrono::Duration::seconds(i64::try_from(i % 2_000_000).unwrap_or(0))),
            }
        })
    };
    let before = peak_rss_kib();
    let began = Instant::now();
    // Grouping streams too: one entry per group, never the lines.
    let mut totals = GroupTotals::default();
    lines().for_each(|line| totals.add(&line));
    let groups = totals.finish(&terms);
    let period = Period::parse("2026-11").unwrap();
    let sink = Counting(0);
    let mut sink = write_lines_csv(sink, "exp_01jd0000000000000000000000", period, std::iter::empty()).unwrap();
    let mut iter = lines();
    loop {
        let page: Vec<PayoutLine> = iter.by_ref().take(1_000).collect();
        if page.is_empty() {
            break;
        }
        sink = write_line_rows(sink, "exp_01jd0000000000000000000000", period, &page).unwrap();
    }
    let summary = write_summary_csv(Counting(0), "exp_01jd0000000000000000000000", period, &groups).unwrap();
    let elapsed = began.elapsed();
    println!(
        "{count} lines: lines.csv {:.1} MiB, summary.csv {} groups ({} bytes), {:.2} s, {:.0} lines/s; peak RSS {:.1} MiB (before {:.1} MiB)",
        sink.0 as f64 / 1_048_576.0,
        groups.len(),
        summary.0,
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64(),
        peak_rss_kib() as f64 / 1024.0,
        before as f64 / 1024.0,
    );
}
