use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use notifier::{Notifier, SesEmail, SlackWebhook, SqsQueueControl, Transports, WebhookUrl};
use partnerops_app::decisions::DecisionMessages;
use partnerops_aws::config::{Env, NotifierSettings};
use partnerops_aws::slack::{AlertsChannel, AppCredentials, DEFAULT_RESPONSE_ORIGIN, SlackApp, SlackWebApi};
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use partnerops_domain::terms::SlackMode;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut env = Env::from_process();
    let settings = NotifierSettings::from_env(&mut env);
    env.finish()?;
    let sdk = load_sdk_config().await;
    // Read once per container: the URL is the credential and never sits in
    // the environment.
    let secret = match &settings.slack_webhook_secret_arn {
        Some(arn) => partnerops_aws::secrets::read_secret(&sdk, arn).await?,
        None => None,
    };
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let (slack, decisions) = match config.terms.slack.mode {
        SlackMode::App => {
            let arn = settings
                .slack_app_secret_arn
                .as_deref()
                .ok_or("slack.mode is app but SLACK_APP_SECRET_ARN is not set")?;
            let secret = partnerops_aws::secrets::read_secret(&sdk, arn)
                .await?
                .ok_or("slack.mode is app but the Slack app secret is off")?;
            let credentials = AppCredentials::from_json(secret.expose())?;
            let app: Arc<dyn SlackApp> =
                Arc::new(SlackWebApi::new(&settings.slack_api_url, DEFAULT_RESPONSE_ORIGIN, &credentials.bot_token)?);
            let alerts = AlertsChannel { app: app.clone(), channel: config.terms.slack.alerts_channel.clone() };
            let decisions =
                DecisionMessages { app, channel: config.terms.slack.decisions_channel.clone(), store: store.clone() };
            (Some(Arc::new(alerts) as Arc<dyn notifier::Transport>), Some(Arc::new(decisions)))
        }
        SlackMode::Webhook => match secret {
            Some(url) => (
                Some(Arc::new(SlackWebhook::new(WebhookUrl::parse(url.expose())?)?) as Arc<dyn notifier::Transport>),
                None,
            ),
            None => {
                tracing::warn!("no Slack webhook URL in the Slack secret: Slack notifications are off");
                (None, None)
            }
        },
    };
    let email = Arc::new(SesEmail::from_sdk_config(&sdk, config.terms.notifications.from_email.clone()));
    let notifier = Notifier {
        store,
        terms: Arc::new(config.terms),
        clock: Arc::new(SystemClock),
        transports: Transports { slack, email },
        queue: Arc::new(SqsQueueControl::from_sdk_config(&sdk, settings.queue_url, settings.dlq_url)),
        retry_base_seconds: settings.retry_base_seconds,
        decisions,
    };
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let (response, report) = notifier.handle_batch(event.payload).await;
        report.log();
        Ok::<SqsBatchResponse, lambda_runtime::Error>(response)
    }))
    .await
}
