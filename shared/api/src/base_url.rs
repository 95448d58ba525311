//! The stack's public address for links sent to people (sign-in links,
//! hosted-form links). Configured (`PUBLIC_BASE_URL`, a custom domain; the
//! dev stack's own address), or else the domain API Gateway received the
//! request on, from the request context it signs: never from a header a
//! client could set.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::convert::Infallible;

/// The domain API Gateway served this request on, when there is one.
pub struct RequestDomain(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestDomain {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let domain = match parts.extensions.get::<lambda_http::request::RequestContext>() {
            Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.domain_name.clone(),
            _ => None,
        };
        Ok(Self(domain))
    }
}

impl RequestDomain {
    /// `https://<domain>` unless `configured` names the address.
    pub fn base_url(&self, configured: &str) -> String {
        match (configured, &self.0) {
            ("", Some(domain)) => format!("https://{domain}"),
            (configured, _) => configured.to_owned(),
        }
    }
}

/// The configured public address: `PUBLIC_BASE_URL` when deployed (empty
/// when unset), without a trailing slash.
pub fn configured() -> std::sync::Arc<str> {
    std::env::var("PUBLIC_BASE_URL").unwrap_or_default().trim_end_matches('/').into()
}
