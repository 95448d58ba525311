#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    partnerops_api::lambda::run(admin::router).await
}
