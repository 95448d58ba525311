use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{LambdaEvent, service_fn};
use notifier::{Notifier, SesEmail, SlackWebhook, SqsQueueControl, Transports, WebhookUrl};
use partnerops_aws::config::{Env, NotifierSettings};
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
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
    let slack = match secret {
        Some(url) => {
            Some(Arc::new(SlackWebhook::new(WebhookUrl::parse(url.expose())?)?) as Arc<dyn notifier::Transport>)
        }
        None => {
            tracing::warn!("no Slack webhook URL in the Slack secret: Slack notifications are off");
            None
        }
    };
    let email = Arc::new(SesEmail::from_sdk_config(&sdk, config.terms.notifications.from_email.clone()));
    let notifier = Notifier {
        store: Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name)),
        terms: Arc::new(config.terms),
        clock: Arc::new(SystemClock),
        transports: Transports { slack, email },
        queue: Arc::new(SqsQueueControl::from_sdk_config(&sdk, settings.queue_url, settings.dlq_url)),
        retry_base_seconds: settings.retry_base_seconds,
    };
    let notifier = &notifier;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let (response, report) = notifier.handle_batch(event.payload).await;
        report.log();
        Ok::<SqsBatchResponse, lambda_runtime::Error>(response)
    }))
    .await
}
