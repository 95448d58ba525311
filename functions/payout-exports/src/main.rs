//! One binary, three triggers: the export routes (API Gateway), the export
//! queue (SQS) and the monthly schedule (EventBridge Scheduler).

use partnerops_api::AppState;
use partnerops_aws::config::{Env, ExportsSettings};
use partnerops_aws::objects::S3Objects;
use partnerops_aws::queue::SqsWorkQueue;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use payout_exports::Exports;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut env = Env::from_process();
    let settings = ExportsSettings::from_env(&mut env);
    env.finish()?;
    let sdk = load_sdk_config().await;
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let terms = Arc::new(config.terms);
    let exports = Arc::new(Exports {
        store: store.clone(),
        files: Arc::new(S3Objects::from_sdk_config(&sdk, settings.exports_bucket)),
        work: Arc::new(SqsWorkQueue::from_sdk_config(&sdk, settings.export_queue_url)),
        terms: terms.clone(),
        clock: Arc::new(SystemClock),
    });
    let state = AppState::new(store, Arc::new(SystemClock), terms);
    let app = payout_exports::router(state, exports.clone());
    partnerops_api::lambda::serve(app, exports.as_ref()).await
}
