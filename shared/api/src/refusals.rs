//! The use cases' refusals as problem documents (SPEC §4–§10): each code and
//! status in one place, so every HTTP route that reaches a use case answers
//! it the same way.

use crate::problem::Problem;
use axum::http::StatusCode;
use partnerops_app::crm::CrmError;
use partnerops_app::exports::{ExportError, FileError};
use partnerops_app::referrals::IntakeError;
use partnerops_app::registrations::{ChangeError, SubmissionError};
use partnerops_domain::crm::CrmRefusal;
use partnerops_domain::registration::ChangeRefused;

impl From<IntakeError> for Problem {
    fn from(error: IntakeError) -> Self {
        match error {
            IntakeError::Rejected { reason, referral_id } => {
                Problem::conflict(reason.code(), reason.detail()).with("referral_id", referral_id.to_string())
            }
            IntakeError::Store(e) => e.into(),
        }
    }
}

impl From<SubmissionError> for Problem {
    fn from(error: SubmissionError) -> Self {
        match error {
            SubmissionError::NotCertified => Problem::new(
                StatusCode::FORBIDDEN,
                "not_certified",
                "The program requires an unexpired deal_registration certification to register deals.",
            ),
            SubmissionError::Rejected { refusal, registration_id } => {
                Problem::conflict(refusal.code(), refusal.detail()).with("registration_id", registration_id.to_string())
            }
            SubmissionError::Store(e) => e.into(),
        }
    }
}

impl From<ChangeError> for Problem {
    fn from(error: ChangeError) -> Self {
        match error {
            ChangeError::NotFound => Problem::not_found(),
            ChangeError::Refused(reason) => {
                let code = match reason {
                    ChangeRefused::AlreadyDecided => "already_decided",
                    ChangeRefused::NotLead => "conflict_not_lead",
                    ChangeRefused::NotWithdrawable => "not_withdrawable",
                };
                Problem::conflict(code, reason.to_string())
            }
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl From<CrmError> for Problem {
    fn from(error: CrmError) -> Self {
        match error {
            CrmError::Refused(refusal) => match refusal {
                CrmRefusal::UnknownOpportunity => Problem::new(StatusCode::NOT_FOUND, "not_found", refusal.to_string()),
                CrmRefusal::OpportunityExists => Problem::conflict("opportunity_exists", refusal.to_string()),
                CrmRefusal::SourceUnavailable(_) => Problem::conflict("source_unavailable", refusal.to_string()),
                CrmRefusal::UnknownMeeting => Problem::field("meeting_id", &refusal.to_string()),
                CrmRefusal::NotWon => Problem::conflict("not_won", refusal.to_string()),
                CrmRefusal::RefundExceedsAmount => Problem::unprocessable("refund_exceeds_amount", refusal.to_string()),
                CrmRefusal::CurrencyMismatch => Problem::field("amount", &refusal.to_string()),
            },
            CrmError::NoSuchSource(field) => Problem::field(field, &error.to_string()),
            CrmError::Store(e) => e.into(),
        }
    }
}

impl From<ExportError> for Problem {
    fn from(error: ExportError) -> Self {
        match error {
            ExportError::PeriodOpen(p) => {
                Problem::conflict("period_open", format!("The period {p} has not ended yet."))
            }
            ExportError::Store(e) => e.into(),
            ExportError::Files(e) | ExportError::Queue(e) => {
                tracing::error!(error = %e, "starting the export failed");
                Problem::unavailable()
            }
        }
    }
}

impl From<FileError> for Problem {
    fn from(error: FileError) -> Self {
        match error {
            FileError::NotFound => Problem::not_found(),
            FileError::NotDone { period, state } => Problem::conflict(
                "export_not_done",
                format!("The export of {period} is {state}; its files are ready once it is done."),
            ),
            FileError::Unavailable(_) => Problem::unavailable(),
            FileError::Store(e) => e.into(),
        }
    }
}
