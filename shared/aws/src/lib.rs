//! Adapters between the domain and the outside: every AWS and Slack call
//! lives here. The DynamoDB store (and an in-memory twin with the same
//! semantics), the outbox publisher, S3 objects, SES and Slack transports,
//! SQS queue control, Secrets Manager, configuration, clocks and telemetry. Function crates
//! hold wiring and handlers only.

pub mod clock;
pub mod config;
pub mod metrics;
pub mod notify;
pub mod objects;
pub mod outbox;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod telemetry;

pub use clock::{Clock, FixedClock, SystemClock};
pub use config::Config;
pub use store::{DynamoStore, MemoryStore, Store, StoreError};

/// The SDK configuration from the environment (region, credentials,
/// `AWS_ENDPOINT_URL` for the local stack). Loaded once per container.
pub async fn load_sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

impl DynamoStore {
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), table)
    }
}
