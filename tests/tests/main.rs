//! The integration and end-to-end tests, one binary: a module per area,
//! one moto server and one build for all of them (tests/src is the shared
//! harness).

mod agreement;
mod aws;
mod cli;
mod contract;
mod conventions;
mod crm;
mod layering;
mod memory;
mod moto;
mod notifications;
mod operations;
mod payouts;
mod portal;
mod readme;
mod redrive;
mod referrals;
mod registrations;
mod report_replay;
mod reports;
mod secrets;
mod slack;
mod store_contract;
mod stream;
mod sweep;
mod webhooks;
