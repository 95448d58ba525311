//! Function configuration from the environment, with the program terms file.

use anyhow::Context as _;
use partnerops_domain::terms::ProgramTerms;
use std::path::PathBuf;

pub const DEFAULT_PROGRAM_PATH: &str = "infra/program.toml";

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub terms: ProgramTerms,
}

impl Config {
    /// Reads `TABLE_NAME`, `EVENT_BUS_NAME` (default `partnerops`) and the
    /// program terms (see [`program_terms`]).
    pub fn from_env() -> anyhow::Result<Self> {
        let mut env = Env::from_process();
        let table_name = env.required("TABLE_NAME", "the DynamoDB table");
        let event_bus_name = env.optional("EVENT_BUS_NAME").unwrap_or_else(|| "partnerops".to_owned());
        env.finish()?;
        Ok(Self { table_name, event_bus_name, terms: program_terms()? })
    }
}

/// A function's environment, read once at start-up. Every missing or
/// malformed variable is collected, so a misconfigured function names all
/// of them in one error instead of one per deployment.
/// Where variables come from: the process, or a map in tests.
type Lookup = Box<dyn Fn(&str) -> Option<String>>;

pub struct Env {
    lookup: Lookup,
    problems: Vec<String>,
}

impl Env {
    pub fn from_process() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        Self { lookup: Box::new(lookup), problems: Vec::new() }
    }

    /// The variable's value, or "" with the variable noted as missing.
    pub fn required(&mut self, name: &str, what: &str) -> String {
        match self.optional(name) {
            Some(value) => value,
            None => {
                self.problems.push(format!("{name} ({what}) is not set"));
                String::new()
            }
        }
    }

    /// The variable's value when it is set and not blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// A number, `default` when unset; a value that is not one is noted.
    pub fn number_or(&mut self, name: &str, default: u64) -> u64 {
        match self.optional(name) {
            None => default,
            Some(raw) => raw.trim().parse().unwrap_or_else(|_| {
                self.problems.push(format!("{name} must be a whole number, not {raw:?}"));
                default
            }),
        }
    }

    /// `Ok` when nothing was missing or malformed, else every problem at once.
    pub fn finish(self) -> anyhow::Result<()> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("the function's environment is incomplete: {}", self.problems.join("; "))
        }
    }
}

/// The notifier's settings: its queues, Slack and how fast it retries.
#[derive(Debug, Clone)]
pub struct NotifierSettings {
    pub queue_url: String,
    pub dlq_url: String,
    /// The Secrets Manager secret holding the Slack webhook URL; `None`
    /// turns Slack off (email still goes out).
    pub slack_webhook_secret_arn: Option<String>,
    /// App mode: the secret holding the bot token and the signing secret.
    pub slack_app_secret_arn: Option<String>,
    /// Slack's Web API (`SLACK_API_URL`, default `https://slack.com/api`).
    pub slack_api_url: String,
    pub retry_base_seconds: u32,
}

impl NotifierSettings {
    pub fn from_env(env: &mut Env) -> Self {
        Self {
            queue_url: env.required("NOTIFICATION_QUEUE_URL", "the queue the notifier reads"),
            dlq_url: env.required("NOTIFICATION_DLQ_URL", "where undeliverable notifications go"),
            slack_webhook_secret_arn: env.optional("SLACK_WEBHOOK_SECRET_ARN"),
            slack_app_secret_arn: env.optional("SLACK_APP_SECRET_ARN"),
            slack_api_url: env.optional("SLACK_API_URL").unwrap_or_else(|| crate::slack::DEFAULT_API_URL.to_owned()),
            retry_base_seconds: u32::try_from(env.number_or("NOTIFY_RETRY_BASE_SECONDS", 30)).unwrap_or(u32::MAX),
        }
    }
}

/// The payouts function's settings.
#[derive(Debug, Clone)]
pub struct ExportsSettings {
    pub exports_bucket: String,
    pub export_queue_url: String,
}

impl ExportsSettings {
    pub fn from_env(env: &mut Env) -> Self {
        Self {
            exports_bucket: env.required("EXPORTS_BUCKET", "the bucket payout exports are written to"),
            export_queue_url: env.required("EXPORT_QUEUE_URL", "the queue started exports wait in"),
        }
    }
}

/// The terms compiled into every binary: `infra/program.toml` as it was at
/// build time. A deployed function uses these unless `PARTNEROPS_PROGRAM`
/// names another file.
pub const EMBEDDED_PROGRAM: &str = include_str!("../../../infra/program.toml");

/// Program terms from `PARTNEROPS_PROGRAM` if set, else `infra/program.toml`
/// in the working directory if present, else the embedded copy.
pub fn program_terms() -> anyhow::Result<ProgramTerms> {
    if let Some(path) = std::env::var_os("PARTNEROPS_PROGRAM") {
        return load_terms(std::path::Path::new(&path));
    }
    let local = PathBuf::from(DEFAULT_PROGRAM_PATH);
    if local.is_file() {
        return load_terms(&local);
    }
    ProgramTerms::from_toml(EMBEDDED_PROGRAM).context("invalid embedded program terms")
}

/// Loads and validates program terms; the error names the file and the key.
pub fn load_terms(path: &std::path::Path) -> anyhow::Result<ProgramTerms> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read program terms at {} (set PARTNEROPS_PROGRAM)", path.display()))?;
    ProgramTerms::from_toml(&text).with_context(|| format!("invalid program terms in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Env::from_lookup(move |name| map.get(name).cloned())
    }

    #[test]
    fn every_missing_or_malformed_variable_is_named_at_once() {
        let mut e = env(&[("NOTIFY_RETRY_BASE_SECONDS", "soon"), ("SLACK_WEBHOOK_SECRET_ARN", "  ")]);
        let settings = NotifierSettings::from_env(&mut e);
        assert_eq!(settings.slack_webhook_secret_arn, None, "blank is unset");
        let message = e.finish().unwrap_err().to_string();
        for name in ["NOTIFICATION_QUEUE_URL", "NOTIFICATION_DLQ_URL", "NOTIFY_RETRY_BASE_SECONDS"] {
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn a_complete_environment_reads_through() {
        let mut e = env(&[
            ("NOTIFICATION_QUEUE_URL", "q"),
            ("NOTIFICATION_DLQ_URL", "d"),
            ("NOTIFY_RETRY_BASE_SECONDS", "5"),
            ("EXPORTS_BUCKET", "b"),
            ("EXPORT_QUEUE_URL", "eq"),
        ]);
        let notifier = NotifierSettings::from_env(&mut e);
        let exports = ExportsSettings::from_env(&mut e);
        assert!(e.finish().is_ok());
        assert_eq!((notifier.queue_url.as_str(), notifier.retry_base_seconds), ("q", 5));
        assert_eq!((exports.exports_bucket.as_str(), exports.export_queue_url.as_str()), ("b", "eq"));
    }
}
