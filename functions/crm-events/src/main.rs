use crm_events::{CrmApi, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    partnerops_api::lambda::run(|w| {
        router(&w.context, CrmApi { store: w.store.clone(), clock: w.clock.clone(), terms: w.terms.clone() })
    })
    .await
}
