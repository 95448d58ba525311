//! Structured JSON logs through `tracing`. Levels come from `RUST_LOG`
//! (default `info`). Request bodies, API keys and webhook URLs are never
//! logged by partnerops code.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(false).with_target(true).try_init();
}
