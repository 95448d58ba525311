// A test harness: a failed set-up step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! Test harness: one moto server per test binary, one freshly provisioned
//! dev stack per test (its own table, bus and queues, so tests run in
//! parallel), and a small HTTP client for the stack's routes.

pub mod modules;

use partnerops_aws::config::load_terms;
use partnerops_devstack::moto::{MotoServer, workspace_root};
use partnerops_devstack::{DevStack, Options, start};
use partnerops_domain::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

static MOTO: OnceLock<MotoServer> = OnceLock::new();

/// Where a test stack's clock starts, frozen.
pub const TESTS_START: &str = "2026-01-01T00:00:00Z";
static STACKS: AtomicU32 = AtomicU32::new(0);

/// The moto endpoint shared by every test in this binary.
pub fn moto_endpoint() -> String {
    MOTO.get_or_init(|| {
        let log = std::env::temp_dir().join(format!("partnerops-moto-{}.log", std::process::id()));
        MotoServer::spawn(&log).unwrap_or_else(|e| panic!("cannot start moto for the tests: {e:#}"))
    })
    .endpoint
    .clone()
}

/// A unique stack name: tests share moto, never resources.
pub fn unique_stack() -> String {
    format!("t{}-{}", std::process::id(), STACKS.fetch_add(1, Ordering::Relaxed))
}

pub fn terms_options() -> Options {
    let terms = load_terms(&workspace_root().join("infra/program.toml")).expect("program terms");
    Options::new(terms)
}

pub struct TestStack {
    pub stack: DevStack,
    pub http: reqwest::Client,
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The `field` of every entry in a problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }
}

impl TestStack {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A stack with options changed by `configure` (a Slack webhook, say, or
    /// a moto server of its own for a test that reads the server's counters).
    pub async fn start_with(configure: impl FnOnce(&mut Options)) -> Self {
        let mut options = terms_options();
        // Before every instant a test moves the clock to: the clock only
        // moves forward.
        options.clock_start = Timestamp::parse(TESTS_START).ok();
        configure(&mut options);
        let name = unique_stack();
        if options.endpoint.is_none() {
            options.endpoint = Some(moto_endpoint());
        }
        options.parameter_overrides.insert("EventBusName".into(), format!("{name}-bus"));
        options.stack_name = name;
        let stack = start(options).await.unwrap_or_else(|e| panic!("dev stack did not start: {e:#}"));
        Self { stack, http: reqwest::Client::new() }
    }

    pub fn admin(&self) -> String {
        self.stack.admin_key.clone()
    }

    pub async fn send(&self, method: Method, path: &str, key: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.stack.url));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request to the dev stack");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("response body");
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.send(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(key), Some(body)).await
    }

    /// Creates a partner and returns a partner key for it.
    pub async fn partner(&self, id: &str, tier: &str) -> String {
        let created = self
            .post(
                "/v1/admin/partners",
                &self.admin(),
                json!({ "id": id, "name": format!("Partner {id}"), "tier": tier }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        self.key("partner", Some(id)).await
    }

    pub async fn key(&self, role: &str, partner_id: Option<&str>) -> String {
        let mut body = json!({ "role": role, "label": "test" });
        if let Some(partner) = partner_id {
            body["partner_id"] = json!(partner);
        }
        let created = self.post("/v1/admin/keys", &self.admin(), body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        created.body["key"].as_str().expect("key in response").to_owned()
    }

    /// A partner holding an unexpired `deal_registration` certification.
    pub async fn certified_partner(&self, id: &str, tier: &str) -> String {
        let key = self.partner(id, tier).await;
        let cert = self
            .post(
                &format!("/v1/admin/partners/{id}/certifications"),
                &self.admin(),
                json!({ "name": "deal_registration", "expires_at": "2030-01-01T00:00:00Z" }),
            )
            .await;
        assert_eq!(cert.status, StatusCode::CREATED, "{:?}", cert.body);
        key
    }

    /// Freezes the stack's clock at `at` (RFC 3339).
    pub async fn set_clock(&self, at: &str) {
        let moved = self.send(Method::POST, "/_dev/clock", None, Some(json!({ "set": at }))).await;
        assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    }

    pub async fn tick(&self) -> Value {
        self.send(Method::POST, "/_dev/tick", None, None).await.body
    }
}

/// A valid referral body for `domain`.
/// A queue that receives everything published on the stack's bus.
pub async fn bus_tap(t: &TestStack) -> (aws_sdk_sqs::Client, String) {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(&t.stack.sdk);
    let events = aws_sdk_eventbridge::Client::new(&t.stack.sdk);
    let bus = t.stack.provisioned.reference("EventBus").unwrap().to_owned();
    let url = sqs.create_queue().queue_name(format!("{bus}-tap")).send().await.unwrap().queue_url.unwrap();
    let attrs =
        sqs.get_queue_attributes().queue_url(&url).attribute_names(QueueAttributeName::QueueArn).send().await.unwrap();
    let arn = attrs.attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
    events
        .put_rule()
        .name(format!("{bus}-tap"))
        .event_bus_name(&bus)
        .event_pattern(r#"{"source": ["partnerops"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule(format!("{bus}-tap"))
        .event_bus_name(&bus)
        .targets(aws_sdk_eventbridge::types::Target::builder().id("tap").arn(arn).build().unwrap())
        .send()
        .await
        .unwrap();
    (sqs, url)
}

/// Everything on a bus tap so far, taken off it.
pub async fn drain_tap(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let got = sqs.receive_message().queue_url(url).max_number_of_messages(10).send().await.unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
}

pub fn referral(domain: &str) -> Value {
    json!({
        "company": { "name": "Acme Corp", "domain": domain },
        "contact": { "name": "Jane Doe", "email": "jane@acme.com", "title": "CFO", "phone": "+15551234567" },
        "motion": "referral",
        "notes": "Met at the summit.",
        "consent": true,
        "external_ref": "CRM-123"
    })
}

/// A valid deal registration body for `domain`.
pub fn registration(domain: &str, amount: &str) -> Value {
    json!({
        "customer": { "name": "Globex", "domain": domain },
        "motion": "resell",
        "estimated_value": { "amount": amount, "currency": "USD" },
        "products": ["platform"],
        "expected_close_date": "2027-03-31",
        "notes": "Renewal of a competitor's contract."
    })
}

pub fn repo_file(path: &str) -> std::path::PathBuf {
    workspace_root().join(path)
}

/// A PK/SK table with a `NEW_IMAGE` stream, as the stack's table has; returns
/// the stream's ARN.
pub async fn create_streamed_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
        StreamViewType,
    };
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap();
    let attribute = |name: &str| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap()
    };
    let stream =
        StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::NewImage).build().unwrap();
    let created = dynamodb
        .create_table()
        .table_name(name)
        .key_schema(key("PK", KeyType::Hash))
        .key_schema(key("SK", KeyType::Range))
        .attribute_definitions(attribute("PK"))
        .attribute_definitions(attribute("SK"))
        .billing_mode(BillingMode::PayPerRequest)
        .stream_specification(stream)
        .send()
        .await
        .unwrap();
    created.table_description.and_then(|d| d.latest_stream_arn).expect("the new table's stream")
}
