//! `partnerops-admin-key`: creates an admin API key in a deployed table with
//! the operator's AWS credentials and prints it once. Run through
//! `cargo xtask admin-key`, which finds the table from the stack's outputs.

use anyhow::Context as _;
use clap::Parser;
use partnerops_aws::store::ApiKeyRecord;
use partnerops_aws::store::ports::*;
use partnerops_aws::{Clock, DynamoStore, SystemClock, load_sdk_config};
use partnerops_domain::auth::{NewApiKey, Role};

/// Create an admin API key in a deployed table (printed once; only its SHA-256 is stored).
#[derive(Parser)]
#[command(name = "partnerops-admin-key")]
struct Args {
    /// The table's name
    #[arg(long)]
    table: String,
    /// What the key is for, shown in the key list
    #[arg(long, default_value = "admin")]
    label: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Args { table, label } = Args::parse();
    let sdk = load_sdk_config().await;
    let store = DynamoStore::from_sdk_config(&sdk, &table);
    let key = NewApiKey::generate(rand::random());
    let record = ApiKeyRecord {
        key_id: key.key_id.clone(),
        hash: key.hash.clone(),
        role: Role::Admin,
        partner_id: None,
        label,
        created_at: SystemClock.now(),
        revoked_at: None,
    };
    store.put_api_key(&record).await.with_context(|| format!("writing the key to table {table}"))?;
    println!("key_id  {}", record.key_id);
    println!("key     {}", key.plaintext);
    println!(
        "\nThe key is shown only now; only its SHA-256 is stored. Revoke it with DELETE /v1/admin/keys/{}.",
        record.key_id
    );
    Ok(())
}
