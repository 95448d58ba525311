//! `partnerops-redrive --from DLQ_URL --to QUEUE_URL [--region R]`: moves a
//! dead-letter queue's messages back to the queue they came from, with the
//! operator's AWS credentials. `cargo xtask redrive` finds the URLs from the
//! stack's outputs.

use partnerops_aws::queue::redrive;
use std::io::Write as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut from = None;
    let mut to = None;
    let mut region = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--from" => from = Some(value),
            "--to" => to = Some(value),
            "--region" => region = Some(value),
            _ => anyhow::bail!("unknown option {flag}"),
        }
    }
    let (Some(from), Some(to)) = (from, to) else { anyhow::bail!("give --from DLQ_URL and --to QUEUE_URL") };
    let mut loader = partnerops_aws::sdk_defaults();
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let sdk = loader.load().await;
    let client = aws_sdk_sqs::Client::new(&sdk);
    let moved = redrive(&client, &from, &to, &|n| {
        print!("\r  {n} moved");
        let _ = std::io::stdout().flush();
    })
    .await?;
    println!("\r  {moved} message(s) moved from {from} to {to}");
    Ok(())
}
