#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    portal::lambda::run().await
}
