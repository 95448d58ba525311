//! One binary, three triggers: the endpoints routes (API Gateway), the
//! webhook queue (SQS) and the retry sweep (EventBridge Scheduler).

use partnerops_api::AppState;
use partnerops_aws::config::Env;
use partnerops_aws::notify::SesEmail;
use partnerops_aws::queue::SqsWorkQueue;
use partnerops_aws::webhooks::HttpWebhookSender;
use partnerops_aws::{Config, DynamoStore, SystemClock, load_sdk_config, telemetry};
use partnerops_domain::webhook::UrlPolicy;
use std::sync::Arc;
use webhooks::Webhooks;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let mut env = Env::from_process();
    let queue_url = env.required("WEBHOOK_QUEUE_URL", "the webhook queue, where near retries wait");
    env.finish()?;
    let sdk = load_sdk_config().await;
    let store = Arc::new(DynamoStore::from_sdk_config(&sdk, &config.table_name));
    let policy = UrlPolicy::default();
    let engine = Arc::new(Webhooks {
        store: store.clone(),
        sender: Arc::new(HttpWebhookSender::new(policy)?),
        mailer: Arc::new(SesEmail::from_sdk_config(&sdk, config.terms.notifications.from_email.clone())),
        clock: Arc::new(SystemClock),
        policy,
        nudges: Some(Arc::new(SqsWorkQueue::from_sdk_config(&sdk, queue_url))),
    });
    let state = AppState::new(store, Arc::new(SystemClock), Arc::new(config.terms));
    let app = webhooks::router(state, engine.clone());
    partnerops_api::lambda::serve(app, engine.as_ref()).await
}
