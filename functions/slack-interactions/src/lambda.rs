//! The Lambda entry point: the app credentials read once from Secrets
//! Manager, the SDK clients and the Web API client built once per container.

use crate::{SlackState, router};
use partnerops_app::decisions::DecisionMessages;
use partnerops_aws::config::Env;
use partnerops_aws::slack::{AppCredentials, DEFAULT_API_URL, DEFAULT_RESPONSE_ORIGIN, SlackApp, SlackWebApi};
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use std::sync::Arc;

pub async fn run() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut env = Env::from_process();
    let secret_arn = env.required("SLACK_APP_SECRET_ARN", "the secret holding the Slack bot token and signing secret");
    let api_url = env.optional("SLACK_API_URL").unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    env.finish()?;
    let sdk = load_sdk_config().await;
    let secret = partnerops_aws::secrets::read_secret(&sdk, &secret_arn)
        .await?
        .ok_or("the Slack app secret is off: Slack interactions cannot be verified")?;
    let credentials = AppCredentials::from_json(secret.expose())?;
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let slack: Arc<dyn SlackApp> =
        Arc::new(SlackWebApi::new(&api_url, DEFAULT_RESPONSE_ORIGIN, &credentials.bot_token)?);
    let messages = Arc::new(DecisionMessages {
        app: slack.clone(),
        channel: config.terms.slack.decisions_channel.clone(),
        store: store.clone(),
    });
    let state = SlackState {
        store,
        clock: Arc::new(SystemClock),
        terms: Arc::new(config.terms),
        slack,
        messages,
        signing_secret: credentials.signing_secret.into_bytes().into(),
    };
    lambda_http::run(router(state)).await
}
