//! `partnerops-redrive --from DLQ_URL (--to QUEUE_URL | --to-targets | --stream --table T --bus B) [--region R]`:
//! moves a dead-letter queue's messages back to the queue they came from (or,
//! for the rules' dead letters, to the queue each names), or replays the
//! relay's dead letters (stream batches) to the bus, with the operator's AWS
//! credentials. `cargo xtask redrive` finds the URLs and names from the
//! stack's outputs.

use partnerops_aws::SystemClock;
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher};
use partnerops_aws::queue::{RedriveTo, redrive};
use partnerops_devstack::replay::replay_relay_dead_letters;
use std::io::Write as _;

const USAGE: &str = "give --from DLQ_URL and one of --to QUEUE_URL, --to-targets, --stream --table TABLE --bus BUS";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (mut from, mut to, mut region, mut table, mut bus) = (None, None, None, None, None);
    let (mut targets, mut stream) = (false, false);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--to-targets" => targets = true,
            "--stream" => stream = true,
            _ => {
                let value = args.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
                match flag.as_str() {
                    "--from" => from = Some(value),
                    "--to" => to = Some(value),
                    "--region" => region = Some(value),
                    "--table" => table = Some(value),
                    "--bus" => bus = Some(value),
                    _ => anyhow::bail!("unknown option {flag}"),
                }
            }
        }
    }
    let Some(from) = from else { anyhow::bail!(USAGE) };
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
    let destination = match (&to, targets, stream, &table, &bus) {
        (None, false, true, Some(table), Some(bus)) => {
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
        (Some(url), false, false, None, None) => RedriveTo::Queue(url),
        (None, true, false, None, None) => RedriveTo::Targets,
        _ => anyhow::bail!(USAGE),
    };
    let moved = redrive(&sqs, &from, destination, &show("moved")).await?;
    let to = to.unwrap_or_else(|| "the queues they name".into());
    println!("\r  {moved} message(s) moved from {from} to {to}");
    Ok(())
}
