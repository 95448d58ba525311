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

const USAGE: &str = "usage: partnerops-load [--referrals N] [--writers W] [--sample S]";

struct Args {
    referrals: usize,
    writers: usize,
    sample: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut parsed = Args { referrals: 10_000, writers: 4, sample: 300 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value: usize = it.next().and_then(|v| v.parse().ok()).with_context(|| USAGE.to_owned())?;
        match flag.as_str() {
            "--referrals" => parsed.referrals = value,
            "--writers" => parsed.writers = value.clamp(1, 64),
            "--sample" => parsed.sample = value.clamp(10, 10_000),
            _ => bail!(USAGE),
        }
    }
    Ok(parsed)
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

/// After the load, what was derived from it still adds up: once the relay
/// and the queues are drained, the SLA report counts every referral's
/// opportunity-creation timer exactly once.
async fn settled_report(http: &reqwest::Client, url: &str, admin: &str, referrals: usize) -> anyhow::Result<()> {
    let tick = http.post(format!("{url}/_dev/tick")).send().await?;
    anyhow::ensure!(tick.status().is_success(), "/_dev/tick answered {}", tick.status());
    let clock: Value = http.get(format!("{url}/_dev/clock")).send().await?.json().await?;
    let now = clock["now"].as_str().context("no now in /_dev/clock")?;
    let today = chrono::DateTime::parse_from_rfc3339(now)?.date_naive();
    let (from, to) = (today, today + chrono::Days::new(2));
    let started = Instant::now();
    let reply =
        http.get(format!("{url}/v1/reports/slas?from={from}&to={to}&group_by=kind")).bearer_auth(admin).send().await?;
    anyhow::ensure!(reply.status().is_success(), "the SLA report answered {}", reply.status());
    let report: Value = reply.json().await?;
    let took = started.elapsed().as_secs_f64() * 1000.0;
    let row = report["rows"].as_array().into_iter().flatten().find(|r| r["key"] == "opportunity_creation");
    let timers = row.and_then(|r| r["timers"].as_u64()).unwrap_or(0);
    anyhow::ensure!(
        usize::try_from(timers).ok() == Some(referrals),
        "the SLA report counts {timers} opportunity_creation timers for {referrals} referrals: {report}"
    );
    println!(
        "SLA report after the load ({from} to {to}, by kind): {timers} opportunity_creation timers, one per referral, in {took:.0} ms"
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
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
    let (small_p50, small_p95) = sample(&client, 2_000_000, args.sample).await?;
    println!("table with {:>6} referrals: p50 {small_p50:6.1} ms  p95 {small_p95:6.1} ms", 100 + args.sample);

    let target = args.referrals.saturating_sub(100 + 2 * args.sample);
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

    let (large_p50, large_p95) = sample(&client, 4_000_000, args.sample).await?;
    println!("table with {:>6} referrals: p50 {large_p50:6.1} ms  p95 {large_p95:6.1} ms", args.referrals);
    println!("p50 ratio large / small: {:.2}", large_p50 / small_p50.max(0.001));
    settled_report(&http, &stack.url, &admin, 100 + 2 * args.sample + target).await?;
    let stats = moto_stats(&http, &stack.endpoint).await?;
    println!("moto: {} MiB resident, {stats}", stats["rss_mib"]);
    Ok(())
}
