//! Notifications: who hears of an event (the routing in the program terms)
//! and what they read (a Slack Block Kit message, an email with a text and an
//! HTML part). Everything here is a pure function of the event, the partner
//! it concerns and the terms; sending is the notifier's business.

use crate::Timestamp;
use crate::event::{DomainEvent, EventPayload, SlaSignalled};
use crate::partner::{Partner, PartnerId};
use crate::sla::{SlaKind, SlaSubject};
use crate::terms::{Audience, ProgramTerms};
use serde_json::{Value, json};
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Slack,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Slack => "slack",
            Channel::Email => "email",
        }
    }
}

/// What a Slack notification's `to` is: the webhook decides the channel.
pub const SLACK_RECIPIENT: &str = "slack";

/// One message to one recipient on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub event_id: String,
    pub channel: Channel,
    /// An email address, or [`SLACK_RECIPIENT`].
    pub to: String,
    pub subject: String,
    /// The email's text part; Slack's notification fallback text.
    pub text: String,
    /// The email's HTML part (empty for Slack).
    pub html: String,
    /// The Block Kit payload posted to the webhook (`Null` for email).
    pub slack: Value,
}

impl Notification {
    /// The (event, channel, recipient) a notification is sent at most once for.
    pub fn delivery_key(&self) -> String {
        format!("{}#{}", self.channel.as_str(), self.to.to_ascii_lowercase())
    }
}

/// The partner an event concerns, whose record the routing may need.
pub fn partner_of(event: &DomainEvent) -> Option<&PartnerId> {
    match &event.payload {
        EventPayload::SlaDueSoon(s) | EventPayload::SlaBreached(s) | EventPayload::SlaEscalated(s) => {
            Some(&s.partner_id)
        }
        EventPayload::DealRegistrationSubmitted(p) => Some(&p.partner_id),
        EventPayload::DealRegistrationDecided(p) => Some(&p.partner_id),
        EventPayload::DealRegistrationWithdrawn(p) => Some(&p.partner_id),
        EventPayload::ReferralRejected(p) => Some(&p.partner_id),
        EventPayload::ReferralReceived(p) => Some(&p.partner_id),
        EventPayload::OpportunityLinked(p) => Some(&p.partner_id),
        EventPayload::DealRegistrationExpiring(p) | EventPayload::DealRegistrationExpired(p) => Some(&p.partner_id),
        EventPayload::DealLost(p) => Some(&p.partner_id),
        EventPayload::OpportunityUpdated(p) => Some(&p.partner_id),
        EventPayload::DealClosed(_)
        | EventPayload::DealRefunded(_)
        | EventPayload::PayoutLinesCreated(_)
        | EventPayload::PayoutExportReady(_) => None,
    }
}

/// A message before it is addressed: a headline, labelled facts and a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub headline: String,
    pub facts: Vec<(&'static str, String)>,
    pub link: Option<(String, String)>,
    /// Slack user to mention (the partner's manager).
    pub mention: Option<String>,
}

/// Every notification `event` produces under the terms' routing, one per
/// (channel, recipient), recipients deduplicated case-insensitively.
pub fn notifications(event: &DomainEvent, partner: Option<&Partner>, terms: &ProgramTerms) -> Vec<Notification> {
    let routing = &terms.notifications;
    let Some(audiences) = routing.routing.get(event.detail_type()) else { return Vec::new() };
    let Some(message) = message(event, partner, terms) else { return Vec::new() };
    let mut recipients: Vec<(Channel, String)> = Vec::new();
    let mut add = |channel: Channel, to: &str| {
        if !recipients.iter().any(|(c, t)| *c == channel && t.eq_ignore_ascii_case(to)) {
            recipients.push((channel, to.to_owned()));
        }
    };
    let manager = partner.and_then(|p| p.manager.as_ref()).map(|m| m.email.as_str());
    for audience in audiences {
        match audience {
            Audience::Slack => add(Channel::Slack, SLACK_RECIPIENT),
            Audience::PartnerManager => match manager {
                Some(email) => add(Channel::Email, email),
                None => routing.escalation_emails.iter().for_each(|e| add(Channel::Email, e)),
            },
            Audience::Escalation => routing.escalation_emails.iter().for_each(|e| add(Channel::Email, e)),
            Audience::ChannelManagers => routing.channel_manager_emails.iter().for_each(|e| add(Channel::Email, e)),
            Audience::PartnerContact => {
                if let Some(email) = partner.and_then(|p| p.contact_email.as_deref()).or(manager) {
                    add(Channel::Email, email);
                }
            }
            Audience::Finance => routing.finance_emails.iter().for_each(|e| add(Channel::Email, e)),
        }
    }
    let slack = recipients.iter().any(|(c, _)| *c == Channel::Slack).then(|| slack_payload(&message));
    let html = recipients.iter().any(|(c, _)| *c == Channel::Email).then(|| email_html(&message));
    let text = email_text(&message);
    recipients
        .into_iter()
        .map(|(channel, to)| Notification {
            event_id: event.event_id.to_string(),
            channel,
            to,
            subject: message.headline.clone(),
            text: text.clone(),
            html: if channel == Channel::Email { html.clone().unwrap_or_default() } else { String::new() },
            slack: if channel == Channel::Slack { slack.clone().unwrap_or(Value::Null) } else { Value::Null },
        })
        .collect()
}

fn partner_label(id: &PartnerId, partner: Option<&Partner>) -> String {
    match partner {
        Some(p) => format!("{} ({})", p.name, p.id),
        None => id.to_string(),
    }
}

fn company_label(name: &str, key: &str) -> String {
    if name.is_empty() || name.eq_ignore_ascii_case(key) { key.to_owned() } else { format!("{name} ({key})") }
}

/// `2026-11-23 10:00 UTC`
pub fn when(at: Timestamp) -> String {
    at.as_datetime().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `2 d 3 h`, `1 h 5 m`, `45 m`, `30 s`: the two largest units.
pub fn span(seconds: i64) -> String {
    let s = seconds.unsigned_abs();
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} m"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} m"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

fn what_slipped(kind: SlaKind) -> &'static str {
    match kind {
        SlaKind::OpportunityCreation => "create the CRM opportunity for a referral",
        SlaKind::RegistrationDecision => "decide a deal registration",
        SlaKind::NotesUpdate => "update the opportunity's notes",
        SlaKind::PartnerFollowUp => "follow up with the partner after a meeting",
    }
}

fn subject_label(subject: &SlaSubject) -> (&'static str, &str) {
    match subject {
        SlaSubject::Referral(id) => ("Referral", id),
        SlaSubject::DealRegistration(id) => ("Deal registration", id),
        SlaSubject::Opportunity(id) => ("Opportunity", id),
    }
}

/// The terms' CRM link with the event's values; none when the template
/// needs a value the event lacks (a referral has no opportunity yet).
fn crm_link(template: &str, values: &[(&str, &str)]) -> Option<(String, String)> {
    let mut url = template.to_owned();
    for (name, value) in values {
        url = url.replace(&format!("{{{name}}}"), value);
    }
    (!url.contains('{')).then(|| ("Open in CRM".to_owned(), url))
}

fn sla_message(verb: &str, s: &SlaSignalled, partner: Option<&Partner>, template: &str) -> Message {
    let (subject_kind, subject_id) = subject_label(&s.subject);
    let prospect = company_label(&s.prospect_name, s.prospect_key.as_str());
    let mut facts = vec![
        ("What slipped", what_slipped(s.kind).to_owned()),
        ("Partner", partner_label(&s.partner_id, partner)),
        ("Prospect", prospect.clone()),
        ("Due", when(s.due_at)),
    ];
    if s.overdue_seconds > 0 {
        facts.push(("Overdue by", span(s.overdue_seconds)));
    } else {
        facts.push(("Due in", span(s.overdue_seconds)));
    }
    facts.push(("Window", format!("{} h", s.window_hours)));
    facts.push((subject_kind, subject_id.to_owned()));
    let opportunity = match &s.subject {
        SlaSubject::Opportunity(id) => Some(id.as_str()),
        _ => None,
    };
    let mut values = vec![("subject_id", subject_id), ("partner_id", s.partner_id.as_str())];
    values.push(("prospect_key", s.prospect_key.as_str()));
    if let Some(id) = opportunity {
        values.push(("opportunity_id", id));
    }
    Message {
        headline: format!("{verb}: {} for {prospect}", capitalised(what_slipped(s.kind))),
        facts,
        link: crm_link(template, &values),
        mention: partner.and_then(|p| p.manager.as_ref()).and_then(|m| m.slack_user_id.clone()),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The message `event` carries, or `None` for events nobody is told of.
pub fn message(event: &DomainEvent, partner: Option<&Partner>, terms: &ProgramTerms) -> Option<Message> {
    let template = terms.notifications.crm_url_template.as_str();
    Some(match &event.payload {
        EventPayload::SlaDueSoon(s) => sla_message("SLA due soon", s, partner, template),
        EventPayload::SlaBreached(s) => sla_message("SLA breached", s, partner, template),
        EventPayload::SlaEscalated(s) => sla_message("SLA escalated, still overdue", s, partner, template),
        EventPayload::DealRegistrationSubmitted(r) => {
            let customer = company_label(&r.customer_name, r.customer_key.as_str());
            let window = terms.sla.windows_hours.registration_decision;
            Message {
                headline: format!("Deal registration to decide: {customer}"),
                facts: vec![
                    ("Partner", partner_label(&r.partner_id, partner)),
                    ("Customer", customer),
                    ("Motion", r.motion.as_str().to_owned()),
                    (
                        "Estimated value",
                        format!("{} {}", r.estimated_value.amount_string(), r.estimated_value.currency()),
                    ),
                    ("Status", r.status.as_str().to_owned()),
                    ("Decide by", when(event.occurred_at.plus(chrono::Duration::hours(i64::from(window))))),
                    ("Deal registration", r.registration_id.to_string()),
                ],
                link: None,
                mention: None,
            }
        }
        EventPayload::DealRegistrationDecided(r) => {
            let customer = company_label(&r.customer_name, r.customer_key.as_str());
            let mut facts = vec![
                ("Partner", partner_label(&r.partner_id, partner)),
                ("Customer", customer.clone()),
                ("Decision", r.status.as_str().to_owned()),
            ];
            if let Some(reason) = &r.reason {
                facts.push(("Reason", reason.clone()));
            }
            if let Some(until) = r.protected_until {
                facts.push(("Protected until", when(until)));
            }
            facts.push(("Deal registration", r.registration_id.to_string()));
            Message {
                headline: format!("Your deal registration for {customer} is {}", r.status.as_str()),
                facts,
                link: None,
                mention: None,
            }
        }
        EventPayload::ReferralRejected(r) => {
            let prospect = company_label(&r.company_name, r.prospect_key.as_str());
            Message {
                headline: format!("Your referral of {prospect} was not accepted"),
                facts: vec![
                    ("Partner", partner_label(&r.partner_id, partner)),
                    ("Prospect", prospect),
                    ("Reason", r.reason.code().replace('_', " ")),
                    ("Referral", r.referral_id.to_string()),
                ],
                link: None,
                mention: None,
            }
        }
        EventPayload::PayoutExportReady(x) => {
            let totals: Vec<String> =
                x.totals.iter().map(|m| format!("{} {}", m.amount_string(), m.currency())).collect();
            Message {
                headline: format!("Partner payouts for {} are ready", x.period),
                facts: vec![
                    ("Period", x.period.clone()),
                    ("Partners paid", x.partners.to_string()),
                    ("Lines", x.lines.to_string()),
                    ("Totals", if totals.is_empty() { "nothing to pay".into() } else { totals.join(", ") }),
                    ("Carried forward", format!("{} partner/currency groups", x.carried_forward)),
                    ("Files", x.files.join(", ")),
                    ("Export", x.export_id.to_string()),
                ],
                link: None,
                mention: None,
            }
        }
        _ => return None,
    })
}

/// Slack's mrkdwn control characters.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn slack_payload(message: &Message) -> Value {
    let fields: Vec<Value> = message
        .facts
        .iter()
        .map(|(label, value)| json!({ "type": "mrkdwn", "text": format!("*{label}*\n{}", slack_escape(value)) }))
        .collect();
    let mut blocks = vec![json!({
        "type": "header",
        "text": { "type": "plain_text", "text": truncate(&message.headline, 150), "emoji": false }
    })];
    // A section holds at most 10 fields.
    for chunk in fields.chunks(10) {
        blocks.push(json!({ "type": "section", "fields": chunk }));
    }
    if let Some(user) = &message.mention {
        blocks.push(json!({
            "type": "context",
            "elements": [{ "type": "mrkdwn", "text": format!("Partner manager: <@{}>", slack_escape(user)) }]
        }));
    }
    if let Some((label, url)) = &message.link {
        blocks.push(json!({
            "type": "actions",
            "elements": [{ "type": "button", "text": { "type": "plain_text", "text": label }, "url": url }]
        }));
    }
    let summary: Vec<String> = message.facts.iter().take(4).map(|(l, v)| format!("{l}: {v}")).collect();
    json!({ "text": slack_escape(&format!("{} ({})", message.headline, summary.join("; "))), "blocks": blocks })
}

fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn email_text(message: &Message) -> String {
    let mut out = format!("{}\n\n", message.headline);
    for (label, value) in &message.facts {
        let _ = writeln!(out, "{label}: {value}");
    }
    if let Some((label, url)) = &message.link {
        let _ = write!(out, "\n{label}: {url}\n");
    }
    out.push_str("\n-- \npartnerops\n");
    out
}

pub fn email_html(message: &Message) -> String {
    use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
    let mut out = String::with_capacity(1024);
    out.push_str("<!DOCTYPE html><html><body style=\"font-family:sans-serif\">");
    let _ = write!(out, "<h2>{}</h2><table cellpadding=\"4\">", text(&message.headline));
    for (label, value) in &message.facts {
        let _ = write!(out, "<tr><th align=\"left\">{}</th><td>{}</td></tr>", text(label), text(value));
    }
    out.push_str("</table>");
    if let Some((label, url)) = &message.link {
        let _ = write!(out, "<p><a href=\"{}\">{}</a></p>", attr(url), text(label));
    }
    out.push_str("<p style=\"color:#888\">partnerops</p></body></html>");
    out
}

#[cfg(test)]
mod tests;
