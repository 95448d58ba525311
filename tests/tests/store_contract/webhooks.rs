//! Webhook endpoints and deliveries: versions and the due index.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use partnerops_aws::Clock;
use partnerops_aws::store::PageRequest;
use partnerops_domain::id::Entropy;
use partnerops_domain::partner::PartnerId;
use serde_json::json;

#[tokio::test]
async fn webhook_endpoints_and_deliveries_are_versioned_and_due_in_order() {
    use partnerops_domain::webhook::{
        EndpointDraft, EndpointId, Message, Outcome, SECRET_BYTES, Secret, UrlPolicy, check_url, claim, new_endpoint,
        record,
    };
    let observed = on_both(|t| async move {
        let now = t.clock.now();
        let acme = PartnerId::parse("acme").unwrap();
        let url = check_url("https://hooks.example.com/in", UrlPolicy::default()).unwrap();
        let make = |n: u128| {
            new_endpoint(
                EndpointDraft { events: Some(vec!["*".into()]), ..Default::default() },
                acme.clone(),
                &url,
                EndpointId::generate(now.plus(chrono::Duration::seconds(n as i64)), Entropy(n)),
                Secret::from_bytes([n as u8; SECRET_BYTES]),
                now.plus(chrono::Duration::seconds(n as i64)),
            )
            .unwrap()
        };
        let (first, second) = (make(1), make(2));
        let mut seen = vec![
            conflict_name(t.store.create_endpoint(&first).await),
            conflict_name(t.store.create_endpoint(&first).await),
            conflict_name(t.store.create_endpoint(&second).await),
        ];
        let listed: Vec<String> =
            t.store.partner_endpoints(&acme).await.unwrap().iter().map(|e| e.id.to_string()).collect();
        seen.push(json!(listed == vec![first.id.to_string(), second.id.to_string()]));
        let rotated = first.rotated(Secret::from_bytes([9; SECRET_BYTES]), now);
        seen.push(conflict_name(t.store.save_endpoint(first.version, &rotated).await));
        seen.push(conflict_name(t.store.save_endpoint(first.version, &rotated).await));
        seen.push(json!(t.store.endpoint(&first.id).await.unwrap() == Some(rotated.clone())));

        // Three messages, due now, in 5 s and not at all (delivered).
        let messages: Vec<Message> = (0..3)
            .map(|n| {
                Message::test(acme.clone(), now.plus(chrono::Duration::seconds(n)), Entropy(n as u128 + 20), &first.id)
            })
            .collect();
        for m in &messages {
            seen.push(json!(t.store.create_delivery(&m.delivery_to(&rotated, now)).await.unwrap()));
        }
        seen.push(json!(t.store.create_delivery(&messages[0].delivery_to(&rotated, now)).await.unwrap()));
        let d1 = t.store.delivery(&first.id, &messages[1].message_id).await.unwrap().unwrap();
        let claimed = claim(&d1, now).unwrap();
        seen.push(conflict_name(t.store.save_delivery(d1.version, &claimed).await));
        seen.push(conflict_name(t.store.save_delivery(d1.version, &claimed).await));
        let failed = record(&claimed, &Outcome::of_status(500, b"no"), now);
        seen.push(conflict_name(t.store.save_delivery(claimed.version, &failed).await));
        let d2 = t.store.delivery(&first.id, &messages[2].message_id).await.unwrap().unwrap();
        let c2 = claim(&d2, now).unwrap();
        t.store.save_delivery(d2.version, &c2).await.unwrap();
        t.store.save_delivery(c2.version, &record(&c2, &Outcome::of_status(200, b"ok"), now)).await.unwrap();
        let due = |at| {
            let store = t.store.clone();
            async move {
                store
                    .due_deliveries(at, 100)
                    .await
                    .unwrap()
                    .iter()
                    .map(|d| d.message_id.to_string())
                    .collect::<Vec<_>>()
            }
        };
        seen.push(json!(due(now).await == vec![messages[0].message_id.to_string()]));
        seen.push(json!(
            due(now.plus(chrono::Duration::seconds(5))).await
                == vec![messages[0].message_id.to_string(), messages[1].message_id.to_string()]
        ));
        // The log, newest message first, a page of two and then the rest.
        let page = t.store.deliveries(&first.id, &PageRequest { limit: 2, cursor: None }).await.unwrap();
        let rest =
            t.store.deliveries(&first.id, &PageRequest { limit: 2, cursor: page.next_cursor.clone() }).await.unwrap();
        let order: Vec<String> = page.items.iter().chain(&rest.items).map(|d| d.message_id.to_string()).collect();
        let mut newest_first: Vec<String> = messages.iter().map(|m| m.message_id.to_string()).collect();
        newest_first.reverse();
        seen.push(json!(order == newest_first));
        seen.push(json!(rest.next_cursor.is_none()));
        let other = t.store.deliveries(&second.id, &PageRequest { limit: 2, cursor: page.next_cursor.clone() }).await;
        seen.push(outcome(other.map(|p| p.items.len())));
        seen.push(json!(t.store.delete_endpoint(&second.id).await.unwrap()));
        seen.push(json!(t.store.delete_endpoint(&second.id).await.unwrap()));
        seen.push(json!(t.store.partner_endpoints(&acme).await.unwrap().len()));
        json!(seen)
    })
    .await;
    assert_eq!(
        observed,
        json!([
            "ok",
            "the endpoint",
            "ok",
            true,
            "ok",
            "the endpoint",
            true,
            true,
            true,
            true,
            false,
            "ok",
            "the delivery",
            "ok",
            true,
            true,
            true,
            true,
            "error: cursor is not valid for this list",
            true,
            false,
            1
        ])
    );
}
