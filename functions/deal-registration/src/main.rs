#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    partnerops_api::lambda::run(deal_registration::router).await
}
