//! The statuses of referrals and registrations, and why a referral is
//! turned away: the vocabulary events, records and rules share, with no
//! dependencies of its own.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferralStatus {
    Received,
    OpportunityCreated,
    Won,
    Lost,
    Rejected,
}

impl ReferralStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "received" => Some(Self::Received),
            "opportunity_created" => Some(Self::OpportunityCreated),
            "won" => Some(Self::Won),
            "lost" => Some(Self::Lost),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::OpportunityCreated => "opportunity_created",
            Self::Won => "won",
            Self::Lost => "lost",
            Self::Rejected => "rejected",
        }
    }
}

/// Why a referral was turned away; also its problem `code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionReason {
    ProspectAlreadyReferred,
    RegisteredByAnotherPartner,
    ExistingCustomer,
}

impl RejectionReason {
    pub fn code(self) -> &'static str {
        match self {
            Self::ProspectAlreadyReferred => "prospect_already_referred",
            Self::RegisteredByAnotherPartner => "registered_by_another_partner",
            Self::ExistingCustomer => "existing_customer",
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            Self::ProspectAlreadyReferred => "This prospect was already referred by another partner.",
            Self::RegisteredByAnotherPartner => {
                "This prospect is covered by another partner's approved deal registration."
            }
            Self::ExistingCustomer => "This prospect is already a customer.",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    Pending,
    Approved,
    Rejected,
    Withdrawn,
    Expired,
    /// The deal it protects closed (`opportunity.closed`).
    Won,
    Lost,
}

impl RegistrationStatus {
    /// How far along a registration's life the status is: submitted, then
    /// decided, then ended. History entries made at one instant (a submission
    /// approved within the same millisecond) are listed in this order.
    pub fn stage(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::Approved | Self::Rejected | Self::Withdrawn => 1,
            Self::Expired | Self::Won | Self::Lost => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Expired => "expired",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected, Self::Withdrawn, Self::Expired]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}
