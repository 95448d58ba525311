//! The functions as the local stack runs them: every API function's router
//! over its own state, and every queue consumer over the one store, each
//! built from the same crates the Lambdas are.

use crate::notify::NotifierConsumer;
use crate::notify::{NoSlack, Recording, SentLog};
use crate::provision::Provisioned;
use crate::queues::{
    ConsumedQueue, ExportsConsumer, PayoutsConsumer, QueueDrain, RecordedRetries, ReportsConsumer, Retries,
    WebhooksConsumer,
};
use admin::AdminApi;
use axum::Router;
use crm_events::CrmApi;
use deal_registration::RegistrationApi;
use partnerops_api::{ApiContext, api_routes};
use partnerops_app::decisions::DecisionMessages;
use partnerops_app::exports::Exports;
use partnerops_app::ledger::Ledger;
use partnerops_aws::notify::{SesEmail, SlackWebhook, Transport, WebhookUrl};
use partnerops_aws::objects::S3Objects;
use partnerops_aws::queue::{SqsQueueControl, SqsWorkQueue};
use partnerops_aws::slack::{AlertsChannel, SlackApp};
use partnerops_aws::webhooks::HttpWebhookSender;
use partnerops_aws::{Clock, DynamoStore, Store};
use partnerops_domain::terms::ProgramTerms;
use partnerops_domain::webhook::UrlPolicy;
use payout_exports::ExportApi;
use referral_intake::ReferralApi;
use reports::ReportApi;
use std::sync::Arc;
use webhooks::{WebhookApi, Webhooks};

/// The API functions' routes on one router (no fallback: the stack adds
/// one after the portal's and the dev routes).
pub fn api_router<S: Store + 'static>(
    context: &ApiContext,
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    terms: Arc<ProgramTerms>,
    base_url: Arc<str>,
) -> Router {
    let referrals = ReferralApi { store: store.clone(), clock: clock.clone(), terms: terms.clone() };
    let registrations = RegistrationApi { store: store.clone(), clock: clock.clone(), terms: terms.clone() };
    let crm = CrmApi { store: store.clone(), clock: clock.clone(), terms };
    let admin = AdminApi { store: store.clone(), clock, keys: context.keys.clone(), base_url };
    let reports = ReportApi { store };
    api_routes(referral_intake::routes(), context, referrals)
        .merge(api_routes(deal_registration::routes(), context, registrations))
        .merge(api_routes(crm_events::routes(), context, crm))
        .merge(api_routes(admin::routes(), context, admin))
        .merge(api_routes(reports::routes(), context, reports))
}

/// The routes of the functions with workers behind them.
pub fn worker_router(
    context: &ApiContext,
    store: Arc<DynamoStore>,
    clock: Arc<dyn Clock>,
    exports: Arc<Exports>,
    webhooks: Arc<Webhooks>,
) -> Router {
    api_routes(payout_exports::routes(), context, ExportApi { exports }).merge(api_routes(
        webhooks::routes(),
        context,
        WebhookApi { store, clock, webhooks },
    ))
}

/// Slack as the stack has it: app mode's Web API, else the webhook URL,
/// else nothing (posts are only recorded).
pub struct SlackWiring {
    pub app: Option<Arc<dyn SlackApp>>,
    pub alerts: Option<Arc<dyn Transport>>,
    pub decisions: Option<Arc<DecisionMessages>>,
}

impl SlackWiring {
    pub fn decisions_or_none(&self, store: Arc<DynamoStore>) -> Arc<DecisionMessages> {
        self.decisions
            .clone()
            .unwrap_or_else(|| Arc::new(DecisionMessages { app: Arc::new(NoSlack), channel: String::new(), store }))
    }
}

pub fn slack(
    app: Option<Arc<dyn SlackApp>>,
    webhook_url: Option<&str>,
    terms: &ProgramTerms,
    store: &Arc<DynamoStore>,
) -> anyhow::Result<SlackWiring> {
    let alerts = match (&app, webhook_url) {
        (Some(app), _) => {
            Some(Arc::new(AlertsChannel { app: app.clone(), channel: terms.slack.alerts_channel.clone() })
                as Arc<dyn Transport>)
        }
        (None, Some(raw)) => {
            let url = WebhookUrl::parse(raw).map_err(anyhow::Error::msg)?;
            Some(Arc::new(SlackWebhook::new(url)?) as Arc<dyn Transport>)
        }
        (None, None) => None,
    };
    let decisions = app.as_ref().map(|app| {
        Arc::new(DecisionMessages {
            app: app.clone(),
            channel: terms.slack.decisions_channel.clone(),
            store: store.clone(),
        })
    });
    Ok(SlackWiring { app, alerts, decisions })
}

/// Everything the queues feed, and the drain that feeds them.
pub struct Consumers {
    pub queues: QueueDrain,
    pub exports: Arc<Exports>,
    pub webhooks: Arc<Webhooks>,
}

pub struct ConsumerInputs<'a> {
    pub provisioned: &'a Provisioned,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub store: Arc<DynamoStore>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
    pub email: Arc<SesEmail>,
    pub sent: SentLog,
    pub slack: &'a SlackWiring,
}

pub fn consumers(inputs: ConsumerInputs<'_>) -> anyhow::Result<Consumers> {
    let ConsumerInputs { provisioned, sqs, s3, store, clock, terms, email, sent, slack } = inputs;
    let retries = Retries::default();
    let recording = |inner: Option<Arc<dyn Transport>>| -> Arc<dyn Transport> {
        Arc::new(Recording { inner, sent: sent.clone(), clock: clock.clone() })
    };
    let notifier = notifier::Notifier {
        store: store.clone(),
        terms: terms.clone(),
        clock: clock.clone(),
        transports: notifier::Transports {
            slack: Some(recording(slack.alerts.clone())),
            email: recording(Some(email.clone())),
        },
        queue: Arc::new(RecordedRetries {
            inner: Arc::new(SqsQueueControl {
                client: sqs.clone(),
                queue_url: provisioned.reference(notifier::QUEUE)?.to_owned(),
                dlq_url: provisioned.reference(notifier::DEAD_LETTER_QUEUE)?.to_owned(),
            }),
            retries: retries.clone(),
        }),
        // Retries a second apart rather than half a minute: ticks stay short.
        retry_base_seconds: 1,
        decisions: slack.decisions.clone(),
    };
    let ledger = Arc::new(Ledger { store: store.clone(), terms: terms.clone() });
    let exports = Arc::new(Exports {
        store: store.clone(),
        files: Arc::new(S3Objects::new(s3, provisioned.reference("ExportsBucket")?)),
        work: Arc::new(SqsWorkQueue::new(sqs.clone(), provisioned.reference(payout_exports::QUEUE)?)),
        terms,
        clock: clock.clone(),
    });
    // The one exception to the URL rules: receivers on this machine.
    let policy = UrlPolicy { local_receiver: true };
    let webhooks = Arc::new(Webhooks {
        store: store.clone(),
        sender: Arc::new(HttpWebhookSender::new(policy)?),
        mailer: recording(Some(email)),
        clock,
        policy,
        nudges: None,
    });
    let queue = |function: &'static str, logical_id: &str, consumer: Arc<dyn crate::queues::QueueConsumer>| {
        Ok::<_, anyhow::Error>(ConsumedQueue {
            function,
            queue_url: provisioned.reference(logical_id)?.to_owned(),
            consumer,
        })
    };
    let queues = QueueDrain::new(
        sqs,
        vec![
            queue("notifier", notifier::QUEUE, Arc::new(NotifierConsumer(notifier)))?,
            queue("payouts", payouts::QUEUE, Arc::new(PayoutsConsumer(ledger)))?,
            queue(
                "payout-exports",
                payout_exports::QUEUE,
                Arc::new(ExportsConsumer(payout_exports::ExportWorker(exports.clone()))),
            )?,
            queue("reports", reports::QUEUE, Arc::new(ReportsConsumer(Arc::new(reports::Reports { store }))))?,
            queue("webhooks", webhooks::QUEUE, Arc::new(WebhooksConsumer(webhooks.clone())))?,
        ],
        retries,
    );
    Ok(Consumers { queues, exports, webhooks })
}

pub struct PageInputs<'a> {
    pub store: Arc<DynamoStore>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
    pub base_url: Arc<str>,
    pub mailer: Arc<dyn Transport>,
    pub links: Arc<dyn partnerops_aws::links::DownloadLinks>,
    pub slack: &'a SlackWiring,
    pub signing_secret: Vec<u8>,
}

/// The portal's pages and Slack's interactions.
pub fn page_routers(inputs: PageInputs<'_>) -> Router {
    let PageInputs { store, clock, terms, base_url, mailer, links, slack, signing_secret } = inputs;
    let portal = portal::router(portal::PortalState {
        store: store.clone(),
        clock: clock.clone(),
        terms: terms.clone(),
        base_url,
        mailer,
        links,
        // The dev stack serves plain http on loopback.
        secure_cookies: false,
    });
    let interactions = slack_interactions::router(slack_interactions::SlackState {
        store: store.clone(),
        clock,
        terms,
        slack: slack.app.clone().unwrap_or_else(|| Arc::new(NoSlack)),
        messages: slack.decisions_or_none(store),
        signing_secret: signing_secret.into(),
    });
    portal.merge(interactions)
}
