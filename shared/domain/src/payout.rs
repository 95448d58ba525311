//! Payouts (SPEC §10): the amount formula, the append-only ledger of a won
//! deal, and the monthly export's grouping and files.
//!
//! A deal's ledger is reconciled rather than appended to blindly: each
//! `DealClosed` or `DealRefunded` updates the facts kept for the deal, and
//! [`reconcile`] returns the lines that bring the ledger to what those facts
//! say is owed. Lines are keyed by what they settle, so a duplicate event
//! (or a retried write) produces no new line.

mod export;
mod ledger;
mod period;

pub use export::{
    ExportGroup, GroupTotals, LINES_HEADER, SUMMARY_HEADER, export_groups, export_order, export_totals, role_str,
    text_cell, write_line_rows, write_lines_csv, write_summary_csv,
};
pub use ledger::{
    CloseFacts, DealLedger, LineKind, PartnerAtClose, PayoutError, PayoutLine, line_amount, reconcile, record_close,
    record_refund,
};
pub use period::Period;

#[cfg(test)]
mod tests;
