//! The HTTP conventions every partnerops API function shares (SPEC §3, §4):
//! problem details, JSON bodies with field-level errors, API-key auth and
//! roles, `Idempotency-Key`, cursor lists, and the route table from which
//! each function's axum `Router` is built; and the Lambda entry points.

pub mod auth;
pub mod base_url;
pub mod body;
pub mod idempotency;
pub mod lambda;
pub mod list;
pub mod problem;
pub mod routes;
pub mod state;

pub use auth::Principal;
pub use body::ApiJson;
pub use problem::Problem;
pub use routes::{Route, build_router};
pub use state::AppState;

/// 80 random bits for a new identifier.
pub fn entropy() -> partnerops_domain::id::Entropy {
    partnerops_domain::id::Entropy(rand::random::<u128>() >> 48)
}
