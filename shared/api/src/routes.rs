//! A function's routes as data. The router is built from the same table that
//! tests compare with template.yaml and the OpenAPI document, so the three
//! cannot drift apart.

use crate::auth::{Principal, authenticate};
use crate::idempotency::idempotent;
use crate::problem::Problem;
use crate::state::AppState;
use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, patch, post};
use axum::{Router, middleware};
use partnerops_domain::auth::Role;

/// One operation: its method, path, the roles that may call it and its
/// handler. The roles are checked before anything reads the body, so a caller
/// without the role learns nothing about what the route accepts.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub roles: &'static [Role],
    pub handler: MethodRouter<AppState>,
}

impl Route {
    pub fn get<H: Handler<T, AppState>, T: 'static>(path: &'static str, roles: &'static [Role], handler: H) -> Self {
        Self { method: Method::GET, path, roles, handler: get(handler) }
    }

    pub fn post<H: Handler<T, AppState>, T: 'static>(path: &'static str, roles: &'static [Role], handler: H) -> Self {
        Self { method: Method::POST, path, roles, handler: post(handler) }
    }

    pub fn patch<H: Handler<T, AppState>, T: 'static>(path: &'static str, roles: &'static [Role], handler: H) -> Self {
        Self { method: Method::PATCH, path, roles, handler: patch(handler) }
    }

    pub fn delete<H: Handler<T, AppState>, T: 'static>(path: &'static str, roles: &'static [Role], handler: H) -> Self {
        Self { method: Method::DELETE, path, roles, handler: delete(handler) }
    }
}

/// 403 `forbidden` unless the authenticated caller has one of `roles`.
async fn require_role(roles: &'static [Role], request: Request, next: Next) -> Result<Response, Problem> {
    let principal = request.extensions().get::<Principal>().ok_or_else(Problem::unauthenticated)?;
    principal.require(roles)?;
    Ok(next.run(request).await)
}

/// `(METHOD, path)` pairs of a route table.
pub fn route_table(routes: &[Route]) -> Vec<(String, String)> {
    routes.iter().map(|r| (r.method.to_string(), r.path.to_owned())).collect()
}

async fn not_found() -> impl IntoResponse {
    Problem::not_found()
}

/// 405 with the `Allow` header RFC 9110 requires: the methods the path has.
fn method_not_allowed(allow: String) -> Response {
    let mut response = Problem::method_not_allowed().into_response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Builds an API function's router: each route behind authentication, then
/// its role check, then idempotency, with problem-details fallbacks.
pub fn build_router(routes: Vec<Route>, state: AppState) -> Router {
    let mut by_path: Vec<(&'static str, Vec<Method>, MethodRouter<AppState>)> = Vec::new();
    for route in routes {
        let roles = route.roles;
        let handler = route
            .handler
            .layer(middleware::from_fn_with_state(state.clone(), idempotent))
            .layer(middleware::from_fn(move |request: Request, next: Next| require_role(roles, request, next)));
        match by_path.iter_mut().find(|(p, _, _)| *p == route.path) {
            Some((_, methods, existing)) => {
                methods.push(route.method);
                *existing = std::mem::take(existing).merge(handler);
            }
            None => by_path.push((route.path, vec![route.method], handler)),
        }
    }
    let mut router = Router::new();
    for (path, methods, handler) in by_path {
        let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        router = router.route(path, handler.fallback(move || async move { method_not_allowed(allow) }));
    }
    router
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .fallback(not_found)
        .with_state(state)
}
