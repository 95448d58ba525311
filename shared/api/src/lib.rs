//! The HTTP conventions every partnerops API function shares (SPEC §3, §4):
//! problem details (and the use cases' refusals as problems), JSON bodies
//! with field-level errors, API-key auth and roles, `Idempotency-Key`,
//! cursor lists, and the route table from which each function's axum
//! `Router` is built; and the Lambda entry points.

pub mod auth;
pub mod base_url;
pub mod body;
pub mod context;
pub mod idempotency;
pub mod key_cache;
pub mod lambda;
pub mod list;
pub mod principal;
pub mod problem;
pub mod refusals;
pub mod routes;
pub mod trace;

pub use body::ApiJson;
pub use context::ApiContext;
pub use principal::Principal;
pub use problem::Problem;
pub use routes::{Route, api_routes, build_router};
