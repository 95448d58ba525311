//! `partnerops-redrive --from DLQ_URL (--to QUEUE_URL | --to-targets) [--region R]`:
//! moves a dead-letter queue's messages back to the queue they came from (or,
//! for the rules' dead letters, to the queue each names), with the operator's
//! AWS credentials. `cargo xtask redrive` finds the URLs from the stack's outputs.

use partnerops_aws::queue::{RedriveTo, redrive};
use std::io::Write as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut from = None;
    let mut to = None;
    let mut region = None;
    let mut targets = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--to-targets" {
            targets = true;
            continue;
        }
        let value = args.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--from" => from = Some(value),
            "--to" => to = Some(value),
            "--region" => region = Some(value),
            _ => anyhow::bail!("unknown option {flag}"),
        }
    }
    let Some(from) = from else { anyhow::bail!("give --from DLQ_URL and --to QUEUE_URL or --to-targets") };
    let destination = match (&to, targets) {
        (Some(url), false) => RedriveTo::Queue(url),
        (None, true) => RedriveTo::Targets,
        _ => anyhow::bail!("give exactly one of --to QUEUE_URL and --to-targets"),
    };
    let mut loader = partnerops_aws::sdk_defaults();
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let sdk = loader.load().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let moved = redrive(&client, &from, destination, &|n| {
        print!("\r  {n} moved");
        let _ = std::io::stdout().flush();
    })
    .await?;
    let to = to.unwrap_or_else(|| "the queues they name".into());
    println!("\r  {moved} message(s) moved from {from} to {to}");
    Ok(())
}
