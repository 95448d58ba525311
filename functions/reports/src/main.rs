//! One binary, two triggers: the report routes (API Gateway) and the reports
//! queue (SQS).

use partnerops_api::AppState;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use reports::Reports;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let engine = Reports { store: store.clone() };
    let app = reports::router(AppState::new(store, Arc::new(SystemClock), Arc::new(config.terms)));
    partnerops_api::lambda::serve(app, &engine).await
}
