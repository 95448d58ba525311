//! template.yaml, the OpenAPI document and the code describe one system:
//! these tests fail when a route, trigger or function is in one and not the
//! others.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use partnerops_devstack::template::{EventSource, Template};
use partnerops_devstack::{api_route_specs, check_runners, code_triggers};
use partnerops_e2e::repo_file;
use std::collections::BTreeSet;

fn template() -> Template {
    Template::load(&repo_file("template.yaml")).unwrap()
}

#[test]
fn template_triggers_match_the_code() {
    let template = template();
    check_runners(&template).unwrap();
    let code = code_triggers();
    for function in template.functions().unwrap() {
        assert_eq!(&function.events, &code[function.binary.as_str()], "{}", function.logical_id);
    }
}

#[test]
fn every_function_crate_is_in_the_template_with_its_own_binary() {
    let template = template();
    let binaries: Vec<String> = template.functions().unwrap().into_iter().map(|f| f.binary).collect();
    let unique: BTreeSet<&String> = binaries.iter().collect();
    assert_eq!(unique.len(), binaries.len(), "binary names must be distinct: {binaries:?}");
    let crates: BTreeSet<String> = std::fs::read_dir(repo_file("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(crates, binaries.iter().cloned().collect::<BTreeSet<_>>());
    for name in &crates {
        let manifest = std::fs::read_to_string(repo_file(&format!("functions/{name}/Cargo.toml"))).unwrap();
        assert!(
            manifest.contains(&format!("name = \"{name}\"\npath = \"src/main.rs\"")),
            "{name} must build a binary named {name}"
        );
    }
}

#[test]
fn a_drifted_template_is_refused() {
    let text = std::fs::read_to_string(repo_file("template.yaml")).unwrap();
    let drifted = text.replace("Path: /v1/admin/customers", "Path: /v1/admin/clients");
    assert_ne!(text, drifted);
    let err = check_runners(&Template::parse(&drifted).unwrap()).unwrap_err();
    assert!(err.to_string().contains("AdminFunction"), "{err}");
}

#[test]
fn the_outbox_relay_reads_the_table_stream() {
    let functions = template().functions().unwrap();
    let relay = functions.iter().find(|f| f.binary == "outbox-relay").unwrap();
    assert_eq!(relay.events, vec![EventSource::DynamoStream { table: "Table".into() }]);
}

#[test]
fn the_openapi_document_lists_exactly_the_routes() {
    let text = std::fs::read_to_string(repo_file("docs/openapi.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if ["get", "post", "put", "patch", "delete"].contains(&method) {
                documented.insert((method.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    let served: BTreeSet<(String, String)> =
        api_route_specs().into_iter().flat_map(|(_, routes)| partnerops_api::routes::route_table(&routes)).collect();
    assert_eq!(documented, served);
}

/// Every queue-fed function: its rule routes exactly the events the code
/// handles, failures are reported per message, and a message outlives the
/// retries (visibility ≥ 6 × timeout, at least 5 receives before the DLQ).
#[test]
fn queue_consumers_are_wired_as_the_code_expects() {
    let text = std::fs::read_to_string(repo_file("template.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let resources = &doc["Resources"];
    let timeout = |f: &str| resources[f]["Properties"]["Timeout"].as_u64().unwrap();
    for (function, queue, rule, detail_types) in [
        ("NotifierFunction", "NotificationQueue", "NotificationRule", notifier::QUEUE_EVENTS.to_vec()),
        ("PayoutsFunction", "PayoutQueue", "PayoutRule", vec!["DealClosed", "DealRefunded"]),
        ("ReportsFunction", "ReportsQueue", "ReportsRule", reports::QUEUE_EVENTS.to_vec()),
    ] {
        let props = &resources[queue]["Properties"];
        assert!(props["VisibilityTimeout"].as_u64().unwrap() >= 6 * timeout(function), "{queue} visibility");
        assert!(props["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap() >= 5, "{queue} maxReceiveCount");
        let events = resources[function]["Properties"]["Events"].as_mapping().unwrap();
        for (_, event) in events.iter().filter(|(_, e)| e["Type"].as_str() == Some("SQS")) {
            let types = event["Properties"]["FunctionResponseTypes"].as_sequence().unwrap();
            assert_eq!(types[0].as_str(), Some("ReportBatchItemFailures"), "{function}");
        }
        let routed: BTreeSet<&str> = resources[rule]["Properties"]["EventPattern"]["detail-type"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(routed, detail_types.into_iter().collect::<BTreeSet<_>>(), "{rule}");
    }
}

/// Every dead-letter queue can be replayed by `cargo xtask redrive`, which
/// finds it by its `<queue>Url` output, except the schedules' (a schedule's
/// invocation carries nothing to replay; docs/operations.md).
#[test]
fn every_dead_letter_queue_has_a_redrive() {
    let text = std::fs::read_to_string(repo_file("template.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let xtask = std::fs::read_to_string(repo_file("infra/xtask/src/main.rs")).unwrap();
    let mut checked = 0;
    for (id, resource) in doc["Resources"].as_mapping().unwrap() {
        let id = id.as_str().unwrap();
        if resource["Type"].as_str() != Some("AWS::SQS::Queue") || !id.ends_with("DLQ") || id == "ScheduleDLQ" {
            continue;
        }
        let output = format!("{id}Url");
        let outputs = &text[text.find("\nOutputs:").unwrap()..];
        let entry = &outputs[outputs.find(&format!("\n  {output}:")).unwrap_or_else(|| panic!("no {output} output"))..];
        let value = entry.lines().find(|l| l.trim_start().starts_with("Value:")).unwrap();
        assert_eq!(value.trim(), format!("Value: !Ref {id}"), "{output}");
        assert!(xtask.contains(&format!("\"{output}\"")), "cargo xtask redrive does not know {output}");
        checked += 1;
    }
    assert_eq!(checked, 7, "OutboxRelayDLQ, Notification, Payout, Export, Webhook, Reports and Rule DLQs");
}
