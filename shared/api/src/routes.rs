//! A function's routes as data. The router is built from the same table that
//! tests compare with template.yaml and the OpenAPI document, so the three
//! cannot drift apart.

use crate::auth::authenticate;
use crate::idempotency::idempotent;
use crate::problem::Problem;
use crate::state::AppState;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, patch, post};
use axum::{Router, middleware};

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub handler: MethodRouter<AppState>,
}

impl Route {
    pub fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self { method: Method::GET, path, handler: get(handler) }
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self { method: Method::POST, path, handler: post(handler) }
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self { method: Method::PATCH, path, handler: patch(handler) }
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, handler: H) -> Self {
        Self { method: Method::DELETE, path, handler: delete(handler) }
    }
}

/// `(METHOD, path)` pairs of a route table.
pub fn route_table(routes: &[Route]) -> Vec<(String, String)> {
    routes.iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect()
}

async fn not_found() -> impl IntoResponse {
    Problem::not_found()
}

async fn method_not_allowed() -> impl IntoResponse {
    Problem::method_not_allowed()
}

/// Builds an API function's router: its routes behind authentication and
/// idempotency, with problem-details fallbacks.
pub fn build_router(routes: Vec<Route>, state: AppState) -> Router {
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for route in routes {
        match by_path.iter_mut().find(|(p, _)| *p == route.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(route.handler),
            None => by_path.push((route.path, route.handler)),
        }
    }
    let mut router = Router::new();
    for (path, handler) in by_path {
        router = router.route(path, handler.fallback(method_not_allowed));
    }
    router
        .route_layer(middleware::from_fn_with_state(state.clone(), idempotent))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .fallback(not_found)
        .with_state(state)
}
