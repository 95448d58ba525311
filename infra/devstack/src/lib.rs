//! The local stack behind `cargo xtask dev` and the end-to-end tests.
//!
//! It starts (or joins) a moto server as the AWS endpoint, provisions the
//! resources of template.yaml there, mounts every API function's routes on
//! one HTTP server on 127.0.0.1, relays the outbox stream to the bus and
//! serves the `/_dev/*` routes that move the clock and run the schedules.

pub mod clock;
pub mod keys;
pub mod moto;
pub mod notify;
pub mod provision;
pub mod queues;
pub mod replay;
pub mod routes;
pub mod schedule;
pub mod stream;
pub mod template;
pub mod tick;
pub mod triggers;
pub mod wiring;

use crate::clock::DevClock;
use crate::keys::{rand_secret, register_key, seed_demo};
use crate::moto::{MotoServer, workspace_root};
use crate::notify::{Recording, SentLog};
use crate::provision::{Clients, Provisioned, REGION, provision};
use crate::routes::dev_router;
use crate::stream::StreamRelay;
use crate::template::Template;
use crate::wiring::{ConsumerInputs, PageInputs, api_router, consumers, page_routers, slack, worker_router};
use anyhow::Context as _;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::Credentials;
use partnerops_api::ApiContext;
use partnerops_aws::links::S3Links;
use partnerops_aws::notify::SesEmail;
use partnerops_aws::outbox::{DynamoOutboxLedger, EventBridgePublisher};
use partnerops_aws::slack::SlackApp;
use partnerops_aws::{Clock, DynamoStore};
use partnerops_domain::auth::{NewApiKey, Role};
use partnerops_domain::terms::ProgramTerms;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Mutex as AsyncMutex;

pub use crate::notify::SentNotification;
pub use crate::tick::{RelayStalled, Shared, TickSummary};
pub use crate::triggers::{api_route_specs, check_runners, code_triggers};

pub type Reporter = Arc<dyn Fn(&str) + Send + Sync>;

/// Receives per queue in one background pass at most (ten messages each).
const QUEUE_PASSES: usize = 100;

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
    /// The instant the stack's clock starts at, frozen; `None` runs it on
    /// real time until it is first moved.
    pub clock_start: Option<partnerops_domain::Timestamp>,
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
            clock_start: None,
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

/// A running local stack. Dropping it stops the server (and moto, if this
/// stack started it).
pub struct DevStack {
    pub url: String,
    pub endpoint: String,
    pub admin_key: String,
    /// The demo partner's key and one key per staff role, when seeded.
    pub demo_keys: Vec<(Role, String)>,
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

/// The stack's clients on one endpoint.
fn clients(sdk: &SdkConfig) -> Clients {
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        eventbridge: aws_sdk_eventbridge::Client::new(sdk),
        sqs: aws_sdk_sqs::Client::new(sdk),
        // moto serves buckets by path, not by virtual host.
        s3: aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(sdk).force_path_style(true).build()),
    }
}

/// SES sends only from a verified identity; in AWS that is a DNS step
/// outside the stack, here moto is simply told.
async fn verify_sender(sesv2: &aws_sdk_sesv2::Client, from: &str) -> anyhow::Result<()> {
    if let Err(e) = sesv2.create_email_identity().email_identity(from).send().await {
        let already = e.as_service_error().is_some_and(|e| e.is_already_exists_exception());
        if !already {
            return Err(anyhow::Error::new(e).context("verifying the sender identity in SES"));
        }
    }
    Ok(())
}

/// App mode's Web API client, when the options turn app mode on.
fn slack_app(options: &Options) -> anyhow::Result<Option<Arc<dyn SlackApp>>> {
    let Some(app) = &options.slack_app else { return Ok(None) };
    (options.report)(&format!("Slack app mode: the Web API at {}", app.api_url));
    let client = partnerops_aws::slack::SlackWebApi::new(&app.api_url, &origin_of(&app.api_url), &app.bot_token)?;
    Ok(Some(Arc::new(client)))
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
    let clients = clients(&sdk);
    report(&format!("provisioning stack {} from {}", options.stack_name, options.template.display()));
    let provisioned =
        provision(&template, &clients, &options.stack_name, &options.parameter_overrides, &*report).await?;
    let table = provisioned.reference("Table")?.to_owned();
    let from = options.terms.notifications.from_email.clone();
    let sesv2 = aws_sdk_sesv2::Client::new(&sdk);
    verify_sender(&sesv2, &from).await?;
    report(&format!("SES sender identity {from}"));

    let clock = Arc::new(DevClock::starting_at(options.clock_start));
    let store = Arc::new(DynamoStore::new(clients.dynamodb.clone(), &table));
    let terms = Arc::new(match &options.slack_app {
        Some(_) => app_mode_terms(options.terms.clone()),
        None => options.terms.clone(),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", options.port))?;
    let url = format!("http://{}", listener.local_addr()?);

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
        provisioned.attribute("Table", "StreamArn")?.to_owned(),
        EventBridgePublisher::new(clients.eventbridge.clone(), provisioned.reference("EventBus")?),
        DynamoOutboxLedger::new(clients.dynamodb.clone(), &table),
        clock.clone(),
    );
    let sent: SentLog = Arc::new(Mutex::new(Vec::new()));
    let slack = slack(slack_app(&options)?, options.slack_webhook_url.as_deref(), &terms, &store)?;
    if slack.app.is_none() && options.slack_webhook_url.is_some() {
        report("Slack posts go to SLACK_WEBHOOK_URL");
    }
    let email = Arc::new(SesEmail::new(sesv2.clone(), from.clone()));
    let consumers = consumers(ConsumerInputs {
        provisioned: &provisioned,
        sqs: clients.sqs.clone(),
        s3: clients.s3.clone(),
        store: store.clone(),
        clock: clock.clone(),
        terms: terms.clone(),
        email: email.clone(),
        sent: sent.clone(),
        slack: &slack,
    })?;
    let shared = Arc::new(Shared {
        clock: clock.clone(),
        relay: AsyncMutex::new(relay),
        queues: consumers.queues,
        exports: consumers.exports.clone(),
        webhooks: consumers.webhooks.clone(),
        sent: sent.clone(),
        store: store.clone(),
        last_runs: AsyncMutex::new(BTreeMap::new()),
        keys: std::iter::once((Role::Admin, admin_key.plaintext.clone())).chain(demo_keys.iter().cloned()).collect(),
    });

    let context = ApiContext::new(store.clone(), store.clone(), clock.clone());
    let base_url: Arc<str> = url.as_str().into();
    let pages = page_routers(PageInputs {
        store: store.clone(),
        clock: clock.clone(),
        terms: terms.clone(),
        base_url: base_url.clone(),
        mailer: Arc::new(Recording { inner: Some(email), sent, clock: clock.clone() }),
        links: Arc::new(S3Links::from_sdk_config(&sdk, provisioned.reference("ExportsBucket")?)?),
        slack: &slack,
        // Without app mode the route still answers, and refuses every
        // request: no signature matches a random secret.
        signing_secret: match &options.slack_app {
            Some(app) => app.signing_secret.clone().into_bytes(),
            None => rand_secret().to_vec(),
        },
    });
    let app = api_router(&context, store.clone(), clock.clone(), terms, base_url)
        .merge(worker_router(&context, store.clone(), clock, shared.exports.clone(), shared.webhooks.clone()))
        .merge(pages)
        .merge(dev_router(shared.clone()));
    let app = partnerops_api::routes::with_not_found(app);
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
        tasks.push(tokio::spawn(background(shared.clone())));
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

/// `cargo xtask dev`'s background work: the stream relayed continuously,
/// and the queues emptied before the relay publishes more, as Lambda's
/// pollers scale with a queue's depth: consumers keep up with writers, and
/// moto's SQS, whose every call walks the whole queue, never holds a backlog.
async fn background(shared: Arc<Shared>) {
    // Every 20th pass (5 s) is a full drain, which proves the stream live.
    for pass in 0u64.. {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let result = if pass % 20 == 0 {
            shared.relay.lock().await.drain().await
        } else {
            shared.relay.lock().await.poll_once().await
        };
        match result {
            Ok(r) if r.published > 0 => tracing::info!(published = r.published, "outbox events relayed to the bus"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "stream poll failed"),
        }
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
}
