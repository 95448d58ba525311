//! The entry point of every HTTP function: configuration and SDK clients
//! built once per container, then the router served by `lambda_http`.

use crate::state::AppState;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use std::sync::Arc;

pub async fn run(router: fn(AppState) -> axum::Router) -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = load_sdk_config().await;
    let store = DynamoStore::from_sdk_config(&sdk, &config.table_name);
    let state = AppState::new(Arc::new(store), Arc::new(SystemClock), Arc::new(config.terms));
    lambda_http::run(router(state)).await
}
