//! What the portal's pages hold: the ports they read and write, the clock,
//! the program terms, the public address, the mailer and the bucket links.

use partnerops_app::referrals::IntakeStore;
use partnerops_app::registrations::SubmissionStore;
use partnerops_aws::Clock;
use partnerops_aws::links::DownloadLinks;
use partnerops_aws::notify::Transport;
use partnerops_aws::store::{
    Opportunities, Partners, PayoutExports, PayoutLines, RateLimits, ReferralForms, ReportTallies, SignIns, SlaTimers,
    Users,
};
use partnerops_domain::terms::ProgramTerms;
use std::sync::Arc;

/// What the portal's pages read and write: the people who sign in, the
/// referrals and registrations they make and decide, the opportunities and
/// timers they watch, the payout lines and exports, and the report tallies.
pub trait PortalStore:
    IntakeStore
    + SubmissionStore
    + Users
    + SignIns
    + RateLimits
    + ReferralForms
    + Partners
    + Opportunities
    + SlaTimers
    + PayoutLines
    + PayoutExports
    + ReportTallies
{
}

impl<T> PortalStore for T where
    T: IntakeStore
        + SubmissionStore
        + Users
        + SignIns
        + RateLimits
        + ReferralForms
        + Partners
        + Opportunities
        + SlaTimers
        + PayoutLines
        + PayoutExports
        + ReportTallies
        + ?Sized
{
}

#[derive(Clone)]
pub struct PortalState {
    pub store: Arc<dyn PortalStore>,
    pub clock: Arc<dyn Clock>,
    pub terms: Arc<ProgramTerms>,
    /// The stack's public address for the sign-in links it sends.
    pub base_url: Arc<str>,
    /// Sends the sign-in emails (SES when deployed).
    pub mailer: Arc<dyn Transport>,
    /// Signed links into the exports bucket, for finance's downloads.
    pub links: Arc<dyn DownloadLinks>,
    /// `Secure` on the session cookie: everywhere but the dev stack's plain
    /// http.
    pub secure_cookies: bool,
}
