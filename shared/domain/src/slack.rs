//! Decisions from Slack (SPEC §17): the signature every request from Slack
//! carries, the interaction payloads Slack posts, and the Block Kit the
//! decisions channel shows. Pure: the HTTP calls are the adapters' business.

use crate::Timestamp;
use crate::event::DealRegistrationSubmitted;
use crate::registration::{Registration, RegistrationStatus};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// How far a request's timestamp may be from now, either way.
pub const SIGNATURE_WINDOW_SECONDS: i64 = 300;
pub const APPROVE_ACTION: &str = "registration_approve";
pub const REJECT_ACTION: &str = "registration_reject";
pub const REJECT_CALLBACK: &str = "registration_reject";
pub const REASON_BLOCK: &str = "reason";
pub const REASON_ACTION: &str = "reason";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no valid X-Slack-Request-Timestamp")]
    NoTimestamp,
    #[error("the request's timestamp is more than 300 s from now")]
    Stale,
    #[error("the request's X-Slack-Signature does not match")]
    Mismatch,
}

/// The HMAC over `v0:<timestamp>:<body>`; `None` never happens in practice
/// (HMAC takes a key of any length) but keeps this total.
fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    Some(mac)
}

/// Slack's v0 signature of a request, as Slack sends it (`v0=<hex>`).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Some(mac) = mac(secret, timestamp, body) else { return String::new() };
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(67);
    out.push_str("v0=");
    for byte in digest {
        out.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    out
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Checks a request from Slack before anything else reads it: the timestamp
/// within 300 s of `now`, then the HMAC compared in constant time.
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: Timestamp,
) -> Result<(), SignatureError> {
    let sent: i64 = timestamp.trim().parse().map_err(|_| SignatureError::NoTimestamp)?;
    if now.unix_seconds().abs_diff(sent) > SIGNATURE_WINDOW_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = signature.strip_prefix("v0=").and_then(unhex).ok_or(SignatureError::Mismatch)?;
    let mac = mac(secret, timestamp, body).ok_or(SignatureError::Mismatch)?;
    mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
}

/// Where a message is in Slack, kept with its registration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MessageRef {
    pub channel: String,
    pub ts: String,
}

/// What a click or a modal submission asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interaction {
    Approve {
        user: String,
        registration_id: String,
        response_url: String,
        message: Option<MessageRef>,
    },
    /// Open the reason modal.
    Reject {
        user: String,
        registration_id: String,
        response_url: String,
        trigger_id: String,
    },
    /// The reason modal was submitted; `reason` as typed, maybe blank.
    RejectSubmitted {
        user: String,
        registration_id: String,
        reason: String,
    },
    /// Anything else Slack sends (other actions, closed modals): answered 200, ignored.
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the interaction payload is not what Slack sends: {0}")]
pub struct PayloadError(&'static str);

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, key| v.get(key))?.as_str()
}

/// Reads the `payload` field of an interaction request.
pub fn parse_interaction(payload: &str) -> Result<Interaction, PayloadError> {
    let value: Value = serde_json::from_str(payload).map_err(|_| PayloadError("not JSON"))?;
    let user = text(&value, &["user", "id"]).ok_or(PayloadError("no user.id"))?.to_owned();
    match text(&value, &["type"]) {
        Some("block_actions") => {
            let Some(action) = value.get("actions").and_then(|a| a.get(0)) else { return Ok(Interaction::Ignored) };
            let registration_id = text(action, &["value"]).unwrap_or("").to_owned();
            let response_url = text(&value, &["response_url"]).unwrap_or("").to_owned();
            match text(action, &["action_id"]) {
                Some(APPROVE_ACTION) => {
                    let message = match (
                        text(&value, &["container", "channel_id"]),
                        text(&value, &["container", "message_ts"]),
                    ) {
                        (Some(channel), Some(ts)) => {
                            Some(MessageRef { channel: channel.to_owned(), ts: ts.to_owned() })
                        }
                        _ => None,
                    };
                    Ok(Interaction::Approve { user, registration_id, response_url, message })
                }
                Some(REJECT_ACTION) => {
                    let trigger_id = text(&value, &["trigger_id"]).ok_or(PayloadError("no trigger_id"))?.to_owned();
                    Ok(Interaction::Reject { user, registration_id, response_url, trigger_id })
                }
                _ => Ok(Interaction::Ignored),
            }
        }
        Some("view_submission") if text(&value, &["view", "callback_id"]) == Some(REJECT_CALLBACK) => {
            let registration_id = text(&value, &["view", "private_metadata"]).unwrap_or("").to_owned();
            let reason = text(&value, &["view", "state", "values", REASON_BLOCK, REASON_ACTION, "value"])
                .unwrap_or("")
                .to_owned();
            Ok(Interaction::RejectSubmitted { user, registration_id, reason })
        }
        Some(_) => Ok(Interaction::Ignored),
        None => Err(PayloadError("no type")),
    }
}

/// Slack's mrkdwn control characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn plain(text: &str) -> Value {
    let mut t: String = text.chars().take(150).collect();
    if t.is_empty() {
        t.push(' ');
    }
    json!({ "type": "plain_text", "text": t, "emoji": false })
}

fn field(label: &str, value: &str) -> Value {
    json!({ "type": "mrkdwn", "text": format!("*{label}*\n{}", escape(value)) })
}

/// The decisions channel's message for a new registration, with the two
/// buttons.
pub fn decision_request(submitted: &DealRegistrationSubmitted, partner_name: &str) -> Value {
    let id = submitted.registration_id.as_str();
    let headline = format!("Deal registration to decide: {}", submitted.customer_name);
    json!({
        "text": escape(&format!("{headline} ({partner_name}, {} {})", submitted.estimated_value.amount_string(), submitted.estimated_value.currency())),
        "blocks": [
            { "type": "header", "text": plain(&headline) },
            { "type": "section", "fields": [
                field("Customer", &submitted.customer_name),
                field("Partner", partner_name),
                field("Motion", submitted.motion.as_str()),
                field("Estimated value", &format!("{} {}", submitted.estimated_value.amount_string(), submitted.estimated_value.currency())),
                field("Registration", id),
            ] },
            { "type": "actions", "block_id": "decision", "elements": [
                { "type": "button", "action_id": APPROVE_ACTION, "value": id, "style": "primary", "text": plain("Approve") },
                { "type": "button", "action_id": REJECT_ACTION, "value": id, "style": "danger", "text": plain("Reject") },
            ] },
        ],
    })
}

fn state_headline(status: RegistrationStatus) -> &'static str {
    match status {
        RegistrationStatus::Pending => "Deal registration waiting for a decision",
        RegistrationStatus::Approved => "Deal registration approved",
        RegistrationStatus::Rejected => "Deal registration rejected",
        RegistrationStatus::Withdrawn => "Deal registration withdrawn",
        RegistrationStatus::Expired => "Deal registration expired",
        RegistrationStatus::Won => "Registered deal won",
        RegistrationStatus::Lost => "Registered deal lost",
    }
}

/// Who decided, as a message names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decider {
    /// A Slack member id, shown as a mention.
    Slack(String),
    /// A name (or `system`), shown as text.
    Named(String),
}

/// The message once the registration left `pending`, or as it stands: who
/// decided, when, until when it is protected, why; no buttons, so the channel
/// never offers a decision that can no longer be made.
pub fn decision_state(registration: &Registration, partner_name: &str, decider: Option<&Decider>) -> Value {
    let headline = format!("{}: {}", state_headline(registration.status), registration.customer.name);
    let mut fields = vec![
        field("Customer", &registration.customer.name),
        field("Partner", partner_name),
        field("Status", registration.status.as_str()),
        field(
            "Estimated value",
            &format!("{} {}", registration.estimated_value.amount_string(), registration.estimated_value.currency()),
        ),
    ];
    if let Some(at) = registration.decided_at {
        fields.push(field("Decided at", &at.to_rfc3339()));
    }
    if let Some(until) = registration.protected_until {
        fields.push(field("Protected until", &until.to_rfc3339()));
    }
    if let Some(reason) = &registration.reason {
        fields.push(field("Reason", reason));
    }
    let mut blocks =
        vec![json!({ "type": "header", "text": plain(&headline) }), json!({ "type": "section", "fields": fields })];
    let by = match decider {
        Some(Decider::Slack(member)) if member.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            Some(format!("Decided by <@{member}>"))
        }
        Some(Decider::Slack(name) | Decider::Named(name)) => Some(format!("Decided by {}", escape(name))),
        None => registration.decided_by.as_ref().map(|d| format!("Decided by {}", escape(d))),
    };
    if let Some(by) = by.filter(|_| registration.status != RegistrationStatus::Pending) {
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": by }] }));
    }
    json!({ "text": escape(&headline), "blocks": blocks })
}

/// The modal asking why a registration is rejected.
pub fn reject_modal(registration_id: &str, customer_name: &str) -> Value {
    json!({
        "type": "modal",
        "callback_id": REJECT_CALLBACK,
        "private_metadata": registration_id,
        "title": plain("Reject registration"),
        "submit": plain("Reject"),
        "close": plain("Cancel"),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": format!("Why is the registration for *{}* rejected? The partner reads this.", escape(customer_name)) } },
            { "type": "input", "block_id": REASON_BLOCK, "label": plain("Reason"),
              "element": { "type": "plain_text_input", "action_id": REASON_ACTION, "multiline": true, "max_length": 1000 } },
        ],
    })
}

/// The modal's answer when the reason is blank.
pub fn reason_required() -> Value {
    json!({ "response_action": "errors", "errors": { REASON_BLOCK: "Give the reason the partner will read." } })
}

/// A note only the clicker sees, through the payload's `response_url`.
pub fn ephemeral(text: &str) -> Value {
    json!({ "response_type": "ephemeral", "replace_original": false, "text": text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000).unwrap()
    }

    #[test]
    fn slack_s_documented_example_verifies() {
        // The worked example of Slack's "Verifying requests from Slack" guide.
        let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
        let ts = "1531420618";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(secret, ts, body), expected);
        let at = Timestamp::from_unix_millis(1_531_420_618_000).unwrap();
        assert_eq!(verify_signature(secret, ts, body, expected, at), Ok(()));
    }

    #[test]
    fn the_window_is_300_seconds_either_way() {
        let secret = b"s";
        let t = now().unix_seconds();
        for (offset, ok) in [(-300, true), (300, true), (-301, false), (301, false)] {
            let ts = (t + offset).to_string();
            let sig = sign(secret, &ts, b"x");
            assert_eq!(verify_signature(secret, &ts, b"x", &sig, now()).is_ok(), ok, "{offset}");
        }
        assert_eq!(verify_signature(secret, "soon", b"x", "v0=00", now()), Err(SignatureError::NoTimestamp));
        let ts = t.to_string();
        assert_eq!(verify_signature(secret, &ts, b"x", "v1=abc", now()), Err(SignatureError::Mismatch));
        assert_eq!(
            verify_signature(secret, &ts, b"x", &sign(b"other", &ts, b"x"), now()),
            Err(SignatureError::Mismatch)
        );
    }

    proptest! {
        #[test]
        fn any_change_to_the_body_breaks_the_signature(body in proptest::collection::vec(any::<u8>(), 1..200), flip in 0usize..200) {
            let ts = now().unix_seconds().to_string();
            let sig = sign(b"secret", &ts, &body);
            prop_assert!(verify_signature(b"secret", &ts, &body, &sig, now()).is_ok());
            let mut tampered = body.clone();
            let i = flip % tampered.len();
            tampered[i] ^= 1;
            prop_assert_eq!(verify_signature(b"secret", &ts, &tampered, &sig, now()), Err(SignatureError::Mismatch));
        }

        #[test]
        fn parsing_never_panics(payload in ".{0,300}") {
            let _ = parse_interaction(&payload);
        }
    }

    #[test]
    fn interactions_are_read_from_slack_s_shapes() {
        let approve = json!({ "type": "block_actions", "user": { "id": "U1" }, "trigger_id": "t",
            "response_url": "https://hooks.slack.com/actions/1", "container": { "channel_id": "C1", "message_ts": "1.2" },
            "actions": [{ "action_id": APPROVE_ACTION, "value": "reg_x" }] });
        assert_eq!(
            parse_interaction(&approve.to_string()).unwrap(),
            Interaction::Approve {
                user: "U1".into(),
                registration_id: "reg_x".into(),
                response_url: "https://hooks.slack.com/actions/1".into(),
                message: Some(MessageRef { channel: "C1".into(), ts: "1.2".into() }),
            }
        );
        let submitted = json!({ "type": "view_submission", "user": { "id": "U1" }, "view": { "callback_id": REJECT_CALLBACK,
            "private_metadata": "reg_x", "state": { "values": { "reason": { "reason": { "type": "plain_text_input", "value": "late" } } } } } });
        assert_eq!(
            parse_interaction(&submitted.to_string()).unwrap(),
            Interaction::RejectSubmitted { user: "U1".into(), registration_id: "reg_x".into(), reason: "late".into() }
        );
        assert_eq!(parse_interaction(r#"{"type":"view_closed","user":{"id":"U1"}}"#).unwrap(), Interaction::Ignored);
        assert!(parse_interaction("{}").is_err());
    }
}
