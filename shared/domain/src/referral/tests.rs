use super::*;
use crate::id::Entropy;
use proptest::prelude::*;

fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn terms() -> ProgramTerms {
    ProgramTerms::from_toml("").unwrap()
}

fn draft(domain: &str) -> ReferralDraft {
    ReferralDraft {
        company: Some(CompanyDraft { name: Some("Acme Corp".into()), domain: Some(domain.into()) }),
        contact: Some(ContactDraft {
            name: Some("Jane Doe".into()),
            email: Some("jane@acme.com".into()),
            title: Some("CFO".into()),
            phone: None,
        }),
        motion: None,
        notes: None,
        consent: Some(true),
        external_ref: Some("CRM-123".into()),
    }
}

fn ids(now: Timestamp) -> IntakeIds {
    IntakeIds { referral_id: ReferralId::generate(now, Entropy(1)), event_id: EventId::generate(now, Entropy(2)) }
}

fn partner(id: &str) -> PartnerId {
    PartnerId::parse(id).unwrap()
}

fn claim(by: &str, expires_at: &str) -> ReferralClaim {
    ReferralClaim {
        prospect_key: ProspectKey::from_stored("acme.com".into()),
        partner_id: partner(by),
        referral_id: ReferralId::generate(at("2026-01-01T00:00:00Z"), Entropy(9)),
        claimed_at: at("2026-01-01T00:00:00Z"),
        expires_at: at(expires_at),
    }
}

fn decide(standing: &ProspectStanding, now: &str) -> IntakeDecision {
    let now = at(now);
    let submission = ReferralSubmission::parse(draft("https://sales.acme.com/x")).unwrap();
    decide_referral_intake(submission, &partner("alpha"), standing, &terms(), now, ids(now))
}

fn rejection(decision: &IntakeDecision) -> Option<RejectionReason> {
    match decision {
        IntakeDecision::Rejected(r) => Some(r.reason),
        _ => None,
    }
}

#[test]
fn a_fresh_prospect_is_accepted_with_a_24h_timer_and_a_90_day_claim() {
    let decision = decide(&ProspectStanding::default(), "2026-11-22T10:00:00Z");
    let IntakeDecision::Accepted(accepted) = decision else { panic!("expected accepted") };
    assert_eq!(accepted.referral.status, ReferralStatus::Received);
    assert_eq!(accepted.referral.prospect_key.as_str(), "acme.com");
    assert_eq!(accepted.timer.kind, SlaKind::OpportunityCreation);
    assert_eq!(accepted.timer.due_at, at("2026-11-23T10:00:00Z"));
    assert_eq!(accepted.claim.expires_at, at("2027-02-20T10:00:00Z"));
    assert_eq!(accepted.event.detail_type(), "ReferralReceived");
    assert_eq!(accepted.replaces_claim, None);
}

#[test]
fn the_same_partner_within_the_window_gets_its_first_referral() {
    let first = claim("alpha", "2027-01-01T00:00:00Z");
    let standing = ProspectStanding { referral_claim: Some(first.clone()), ..Default::default() };
    assert_eq!(decide(&standing, "2026-11-22T00:00:00Z"), IntakeDecision::AlreadyReferred(first.referral_id));
}

#[test]
fn another_partner_within_the_window_is_rejected() {
    let standing =
        ProspectStanding { referral_claim: Some(claim("beta", "2027-01-01T00:00:00Z")), ..Default::default() };
    let decision = decide(&standing, "2026-11-22T00:00:00Z");
    assert_eq!(rejection(&decision), Some(RejectionReason::ProspectAlreadyReferred));
    let IntakeDecision::Rejected(r) = decision else { panic!() };
    assert_eq!(r.referral.status, ReferralStatus::Rejected);
    assert_eq!(r.event.detail_type(), "ReferralRejected");
}

#[test]
fn an_expired_claim_does_not_block_and_is_replaced() {
    let old = claim("beta", "2026-11-22T00:00:00Z");
    let standing = ProspectStanding { referral_claim: Some(old.clone()), ..Default::default() };
    let IntakeDecision::Accepted(a) = decide(&standing, "2026-11-22T00:00:00Z") else { panic!("expected accepted") };
    assert_eq!(a.replaces_claim, Some(old));
}

#[test]
fn existing_customers_and_protected_registrations_win_over_referrals() {
    let standing = ProspectStanding {
        existing_customer: true,
        referral_claim: Some(claim("beta", "2027-01-01T00:00:00Z")),
        registration: Some(RegistrationProtection {
            partner_id: partner("beta"),
            protected_until: at("2027-01-01T00:00:00Z"),
        }),
    };
    assert_eq!(rejection(&decide(&standing, "2026-11-22T00:00:00Z")), Some(RejectionReason::ExistingCustomer));
    let standing = ProspectStanding { existing_customer: false, ..standing };
    assert_eq!(
        rejection(&decide(&standing, "2026-11-22T00:00:00Z")),
        Some(RejectionReason::RegisteredByAnotherPartner)
    );
}

#[test]
fn own_or_expired_registrations_do_not_block() {
    for (by, until) in [("alpha", "2027-01-01T00:00:00Z"), ("beta", "2026-11-21T00:00:00Z")] {
        let standing = ProspectStanding {
            registration: Some(RegistrationProtection { partner_id: partner(by), protected_until: at(until) }),
            ..Default::default()
        };
        assert!(matches!(decide(&standing, "2026-11-22T00:00:00Z"), IntakeDecision::Accepted(_)), "{by}");
    }
}

#[test]
fn validation_reports_every_bad_field_with_its_path() {
    let bad = ReferralDraft {
        company: Some(CompanyDraft { name: Some(" ".into()), domain: Some("gmail.com".into()) }),
        contact: Some(ContactDraft {
            name: None,
            email: Some("not-an-email".into()),
            title: None,
            phone: Some("1".repeat(33)),
        }),
        motion: Some("resell".into()),
        notes: Some("x".repeat(4001)),
        consent: Some(false),
        external_ref: Some("r".repeat(129)),
    };
    let errors = ReferralSubmission::parse(bad).unwrap_err();
    let fields: Vec<_> = errors.as_slice().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "company.name",
            "company.domain",
            "contact.name",
            "contact.email",
            "contact.phone",
            "motion",
            "notes",
            "external_ref",
            "consent"
        ]
    );
}

#[test]
fn missing_objects_are_required() {
    let errors = ReferralSubmission::parse(ReferralDraft::default()).unwrap_err();
    let fields: Vec<_> = errors.as_slice().iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["company", "contact", "consent"]);
}

#[test]
fn co_sell_is_accepted_and_referral_is_the_default() {
    let mut d = draft("acme.com");
    assert_eq!(ReferralSubmission::parse(d).unwrap().motion, Motion::Referral);
    d = draft("acme.com");
    d.motion = Some("co_sell".into());
    assert_eq!(ReferralSubmission::parse(d).unwrap().motion, Motion::CoSell);
}

proptest! {
    /// Whatever the prospect's standing, exactly one outcome applies and an
    /// accepted referral always holds a claim for its own partner.
    #[test]
    fn decisions_are_total_and_consistent(
        customer in any::<bool>(),
        claim_by in prop::option::of(prop::sample::select(vec!["alpha", "beta"])),
        claim_live in any::<bool>(),
        reg_by in prop::option::of(prop::sample::select(vec!["alpha", "beta"])),
        reg_live in any::<bool>(),
    ) {
        let standing = ProspectStanding {
            existing_customer: customer,
            referral_claim: claim_by.map(|p| claim(p, if claim_live { "2027-01-01T00:00:00Z" } else { "2026-01-01T00:00:00Z" })),
            registration: reg_by.map(|p| RegistrationProtection {
                partner_id: partner(p),
                protected_until: at(if reg_live { "2027-01-01T00:00:00Z" } else { "2026-01-01T00:00:00Z" }),
            }),
        };
        match decide(&standing, "2026-11-22T00:00:00Z") {
            IntakeDecision::AlreadyReferred(_) => prop_assert!(claim_by == Some("alpha") && claim_live),
            IntakeDecision::Accepted(a) => {
                prop_assert!(!customer);
                prop_assert_eq!(a.claim.partner_id.as_str(), "alpha");
                prop_assert!(!(claim_live && claim_by.is_some()));
            }
            IntakeDecision::Rejected(r) => {
                prop_assert_eq!(r.referral.status, ReferralStatus::Rejected);
                prop_assert!(customer || (reg_live && reg_by == Some("beta")) || (claim_live && claim_by == Some("beta")));
            }
        }
    }

    #[test]
    fn parse_never_panics(name in "\\PC{0,300}", domain in "\\PC{0,60}", email in "\\PC{0,60}") {
        let mut d = draft(&domain);
        d.company = Some(CompanyDraft { name: Some(name), domain: Some(domain) });
        d.contact = Some(ContactDraft { name: Some("x".into()), email: Some(email), title: None, phone: None });
        let _ = ReferralSubmission::parse(d);
    }
}
