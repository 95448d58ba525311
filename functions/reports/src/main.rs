//! One binary, two triggers: the report routes (API Gateway) and the reports
//! queue (SQS).

use partnerops_api::lambda::Wiring;
use reports::{ReportApi, Reports, router};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wiring = Wiring::from_env().await?;
    let engine = Reports { store: wiring.store.clone() };
    let app = router(&wiring.context, ReportApi { store: wiring.store.clone() });
    partnerops_api::lambda::serve(app, &engine).await
}
