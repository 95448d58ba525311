use admin::{AdminApi, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    partnerops_api::lambda::run(|w| {
        router(
            &w.context,
            AdminApi {
                store: w.store.clone(),
                clock: w.clock.clone(),
                keys: w.context.keys.clone(),
                base_url: w.base_url.clone(),
            },
        )
    })
    .await
}
