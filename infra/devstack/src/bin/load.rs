//! `partnerops-load`: sustained concurrent load on a fresh local stack, run by
//! `cargo xtask load`. It measures `POST /v1/referrals` at a small table and
//! again after filling it, so a cost that grows with the table shows as a
//! ratio; then checks the SLA report counts every referral once, and reports
//! what moto holds at the end. Every loop is bounded; it talks only to the
//! stack it started on 127.0.0.1.

// Reporting timings only; money never passes through this binary.
#![allow(clippy::float_arithmetic, clippy::cast_precision_loss)]

use anyhow::{Context as _, bail};
use partnerops_aws::config::program_terms;
use partnerops_devstack::{Options, start};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Sustained concurrent referrals on a fresh local stack.
#[derive(clap::Parser)]
#[command(name = "partnerops-load")]
struct Args {
    /// Referrals in all
    #[arg(long, default_value_t = 10_000)]
    referrals: usize,
    /// Concurrent writers between the two samples
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    writers: u16,
    /// Sequential referrals in each latency sample
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u16).range(10..=10_000))]
    sample: u16,
}

struct Client {
    http: reqwest::Client,
    url: String,
    key: String,
}

impl Client {
    async fn post(&self, path: &str, key: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let reply = self.http.post(format!("{}{path}", self.url)).bearer_auth(key).json(&body).send().await?;
        let status = reply.status().as_u16();
        Ok((status, reply.json().await.unwrap_or_default()))
    }

    /// One referral of a prospect no one has referred; its latency.
    async fn refer(&self, n: usize) -> anyhow::Result<Duration> {
        let body = json!({
            "company": { "name": "Load Test Co", "domain": format!("load-{n}.com") },
            "contact": { "name": "Jane Doe", "email": "jane@example.com" },
            "consent": true
        });
        let started = Instant::now();
        let (status, reply) = self.post("/v1/referrals", &self.key, body).await?;
        if status != 201 {
            bail!("referral {n} answered {status}: {reply}");
        }
        Ok(started.elapsed())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// p50 and p95 in milliseconds of `count` sequential referrals from `first`.
async fn sample(client: &Client, first: usize, count: usize) -> anyhow::Result<(f64, f64)> {
    let mut latencies = Vec::with_capacity(count);
    for n in first..first + count {
        latencies.push(client.refer(n).await?);
    }
    latencies.sort();
    Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.95)))
}

async fn moto_stats(http: &reqwest::Client, endpoint: &str) -> anyhow::Result<Value> {
    Ok(http.get(format!("{endpoint}/_partnerops/stats")).send().await?.json().await?)
}

/// moto's requests between two readings of its counters, by action, the
/// slowest first: `(action, requests, seconds)`.
fn requests_between(before: &Value, after: &Value) -> Vec<(String, u64, f64)> {
    let Some(actions) = after["requests"].as_object() else { return Vec::new() };
    let mut moved: Vec<_> = actions
        .iter()
        .map(|(action, now)| {
            let was = &before["requests"][action];
            let count = now["count"].as_u64().unwrap_or(0).saturating_sub(was["count"].as_u64().unwrap_or(0));
            let seconds = now["seconds"].as_f64().unwrap_or(0.0) - was["seconds"].as_f64().unwrap_or(0.0);
            (action.clone(), count, seconds)
        })
        .filter(|(_, count, _)| *count > 0)
        .collect();
    moved.sort_by(|a, b| b.2.total_cmp(&a.2));
    moved
}

/// Runs the schedules once and waits for what they started: its summary and
/// how long it took, in seconds.
async fn tick(http: &reqwest::Client, url: &str) -> anyhow::Result<(Value, f64)> {
    let started = Instant::now();
    let reply = http.post(format!("{url}/_dev/tick")).send().await?;
    anyhow::ensure!(reply.status().is_success(), "/_dev/tick answered {}", reply.status());
    let summary: Value = reply.json().await?;
    Ok((summary, started.elapsed().as_secs_f64()))
}

fn count(summary: &Value, field: &str) -> u64 {
    summary[field].as_u64().unwrap_or(0)
}

/// Drains what the writes left behind, so a latency sample measures the
/// table's size and not the consumers' backlog; then an idle tick.
async fn settle(http: &reqwest::Client, url: &str, after: &str) -> anyhow::Result<()> {
    let (summary, settled) = tick(http, url).await?;
    let (_, idle) = tick(http, url).await?;
    println!(
        "settled after {after} in {settled:.1} s ({} events relayed, {} messages handled), then an idle /_dev/tick in {:.0} ms",
        count(&summary, "events_published"),
        count(&summary, "messages_processed"),
        idle * 1000.0
    );
    Ok(())
}

/// Moves the stack's clock past every referral's 24 h and runs the sweep:
/// every opportunity-creation timer breaches and each breach is notified.
async fn breach_all(http: &reqwest::Client, url: &str, moto: &str, referrals: usize) -> anyhow::Result<()> {
    let moved = http.post(format!("{url}/_dev/clock")).json(&json!({ "advance": "25h" })).send().await?;
    anyhow::ensure!(moved.status().is_success(), "/_dev/clock answered {}", moved.status());
    let before = moto_stats(http, moto).await?;
    let (summary, took) = tick(http, url).await?;
    let requests = requests_between(&before, &moto_stats(http, moto).await?);
    let (signals, sent) = (count(&summary, "sla_signals"), count(&summary, "notifications_sent"));
    println!(
        "the sweep 25 h later: {signals} breaches, {} timers read, {sent} notifications sent, {} events relayed, in {took:.1} s",
        count(&summary, "sla_items_read"),
        count(&summary, "events_published")
    );
    let total: u64 = requests.iter().map(|(_, count, _)| count).sum();
    println!("  moto answered {total} requests meanwhile, per breach:");
    for (action, count, seconds) in requests.iter().take(12) {
        let per = referrals.max(1) as f64;
        println!("  {action:<36} {:>6.2} requests {:>7.2} ms", *count as f64 / per, seconds * 1000.0 / per);
    }
    anyhow::ensure!(usize::try_from(signals).ok() == Some(referrals), "{signals} breaches for {referrals} referrals");
    anyhow::ensure!(sent >= signals, "{sent} notifications for {signals} breaches: {summary}");
    Ok(())
}

/// After the load, what was derived from it still adds up: the SLA report
/// counts every referral's opportunity-creation timer once, each breached.
async fn checked_report(http: &reqwest::Client, url: &str, admin: &str, referrals: usize) -> anyhow::Result<()> {
    let clock: Value = http.get(format!("{url}/_dev/clock")).send().await?.json().await?;
    let now = clock["now"].as_str().context("no now in /_dev/clock")?;
    let today = chrono::DateTime::parse_from_rfc3339(now)?.date_naive();
    let (from, to) = (today - chrono::Days::new(2), today);
    let started = Instant::now();
    let reply =
        http.get(format!("{url}/v1/reports/slas?from={from}&to={to}&group_by=kind")).bearer_auth(admin).send().await?;
    anyhow::ensure!(reply.status().is_success(), "the SLA report answered {}", reply.status());
    let report: Value = reply.json().await?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let row = report["rows"].as_array().into_iter().flatten().find(|r| r["key"] == "opportunity_creation");
    let timers = row.and_then(|r| r["timers"].as_u64()).unwrap_or(0);
    let breached = row.and_then(|r| r["breached"].as_u64()).unwrap_or(0);
    anyhow::ensure!(
        usize::try_from(timers).ok() == Some(referrals) && breached == timers,
        "the SLA report counts {timers} opportunity_creation timers, {breached} breached, for {referrals} referrals: {report}"
    );
    println!(
        "SLA report ({from} to {to}, by kind): {timers} opportunity_creation timers, one per referral, all breached, in {took:.0} ms"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = <Args as clap::Parser>::parse();
    let sample_size = usize::from(args.sample);
    let mut options = Options::new(program_terms()?);
    options.background_relay = true;
    options.report = Arc::new(|step: &str| eprintln!("==> {step}"));
    let stack = start(options).await?;
    let http = reqwest::Client::new();
    let admin = stack.admin_key.clone();
    let setup = Client { http: http.clone(), url: stack.url.clone(), key: admin.clone() };
    let (status, _) =
        setup.post("/v1/admin/partners", &admin, json!({ "id": "load", "name": "Load", "tier": "gold" })).await?;
    anyhow::ensure!(status == 201, "creating the load partner answered {status}");
    let (status, created) = setup
        .post("/v1/admin/keys", &admin, json!({ "role": "partner", "partner_id": "load", "label": "load" }))
        .await?;
    anyhow::ensure!(status == 201, "creating its key answered {status}");
    let key = created["key"].as_str().context("no key in the answer")?.to_owned();
    let client = Arc::new(Client { http: http.clone(), url: stack.url.clone(), key });

    for n in 0..100 {
        client.refer(1_000_000 + n).await?;
    }
    settle(&http, &stack.url, "100 referrals").await?;
    let (small_p50, small_p95) = sample(&client, 2_000_000, sample_size).await?;
    println!("table with {:>6} referrals: p50 {small_p50:6.1} ms  p95 {small_p95:6.1} ms", 100 + sample_size);

    let target = args.referrals.saturating_sub(100 + 2 * sample_size);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut writers = Vec::new();
    for _ in 0..args.writers {
        let (client, next) = (client.clone(), next.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= target {
                    return anyhow::Ok(());
                }
                client.refer(3_000_000 + n).await?;
            }
        }));
    }
    for writer in writers {
        writer.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{target} referrals from {} concurrent writers in {elapsed:.0} s ({:.0}/s), none refused",
        args.writers,
        target as f64 / elapsed.max(0.001)
    );

    settle(&http, &stack.url, "the writers").await?;
    let (large_p50, large_p95) = sample(&client, 4_000_000, sample_size).await?;
    let referrals = 100 + 2 * sample_size + target;
    println!("table with {referrals:>6} referrals: p50 {large_p50:6.1} ms  p95 {large_p95:6.1} ms");
    println!(
        "ratios large / small: p50 {:.2}, p95 {:.2}",
        large_p50 / small_p50.max(0.001),
        large_p95 / small_p95.max(0.001)
    );
    settle(&http, &stack.url, "the second sample").await?;
    breach_all(&http, &stack.url, &stack.endpoint, referrals).await?;
    checked_report(&http, &stack.url, &admin, referrals).await?;
    let mut stats = moto_stats(&http, &stack.endpoint).await?;
    if let Some(counters) = stats.as_object_mut() {
        counters.remove("requests");
    }
    println!("moto: {} MiB resident, {stats}", stats["rss_mib"]);
    Ok(())
}
