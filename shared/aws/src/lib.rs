//! Adapters between the domain and the outside: every AWS and Slack call
//! lives here. The DynamoDB store (and an in-memory twin with the same
//! semantics), the outbox publisher, S3 objects, SES and Slack transports,
//! SQS queue control, Secrets Manager, configuration, clocks and telemetry. Function crates
//! hold wiring and handlers only.

pub mod clock;
pub mod config;
pub mod links;
pub mod metrics;
pub mod notify;
pub mod objects;
pub mod outbox;
pub mod queue;
pub mod secrets;
pub mod slack;
pub mod store;
pub mod telemetry;
pub mod webhooks;

pub use clock::{Clock, FixedClock, SystemClock};
pub use config::Config;
pub use store::{DynamoStore, MemoryStore, Store, StoreError};

/// The SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL` for the local stack). Loaded once per container.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    sdk_defaults().load().await
}

/// `aws_config::defaults` with the HTTPS client every partnerops binary
/// shares: rustls on ring, the provider reqwest already links for Slack, so
/// each binary carries one TLS crypto library instead of ring and aws-lc
/// (about 2 MiB of the arm64 package).
pub fn sdk_defaults() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}

pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https()
}

impl DynamoStore {
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), table)
    }
}
