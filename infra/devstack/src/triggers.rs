//! What invokes each function, as the code is written: its routes, or the
//! stream, queue or schedule its handler consumes. Tests hold template.yaml
//! to exactly this, and the local stack refuses to start if they differ.

use crate::template::{EventSource, Template};
use anyhow::{Context as _, bail};
use partnerops_api::routes::{RouteSpec, route_specs, route_table};
use std::collections::BTreeMap;

/// Every API function's routes, as the Lambdas serve them.
pub fn api_route_specs() -> Vec<(&'static str, Vec<RouteSpec>)> {
    vec![
        ("referral-intake", route_specs(&referral_intake::routes())),
        ("deal-registration", route_specs(&deal_registration::routes())),
        ("crm-events", route_specs(&crm_events::routes())),
        ("admin", route_specs(&admin::routes())),
        ("payout-exports", route_specs(&payout_exports::routes())),
        ("webhooks", route_specs(&webhooks::routes())),
        ("reports", route_specs(&reports::routes())),
    ]
}

fn http(pairs: Vec<(axum::http::Method, &'static str)>) -> Vec<EventSource> {
    pairs
        .into_iter()
        .map(|(method, path)| EventSource::Http { method: method.to_string(), path: path.to_owned() })
        .collect()
}

pub fn code_triggers() -> BTreeMap<&'static str, Vec<EventSource>> {
    let mut triggers: BTreeMap<&'static str, Vec<EventSource>> = api_route_specs()
        .into_iter()
        .map(|(name, specs)| {
            (name, route_table(&specs).into_iter().map(|(method, path)| EventSource::Http { method, path }).collect())
        })
        .collect();
    triggers.insert("portal", http(portal::routes()));
    triggers.insert("slack-interactions", http(slack_interactions::routes()));
    triggers.insert("outbox-relay", vec![EventSource::DynamoStream { table: "Table".into() }]);
    triggers.insert("sla-sweep", vec![EventSource::Schedule { expression: sla_sweep::SCHEDULE.into() }]);
    triggers.insert("notifier", vec![EventSource::Sqs { queue: notifier::QUEUE.into() }]);
    triggers.insert("payouts", vec![EventSource::Sqs { queue: payouts::QUEUE.into() }]);
    let more: [(&str, Vec<EventSource>); 3] = [
        ("reports", vec![EventSource::Sqs { queue: reports::QUEUE.into() }]),
        (
            "webhooks",
            vec![
                EventSource::Sqs { queue: webhooks::QUEUE.into() },
                EventSource::Schedule { expression: webhooks::SCHEDULE.into() },
            ],
        ),
        (
            "payout-exports",
            vec![
                EventSource::Sqs { queue: payout_exports::QUEUE.into() },
                EventSource::Schedule { expression: payout_exports::SCHEDULE.into() },
            ],
        ),
    ];
    for (function, events) in more {
        if let Some(known) = triggers.get_mut(function) {
            known.extend(events);
        }
    }
    for events in triggers.values_mut() {
        events.sort();
    }
    triggers
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
