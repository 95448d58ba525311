//! The terms file's shape as written: every table denies unknown keys, and
//! every default is the value documented in SPEC §14.

use serde::Deserialize;
use std::collections::BTreeMap;

// The file's shape. Every table denies unknown keys; defaults are the values
// documented in SPEC §14.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTerms {
    #[serde(default)]
    pub(super) program: RawProgram,
    #[serde(default)]
    pub(super) sla: RawSla,
    #[serde(default)]
    pub(super) registration: RawRegistration,
    #[serde(default)]
    pub(super) notifications: RawNotifications,
    #[serde(default)]
    pub(super) portal: RawPortal,
    #[serde(default)]
    pub(super) slack: RawSlack,
    #[serde(default)]
    pub(super) payouts: RawPayouts,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawPortal {
    pub(super) frame_ancestors: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawSlack {
    pub(super) mode: String,
    pub(super) alerts_channel: String,
    pub(super) decisions_channel: String,
}

impl Default for RawSlack {
    fn default() -> Self {
        Self { mode: "webhook".into(), alerts_channel: String::new(), decisions_channel: String::new() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawProgram {
    pub(super) require_certification: bool,
    pub(super) referral_dedupe_days: u32,
}

impl Default for RawProgram {
    fn default() -> Self {
        Self { require_certification: true, referral_dedupe_days: 90 }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSla {
    #[serde(default)]
    pub(super) windows_hours: RawWindows,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawWindows {
    pub(super) opportunity_creation: u32,
    pub(super) registration_decision: u32,
    pub(super) notes_update: u32,
    pub(super) partner_follow_up: u32,
}

impl Default for RawWindows {
    fn default() -> Self {
        Self { opportunity_creation: 24, registration_decision: 48, notes_update: 168, partner_follow_up: 24 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRegistration {
    pub(super) protection_days: u32,
    pub(super) expiring_notice_days: u32,
    pub(super) tier_protection_days: BTreeMap<String, u32>,
    pub(super) auto_approve: RawAutoApprove,
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
pub(super) struct RawAutoApprove {
    pub(super) tiers: Vec<String>,
    pub(super) max_value: BTreeMap<String, String>,
}

impl Default for RawAutoApprove {
    fn default() -> Self {
        Self { tiers: vec!["platinum".into()], max_value: BTreeMap::from([("USD".into(), "25000.00".into())]) }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawNotifications {
    pub(super) crm_url_template: String,
    pub(super) channel_manager_emails: Vec<String>,
    pub(super) escalation_emails: Vec<String>,
    pub(super) finance_emails: Vec<String>,
    pub(super) from_email: String,
    pub(super) routing: BTreeMap<String, Vec<String>>,
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
pub(super) struct RawPayouts {
    pub(super) clawback_days: u32,
    pub(super) hold_days: u32,
    pub(super) minimum_payout: BTreeMap<String, String>,
    pub(super) tier_multiplier_bps: BTreeMap<String, u32>,
    pub(super) rates: Vec<RawRate>,
    pub(super) overrides: Vec<RawOverride>,
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
pub(super) struct RawRate {
    pub(super) motion: String,
    pub(super) role: String,
    pub(super) rate_bps: u32,
    #[serde(default)]
    pub(super) flat: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) cap: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOverride {
    pub(super) partner_id: String,
    pub(super) motion: String,
    pub(super) role: String,
    pub(super) rate_bps: u32,
    #[serde(default)]
    pub(super) flat: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) cap: BTreeMap<String, String>,
}
