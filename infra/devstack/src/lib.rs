//! The local stack behind `cargo xtask dev` and the end-to-end tests.
//!
//! It starts (or joins) a moto server as the AWS endpoint, provisions the
//! resources of template.yaml there, mounts every API function's routes on
//! one HTTP server on 127.0.0.1, relays the outbox stream to the bus and
//! serves the `/_dev/*` routes that move the clock and run the schedules.

pub mod clock;
pub mod moto;
pub mod notify;
pub mod provision;
pub mod queues;
pub mod replay;
pub mod routes;
pub mod stream;
pub mod template;

use crate::clock::DevClock;
use crate::moto::{MotoServer, workspace_root};
use crate::notify::{NotifierConsumer, Recording, SentLog};
use crate::provision::{Clients, Provisioned, REGION, provision};
use crate::queues::{ConsumedQueue, QueueDrain};
use crate::routes::{TickSummary, dev_router};
use crate::stream::{RelayHealth, StreamRelay};
use crate::template::{EventSource, Template};
use anyhow::{Context as _, bail};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::Credentials;
use partnerops_api::{AppState, Route, build_router};
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher};
use partnerops_aws::store::ApiKeyRecord;
use partnerops_aws::{Clock, DynamoStore, Store};
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::partner::{PartnerDraft, new_partner};
use partnerops_domain::terms::ProgramTerms;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Mutex as AsyncMutex;

pub type Reporter = Arc<dyn Fn(&str) + Send + Sync>;

/// Receives per queue in one background pass at most (ten messages each).
const QUEUE_PASSES: usize = 100;

/// Every API function's routes, as the Lambdas serve them.
pub fn api_routes() -> Vec<(&'static str, Vec<Route>)> {
    vec![
        ("referral-intake", referral_intake::routes()),
        ("deal-registration", deal_registration::routes()),
        ("crm-events", crm_events::routes()),
        ("admin", admin::routes()),
        ("payout-exports", payout_exports::routes()),
        ("webhooks", webhooks::routes()),
        ("reports", reports::routes()),
    ]
}

/// What invokes each function, as the code is written: its routes, or the
/// stream, queue or schedule its handler consumes. Tests hold template.yaml
/// to exactly this, and the local stack refuses to start if they differ.
pub fn code_triggers() -> BTreeMap<&'static str, Vec<EventSource>> {
    let mut triggers: BTreeMap<&'static str, Vec<EventSource>> = api_routes()
        .into_iter()
        .map(|(name, routes)| {
            let events = partnerops_api::routes::route_table(&routes)
                .into_iter()
                .map(|(method, path)| EventSource::Http { method, path })
                .collect();
            (name, events)
        })
        .collect();
    triggers.insert(
        "portal",
        portal::routes()
            .into_iter()
            .map(|(method, path)| EventSource::Http { method: method.to_string(), path: path.to_owned() })
            .collect(),
    );
    triggers.insert(
        "slack-interactions",
        slack_interactions::routes()
            .into_iter()
            .map(|(method, path)| EventSource::Http { method: method.to_string(), path: path.to_owned() })
            .collect(),
    );
    triggers.insert("outbox-relay", vec![EventSource::DynamoStream { table: "Table".into() }]);
    triggers.insert("sla-sweep", vec![EventSource::Schedule { expression: sla_sweep::SCHEDULE.into() }]);
    triggers.insert("notifier", vec![EventSource::Sqs { queue: notifier::QUEUE.into() }]);
    triggers.insert("payouts", vec![EventSource::Sqs { queue: payouts::QUEUE.into() }]);
    if let Some(events) = triggers.get_mut("reports") {
        events.push(EventSource::Sqs { queue: reports::QUEUE.into() });
    }
    if let Some(events) = triggers.get_mut("webhooks") {
        events.push(EventSource::Sqs { queue: webhooks::QUEUE.into() });
        events.push(EventSource::Schedule { expression: webhooks::SCHEDULE.into() });
    }
    if let Some(events) = triggers.get_mut("payout-exports") {
        events.push(EventSource::Sqs { queue: payout_exports::QUEUE.into() });
        events.push(EventSource::Schedule { expression: payout_exports::SCHEDULE.into() });
    }
    for events in triggers.values_mut() {
        events.sort();
    }
    triggers
}

pub struct Options {
    /// 0 picks a free port.
    pub port: u16,
    pub stack_name: String,
    /// An already running AWS endpoint; `None` starts a moto server.
    pub endpoint: Option<String>,
    pub admin_key: Option<String>,
    /// Adds a demo partner and one key per role, for trying the API by hand.
    pub seed_demo: bool,
    /// Relay the stream continuously (tests drain it with `/_dev/tick`).
    pub background_relay: bool,
    pub template: PathBuf,
    pub terms: ProgramTerms,
    pub parameter_overrides: BTreeMap<String, String>,
    /// Slack posts go here for real; without it they are only recorded.
    pub slack_webhook_url: Option<String>,
    /// App mode (SPEC §17): `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`,
    /// `SLACK_API_URL`. Set, it turns app mode on.
    pub slack_app: Option<SlackAppOptions>,
    pub report: Reporter,
}

impl Options {
    pub fn new(terms: ProgramTerms) -> Self {
        Self {
            port: 0,
            stack_name: "partnerops".into(),
            endpoint: None,
            admin_key: None,
            seed_demo: false,
            background_relay: false,
            template: workspace_root().join("template.yaml"),
            terms,
            parameter_overrides: BTreeMap::new(),
            slack_webhook_url: None,
            slack_app: None,
            report: Arc::new(|_| {}),
        }
    }
}

#[derive(Clone)]
pub struct SlackAppOptions {
    pub bot_token: String,
    pub signing_secret: String,
    /// Slack's Web API, or a stand-in; `response_url`s are followed only to
    /// this origin.
    pub api_url: String,
}

impl std::fmt::Debug for SlackAppOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackAppOptions").field("api_url", &self.api_url).finish_non_exhaustive()
    }
}

/// `scheme://host[:port]/` of a URL.
fn origin_of(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url[..after_scheme + i + 1].to_owned(),
        None => format!("{url}/"),
    }
}

/// In app mode without channels in the terms, the dev stack names its own.
fn app_mode_terms(mut terms: ProgramTerms) -> ProgramTerms {
    terms.slack.mode = partnerops_domain::terms::SlackMode::App;
    if terms.slack.alerts_channel.is_empty() {
        terms.slack.alerts_channel = "CDEVALERTS".into();
    }
    if terms.slack.decisions_channel.is_empty() {
        terms.slack.decisions_channel = "CDEVDECISIONS".into();
    }
    terms
}

/// A notification the stack sent (`GET /_dev/outbox`).
#[derive(Debug, Clone, Serialize)]
pub struct SentNotification {
    pub channel: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub event_id: String,
    pub sent_at: String,
}

/// State the dev routes share with the background tasks.
pub struct Shared {
    pub clock: Arc<DevClock>,
    pub relay: AsyncMutex<StreamRelay>,
    pub queues: QueueDrain,
    pub exports: Arc<payout_exports::Exports>,
    pub webhooks: Arc<webhooks::Webhooks>,
    pub sent: SentLog,
    pub store: Arc<DynamoStore>,
    /// When each scheduled function last ran, by the stack's clock.
    pub last_runs: AsyncMutex<BTreeMap<&'static str, partnerops_domain::Timestamp>>,
}

/// The relay cannot see the table's stream: nothing is being published.
#[derive(Debug, thiserror::Error)]
#[error("the outbox relay is stalled: {0}")]
pub struct RelayStalled(pub String);

/// `rate(N minute|minutes|hour|hours|day|days)` as a duration.
pub fn rate_of(expression: &str) -> anyhow::Result<chrono::Duration> {
    let inner = expression
        .strip_prefix("rate(")
        .and_then(|r| r.strip_suffix(')'))
        .with_context(|| format!("only rate() schedules run locally, not {expression}"))?;
    let (n, unit) = inner.split_once(' ').with_context(|| format!("bad rate {expression}"))?;
    let n: i64 = n.parse()?;
    Ok(match unit.trim_end_matches('s') {
        "minute" => chrono::Duration::minutes(n),
        "hour" => chrono::Duration::hours(n),
        "day" => chrono::Duration::days(n),
        other => bail!("bad rate unit {other}"),
    })
}

/// `cron(M H D * ? *)` (a monthly schedule) is due when one of its instants
/// lies in `(last, now]`; the months of `now` and the one before are checked.
pub fn cron_due(
    expression: &str,
    last: partnerops_domain::Timestamp,
    now: partnerops_domain::Timestamp,
) -> anyhow::Result<bool> {
    use chrono::{Datelike, TimeZone};
    let fields: Vec<&str> = expression
        .strip_prefix("cron(")
        .and_then(|r| r.strip_suffix(')'))
        .with_context(|| format!("not a cron expression: {expression}"))?
        .split(' ')
        .collect();
    let [minute, hour, day, "*", "?", "*"] = fields.as_slice() else {
        bail!("only monthly cron(M H D * ? *) schedules run locally, not {expression}");
    };
    let (minute, hour, day): (u32, u32, u32) = (minute.parse()?, hour.parse()?, day.parse()?);
    let now_dt = now.as_datetime();
    let this_month = now_dt.date_naive().with_day(1).context("first of the month")?;
    let months = [this_month.pred_opt().and_then(|d| d.with_day(1)), Some(this_month)];
    Ok(months.into_iter().flatten().any(|first| {
        first
            .with_day(day)
            .and_then(|d| d.and_hms_opt(hour, minute, 0))
            .map(|at| partnerops_domain::Timestamp::from_datetime(chrono::Utc.from_utc_datetime(&at)))
            .is_some_and(|at| last < at && at <= now)
    }))
}

/// A rate schedule fires at every multiple of its period (as EventBridge's
/// do, at fixed offsets); it is due when one such instant lies in `(last, now]`.
pub fn schedule_due(
    last: partnerops_domain::Timestamp,
    now: partnerops_domain::Timestamp,
    every: chrono::Duration,
) -> bool {
    let period = every.num_milliseconds().max(1);
    now.unix_millis().div_euclid(period) > last.unix_millis().div_euclid(period)
}

impl Shared {
    /// Runs the due schedules at the stack's clock, then drains the stream
    /// and the queues until nothing moves.
    pub async fn tick(&self) -> anyhow::Result<TickSummary> {
        let now = self.clock.now();
        let mut summary = TickSummary { now: Some(now), ..Default::default() };
        let every = rate_of(sla_sweep::SCHEDULE)?;
        let mut last_runs = self.last_runs.lock().await;
        if last_runs.get("sla-sweep").is_none_or(|last| schedule_due(*last, now, every)) {
            let report = sla_sweep::sweep(&*self.store, now).await?;
            summary.schedules_run.push("sla-sweep".into());
            summary.sla_signals = report.signals;
            summary.sla_items_read = report.items_read;
            summary.expiring_notices = report.expiring_notices;
            summary.registrations_expired = report.expired;
            last_runs.insert("sla-sweep", now);
        }
        // A cron schedule first seen now starts from now: it fires at its
        // instants, never on the stack's first tick.
        match last_runs.get("payout-exports").copied() {
            None => {
                last_runs.insert("payout-exports", now);
            }
            Some(last) if cron_due(payout_exports::SCHEDULE, last, now)? => {
                let record = self.exports.scheduled_export().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                tracing::info!(period = %record.period, "scheduled payout export queued");
                summary.schedules_run.push("payout-exports".into());
                last_runs.insert("payout-exports", now);
            }
            Some(_) => {}
        }
        drop(last_runs);
        let sent_before = self.sent_count();
        let stalls_before = self.relay.lock().await.stalls();
        // Consumers may publish (an export announces itself): go round until
        // neither the stream nor the queues move.
        for _ in 0..10 {
            let relayed = self.relay.lock().await.drain().await?;
            summary.events_published += relayed.published;
            summary.events_failed += relayed.failed.len();
            let drained = self.queues.drain().await?;
            summary.messages_processed += drained.messages;
            summary.messages_retried += drained.failed;
            if relayed.published == 0 && drained.messages == 0 {
                break;
            }
        }
        summary.notifications_sent = self.sent_count().saturating_sub(sent_before);
        let relay = self.relay.lock().await;
        summary.relay_stalls = relay.stalls().saturating_sub(stalls_before);
        if let RelayHealth::Stalled(reason) = relay.health() {
            return Err(RelayStalled(reason.clone()).into());
        }
        drop(relay);
        // Webhook retries fall due to the second: the sweep runs on every
        // tick (deployed, once a minute), after this tick's events made
        // their deliveries.
        summary.webhook_attempts = self.webhooks.sweep().await?.attempts;
        Ok(summary)
    }
}

impl Shared {
    fn sent_count(&self) -> usize {
        self.sent.lock().map(|s| s.len()).unwrap_or(0)
    }
}

/// A running local stack. Dropping it stops the server (and moto, if this
/// stack started it).
pub struct DevStack {
    pub url: String,
    pub endpoint: String,
    pub admin_key: String,
    pub demo_keys: Vec<(String, String)>,
    pub provisioned: Provisioned,
    pub sdk: SdkConfig,
    pub shared: Arc<Shared>,
    pub store: Arc<DynamoStore>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _moto: Option<MotoServer>,
}

impl Drop for DevStack {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// SDK configuration for a local endpoint with dummy credentials.
pub async fn local_sdk_config(endpoint: &str) -> SdkConfig {
    partnerops_aws::sdk_defaults()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(REGION))
        .credentials_provider(Credentials::new("partnerops", "partnerops", None, None, "devstack"))
        .load()
        .await
}

/// Checks that the template's functions and their triggers are exactly the
/// ones the code serves.
pub fn check_runners(template: &Template) -> anyhow::Result<()> {
    let code = code_triggers();
    let mut seen = Vec::new();
    for function in template.functions()? {
        let expected = code.get(function.binary.as_str()).with_context(|| {
            format!("{}: no function crate has the binary {}", function.logical_id, function.binary)
        })?;
        if &function.events != expected {
            bail!(
                "{} ({}): template triggers {:?} differ from the code's {:?}",
                function.logical_id,
                function.binary,
                function.events,
                expected
            );
        }
        seen.push(function.binary);
    }
    for name in code.keys() {
        if !seen.iter().any(|s| s == name) {
            bail!("function {name} is missing from the template");
        }
    }
    Ok(())
}

pub async fn start(options: Options) -> anyhow::Result<DevStack> {
    let report = options.report.clone();
    let template = Template::load(&options.template)?;
    check_runners(&template)?;

    let moto = match &options.endpoint {
        Some(_) => None,
        None => {
            report("starting moto (local DynamoDB, Streams, EventBridge, SQS)");
            Some(MotoServer::spawn(&workspace_root().join(".dev/moto.log"))?)
        }
    };
    let endpoint =
        options.endpoint.clone().or_else(|| moto.as_ref().map(|m| m.endpoint.clone())).context("no endpoint")?;
    report(&format!("AWS endpoint {endpoint}"));
    let sdk = local_sdk_config(&endpoint).await;
    let clients = Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
        eventbridge: aws_sdk_eventbridge::Client::new(&sdk),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        // moto serves buckets by path, not by virtual host.
        s3: aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build()),
    };
    let sesv2 = aws_sdk_sesv2::Client::new(&sdk);

    report(&format!("provisioning stack {} from {}", options.stack_name, options.template.display()));
    let provisioned =
        provision(&template, &clients, &options.stack_name, &options.parameter_overrides, &*report).await?;
    let table = provisioned.reference("Table")?.to_owned();
    let stream_arn = provisioned.attribute("Table", "StreamArn")?.to_owned();
    let bus = provisioned.reference("EventBus")?.to_owned();

    // SES sends only from a verified identity; in AWS that is a DNS step
    // outside the stack, here moto is simply told.
    let from = options.terms.notifications.from_email.clone();
    if let Err(e) = sesv2.create_email_identity().email_identity(&from).send().await {
        let already = e.as_service_error().is_some_and(|e| e.is_already_exists_exception());
        if !already {
            return Err(anyhow::Error::new(e).context("verifying the sender identity in SES"));
        }
    }
    report(&format!("SES sender identity {from}"));

    let clock = Arc::new(DevClock::default());
    let store = Arc::new(DynamoStore::new(clients.dynamodb.clone(), &table));
    let terms = Arc::new(match &options.slack_app {
        Some(_) => app_mode_terms(options.terms.clone()),
        None => options.terms.clone(),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", options.port))?;
    let url = format!("http://{}", listener.local_addr()?);
    let state = AppState::new(store.clone(), clock.clone(), terms.clone()).with_base_url(&url);

    let admin_key = match &options.admin_key {
        Some(key) => NewApiKey::from_plaintext(key.clone()),
        None => NewApiKey::generate(rand_secret()),
    };
    register_key(&*store, &admin_key, Role::Admin, None, "dev stack admin", clock.now()).await?;
    let demo_keys = if options.seed_demo { seed_demo(&*store, clock.now()).await? } else { Vec::new() };

    let relay = StreamRelay::new(
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        clients.dynamodb.clone(),
        table.clone(),
        stream_arn,
        EventBridgePublisher::new(clients.eventbridge.clone(), &bus),
        DynamoOutboxLedger::new(clients.dynamodb.clone(), &table),
        clock.clone(),
    );
    let sent: SentLog = Arc::new(Mutex::new(Vec::new()));
    let slack_api: Option<Arc<dyn partnerops_aws::slack::SlackApp>> = match &options.slack_app {
        Some(app) => {
            report(&format!("Slack app mode: the Web API at {}", app.api_url));
            Some(Arc::new(partnerops_aws::slack::SlackWebApi::new(
                &app.api_url,
                &origin_of(&app.api_url),
                &app.bot_token,
            )?))
        }
        None => None,
    };
    let slack = match (&slack_api, &options.slack_webhook_url) {
        (Some(app), _) => Some(Arc::new(partnerops_aws::slack::AlertsChannel {
            app: app.clone(),
            channel: terms.slack.alerts_channel.clone(),
        }) as Arc<dyn notifier::Transport>),
        (None, Some(raw)) => {
            let url = notifier::WebhookUrl::parse(raw).map_err(anyhow::Error::msg)?;
            report("Slack posts go to SLACK_WEBHOOK_URL");
            Some(Arc::new(notifier::SlackWebhook::new(url)?) as Arc<dyn notifier::Transport>)
        }
        (None, None) => None,
    };
    let decisions = slack_api.as_ref().map(|app| {
        Arc::new(notifier::decisions::DecisionMessages {
            app: app.clone(),
            channel: terms.slack.decisions_channel.clone(),
            store: store.clone(),
        })
    });
    let notifier = notifier::Notifier {
        store: store.clone(),
        terms: terms.clone(),
        clock: clock.clone(),
        transports: notifier::Transports {
            slack: Some(Arc::new(Recording { inner: slack, sent: sent.clone(), clock: clock.clone() })),
            email: Arc::new(Recording {
                inner: Some(Arc::new(notifier::SesEmail::new(sesv2.clone(), from.clone()))),
                sent: sent.clone(),
                clock: clock.clone(),
            }),
        },
        queue: Arc::new(notifier::SqsQueueControl {
            client: clients.sqs.clone(),
            queue_url: provisioned.reference(notifier::QUEUE)?.to_owned(),
            dlq_url: provisioned.reference(notifier::DEAD_LETTER_QUEUE)?.to_owned(),
        }),
        // Retries a second apart rather than half a minute: ticks stay short.
        retry_base_seconds: 1,
        decisions: decisions.clone(),
    };
    let payouts = Arc::new(payouts::Payouts { store: store.clone(), terms: terms.clone() });
    let exports = Arc::new(payout_exports::Exports {
        store: store.clone(),
        files: Arc::new(partnerops_aws::objects::S3Objects::new(
            clients.s3.clone(),
            provisioned.reference("ExportsBucket")?,
        )),
        work: Arc::new(partnerops_aws::queue::SqsWorkQueue::new(
            clients.sqs.clone(),
            provisioned.reference(payout_exports::QUEUE)?,
        )),
        terms: terms.clone(),
        clock: clock.clone(),
    });
    // The one exception to the URL rules: receivers on this machine.
    let webhook_policy = partnerops_domain::webhook::UrlPolicy { allow_loopback: true };
    let webhook_engine = Arc::new(webhooks::Webhooks {
        store: store.clone(),
        sender: Arc::new(partnerops_aws::webhooks::HttpWebhookSender::new(webhook_policy)?),
        mailer: Arc::new(Recording {
            inner: Some(Arc::new(notifier::SesEmail::new(sesv2.clone(), from.clone()))),
            sent: sent.clone(),
            clock: clock.clone(),
        }),
        clock: clock.clone(),
        policy: webhook_policy,
        nudges: None,
    });
    let queues = QueueDrain {
        sqs: clients.sqs.clone(),
        queues: vec![
            ConsumedQueue {
                function: "notifier",
                queue_url: provisioned.reference(notifier::QUEUE)?.to_owned(),
                consumer: Arc::new(NotifierConsumer(notifier)),
            },
            ConsumedQueue {
                function: "payouts",
                queue_url: provisioned.reference(payouts::QUEUE)?.to_owned(),
                consumer: Arc::new(crate::queues::PayoutsConsumer(payouts)),
            },
            ConsumedQueue {
                function: "payout-exports",
                queue_url: provisioned.reference(payout_exports::QUEUE)?.to_owned(),
                consumer: Arc::new(crate::queues::ExportsConsumer(exports.clone())),
            },
            ConsumedQueue {
                function: "reports",
                queue_url: provisioned.reference(reports::QUEUE)?.to_owned(),
                consumer: Arc::new(crate::queues::ReportsConsumer(Arc::new(reports::Reports { store: store.clone() }))),
            },
            ConsumedQueue {
                function: "webhooks",
                queue_url: provisioned.reference(webhooks::QUEUE)?.to_owned(),
                consumer: Arc::new(crate::queues::WebhooksConsumer(webhook_engine.clone())),
            },
        ],
    };
    let shared = Arc::new(Shared {
        clock,
        relay: AsyncMutex::new(relay),
        queues,
        exports: exports.clone(),
        webhooks: webhook_engine.clone(),
        sent,
        store: store.clone(),
        last_runs: AsyncMutex::new(BTreeMap::new()),
    });

    let portal = portal::router(portal::PortalState {
        app: state.clone(),
        mailer: Arc::new(Recording {
            inner: Some(Arc::new(notifier::SesEmail::new(sesv2.clone(), from.clone()))),
            sent: shared.sent.clone(),
            clock: shared.clock.clone(),
        }),
        links: Arc::new(partnerops_aws::links::S3Links::from_sdk_config(
            &sdk,
            provisioned.reference("ExportsBucket")?,
        )?),
        // The dev stack serves plain http on loopback.
        secure_cookies: false,
    });
    // Without app mode the route still answers, and refuses every request: no
    // signature matches a random secret.
    let slack_router = slack_interactions::router(slack_interactions::SlackState {
        app: state.clone(),
        slack: slack_api.clone().unwrap_or_else(|| Arc::new(crate::notify::NoSlack)),
        messages: decisions.unwrap_or_else(|| {
            Arc::new(notifier::decisions::DecisionMessages {
                app: Arc::new(crate::notify::NoSlack),
                channel: String::new(),
                store: store.clone(),
            })
        }),
        signing_secret: match &options.slack_app {
            Some(app) => app.signing_secret.clone().into_bytes().into(),
            None => rand_secret().to_vec().into(),
        },
    });
    let routes: Vec<Route> = api_routes().into_iter().flat_map(|(_, r)| r).collect();
    let app = build_router(routes, state)
        .layer(axum::Extension(exports))
        .layer(axum::Extension(webhook_engine))
        .merge(portal)
        .merge(slack_router)
        .merge(dev_router(shared.clone()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tasks = vec![tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = served.await {
            tracing::error!(error = %e, "dev stack server stopped");
        }
    })];
    if options.background_relay {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            // Every 20th pass (5 s) is a full drain, which proves the stream live.
            for pass in 0u64.. {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let result = if pass % 20 == 0 {
                    shared.relay.lock().await.drain().await
                } else {
                    shared.relay.lock().await.poll_once().await
                };
                match result {
                    Ok(r) if r.published > 0 => {
                        tracing::info!(published = r.published, "outbox events relayed to the bus")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "stream poll failed"),
                }
                // The queues are emptied before the relay publishes more, as
                // Lambda's pollers scale with a queue's depth: consumers keep
                // up with writers, and moto's SQS, whose every call walks the
                // whole queue, never holds a backlog.
                for _ in 0..QUEUE_PASSES {
                    match shared.queues.poll_once().await {
                        Ok(report) if report.messages > 0 => {}
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %format!("{e:#}"), "queue poll failed");
                            break;
                        }
                    }
                }
            }
        }));
    }
    report(&format!("serving {url}"));
    Ok(DevStack {
        url,
        endpoint,
        admin_key: admin_key.plaintext,
        demo_keys,
        provisioned,
        sdk,
        shared,
        store,
        shutdown: Some(tx),
        tasks,
        _moto: moto,
    })
}

fn rand_secret() -> [u8; 32] {
    rand::random()
}

async fn register_key(
    store: &dyn Store,
    key: &NewApiKey,
    role: Role,
    partner_id: Option<partnerops_domain::partner::PartnerId>,
    label: &str,
    now: partnerops_domain::Timestamp,
) -> anyhow::Result<()> {
    let record = ApiKeyRecord {
        key_id: key.key_id.clone(),
        hash: key.hash.clone(),
        role,
        partner_id,
        label: label.into(),
        created_at: now,
        revoked_at: None,
    };
    store.put_api_key(&record).await.context("registering an API key")
}

async fn seed_demo(store: &dyn Store, now: partnerops_domain::Timestamp) -> anyhow::Result<Vec<(String, String)>> {
    let draft = PartnerDraft {
        id: Some("demo-partner".into()),
        name: Some("Demo Partner".into()),
        tier: Some("gold".into()),
        motions: Some(vec!["referral".into(), "co_sell".into(), "resell".into()]),
        manager: None,
        contact_email: Some("partner@example.com".into()),
    };
    let partner = new_partner(draft, now).map_err(|e| anyhow::anyhow!("demo partner: {e:?}"))?;
    store.create_partner(&partner).await?;
    let mut keys = Vec::new();
    for role in [Role::Partner, Role::ChannelManager, Role::Crm, Role::Finance] {
        let key = NewApiKey::generate(rand_secret());
        let partner_id = (role == Role::Partner).then(|| partner.id.clone());
        register_key(store, &key, role, partner_id, "dev stack demo", now).await?;
        let label = if role == Role::Partner { "partner (demo-partner)".to_owned() } else { role.to_string() };
        keys.push((label, key.plaintext));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use partnerops_domain::Timestamp;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap()
    }

    #[test]
    fn rate_schedules_fire_on_their_period_boundaries() {
        let five = rate_of("rate(5 minutes)").unwrap();
        assert!(schedule_due(at("2026-11-22T09:59:00Z"), at("2026-11-22T10:00:00Z"), five));
        assert!(!schedule_due(at("2026-11-22T10:00:00Z"), at("2026-11-22T10:04:59Z"), five));
        assert!(schedule_due(at("2026-11-22T10:00:00Z"), at("2026-11-23T10:00:00Z"), five));
        assert_eq!(rate_of("rate(1 hour)").unwrap(), chrono::Duration::hours(1));
        assert!(rate_of("cron(0 2 1 * ? *)").is_err());
    }

    #[test]
    fn the_monthly_cron_fires_once_at_its_instant() {
        let cron = "cron(0 2 1 * ? *)";
        assert!(cron_due(cron, at("2026-11-30T23:00:00Z"), at("2026-12-01T02:00:00Z")).unwrap());
        assert!(!cron_due(cron, at("2026-12-01T02:00:00Z"), at("2026-12-01T03:00:00Z")).unwrap());
        assert!(!cron_due(cron, at("2026-11-30T23:00:00Z"), at("2026-12-01T01:59:59Z")).unwrap());
        assert!(cron_due(cron, at("2026-11-15T00:00:00Z"), at("2026-12-02T00:00:00Z")).unwrap());
        assert!(cron_due(cron, at("2026-12-31T00:00:00Z"), at("2027-01-01T02:00:00Z")).unwrap());
        assert!(cron_due("cron(0 2 * * ? *)", at("2026-11-30T23:00:00Z"), at("2026-12-01T02:00:00Z")).is_err());
    }
}
