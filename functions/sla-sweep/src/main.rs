use lambda_runtime::{LambdaEvent, service_fn};
use partnerops_app::sweep::sweep;
use partnerops_aws::{Clock, Config, DynamoStore, SystemClock, load_sdk_config, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let store = DynamoStore::from_sdk_config(&sdk, &config.table_name);
    let store = &store;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
        let report = sweep(store, SystemClock.now()).await?;
        tracing::info!(
            items_read = report.items_read,
            due = report.due,
            signals = report.signals,
            skipped = report.skipped,
            "sweep done"
        );
        Ok::<_, lambda_runtime::Error>(report)
    }))
    .await
}
