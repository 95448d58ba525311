//! The rules of the partner program as pure functions over values.
//!
//! Nothing here performs I/O, reads the clock or draws random numbers: every
//! decision takes the current time (`now`) and any fresh identifiers as
//! arguments, so the same inputs always give the same outcome.

pub mod attribution;
pub mod auth;
pub mod crm;
pub mod event;
pub mod field;
pub mod id;
pub mod money;
pub mod notify;
pub mod partner;
pub mod payout;
pub mod people;
pub mod prospect;
pub mod referral;
pub mod registration;
pub mod report;
pub mod sla;
pub mod slack;
pub mod status;
pub mod terms;
pub mod time;
pub mod webhook;

pub use field::{FieldError, FieldErrors};
pub use time::Timestamp;
