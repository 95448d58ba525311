//! RFC 9457 problem details with a machine-readable `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use partnerops_aws::StoreError;
use partnerops_domain::auth::Role;
use partnerops_domain::{FieldError, FieldErrors};
use serde::Serialize;
use serde_json::{Map, Value};

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// A problem response. Boxed: handlers return `Result<_, Problem>` on every
/// path, and the happy path should not pay for the error's size.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Problem(Box<ProblemBody>);

#[derive(Debug, Clone, Serialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// A 401's `WWW-Authenticate` challenge (RFC 6750 §3): with an error
    /// code when a key was presented and refused, without one when none was.
    #[serde(skip)]
    pub challenge: &'static str,
}

const CHALLENGE: &str = "Bearer realm=\"partnerops\"";
const CHALLENGE_INVALID: &str = "Bearer realm=\"partnerops\", error=\"invalid_token\"";

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(ProblemBody {
            kind: format!("urn:partnerops:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            errors: Vec::new(),
            extra: Map::new(),
            challenge: CHALLENGE,
        }))
    }

    pub fn with(mut self, member: &str, value: impl Into<Value>) -> Self {
        self.0.extra.insert(member.to_owned(), value.into());
        self
    }

    pub fn body(&self) -> &ProblemBody {
        &self.0
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "A valid API key is required: Authorization: Bearer <key>.",
        )
    }

    /// 401 for a key that was presented but is unknown, revoked or wrong.
    pub fn invalid_key() -> Self {
        let mut problem = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "The API key is not valid: unknown, revoked or mistyped.",
        );
        problem.0.challenge = CHALLENGE_INVALID;
        problem
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "This API key's role may not do this.")
    }

    /// 403 `forbidden` naming the roles that may call the route
    /// (`required_roles`).
    pub fn forbidden_for(roles: &[Role]) -> Self {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let listed = match names.as_slice() {
            [] => "no role".to_owned(),
            [one] => format!("the role {one}"),
            [rest @ .., last] => format!("one of the roles {} or {last}", rest.join(", ")),
        };
        Self::new(StatusCode::FORBIDDEN, "forbidden", format!("This route needs {listed}."))
            .with("required_roles", names)
    }

    pub fn partner_suspended() -> Self {
        Self::new(StatusCode::FORBIDDEN, "partner_suspended", "This partner is suspended.")
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource.")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This route does not accept that method.")
    }

    pub fn payload_too_large() -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The body is larger than 64 KiB.")
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the body as application/json.")
    }

    pub fn malformed_json(detail: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", format!("The body is not valid JSON: {detail}"))
    }

    pub fn bad_request(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn validation(errors: impl Into<FieldErrors>) -> Self {
        let errors = errors.into().into_vec();
        let detail = match errors.len() {
            1 => "1 field is invalid.".to_owned(),
            n => format!("{n} fields are invalid."),
        };
        let mut problem = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail);
        problem.0.errors = errors;
        problem
    }

    pub fn field(field: &str, message: &str) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }

    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    pub fn conflict(code: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side; it is safe to retry.",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "Too many concurrent changes to the same record; retry shortly.",
        )
    }
}

impl std::ops::Deref for Problem {
    type Target = ProblemBody;

    fn deref(&self) -> &ProblemBody {
        &self.0
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
        // RFC 9110 §15.5.2: a 401 names the scheme that would be accepted.
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(self.0.challenge));
        }
        response
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::InvalidCursor => {
                Problem::bad_request("invalid_cursor", "The cursor is not valid for this list.")
            }
            StoreError::Conflict(what) => {
                tracing::warn!(conflict = what, "write conflict not resolved by retries");
                Problem::unavailable()
            }
            StoreError::AlreadyApplied => Problem::conflict("already_applied", "This change was applied already."),
            StoreError::Unexpected(e) => {
                tracing::error!(error = %format!("{e:#}"), "store call failed");
                Problem::internal()
            }
        }
    }
}

/// The result type of every route handler: expected outcomes, including
/// 4xx, are `Problem`s, never panics or opaque errors.
pub type ApiResult<T = Response> = Result<T, Problem>;

/// A handler's own read-decide-write answers with a problem when it ends.
impl From<Problem> for partnerops_app::retry::Attempt<Problem> {
    fn from(problem: Problem) -> Self {
        Self::Failed(problem)
    }
}
