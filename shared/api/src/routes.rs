//! A function's routes as data. The router is built from the same table that
//! tests compare with template.yaml and the OpenAPI document, so the three
//! cannot drift apart.

use crate::auth::authenticate;
use crate::context::ApiContext;
use crate::idempotency::idempotent;
use crate::principal::Principal;
use crate::problem::Problem;
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
/// handler over the function's state `S`. The roles are checked before
/// anything reads the body, so a caller without the role learns nothing
/// about what the route accepts.
pub struct Route<S> {
    pub method: Method,
    pub path: &'static str,
    pub roles: &'static [Role],
    pub handler: MethodRouter<S>,
}

impl<S: Clone + Send + Sync + 'static> Route<S> {
    pub fn get<H: Handler<T, S>, T: 'static>(path: &'static str, roles: &'static [Role], handler: H) -> Self {
        Self { method: Method::GET, path, roles, handler: get(handler) }
    }

    pub fn post<H: Handler<T, S>, T: 'static>(path: &'static str, roles: &'static [Role], handler: H) -> Self {
        Self { method: Method::POST, path, roles, handler: post(handler) }
    }

    pub fn patch<H: Handler<T, S>, T: 'static>(path: &'static str, roles: &'static [Role], handler: H) -> Self {
        Self { method: Method::PATCH, path, roles, handler: patch(handler) }
    }

    pub fn delete<H: Handler<T, S>, T: 'static>(path: &'static str, roles: &'static [Role], handler: H) -> Self {
        Self { method: Method::DELETE, path, roles, handler: delete(handler) }
    }
}

/// 403 `forbidden` unless the authenticated caller has one of `roles`.
async fn require_role(roles: &'static [Role], request: Request, next: Next) -> Result<Response, Problem> {
    let principal = request.extensions().get::<Principal>().ok_or_else(Problem::unauthenticated)?;
    principal.require(roles)?;
    Ok(next.run(request).await)
}

/// A route without its handler: what the template, the OpenAPI document
/// and the conventions tests are held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub roles: &'static [Role],
}

pub fn route_specs<S>(routes: &[Route<S>]) -> Vec<RouteSpec> {
    routes.iter().map(|r| RouteSpec { method: r.method.clone(), path: r.path, roles: r.roles }).collect()
}

/// `(METHOD, path)` pairs of a route table.
pub fn route_table(routes: &[RouteSpec]) -> Vec<(String, String)> {
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

/// A function's routes, each behind authentication, then its role check,
/// then idempotency; a path's other methods answer 405. No fallback: the
/// dev stack merges several functions' routes and adds one.
pub fn api_routes<S: Clone + Send + Sync + 'static>(routes: Vec<Route<S>>, context: &ApiContext, state: S) -> Router {
    let mut by_path: Vec<(&'static str, Vec<Method>, MethodRouter<S>)> = Vec::new();
    for route in routes {
        let roles = route.roles;
        let handler = route
            .handler
            .layer(middleware::from_fn_with_state(context.clone(), idempotent))
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
    crate::trace::traced(router.route_layer(middleware::from_fn_with_state(context.clone(), authenticate)))
        .with_state(state)
}

/// Unknown paths answer the problem-details 404.
pub fn with_not_found(router: Router) -> Router {
    router.fallback(not_found)
}

/// An API function's router: its routes and the 404 fallback.
pub fn build_router<S: Clone + Send + Sync + 'static>(routes: Vec<Route<S>>, context: &ApiContext, state: S) -> Router {
    with_not_found(api_routes(routes, context, state))
}
