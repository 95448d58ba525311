#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    slack_interactions::lambda::run().await
}
