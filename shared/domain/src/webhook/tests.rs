use super::*;
use crate::Timestamp;
use crate::event::{
    DealClosed, DealLost, DealRegistrationDecided, DomainEvent, EventPayload, PayoutExportReady, ReferralReceived,
};
use crate::id::{Entropy, EventId, ExportId, ReferralId, RegistrationId};
use crate::money::{Currency, Money};
use crate::partner::{Motion, PartnerId};
use crate::prospect::ProspectKey;
use crate::status::RegistrationStatus;
use chrono::Duration;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn partner(id: &str) -> PartnerId {
    PartnerId::parse(id).unwrap()
}

fn endpoint(now: Timestamp) -> Endpoint {
    let url = check_url("https://hooks.example.com/partnerops", UrlPolicy::default()).unwrap();
    new_endpoint(
        EndpointDraft { events: Some(vec!["*".into()]), ..Default::default() },
        partner("acme"),
        &url,
        EndpointId::generate(now, Entropy(1)),
        Secret::from_bytes([7; SECRET_BYTES]),
        now,
    )
    .unwrap()
}

#[test]
fn signatures_follow_standard_webhooks() {
    // The example of the Standard Webhooks specification's reference
    // libraries: this secret, id, timestamp and body sign to this value.
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let signature = secret.sign(id, 1_614_265_330, r#"{"test": 2432232314}"#);
    assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    // Every input is signed: changing any one changes the signature.
    assert_ne!(signature, secret.sign(id, 1_614_265_331, r#"{"test": 2432232314}"#));
    assert_ne!(signature, secret.sign(id, 1_614_265_330, r#"{"test": 2432232315}"#));
    assert_ne!(signature, secret.sign("msg_other", 1_614_265_330, r#"{"test": 2432232314}"#));
    assert_eq!(secret.reveal(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert!(Secret::parse("whsec_c2hvcnQ=").is_none(), "under 24 bytes");
    assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
    assert_eq!(format!("{secret:?}"), "Secret(…)");
}

#[test]
fn a_rotation_signs_with_both_secrets_for_a_day() {
    let now = at("2026-12-01T10:00:00Z");
    let before = endpoint(now);
    let rotated = before.rotated(Secret::from_bytes([9; SECRET_BYTES]), now);
    let id = MessageId::generate(now, Entropy(5));
    let both = rotated.signature(&id, now.plus(Duration::hours(23)), "{}");
    assert_eq!(both.split(' ').count(), 2);
    assert!(both.contains(&before.secret.sign(id.as_str(), now.plus(Duration::hours(23)).unix_seconds(), "{}")));
    let after = rotated.signature(&id, now.plus(Duration::hours(24)), "{}");
    assert_eq!(after.split(' ').count(), 1);
    assert_eq!(after, rotated.secret.sign(id.as_str(), now.plus(Duration::hours(24)).unix_seconds(), "{}"));
    assert_eq!(rotated.version, before.version + 1);
}

#[test]
fn url_rules_refuse_private_and_plain_addresses() {
    let deployed = UrlPolicy::default();
    let dev = UrlPolicy { local_receiver: true };
    for (url, refusal) in [
        ("http://hooks.example.com/x", UrlRefusal::NotHttps),
        ("ftp://hooks.example.com/x", UrlRefusal::NotHttps),
        ("https://user:pw@hooks.example.com/x", UrlRefusal::Credentials),
        ("not a url", UrlRefusal::Malformed),
        ("https://127.0.0.1/x", UrlRefusal::PrivateAddress),
        ("https://10.1.2.3/x", UrlRefusal::PrivateAddress),
        ("https://172.16.0.1/x", UrlRefusal::PrivateAddress),
        ("https://192.168.1.1/x", UrlRefusal::PrivateAddress),
        ("https://169.254.169.254/latest/meta-data", UrlRefusal::PrivateAddress),
        ("https://100.64.0.1/x", UrlRefusal::PrivateAddress),
        ("https://224.0.0.1/x", UrlRefusal::PrivateAddress),
        ("https://0.0.0.0/x", UrlRefusal::PrivateAddress),
        ("https://[::1]/x", UrlRefusal::PrivateAddress),
        ("https://[::]/x", UrlRefusal::PrivateAddress),
        ("https://[fd00::1]/x", UrlRefusal::PrivateAddress),
        ("https://[fe80::1]/x", UrlRefusal::PrivateAddress),
        ("https://[ff02::1]/x", UrlRefusal::PrivateAddress),
        ("https://[::ffff:169.254.169.254]/x", UrlRefusal::PrivateAddress),
        ("https://[64:ff9b::a00:1]/x", UrlRefusal::PrivateAddress),
        ("https://localhost/x", UrlRefusal::PrivateAddress),
        ("https://api.localhost/x", UrlRefusal::PrivateAddress),
        // Decimal and hex forms are addresses too, after URL parsing.
        ("https://2130706433/x", UrlRefusal::PrivateAddress),
        ("https://0x7f.1/x", UrlRefusal::PrivateAddress),
        ("http://127.0.0.1:8080/x", UrlRefusal::NotHttps),
    ] {
        assert_eq!(check_url(url, deployed).unwrap_err(), refusal, "{url}");
    }
    assert_eq!(
        check_url(&format!("https://a.com/{}", "x".repeat(MAX_URL_LEN)), deployed).unwrap_err(),
        UrlRefusal::TooLong
    );
    let named = check_url("https://hooks.example.com/in", deployed).unwrap();
    assert_eq!(named.host_to_resolve.as_deref(), Some("hooks.example.com"));
    assert_eq!(check_url("https://93.184.216.34/in", deployed).unwrap().host_to_resolve, None);
    // The dev stack: plain http to 127.0.0.1 or localhost with a port, as
    // written; no other loopback form, and nothing else plain.
    assert_eq!(check_url("http://127.0.0.1:8080/x", dev).unwrap().host_to_resolve, None);
    assert_eq!(check_url("http://localhost:8080/x", dev).unwrap().host_to_resolve.as_deref(), Some("localhost"));
    assert!(check_url("http://LOCALHOST:8080/x", dev).is_ok(), "hosts are compared as URL parsing writes them");
    for (url, refusal) in [
        ("http://127.0.0.1/x", UrlRefusal::NotHttps),
        ("http://hooks.example.com:80/x", UrlRefusal::NotHttps),
        ("http://127.0.0.2:8080/x", UrlRefusal::NotHttps),
        ("http://[::1]:8080/x", UrlRefusal::NotHttps),
        ("http://[::ffff:127.0.0.1]:8080/x", UrlRefusal::NotHttps),
        ("http://api.localhost:8080/x", UrlRefusal::NotHttps),
        ("http://2130706433:8080/x", UrlRefusal::NotHttps),
        ("http://0x7f.1:8080/x", UrlRefusal::NotHttps),
        ("https://[::ffff:127.0.0.1]/x", UrlRefusal::PrivateAddress),
        ("https://127.0.0.1:8080/x", UrlRefusal::PrivateAddress),
        ("https://localhost:8080/x", UrlRefusal::PrivateAddress),
        ("https://[::1]/x", UrlRefusal::PrivateAddress),
        ("https://10.0.0.1/x", UrlRefusal::PrivateAddress),
    ] {
        assert_eq!(check_url(url, dev).unwrap_err(), refusal, "{url}");
    }
}

#[test]
fn a_host_is_allowed_only_if_every_address_is_public() {
    let public: IpAddr = "93.184.216.34".parse().unwrap();
    let private: IpAddr = "10.0.0.7".parse().unwrap();
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let policy = UrlPolicy::default();
    let dev = UrlPolicy { local_receiver: true };
    assert!(addresses_allowed("hooks.example.com", &[public], policy).is_ok());
    assert_eq!(addresses_allowed("hooks.example.com", &[public, private], policy), Err(UrlRefusal::PrivateAddress));
    assert_eq!(addresses_allowed("hooks.example.com", &[], policy), Err(UrlRefusal::Unresolvable));
    assert_eq!(addresses_allowed("hooks.example.com", &[loopback], policy), Err(UrlRefusal::PrivateAddress));
    // The dev stack's receiver by name resolves to loopback and only there;
    // any other name is held to the deployed rule.
    assert_eq!(addresses_allowed("localhost", &[loopback], policy), Err(UrlRefusal::PrivateAddress));
    assert!(addresses_allowed("localhost", &[loopback], dev).is_ok());
    assert_eq!(addresses_allowed("localhost", &[public], dev), Err(UrlRefusal::PrivateAddress));
    assert_eq!(addresses_allowed("rebound.example.com", &[loopback], dev), Err(UrlRefusal::PrivateAddress));
    assert_eq!(addresses_allowed("localhost", &[private], dev), Err(UrlRefusal::PrivateAddress));
    assert!(public_address("2606:4700::1111".parse().unwrap()));
    assert!(!public_address("2001:db8::1".parse().unwrap()));
}

#[test]
fn events_must_be_known_or_all() {
    let now = at("2026-12-01T10:00:00Z");
    let url = check_url("https://hooks.example.com/x", UrlPolicy::default()).unwrap();
    let make = |events: Option<Vec<&str>>| {
        new_endpoint(
            EndpointDraft { events: events.map(|e| e.into_iter().map(String::from).collect()), ..Default::default() },
            partner("acme"),
            &url,
            EndpointId::generate(now, Entropy(1)),
            Secret::from_bytes([1; SECRET_BYTES]),
            now,
        )
    };
    assert!(make(None).is_err());
    assert!(make(Some(vec![])).is_err());
    assert!(make(Some(vec!["*", "referral.received"])).is_err());
    assert!(make(Some(vec!["referral.nope"])).is_err());
    let chosen = make(Some(vec!["registration.decided", "registration.decided"])).unwrap();
    assert_eq!(chosen.events, vec!["registration.decided"]);
    assert!(chosen.subscribes_to("registration.decided"));
    assert!(!chosen.subscribes_to("referral.received"));
    assert!(chosen.subscribes_to(TEST_EVENT));
}

#[test]
fn the_retry_schedule_is_the_specs() {
    let now = at("2026-12-01T10:00:00Z");
    let mut delivery =
        Message::test(partner("acme"), now, Entropy(3), &endpoint(now).id).delivery_to(&endpoint(now), now);
    let mut t = now;
    let mut gaps = Vec::new();
    let failure = Outcome::Failed { status: Some(500), error: "500".into(), response: String::new() };
    for _ in 0..MAX_ATTEMPTS {
        let claimed = claim(&delivery, t).expect("due");
        assert!(claim(&claimed, t).is_none(), "a claimed attempt is not due again at once");
        delivery = record(&claimed, &failure, t);
        if let Some(next) = delivery.next_attempt_at {
            gaps.push(next.since(t).num_seconds());
            assert!(claim(&delivery, next.minus(Duration::seconds(1))).is_none());
            t = next;
        }
    }
    assert_eq!(gaps, RETRY_DELAYS_SECONDS.to_vec());
    assert_eq!(delivery.state, DeliveryState::Failed);
    assert_eq!(delivery.attempts, 8);
    // A manual retry makes one more attempt and ends failed again.
    let again = manual_retry(&delivery, t).unwrap();
    let claimed = claim(&again, t).unwrap();
    assert_eq!(record(&claimed, &failure, t).state, DeliveryState::Failed);
    let ok = record(&claimed, &Outcome::of_status(204, b""), t);
    assert_eq!(ok.state, DeliveryState::Succeeded);
    assert_eq!(manual_retry(&ok, t), Err(RetryRefusal::Succeeded));
    assert!(claim(&ok, t.plus(Duration::days(1))).is_none(), "a success is recorded once");
}

#[test]
fn gone_disables_at_once_and_five_days_of_failure_disable() {
    let now = at("2026-12-01T10:00:00Z");
    let e = endpoint(now);
    let (gone, told) = e.after_attempt(&Outcome::of_status(410, b"bye"), now);
    assert_eq!(gone.status, EndpointStatus::Disabled);
    assert!(!told);
    let failure = Outcome::of_status(503, b"");
    let (failing, told) = e.after_attempt(&failure, now);
    assert_eq!((failing.failing_since, failing.status, told), (Some(now), EndpointStatus::Enabled, false));
    let (still, told) = failing.after_attempt(&failure, now.plus(Duration::days(5) - Duration::seconds(1)));
    assert_eq!((still.status, told), (EndpointStatus::Enabled, false));
    let (disabled, told) = still.after_attempt(&failure, now.plus(Duration::days(5)));
    assert_eq!((disabled.status, told), (EndpointStatus::Disabled, true));
    let (_, again) = disabled.after_attempt(&failure, now.plus(Duration::days(6)));
    assert!(!again, "the partner is told once");
    let (healed, _) = still.after_attempt(&Outcome::of_status(200, b""), now.plus(Duration::days(4)));
    assert_eq!(healed.failing_since, None);
    let (same, _) = healed.after_attempt(&Outcome::of_status(200, b""), now.plus(Duration::days(4)));
    assert_eq!(same.version, healed.version, "nothing changed, nothing to write");
}

#[test]
fn responses_are_kept_to_a_kilobyte() {
    assert_eq!(keep_response(&[b'a'; 5000]).len(), RESPONSE_KEEP_BYTES);
    let accents = "é".repeat(600);
    let kept = keep_response(accents.as_bytes());
    assert!(kept.len() <= RESPONSE_KEEP_BYTES && kept.chars().all(|c| c == 'é'));
}

fn event(payload: EventPayload) -> DomainEvent {
    let now = at("2026-12-01T10:00:00Z");
    DomainEvent::new(EventId::generate(now, Entropy(9)), now, payload)
}

#[test]
fn each_partner_hears_only_of_its_own_items() {
    let now = at("2026-12-01T10:00:00Z");
    let received = event(EventPayload::ReferralReceived(ReferralReceived {
        referral_id: ReferralId::generate(now, Entropy(1)),
        partner_id: partner("acme"),
        prospect_key: ProspectKey::from_stored("globex.com".into()),
        company_name: "Globex".into(),
        motion: Motion::Referral,
        opportunity_creation_due_at: now.plus(Duration::hours(24)),
    }));
    let messages = messages_for(&received);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].partner_id, partner("acme"));
    let body: serde_json::Value = serde_json::from_str(&messages[0].body).unwrap();
    assert_eq!(body["type"], "referral.received");
    assert_eq!(body["timestamp"], "2026-12-01T10:00:00.000Z");
    assert_eq!(body["data"]["company_domain"], "globex.com");
    assert!(!messages[0].body.contains("acme"), "no partner id in the body");
    // The same event makes the same message: a redelivery finds it.
    assert_eq!(messages_for(&received), messages);

    let decided = event(EventPayload::DealRegistrationDecided(DealRegistrationDecided {
        registration_id: RegistrationId::generate(now, Entropy(2)),
        partner_id: partner("acme"),
        customer_key: ProspectKey::from_stored("globex.com".into()),
        customer_name: "Globex".into(),
        status: RegistrationStatus::Approved,
        reason: None,
        decided_by: "manager@vendor.example".into(),
        protected_until: Some(now.plus(Duration::days(90))),
    }));
    let body = &messages_for(&decided)[0].body;
    assert!(!body.contains("manager@vendor.example"), "staff are not named to partners");

    let usd = Currency::parse("USD").unwrap();
    let won = event(EventPayload::DealClosed(DealClosed {
        opportunity_id: "opp-1".into(),
        referral_id: Some(ReferralId::generate(now, Entropy(3))),
        deal_registration_id: None,
        partner_id: Some(partner("acme")),
        prospect_key: ProspectKey::from_stored("globex.com".into()),
        motion: Motion::Referral,
        amount: Money::from_minor(100_000, usd),
        closed_at: now,
        attribution: vec![crate::attribution::Attribution {
            partner_id: partner("initech"),
            role: crate::terms::AttributionRole::Influenced,
            share_bps: 3000,
        }],
    }));
    let won = messages_for(&won);
    assert_eq!(won.len(), 1);
    assert!(!won[0].body.contains("initech"), "another partner's share is not shown");
    let lost = event(EventPayload::DealLost(DealLost {
        opportunity_id: "opp-2".into(),
        referral_id: None,
        deal_registration_id: Some(RegistrationId::generate(now, Entropy(4))),
        partner_id: partner("acme"),
        prospect_key: ProspectKey::from_stored("globex.com".into()),
        motion: Motion::CoSell,
        amount: Money::from_minor(5, usd),
        closed_at: now,
    }));
    assert!(messages_for(&lost).is_empty(), "a registration's opportunity is not a referral update");

    let line = |partner: &str, n: u128, minor: i64| crate::event::CreatedLine {
        line_id: crate::id::PayoutLineId::generate(now, Entropy(n)),
        partner_id: PartnerId::parse(partner).unwrap(),
        kind: if minor < 0 { "clawback".into() } else { "earned".into() },
        motion: Motion::Referral,
        role: crate::terms::AttributionRole::Sourced,
        share_bps: 7000,
        rate_bps: 1000,
        amount: Money::from_minor(minor, usd),
        earned_at: now,
    };
    let lines = event(EventPayload::PayoutLinesCreated(crate::event::PayoutLinesCreated {
        opportunity_id: "opp-1".into(),
        lines: vec![line("acme", 1, 70_000), line("initech", 2, -30_000)],
    }));
    let lines = messages_for(&lines);
    assert_eq!(lines.iter().map(|m| m.partner_id.as_str()).collect::<Vec<_>>(), vec!["acme", "initech"]);
    assert!(lines.iter().all(|m| m.event_type == "payout.line_created"));
    assert!(!lines[0].body.contains("initech") && !lines[1].body.contains("acme"));
    assert!(lines[1].body.contains("\"-300.00\""), "clawbacks are negative: {}", lines[1].body);

    let ready = event(EventPayload::PayoutExportReady(PayoutExportReady {
        export_id: ExportId::generate(now, Entropy(5)),
        period: "2026-11".into(),
        partners: 2,
        lines: 3,
        totals: vec![Money::from_minor(700, usd)],
        carried_forward: 0,
        files: vec![],
    }));
    assert!(messages_for(&ready).is_empty());
    let groups = [
        ExportedGroup {
            partner_id: partner("acme"),
            lines: 2,
            total: Money::from_minor(500, usd),
            carried_forward: false,
        },
        ExportedGroup {
            partner_id: partner("initech"),
            lines: 1,
            total: Money::from_minor(200, usd),
            carried_forward: false,
        },
    ];
    let exported = export_messages(&ready, &groups);
    assert_eq!(exported.len(), 2);
    assert!(exported[0].body.contains("\"5.00\"") && !exported[0].body.contains("7.00"));
    assert_ne!(exported[0].message_id, exported[1].message_id);
}

proptest! {
    #[test]
    fn url_checks_never_panic_and_never_allow_plain_http_deployed(raw in ".{0,80}", host in "[a-z0-9.:\\[\\]]{1,40}") {
        let _ = check_url(&raw, UrlPolicy::default());
        let url = format!("http://{host}/x");
        prop_assert!(check_url(&url, UrlPolicy::default()).is_err());
    }

    #[test]
    fn private_v4_literals_are_always_refused(a in 0u8..=255, b in 0u8..=255, c in 0u8..=255, d in 0u8..=255) {
        let ip = Ipv4Addr::new(a, b, c, d);
        let url = format!("https://{ip}/hook");
        let allowed = check_url(&url, UrlPolicy::default()).is_ok();
        let private = ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_multicast()
            || ip.is_unspecified() || (a == 100 && (64..128).contains(&b));
        prop_assert!(!(allowed && private), "{} allowed", ip);
    }

    #[test]
    fn message_ids_are_stable_and_distinct(p in "[a-z]{3,10}", q in "[a-z]{3,10}", part in "[a-z.]{1,20}") {
        let now = at("2026-12-01T10:00:00Z");
        let event = EventId::generate(now, Entropy(1));
        let a = MessageId::derive(&event, now, &partner(&p), &part);
        prop_assert_eq!(&a, &MessageId::derive(&event, now, &partner(&p), &part));
        prop_assert!(MessageId::parse(a.as_str()).is_some());
        if p != q {
            prop_assert_ne!(a, MessageId::derive(&event, now, &partner(&q), &part));
        }
    }
}
