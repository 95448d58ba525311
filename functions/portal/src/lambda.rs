//! The Lambda entry point: configuration, SDK clients and the SES mailer
//! built once per container, then the router served by `lambda_http`.

use crate::standalone_router;
use crate::state::PortalState;
use partnerops_aws::config::Env;
use partnerops_aws::links::S3Links;
use partnerops_aws::notify::SesEmail;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use std::sync::Arc;

pub async fn run() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut env = Env::from_process();
    let exports_bucket = env.required("EXPORTS_BUCKET", "the bucket finance downloads payout exports from");
    env.finish()?;
    let sdk = load_sdk_config().await;
    let from = config.terms.notifications.from_email.clone();
    let state = PortalState {
        store: Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name)),
        clock: Arc::new(SystemClock),
        terms: Arc::new(config.terms),
        base_url: partnerops_api::base_url::configured(),
        mailer: Arc::new(SesEmail::from_sdk_config(&sdk, from)),
        links: Arc::new(S3Links::from_sdk_config(&sdk, &exports_bucket)?),
        secure_cookies: true,
    };
    lambda_http::run(standalone_router(state)).await
}
