//! An opportunity as partnerops keeps it: its links, attribution and status.

use crate::Timestamp;
use crate::attribution::Attribution;
use crate::id::{ReferralId, RegistrationId};
use crate::money::Money;
use crate::partner::{Motion, PartnerId};
use crate::prospect::ProspectKey;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityStatus {
    Open,
    Won,
    Lost,
}

impl OpportunityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityStatus::Open => "open",
            OpportunityStatus::Won => "won",
            OpportunityStatus::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opportunity {
    pub id: String,
    pub name: String,
    pub amount: Money,
    pub owner_email: String,
    #[serde(default)]
    pub referral_id: Option<ReferralId>,
    #[serde(default)]
    pub deal_registration_id: Option<RegistrationId>,
    pub partner_id: PartnerId,
    pub prospect_key: ProspectKey,
    pub motion: Motion,
    pub attribution: Vec<Attribution>,
    pub status: OpportunityStatus,
    #[serde(default)]
    pub closed_at: Option<Timestamp>,
    /// Refunded so far, in minor units of `amount`'s currency.
    #[serde(default)]
    pub refunded_minor: i64,
    pub last_notes_at: Timestamp,
    pub notes_seq: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The `occurred_at` of its `opportunity.created` (absent on
    /// opportunities stored before it was kept: `created_at` stands in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<Timestamp>,
    #[serde(default)]
    pub rev: u64,
}

impl Opportunity {
    /// When the CRM says it was created.
    pub fn opened(&self) -> Timestamp {
        self.opened_at.unwrap_or(self.created_at)
    }
}
