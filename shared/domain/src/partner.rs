//! Partners, their tiers and certifications.

use crate::Timestamp;
use crate::field::{FieldErrors, bounded_text};
use crate::id::CertificationId;
use email_address::EmailAddress;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// `[a-z0-9-]{2,64}`, chosen by the admin who enrols the partner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PartnerId(String);

impl PartnerId {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let ok_len = (2..=64).contains(&raw.len());
        let ok_chars = raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok_len && ok_chars { Ok(Self(raw.to_owned())) } else { Err("must match [a-z0-9-]{2,64}") }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Registered,
    Silver,
    Gold,
    Platinum,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Registered, Tier::Silver, Tier::Gold, Tier::Platinum];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Registered => "registered",
            Tier::Silver => "silver",
            Tier::Gold => "gold",
            Tier::Platinum => "platinum",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        Tier::ALL.into_iter().find(|t| t.as_str() == raw).ok_or("must be one of registered, silver, gold, platinum")
    }
}

/// How a partner takes part in a deal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Motion {
    Referral,
    CoSell,
    Resell,
}

impl Motion {
    pub fn as_str(self) -> &'static str {
        match self {
            Motion::Referral => "referral",
            Motion::CoSell => "co_sell",
            Motion::Resell => "resell",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        [Motion::Referral, Motion::CoSell, Motion::Resell]
            .into_iter()
            .find(|m| m.as_str() == raw)
            .ok_or("must be one of referral, co_sell, resell")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerStatus {
    Active,
    Suspended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerManager {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_user_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    pub tier: Tier,
    pub motions: Vec<Motion>,
    pub status: PartnerStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<PartnerManager>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// Latest expiry of each certification the partner holds, kept on the
    /// partner so that checking one costs no extra read.
    #[serde(default)]
    pub certifications: std::collections::BTreeMap<String, Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Partner {
    /// Records a certification, keeping the latest expiry per name.
    pub fn certify(&mut self, certification: &Certification, now: Timestamp) {
        let expiry = self.certifications.entry(certification.name.clone()).or_insert(certification.expires_at);
        if *expiry < certification.expires_at {
            *expiry = certification.expires_at;
        }
        self.updated_at = now;
    }

    pub fn is_suspended(&self) -> bool {
        self.status == PartnerStatus::Suspended
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ManagerDraft {
    pub name: Option<String>,
    pub email: Option<String>,
    pub slack_user_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PartnerDraft {
    pub id: Option<String>,
    pub name: Option<String>,
    pub tier: Option<String>,
    pub motions: Option<Vec<String>>,
    pub manager: Option<ManagerDraft>,
    pub contact_email: Option<String>,
}

/// Fields a partner update may change; absent fields stay as they are.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PartnerPatchDraft {
    pub name: Option<String>,
    pub tier: Option<String>,
    pub status: Option<String>,
    pub motions: Option<Vec<String>>,
    pub manager: Option<ManagerDraft>,
    pub contact_email: Option<String>,
}

pub fn parse_email(raw: &str) -> Result<String, &'static str> {
    if raw.len() > 254 {
        return Err("must be at most 254 characters");
    }
    match EmailAddress::from_str(raw) {
        Ok(address) if address.domain().contains('.') => Ok(raw.to_owned()),
        _ => Err("must be a valid email address"),
    }
}

fn parse_manager(draft: ManagerDraft, errors: &mut FieldErrors) -> Option<PartnerManager> {
    let name = errors.required("manager.name", draft.name);
    let name = name.and_then(|n| errors.check("manager.name", bounded_text(&n, 1, 200)));
    let email = errors.required("manager.email", draft.email);
    let email = email.and_then(|e| errors.check("manager.email", parse_email(&e)));
    let slack_user_id = match draft.slack_user_id {
        Some(id) if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            errors.push("manager.slack_user_id", "must be a Slack member id such as U024BE7LH");
            None
        }
        other => other,
    };
    Some(PartnerManager { name: name?, email: email?, slack_user_id })
}

fn parse_motions(raw: Vec<String>, errors: &mut FieldErrors) -> Option<Vec<Motion>> {
    if raw.is_empty() {
        errors.push("motions", "must name at least one motion");
        return None;
    }
    let mut motions = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        if let Some(m) = errors.check(&format!("motions[{i}]"), Motion::parse(m))
            && !motions.contains(&m)
        {
            motions.push(m);
        }
    }
    Some(motions)
}

/// Validates a new partner. Motions default to `referral`.
pub fn new_partner(draft: PartnerDraft, now: Timestamp) -> Result<Partner, FieldErrors> {
    let mut errors = FieldErrors::new();
    let id = errors.required("id", draft.id).and_then(|id| errors.check("id", PartnerId::parse(&id)));
    let name = errors.required("name", draft.name).and_then(|n| errors.check("name", bounded_text(&n, 1, 200)));
    let tier = errors.required("tier", draft.tier).and_then(|t| errors.check("tier", Tier::parse(&t)));
    let motions = match draft.motions {
        Some(raw) => parse_motions(raw, &mut errors),
        None => Some(vec![Motion::Referral]),
    };
    let manager = draft.manager.and_then(|m| parse_manager(m, &mut errors));
    let contact_email = draft.contact_email.and_then(|e| errors.check("contact_email", parse_email(&e)));
    let partner = (|| {
        Some(Partner {
            id: id?,
            name: name?,
            tier: tier?,
            motions: motions?,
            status: PartnerStatus::Active,
            manager,
            contact_email,
            certifications: Default::default(),
            created_at: now,
            updated_at: now,
        })
    })();
    errors.finish(partner)
}

/// Applies an update to a partner, all or nothing.
pub fn patch_partner(mut partner: Partner, draft: PartnerPatchDraft, now: Timestamp) -> Result<Partner, FieldErrors> {
    let mut errors = FieldErrors::new();
    if let Some(name) = draft.name.and_then(|n| errors.check("name", bounded_text(&n, 1, 200))) {
        partner.name = name;
    }
    if let Some(tier) = draft.tier.and_then(|t| errors.check("tier", Tier::parse(&t))) {
        partner.tier = tier;
    }
    if let Some(status) = draft.status {
        match status.as_str() {
            "active" => partner.status = PartnerStatus::Active,
            "suspended" => partner.status = PartnerStatus::Suspended,
            _ => errors.push("status", "must be active or suspended"),
        }
    }
    if let Some(motions) = draft.motions.and_then(|m| parse_motions(m, &mut errors)) {
        partner.motions = motions;
    }
    if let Some(manager) = draft.manager.and_then(|m| parse_manager(m, &mut errors)) {
        partner.manager = Some(manager);
    }
    if let Some(email) = draft.contact_email.and_then(|e| errors.check("contact_email", parse_email(&e))) {
        partner.contact_email = Some(email);
    }
    partner.updated_at = now;
    errors.finish(Some(partner))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certification {
    pub id: CertificationId,
    pub partner_id: PartnerId,
    pub name: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

impl Certification {
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct CertificationDraft {
    pub name: Option<String>,
    pub expires_at: Option<String>,
}

pub fn new_certification(
    partner_id: PartnerId,
    id: CertificationId,
    draft: CertificationDraft,
    now: Timestamp,
) -> Result<Certification, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = errors.required("name", draft.name).and_then(|n| {
        let valid = (1..=100).contains(&n.len())
            && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Some(n)
        } else {
            errors.push("name", "must match [a-z0-9_-]{1,100}, for example deal_registration");
            None
        }
    });
    let expires_at =
        errors.required("expires_at", draft.expires_at).and_then(|t| errors.check("expires_at", Timestamp::parse(&t)));
    let cert = (|| Some(Certification { id, partner_id, name: name?, expires_at: expires_at?, created_at: now }))();
    errors.finish(cert)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2026-11-22T00:00:00Z").unwrap()
    }

    #[test]
    fn partner_ids_follow_the_pattern() {
        assert!(PartnerId::parse("acme-consulting").is_ok());
        for bad in ["a", "Acme", "acme_consulting", "", &"a".repeat(65)] {
            assert!(PartnerId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_partner_reports_every_bad_field() {
        let draft = PartnerDraft {
            id: Some("X".into()),
            name: Some("  ".into()),
            tier: Some("diamond".into()),
            motions: Some(vec!["referral".into(), "barter".into()]),
            manager: Some(ManagerDraft { name: Some("M".into()), email: Some("nope".into()), slack_user_id: None }),
            contact_email: None,
        };
        let errors = new_partner(draft, now()).unwrap_err();
        let fields: Vec<_> = errors.as_slice().iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["id", "name", "tier", "motions[1]", "manager.email"]);
    }

    #[test]
    fn patch_changes_only_given_fields() {
        let draft = PartnerDraft {
            id: Some("acme".into()),
            name: Some("Acme".into()),
            tier: Some("gold".into()),
            ..Default::default()
        };
        let partner = new_partner(draft, now()).unwrap();
        let patched =
            patch_partner(partner, PartnerPatchDraft { status: Some("suspended".into()), ..Default::default() }, now())
                .unwrap();
        assert!(patched.is_suspended());
        assert_eq!(patched.tier, Tier::Gold);
        assert_eq!(patched.motions, vec![Motion::Referral]);
    }
}
