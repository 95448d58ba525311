//! One binary, three triggers: the export routes (API Gateway), the export
//! queue (SQS) and the monthly schedule (EventBridge Scheduler).

use partnerops_api::lambda::Wiring;
use partnerops_app::exports::Exports;
use partnerops_aws::config::ExportsSettings;
use partnerops_aws::objects::S3Objects;
use partnerops_aws::queue::SqsWorkQueue;
use payout_exports::{ExportApi, ExportWorker, router};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wiring = Wiring::from_env().await?;
    let mut env = partnerops_aws::config::Env::from_process();
    let settings = ExportsSettings::from_env(&mut env);
    env.finish()?;
    let exports = Arc::new(Exports {
        store: wiring.store.clone(),
        files: Arc::new(S3Objects::from_sdk_config(&wiring.sdk, settings.exports_bucket)),
        work: Arc::new(SqsWorkQueue::from_sdk_config(&wiring.sdk, settings.export_queue_url)),
        terms: wiring.terms.clone(),
        clock: wiring.clock.clone(),
    });
    let app = router(&wiring.context, ExportApi { exports: exports.clone() });
    partnerops_api::lambda::serve(app, &ExportWorker(exports)).await
}
