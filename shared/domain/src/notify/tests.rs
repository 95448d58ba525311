use super::*;
use crate::id::{Entropy, EventId, ExportId, ReferralId};
use crate::money::{Currency, Money};
use crate::partner::{PartnerManager, PartnerStatus, Tier};
use crate::prospect::ProspectKey;
use crate::referral::RejectionReason;
use crate::sla::SlaTimer;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn terms() -> ProgramTerms {
    ProgramTerms::from_toml(include_str!("../../../../infra/program.toml")).unwrap()
}

fn partner(manager: bool, contact: bool) -> Partner {
    Partner {
        id: PartnerId::parse("acme").unwrap(),
        name: "Acme Consulting".into(),
        tier: Tier::Gold,
        motions: vec![],
        status: PartnerStatus::Active,
        manager: manager.then(|| PartnerManager {
            name: "Pat".into(),
            email: "pat@vendor.example".into(),
            slack_user_id: Some("U123".into()),
        }),
        contact_email: contact.then(|| "deals@acme.example".to_owned()),
        certifications: Default::default(),
        created_at: at("2026-01-01T00:00:00Z"),
        updated_at: at("2026-01-01T00:00:00Z"),
    }
}

fn breach(subject: SlaSubject) -> DomainEvent {
    let timer = SlaTimer::start(
        subject,
        SlaKind::OpportunityCreation,
        "0",
        PartnerId::parse("acme").unwrap(),
        ProspectKey::from_stored("globex.com".into()),
        at("2026-11-22T10:00:00Z"),
        24,
    )
    .named("Globex <Corp>");
    let now = at("2026-11-23T11:05:00Z");
    DomainEvent::new(EventId::generate(now, Entropy(7)), now, EventPayload::SlaBreached(SlaSignalled::new(&timer, now)))
}

fn referral_subject() -> SlaSubject {
    SlaSubject::Referral("ref_01JD0000000000000000000000".into())
}

#[test]
fn a_breach_names_what_slipped_the_partner_the_prospect_the_due_time_and_the_delay() {
    let sent = notifications(&breach(referral_subject()), Some(&partner(false, false)), &terms());
    let slack = sent.iter().find(|n| n.channel == Channel::Slack).unwrap();
    let payload = slack.slack.to_string();
    for needle in ["Acme Consulting", "globex.com", "2026-11-23 10:00 UTC", "1 h 5 m", "create the CRM opportunity"] {
        assert!(payload.contains(needle), "{needle} missing from {payload}");
        assert!(slack.text.contains(needle), "{needle} missing from the text");
    }
    // Slack control characters from user input are escaped.
    assert!(payload.contains("Globex &lt;Corp&gt;"), "{payload}");
    let email = sent.iter().find(|n| n.channel == Channel::Email).unwrap();
    assert!(email.html.contains("Globex &lt;Corp&gt;"), "{}", email.html);
    assert!(email.text.contains("Globex <Corp> (globex.com)"));
    assert!(email.subject.starts_with("SLA breached"));
}

#[test]
fn breaches_go_to_slack_and_the_manager_or_else_the_escalation_list() {
    let event = breach(referral_subject());
    let without = notifications(&event, Some(&partner(false, false)), &terms());
    let to: Vec<(&str, &str)> = without.iter().map(|n| (n.channel.as_str(), n.to.as_str())).collect();
    assert_eq!(to, vec![("slack", "slack"), ("email", "partner-ops@example.com")]);

    let with = notifications(&event, Some(&partner(true, false)), &terms());
    let to: Vec<&str> = with.iter().map(|n| n.to.as_str()).collect();
    assert_eq!(to, vec!["slack", "pat@vendor.example"]);
    assert!(with[0].slack.to_string().contains("<@U123>"));
}

#[test]
fn escalations_reach_the_manager_and_the_escalation_list_once_each() {
    let mut event = breach(referral_subject());
    if let EventPayload::SlaBreached(s) = event.payload.clone() {
        event.payload = EventPayload::SlaEscalated(s);
    }
    let mut terms = terms();
    terms.notifications.escalation_emails = vec!["PAT@vendor.example".into(), "ops@vendor.example".into()];
    let sent = notifications(&event, Some(&partner(true, false)), &terms);
    let to: Vec<&str> = sent.iter().map(|n| n.to.as_str()).collect();
    assert_eq!(to, vec!["slack", "pat@vendor.example", "ops@vendor.example"]);
    let keys: std::collections::BTreeSet<String> = sent.iter().map(Notification::delivery_key).collect();
    assert_eq!(keys.len(), 3);
}

#[test]
fn the_crm_link_appears_only_when_the_event_has_an_opportunity() {
    let none = message(&breach(referral_subject()), None, &terms()).unwrap();
    assert_eq!(none.link, None);
    let opportunity = message(&breach(SlaSubject::Opportunity("006ABC".into())), None, &terms()).unwrap();
    assert_eq!(opportunity.link.unwrap().1, "https://crm.example.com/opportunities/006ABC");
}

#[test]
fn a_rejected_referral_goes_to_the_partner_contact_by_email_only() {
    let now = at("2026-11-22T00:00:00Z");
    let event = DomainEvent::new(
        EventId::generate(now, Entropy(1)),
        now,
        EventPayload::ReferralRejected(crate::event::ReferralRejected {
            referral_id: ReferralId::generate(now, Entropy(2)),
            partner_id: PartnerId::parse("acme").unwrap(),
            prospect_key: ProspectKey::from_stored("globex.com".into()),
            company_name: "Globex".into(),
            reason: RejectionReason::ExistingCustomer,
        }),
    );
    let sent = notifications(&event, Some(&partner(true, true)), &terms());
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].channel, sent[0].to.as_str()), (Channel::Email, "deals@acme.example"));
    assert!(sent[0].text.contains("existing customer"));
    // No contact: the manager hears of it; neither: nobody.
    assert_eq!(notifications(&event, Some(&partner(true, false)), &terms())[0].to, "pat@vendor.example");
    assert!(notifications(&event, Some(&partner(false, false)), &terms()).is_empty());
}

#[test]
fn export_ready_goes_to_finance() {
    let now = at("2026-12-01T02:00:00Z");
    let usd = Currency::parse("USD").unwrap();
    let event = DomainEvent::new(
        EventId::generate(now, Entropy(1)),
        now,
        EventPayload::PayoutExportReady(crate::event::PayoutExportReady {
            export_id: ExportId::generate(now, Entropy(3)),
            period: "2026-11".into(),
            partners: 2,
            lines: 5,
            totals: vec![Money::from_minor(123_450, usd)],
            carried_forward: 1,
            files: vec!["exports/payouts/2026-11/lines.csv".into()],
        }),
    );
    let sent = notifications(&event, None, &terms());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "finance@example.com");
    assert!(sent[0].text.contains("1234.50 USD"), "{}", sent[0].text);
}

#[test]
fn spans_read_as_people_write_them() {
    assert_eq!(span(30), "30 s");
    assert_eq!(span(45 * 60), "45 m");
    assert_eq!(span(3600), "1 h");
    assert_eq!(span(3900), "1 h 5 m");
    assert_eq!(span(-(2 * 86_400 + 3 * 3600 + 59)), "2 d 3 h");
    assert_eq!(span(i64::MIN), "106751991167300 d 15 h");
}
