//! `partnerops-admin-key --table NAME [--label TEXT]`: creates an admin API
//! key in a deployed table with the operator's AWS credentials and prints it
//! once. Run through `cargo xtask admin-key`.

use anyhow::{Context as _, bail};
use partnerops_aws::store::ApiKeyRecord;
use partnerops_aws::store::ports::*;
use partnerops_aws::{Clock, DynamoStore, SystemClock, load_sdk_config};
use partnerops_domain::auth::{NewApiKey, Role};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut table = None;
    let mut label = "admin".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--table" => table = Some(value),
            "--label" => label = value,
            _ => bail!("unknown option {flag}"),
        }
    }
    let table = table.context("--table is required")?;
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
