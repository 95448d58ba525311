#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    partnerops_api::lambda::run(crm_events::router).await
}
