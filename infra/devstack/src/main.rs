//! `partnerops-dev`: the local stack, started by `cargo xtask dev`.

use partnerops_aws::config::program_terms;
use partnerops_devstack::{Options, start};
use std::sync::Arc;

fn usage() -> ! {
    eprintln!("usage: partnerops-dev [--port PORT]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    partnerops_aws::telemetry::init();
    let mut port = 3000u16;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => port = args.next().and_then(|p| p.parse().ok()).unwrap_or_else(|| usage()),
            _ => usage(),
        }
    }
    let mut options = Options::new(program_terms()?);
    options.port = port;
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
    for (label, key) in &stack.demo_keys {
        println!("  {label:<12} {key}");
    }
    println!();
    println!("  curl -s {}/_dev/health", stack.url);
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
