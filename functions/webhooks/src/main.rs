//! One binary, three triggers: the endpoints routes (API Gateway), the
//! webhook queue (SQS) and the retry sweep (EventBridge Scheduler).

use partnerops_api::lambda::Wiring;
use partnerops_aws::config::Env;
use partnerops_aws::notify::SesEmail;
use partnerops_aws::queue::SqsWorkQueue;
use partnerops_aws::webhooks::HttpWebhookSender;
use partnerops_domain::webhook::UrlPolicy;
use std::sync::Arc;
use webhooks::{WebhookApi, Webhooks, router};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let wiring = Wiring::from_env().await?;
    let mut env = Env::from_process();
    let queue_url = env.required("WEBHOOK_QUEUE_URL", "the webhook queue, where near retries wait");
    env.finish()?;
    let policy = UrlPolicy::default();
    let engine = Arc::new(Webhooks {
        store: wiring.store.clone(),
        sender: Arc::new(HttpWebhookSender::new(policy)?),
        mailer: Arc::new(SesEmail::from_sdk_config(&wiring.sdk, wiring.terms.notifications.from_email.clone())),
        clock: wiring.clock.clone(),
        policy,
        nudges: Some(Arc::new(SqsWorkQueue::from_sdk_config(&wiring.sdk, queue_url))),
    });
    let api = WebhookApi { store: wiring.store.clone(), clock: wiring.clock.clone(), webhooks: engine.clone() };
    let app = router(&wiring.context, api);
    partnerops_api::lambda::serve(app, engine.as_ref()).await
}
