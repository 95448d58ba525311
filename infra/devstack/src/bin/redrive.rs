//! `partnerops-redrive`: moves a dead-letter queue's messages back to the
//! queue they came from (or, for the rules' dead letters, to the queue each
//! names), or replays the relay's dead letters (stream batches) to the bus,
//! with the operator's AWS credentials. `cargo xtask redrive` finds the URLs
//! and names from the stack's outputs.

use clap::{ArgGroup, Parser};
use partnerops_aws::SystemClock;
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher};
use partnerops_aws::queue::{RedriveTo, redrive};
use partnerops_devstack::replay::replay_relay_dead_letters;
use std::io::Write as _;

/// Move a dead-letter queue's messages back where they came from.
#[derive(Parser)]
#[command(name = "partnerops-redrive")]
#[command(group(ArgGroup::new("destination").required(true).args(["to", "to_targets", "stream"])))]
struct Args {
    /// The dead-letter queue's URL
    #[arg(long)]
    from: String,
    /// Send every message to this queue's URL
    #[arg(long)]
    to: Option<String>,
    /// Send each message to the queue its rule names (the rules' dead letters)
    #[arg(long)]
    to_targets: bool,
    /// Replay the relay's dead letters (stream batches) to the bus
    #[arg(long, requires_all = ["table", "bus"])]
    stream: bool,
    /// The table whose outbox the replayed events belong to (with --stream)
    #[arg(long, requires = "stream")]
    table: Option<String>,
    /// The bus to publish the replayed events to (with --stream)
    #[arg(long, requires = "stream")]
    bus: Option<String>,
    /// The AWS region, when the environment does not name it
    #[arg(long)]
    region: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { from, to, to_targets, stream, table, bus, region } = Args::parse();
    let mut loader = partnerops_aws::sdk_defaults();
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let sdk = loader.load().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let show = |what: &'static str| {
        move |n: u64| {
            print!("\r  {n} {what}");
            let _ = std::io::stdout().flush();
        }
    };
    if stream {
        let (Some(table), Some(bus)) = (&table, &bus) else { anyhow::bail!("--stream needs --table and --bus") };
        let replayed = replay_relay_dead_letters(
            &sqs,
            &from,
            &aws_sdk_dynamodbstreams::Client::new(&sdk),
            &EventBridgePublisher::from_sdk_config(&sdk, bus),
            &DynamoOutboxLedger::from_sdk_config(&sdk, table),
            &SystemClock,
            &show("batch(es) replayed"),
        )
        .await?;
        println!(
            "\r  {} stream batch(es) replayed from {from} to bus {bus}: {} event(s) published, {} already published",
            replayed.batches, replayed.published, replayed.already_published
        );
        return Ok(());
    }
    let destination = match &to {
        Some(url) => RedriveTo::Queue(url),
        None if to_targets => RedriveTo::Targets,
        None => anyhow::bail!("give --to QUEUE_URL, --to-targets or --stream"),
    };
    let moved = redrive(&sqs, &from, destination, &show("moved")).await?;
    let to = to.unwrap_or_else(|| "the queues they name".into());
    println!("\r  {moved} message(s) moved from {from} to {to}");
    Ok(())
}
