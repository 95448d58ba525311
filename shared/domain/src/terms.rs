//! Program terms: the partner program's rules, read from one TOML file
//! (`infra/program.toml`) and validated before any function serves.
//!
//! Unknown keys, bad values and missing required keys are errors that name
//! the key (`payouts.rates[1].rate_bps`), so a bad file stops start-up with a
//! message an operator can act on.

use crate::money::{Currency, parse_minor_units};
use crate::partner::{Motion, PartnerId, Tier};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("program terms: `{key}`: {message}")]
pub struct TermsError {
    pub key: String,
    pub message: String,
}

impl TermsError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// A payout line's role in a deal's attribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributionRole {
    Sourced,
    Influenced,
}

impl AttributionRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AttributionRole::Sourced => "sourced",
            AttributionRole::Influenced => "influenced",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramTerms {
    pub program: ProgramSection,
    pub sla: SlaSection,
    pub registration: RegistrationTerms,
    pub notifications: NotificationTerms,
    pub portal: PortalTerms,
    pub slack: SlackTerms,
    pub payouts: PayoutTerms,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortalTerms {
    /// Origins allowed to frame the hosted referral form; none by default.
    pub frame_ancestors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    Webhook,
    App,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackTerms {
    pub mode: SlackMode,
    pub alerts_channel: String,
    pub decisions_channel: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSection {
    pub require_certification: bool,
    pub referral_dedupe_days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaSection {
    pub windows_hours: SlaWindows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaWindows {
    pub opportunity_creation: u32,
    pub registration_decision: u32,
    pub notes_update: u32,
    pub partner_follow_up: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationTerms {
    pub protection_days: u32,
    pub expiring_notice_days: u32,
    pub tier_protection_days: BTreeMap<Tier, u32>,
    pub auto_approve: AutoApprove,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoApprove {
    pub tiers: Vec<Tier>,
    /// Highest value approved without a person, per currency, in minor units.
    pub max_value: BTreeMap<Currency, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationTerms {
    pub crm_url_template: String,
    pub channel_manager_emails: Vec<String>,
    pub escalation_emails: Vec<String>,
    pub finance_emails: Vec<String>,
    pub from_email: String,
    /// Who hears of each notified event (`[notifications.routing]`).
    pub routing: BTreeMap<String, Vec<Audience>>,
}

/// The events notifications are sent for (SPEC §9).
pub const NOTIFIED_EVENTS: [&str; 7] = [
    "SlaDueSoon",
    "SlaBreached",
    "SlaEscalated",
    "DealRegistrationSubmitted",
    "DealRegistrationDecided",
    "ReferralRejected",
    "PayoutExportReady",
];

/// A recipient group a notified event can be routed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    /// The Slack incoming webhook's channel.
    Slack,
    /// The partner's manager; the escalation list when the partner has none.
    PartnerManager,
    Escalation,
    ChannelManagers,
    /// The partner's contact email; its manager when it has none.
    PartnerContact,
    Finance,
}

impl Audience {
    const ALL: [Audience; 6] = [
        Audience::Slack,
        Audience::PartnerManager,
        Audience::Escalation,
        Audience::ChannelManagers,
        Audience::PartnerContact,
        Audience::Finance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Slack => "slack",
            Audience::PartnerManager => "partner_manager",
            Audience::Escalation => "escalation",
            Audience::ChannelManagers => "channel_managers",
            Audience::PartnerContact => "partner_contact",
            Audience::Finance => "finance",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }
}

/// SPEC §9's routing: SLA signals to Slack and the partner's manager (the
/// escalation list hears of escalations), registrations submitted to Slack
/// and the channel managers, decisions and rejected referrals to the
/// partner, exports to finance.
fn default_routing() -> BTreeMap<String, Vec<String>> {
    let route = |event: &str, to: &[&str]| (event.to_owned(), to.iter().map(|s| (*s).to_owned()).collect());
    BTreeMap::from([
        route("SlaDueSoon", &["slack", "partner_manager"]),
        route("SlaBreached", &["slack", "partner_manager"]),
        route("SlaEscalated", &["slack", "partner_manager", "escalation"]),
        route("DealRegistrationSubmitted", &["slack", "channel_managers"]),
        route("DealRegistrationDecided", &["partner_contact"]),
        route("ReferralRejected", &["partner_contact"]),
        route("PayoutExportReady", &["finance"]),
    ])
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutTerms {
    pub clawback_days: u32,
    pub hold_days: u32,
    pub minimum_payout: BTreeMap<Currency, i64>,
    pub tier_multiplier_bps: BTreeMap<Tier, u32>,
    pub rates: Vec<PayoutRate>,
    pub overrides: Vec<PayoutOverride>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRate {
    pub motion: Motion,
    pub role: AttributionRole,
    pub rate_bps: u32,
    pub flat: BTreeMap<Currency, i64>,
    pub cap: BTreeMap<Currency, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutOverride {
    pub partner_id: PartnerId,
    pub rate: PayoutRate,
}

// The file's shape. Every table denies unknown keys; defaults are the values
// documented in SPEC §14.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTerms {
    #[serde(default)]
    program: RawProgram,
    #[serde(default)]
    sla: RawSla,
    #[serde(default)]
    registration: RawRegistration,
    #[serde(default)]
    notifications: RawNotifications,
    #[serde(default)]
    portal: RawPortal,
    #[serde(default)]
    slack: RawSlack,
    #[serde(default)]
    payouts: RawPayouts,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawPortal {
    frame_ancestors: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSlack {
    mode: String,
    alerts_channel: String,
    decisions_channel: String,
}

impl Default for RawSlack {
    fn default() -> Self {
        Self { mode: "webhook".into(), alerts_channel: String::new(), decisions_channel: String::new() }
    }
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProgram {
    require_certification: bool,
    referral_dedupe_days: u32,
}

impl Default for RawProgram {
    fn default() -> Self {
        Self { require_certification: true, referral_dedupe_days: 90 }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSla {
    #[serde(default)]
    windows_hours: RawWindows,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWindows {
    opportunity_creation: u32,
    registration_decision: u32,
    notes_update: u32,
    partner_follow_up: u32,
}

impl Default for RawWindows {
    fn default() -> Self {
        Self { opportunity_creation: 24, registration_decision: 48, notes_update: 168, partner_follow_up: 24 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRegistration {
    protection_days: u32,
    expiring_notice_days: u32,
    tier_protection_days: BTreeMap<String, u32>,
    auto_approve: RawAutoApprove,
}

impl Default for RawRegistration {
    fn default() -> Self {
        Self {
            protection_days: 90,
            expiring_notice_days: 14,
            tier_protection_days: BTreeMap::from([("gold".into(), 120), ("platinum".into(), 180)]),
            auto_approve: RawAutoApprove::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAutoApprove {
    tiers: Vec<String>,
    max_value: BTreeMap<String, String>,
}

impl Default for RawAutoApprove {
    fn default() -> Self {
        Self { tiers: vec!["platinum".into()], max_value: BTreeMap::from([("USD".into(), "25000.00".into())]) }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawNotifications {
    crm_url_template: String,
    channel_manager_emails: Vec<String>,
    escalation_emails: Vec<String>,
    finance_emails: Vec<String>,
    from_email: String,
    routing: BTreeMap<String, Vec<String>>,
}

impl Default for RawNotifications {
    fn default() -> Self {
        Self {
            crm_url_template: "https://crm.example.com/opportunities/{opportunity_id}".into(),
            channel_manager_emails: vec!["channel@example.com".into()],
            escalation_emails: vec!["partner-ops@example.com".into()],
            finance_emails: vec!["finance@example.com".into()],
            from_email: "partnerops@example.com".into(),
            routing: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPayouts {
    clawback_days: u32,
    hold_days: u32,
    minimum_payout: BTreeMap<String, String>,
    tier_multiplier_bps: BTreeMap<String, u32>,
    rates: Vec<RawRate>,
    overrides: Vec<RawOverride>,
}

impl Default for RawPayouts {
    fn default() -> Self {
        Self {
            clawback_days: 90,
            hold_days: 0,
            minimum_payout: BTreeMap::from([("USD".into(), "50.00".into())]),
            tier_multiplier_bps: BTreeMap::from([
                ("registered".into(), 10_000),
                ("silver".into(), 10_000),
                ("gold".into(), 11_000),
                ("platinum".into(), 12_500),
            ]),
            rates: Vec::new(),
            overrides: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    motion: String,
    role: String,
    rate_bps: u32,
    #[serde(default)]
    flat: BTreeMap<String, String>,
    #[serde(default)]
    cap: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    partner_id: String,
    motion: String,
    role: String,
    rate_bps: u32,
    #[serde(default)]
    flat: BTreeMap<String, String>,
    #[serde(default)]
    cap: BTreeMap<String, String>,
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
fn routing(given: BTreeMap<String, Vec<String>>) -> Result<BTreeMap<String, Vec<Audience>>, TermsError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../infra/program.toml");

    #[test]
    fn the_shipped_terms_are_valid() {
        let terms = ProgramTerms::from_toml(SHIPPED).unwrap();
        assert_eq!(terms.sla.windows_hours.opportunity_creation, 24);
        assert_eq!(terms.payouts.rates.len(), 4);
        assert_eq!(terms.registration.tier_protection_days.get(&Tier::Platinum), Some(&180));
        let usd = Currency::parse("USD").unwrap();
        assert_eq!(terms.registration.auto_approve.max_value.get(&usd), Some(&2_500_000));
    }

    #[test]
    fn routing_entries_replace_the_default_per_event() {
        let terms = ProgramTerms::from_toml("[notifications.routing]\nSlaBreached = [\"escalation\"]\n").unwrap();
        let routing = &terms.notifications.routing;
        assert_eq!(routing["SlaBreached"], vec![Audience::Escalation]);
        assert_eq!(routing["SlaDueSoon"], vec![Audience::Slack, Audience::PartnerManager]);
        assert_eq!(routing.len(), NOTIFIED_EVENTS.len());
    }

    #[test]
    fn defaults_apply_to_an_empty_file() {
        let terms = ProgramTerms::from_toml("").unwrap();
        assert!(terms.program.require_certification);
        assert_eq!(terms.program.referral_dedupe_days, 90);
        assert_eq!(terms.sla.windows_hours.notes_update, 168);
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[program]\ncolour = 1\n", "program.colour"),
            ("[program]\nreferral_dedupe_days = \"x\"\n", "program.referral_dedupe_days"),
            ("[sla.windows_hours]\nnotes_update = 0\n", "sla.windows_hours.notes_update"),
            ("[payouts]\nminimum_payout = { USD = \"1.001\" }\n", "payouts.minimum_payout.USD"),
            ("[[payouts.rates]]\nmotion = \"referral\"\nrole = \"sourced\"\n", "payouts.rates[0]"),
            ("[[payouts.rates]]\nmotion = \"barter\"\nrole = \"sourced\"\nrate_bps = 1\n", "payouts.rates[0].motion"),
            ("[registration]\nauto_approve = { tiers = [\"diamond\"] }\n", "registration.auto_approve.tiers[0]"),
            ("[notifications]\nfrom_email = \"nope\"\n", "notifications.from_email"),
            ("[notifications.routing]\nSlaBreached = [\"slack\", \"pager\"]\n", "notifications.routing.SlaBreached[1]"),
            ("[notifications.routing]\nDealClosed = [\"finance\"]\n", "notifications.routing.DealClosed"),
            (
                "[portal]\nframe_ancestors = [\"https://ok.example\", \"https://*.evil; script-src *\"]\n",
                "portal.frame_ancestors[1]",
            ),
            ("[portal]\nframe_ancestors = [\"partner.example\"]\n", "portal.frame_ancestors[0]"),
            ("[slack]\nmode = \"bot\"\n", "slack.mode"),
            ("[slack]\nmode = \"app\"\nalerts_channel = \"C1\"\n", "slack.decisions_channel"),
            ("[slack]\nalerts_channel = \"#general\"\n", "slack.alerts_channel"),
            ("[surprise]\n", "surprise"),
            ("[program\n", "(file)"),
        ];
        for (text, key) in cases {
            let err = ProgramTerms::from_toml(text).unwrap_err();
            assert_eq!(err.key, key, "{text}: {err}");
        }
    }

    #[test]
    fn unknown_keys_are_named_in_the_message() {
        let err = ProgramTerms::from_toml("[program]\nrequire_certificaton = false\n").unwrap_err();
        assert!(err.to_string().contains("require_certificaton"), "{err}");
    }
}
