use super::*;
use crate::money::Currency;
use crate::partner::Tier;

const SHIPPED: &str = include_str!("../../../../infra/program.toml");

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
