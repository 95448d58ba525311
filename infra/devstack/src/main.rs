//! `partnerops-dev`: the local stack, started by `cargo xtask dev`.

use clap::Parser;
use partnerops_aws::config::program_terms;
use partnerops_devstack::{Options, start};
use partnerops_domain::Timestamp;
use partnerops_domain::auth::Role;
use std::sync::Arc;

/// The local stack: moto as AWS, the resources template.yaml declares, every
/// function's routes on one server on 127.0.0.1. PARTNEROPS_ADMIN_KEY chooses
/// the admin key; SLACK_WEBHOOK_URL, or SLACK_BOT_TOKEN with
/// SLACK_SIGNING_SECRET, sends to Slack for real.
#[derive(Parser)]
#[command(name = "partnerops-dev")]
struct Args {
    /// The port the API listens on, on 127.0.0.1
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Start the stack's clock frozen at this instant (RFC 3339) instead of on real time
    #[arg(long, value_parser = parse_instant)]
    clock: Option<Timestamp>,
}

fn parse_instant(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse(text).map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    partnerops_aws::telemetry::init();
    let mut options = Options::new(program_terms()?);
    options.port = args.port;
    options.clock_start = args.clock;
    options.seed_demo = true;
    options.background_relay = true;
    options.admin_key = std::env::var("PARTNEROPS_ADMIN_KEY").ok().filter(|k| !k.is_empty());
    options.slack_webhook_url = std::env::var("SLACK_WEBHOOK_URL").ok().filter(|u| !u.trim().is_empty());
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(bot_token) = env("SLACK_BOT_TOKEN") {
        options.slack_app = Some(partnerops_devstack::SlackAppOptions {
            bot_token,
            signing_secret: env("SLACK_SIGNING_SECRET").unwrap_or_default(),
            api_url: env("SLACK_API_URL").unwrap_or_else(|| "https://slack.com/api".into()),
        });
    }
    options.report = Arc::new(|step: &str| println!("==> {step}"));
    let stack = start(options).await?;
    println!();
    println!("partnerops dev stack is ready");
    println!("  API          {}", stack.url);
    println!("  AWS (moto)   {}", stack.endpoint);
    println!("  admin key    {}", stack.admin_key);
    for (role, key) in &stack.demo_keys {
        let label = if *role == Role::Partner { "partner (demo-partner)".to_owned() } else { role.to_string() };
        println!("  {label:<12} {key}");
    }
    println!();
    println!("  curl -s {}/_dev/health", stack.url);
    println!("  curl -s {}/_dev/keys      (these keys, as JSON)", stack.url);
    println!("  Ctrl-C stops the stack and moto.");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
    }
    println!("stopping");
    drop(stack);
    Ok(())
}
