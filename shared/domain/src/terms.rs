//! Program terms: the partner program's rules, read from one TOML file
//! (`infra/program.toml`) and validated before any function serves.
//!
//! Unknown keys, bad values and missing required keys are errors that name
//! the key (`payouts.rates[1].rate_bps`), so a bad file stops start-up with a
//! message an operator can act on.

use crate::money::Currency;
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

#[cfg(test)]
mod tests;

mod raw;
mod validate;
