//! Secrets from Secrets Manager, read once at start-up: a container keeps
//! what it read for its life, and a rotated secret reaches new containers
//! (docs/operations.md says how to roll it out at once).

use aws_sdk_secretsmanager::error::DisplayErrorContext;
use std::fmt;

/// A secret's value. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The value a secret is created with until someone puts the real one in:
/// the feature it configures is off.
pub const OFF: &str = "off";

/// Reads the current value of `secret_id` (a name or an ARN). `None` when
/// it is empty or `off`.
pub async fn read_secret(sdk: &aws_config::SdkConfig, secret_id: &str) -> anyhow::Result<Option<Secret>> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        // The error names the secret, never its value.
        .map_err(|e| anyhow::anyhow!("reading secret {secret_id}: {}", DisplayErrorContext(&e)))?;
    let value = output.secret_string.unwrap_or_default();
    let value = value.trim();
    Ok((!value.is_empty() && !value.eq_ignore_ascii_case(OFF)).then(|| Secret(value.to_owned())))
}
