//! Replaying a dead-letter queue through the real SDK on moto: every
//! message goes back to its queue with its attributes, and none is left or
//! doubled.

// Test helpers as well as tests may stop at the first broken expectation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_sdk_sqs::types::MessageAttributeValue;
use partnerops_aws::queue::{RedriveTo, redrive};
use partnerops_devstack::local_sdk_config;
use partnerops_e2e::{moto_endpoint, unique_stack};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

#[tokio::test]
async fn a_dead_letter_queue_moves_back_whole_with_its_attributes() {
    let sdk = local_sdk_config(&moto_endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique_stack();
    let dlq = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
    let source = sqs.create_queue().queue_name(format!("{name}-source")).send().await.unwrap().queue_url.unwrap();
    for i in 0..25 {
        let reason =
            MessageAttributeValue::builder().data_type("String").string_value(format!("reason {i}")).build().unwrap();
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("{{\"n\":{i}}}"))
            .message_attributes("failure_reason", reason)
            .send()
            .await
            .unwrap();
    }
    let reported = AtomicU64::new(0);
    let moved =
        redrive(&sqs, &dlq, RedriveTo::Queue(&source), &|n| reported.store(n, Ordering::Relaxed)).await.unwrap();
    assert_eq!((moved, reported.load(Ordering::Relaxed)), (25, 25));

    let mut bodies = BTreeSet::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(&source)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let body = m.body.clone().unwrap();
            let n: u64 = serde_json::from_str::<serde_json::Value>(&body).unwrap()["n"].as_u64().unwrap();
            let reason = m.message_attributes.as_ref().unwrap()["failure_reason"].string_value.clone().unwrap();
            assert_eq!(reason, format!("reason {n}"), "attributes travel with their message");
            assert!(bodies.insert(body), "no message twice");
            sqs.delete_message().queue_url(&source).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
        }
    }
    assert_eq!(bodies.len(), 25);
    let left = sqs.receive_message().queue_url(&dlq).wait_time_seconds(1).send().await.unwrap();
    assert!(left.messages.unwrap_or_default().is_empty(), "the dead-letter queue is empty");
    assert_eq!(
        redrive(&sqs, &dlq, RedriveTo::Queue(&source), &|_| {}).await.unwrap(),
        0,
        "an empty queue moves nothing"
    );
}

#[tokio::test]
async fn a_rules_dead_letters_go_back_to_the_queue_each_names() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sdk = local_sdk_config(&moto_endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let name = unique_stack();
    let dlq = sqs.create_queue().queue_name(format!("{name}-rules-dlq")).send().await.unwrap().queue_url.unwrap();
    let mut targets = Vec::new();
    for target in ["notifications", "payouts"] {
        let url = sqs.create_queue().queue_name(format!("{name}-{target}")).send().await.unwrap().queue_url.unwrap();
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let arn = attributes.attributes.unwrap()[&QueueAttributeName::QueueArn].clone();
        targets.push((url, arn));
    }
    // As EventBridge writes them: the event as the body, the target in attributes.
    for i in 0..12 {
        let (_, arn) = &targets[i % 2];
        let text = |v: &str| MessageAttributeValue::builder().data_type("String").string_value(v).build().unwrap();
        sqs.send_message()
            .queue_url(&dlq)
            .message_body(format!("{{\"detail-type\":\"DealClosed\",\"n\":{i}}}"))
            .message_attributes("TARGET_ARN", text(arn))
            .message_attributes("ERROR_CODE", text("SQSPermissionError"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(redrive(&sqs, &dlq, RedriveTo::Targets, &|_| {}).await.unwrap(), 12);
    for (k, (url, _)) in targets.iter().enumerate() {
        let mut seen = BTreeSet::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                assert!(
                    m.message_attributes.is_none_or(|a| a.is_empty()),
                    "EventBridge's error attributes stay behind"
                );
                let n = serde_json::from_str::<serde_json::Value>(&m.body.unwrap()).unwrap()["n"].as_u64().unwrap();
                assert_eq!(n % 2, k as u64, "each event went back to the queue it names");
                assert!(seen.insert(n));
                sqs.delete_message().queue_url(url).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
            }
        }
        assert_eq!(seen.len(), 6);
    }
}
