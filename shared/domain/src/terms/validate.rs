//! From the file's shape to `ProgramTerms`: every value checked, and every
//! error naming its key.

use super::raw::RawTerms;
use crate::money::{Currency, parse_minor_units};
use crate::partner::{Motion, PartnerId, Tier};
use crate::terms::{
    AttributionRole, Audience, AutoApprove, NOTIFIED_EVENTS, NotificationTerms, PayoutOverride, PayoutRate,
    PayoutTerms, PortalTerms, ProgramSection, ProgramTerms, RegistrationTerms, SlaSection, SlaWindows, SlackMode,
    SlackTerms, TermsError, default_routing,
};
use std::collections::BTreeMap;

/// An origin a browser would send: scheme, host and optional port, nothing
/// else (a path, a wildcard or a quote would change the CSP's meaning).
fn origin(key: &str, raw: &str) -> Result<String, TermsError> {
    let rest = raw.strip_prefix("https://").or_else(|| raw.strip_prefix("http://"));
    let ok = rest.is_some_and(|host| {
        !host.is_empty()
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    });
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(TermsError::new(key, format!("`{raw}` must be an origin such as https://partner.example.com")))
    }
}

fn slack_channel(key: &str, raw: &str) -> Result<String, TermsError> {
    let ok = raw.is_empty() || (raw.len() <= 32 && raw.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(TermsError::new(key, format!("`{raw}` must be a Slack channel id such as C0123456789")))
    }
}

impl ProgramTerms {
    /// Parses and validates a program terms document.
    pub fn from_toml(text: &str) -> Result<Self, TermsError> {
        let deserializer = toml::de::Deserializer::parse(text)
            .map_err(|e| TermsError::new("(file)", e.message().trim().to_owned()))?;
        let raw: RawTerms = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." { "(file)".to_owned() } else { path };
            TermsError::new(key, e.inner().message().trim().to_owned())
        })?;
        validate(raw)
    }
}

fn in_range(key: &str, value: u32, min: u32, max: u32) -> Result<u32, TermsError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(TermsError::new(key, format!("must be between {min} and {max}, got {value}")))
    }
}

fn tier(key: &str, raw: &str) -> Result<Tier, TermsError> {
    Tier::parse(raw).map_err(|m| TermsError::new(key, format!("`{raw}` {m}")))
}

fn money_map(
    key: &str,
    raw: &BTreeMap<String, String>,
    allow_zero: bool,
) -> Result<BTreeMap<Currency, i64>, TermsError> {
    let mut out = BTreeMap::new();
    for (code, amount) in raw {
        let entry = format!("{key}.{code}");
        let currency = Currency::parse(code).map_err(|e| TermsError::new(&entry, e.to_string()))?;
        let minor =
            parse_minor_units(amount, currency.minor_digits()).map_err(|e| TermsError::new(&entry, e.to_string()))?;
        if minor == 0 && !allow_zero {
            return Err(TermsError::new(&entry, "must be greater than 0"));
        }
        out.insert(currency, minor);
    }
    Ok(out)
}

fn email_list(key: &str, raw: Vec<String>) -> Result<Vec<String>, TermsError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, e)| crate::partner::parse_email(&e).map_err(|m| TermsError::new(format!("{key}[{i}]"), m)))
        .collect()
}

fn rate(
    key: &str,
    motion: &str,
    role: &str,
    rate_bps: u32,
    flat: &BTreeMap<String, String>,
    cap: &BTreeMap<String, String>,
) -> Result<PayoutRate, TermsError> {
    let motion = Motion::parse(motion).map_err(|m| TermsError::new(format!("{key}.motion"), m))?;
    let role = match role {
        "sourced" => AttributionRole::Sourced,
        "influenced" => AttributionRole::Influenced,
        _ => {
            return Err(TermsError::new(format!("{key}.role"), "must be sourced or influenced"));
        }
    };
    Ok(PayoutRate {
        motion,
        role,
        rate_bps: in_range(&format!("{key}.rate_bps"), rate_bps, 0, 10_000)?,
        flat: money_map(&format!("{key}.flat"), flat, true)?,
        cap: money_map(&format!("{key}.cap"), cap, false)?,
    })
}

fn validate(raw: RawTerms) -> Result<ProgramTerms, TermsError> {
    let program = ProgramSection {
        require_certification: raw.program.require_certification,
        referral_dedupe_days: in_range("program.referral_dedupe_days", raw.program.referral_dedupe_days, 1, 3650)?,
    };
    let w = raw.sla.windows_hours;
    let max_window = 24 * 365;
    let windows = SlaWindows {
        opportunity_creation: in_range(
            "sla.windows_hours.opportunity_creation",
            w.opportunity_creation,
            1,
            max_window,
        )?,
        registration_decision: in_range(
            "sla.windows_hours.registration_decision",
            w.registration_decision,
            1,
            max_window,
        )?,
        notes_update: in_range("sla.windows_hours.notes_update", w.notes_update, 1, max_window)?,
        partner_follow_up: in_range("sla.windows_hours.partner_follow_up", w.partner_follow_up, 1, max_window)?,
    };

    let r = raw.registration;
    let mut tier_protection_days = BTreeMap::new();
    for (name, days) in &r.tier_protection_days {
        let key = format!("registration.tier_protection_days.{name}");
        tier_protection_days.insert(tier(&key, name)?, in_range(&key, *days, 1, 365)?);
    }
    let auto_tiers = r
        .auto_approve
        .tiers
        .iter()
        .enumerate()
        .map(|(i, t)| tier(&format!("registration.auto_approve.tiers[{i}]"), t))
        .collect::<Result<Vec<_>, _>>()?;
    let registration = RegistrationTerms {
        protection_days: in_range("registration.protection_days", r.protection_days, 1, 365)?,
        expiring_notice_days: in_range("registration.expiring_notice_days", r.expiring_notice_days, 0, 365)?,
        tier_protection_days,
        auto_approve: AutoApprove {
            tiers: auto_tiers,
            max_value: money_map("registration.auto_approve.max_value", &r.auto_approve.max_value, false)?,
        },
    };

    let n = raw.notifications;
    if !n.crm_url_template.starts_with("https://") && !n.crm_url_template.starts_with("http://") {
        return Err(TermsError::new("notifications.crm_url_template", "must be an http(s) URL"));
    }
    let notifications = NotificationTerms {
        crm_url_template: n.crm_url_template,
        channel_manager_emails: email_list("notifications.channel_manager_emails", n.channel_manager_emails)?,
        escalation_emails: email_list("notifications.escalation_emails", n.escalation_emails)?,
        finance_emails: email_list("notifications.finance_emails", n.finance_emails)?,
        from_email: crate::partner::parse_email(&n.from_email)
            .map_err(|m| TermsError::new("notifications.from_email", m))?,
        routing: routing(n.routing)?,
    };

    let p = raw.payouts;
    // A tier the file leaves out keeps its default multiplier.
    let mut tier_multiplier_bps = BTreeMap::from([
        (Tier::Registered, 10_000),
        (Tier::Silver, 10_000),
        (Tier::Gold, 11_000),
        (Tier::Platinum, 12_500),
    ]);
    for (name, bps) in &p.tier_multiplier_bps {
        let key = format!("payouts.tier_multiplier_bps.{name}");
        tier_multiplier_bps.insert(tier(&key, name)?, in_range(&key, *bps, 0, 100_000)?);
    }
    let mut rates: Vec<PayoutRate> = Vec::new();
    for (i, raw_rate) in p.rates.iter().enumerate() {
        let key = format!("payouts.rates[{i}]");
        let parsed = rate(&key, &raw_rate.motion, &raw_rate.role, raw_rate.rate_bps, &raw_rate.flat, &raw_rate.cap)?;
        if rates.iter().any(|r| r.motion == parsed.motion && r.role == parsed.role) {
            return Err(TermsError::new(key, "repeats a (motion, role) pair given earlier"));
        }
        rates.push(parsed);
    }
    let mut overrides: Vec<PayoutOverride> = Vec::new();
    for (i, o) in p.overrides.iter().enumerate() {
        let key = format!("payouts.overrides[{i}]");
        let partner_id =
            PartnerId::parse(&o.partner_id).map_err(|m| TermsError::new(format!("{key}.partner_id"), m))?;
        let parsed = rate(&key, &o.motion, &o.role, o.rate_bps, &o.flat, &o.cap)?;
        if overrides
            .iter()
            .any(|x| x.partner_id == partner_id && x.rate.motion == parsed.motion && x.rate.role == parsed.role)
        {
            return Err(TermsError::new(key, "repeats a (partner_id, motion, role) given earlier"));
        }
        overrides.push(PayoutOverride { partner_id, rate: parsed });
    }
    let payouts = PayoutTerms {
        clawback_days: in_range("payouts.clawback_days", p.clawback_days, 0, 3650)?,
        hold_days: in_range("payouts.hold_days", p.hold_days, 0, 3650)?,
        minimum_payout: money_map("payouts.minimum_payout", &p.minimum_payout, true)?,
        tier_multiplier_bps,
        rates,
        overrides,
    };

    let portal = PortalTerms {
        frame_ancestors: raw
            .portal
            .frame_ancestors
            .iter()
            .enumerate()
            .map(|(i, o)| origin(&format!("portal.frame_ancestors[{i}]"), o))
            .collect::<Result<_, _>>()?,
    };
    let mode = match raw.slack.mode.as_str() {
        "webhook" => SlackMode::Webhook,
        "app" => SlackMode::App,
        other => return Err(TermsError::new("slack.mode", format!("`{other}` must be webhook or app"))),
    };
    let slack = SlackTerms {
        mode,
        alerts_channel: slack_channel("slack.alerts_channel", &raw.slack.alerts_channel)?,
        decisions_channel: slack_channel("slack.decisions_channel", &raw.slack.decisions_channel)?,
    };
    if mode == SlackMode::App {
        for (key, value) in
            [("slack.alerts_channel", &slack.alerts_channel), ("slack.decisions_channel", &slack.decisions_channel)]
        {
            if value.is_empty() {
                return Err(TermsError::new(key, "is required when slack.mode is app"));
            }
        }
    }

    Ok(ProgramTerms {
        program,
        sla: SlaSection { windows_hours: windows },
        registration,
        notifications,
        portal,
        slack,
        payouts,
    })
}

/// The default routing with the file's entries replacing whole events.
pub(crate) fn routing(given: BTreeMap<String, Vec<String>>) -> Result<BTreeMap<String, Vec<Audience>>, TermsError> {
    let mut merged = default_routing();
    for (event, audiences) in given {
        if !NOTIFIED_EVENTS.contains(&event.as_str()) {
            return Err(TermsError::new(
                format!("notifications.routing.{event}"),
                format!("is not a notified event (one of {})", NOTIFIED_EVENTS.join(", ")),
            ));
        }
        merged.insert(event, audiences);
    }
    merged
        .into_iter()
        .map(|(event, audiences)| {
            let mut parsed: Vec<Audience> = Vec::new();
            for (i, name) in audiences.iter().enumerate() {
                let audience = Audience::parse(name).ok_or_else(|| {
                    TermsError::new(
                        format!("notifications.routing.{event}[{i}]"),
                        "must be one of slack, partner_manager, escalation, channel_managers, partner_contact, finance",
                    )
                })?;
                if !parsed.contains(&audience) {
                    parsed.push(audience);
                }
            }
            Ok((event, parsed))
        })
        .collect()
}
