use partnerops_api::AppState;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let store = DynamoStore::from_sdk_config(&sdk, &config.table_name);
    let state = AppState::new(Arc::new(store), Arc::new(SystemClock), Arc::new(config.terms));
    lambda_http::run(admin::router(state)).await
}
