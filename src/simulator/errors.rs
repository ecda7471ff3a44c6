//! Error responses in both dialects: RFC 6749/6750 bodies and headers, or the platform's error body.

use super::config::ErrorStyle;
use super::tokens::Reject;
use axum::http::header::{HeaderValue, CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub(crate) const REALM: &str = "tokenstorm";

/// An error from a protected API (RFC 6750) or any non-OAuth route.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{description}")]
pub(crate) struct ApiError {
    pub status: StatusCode,
    /// RFC error code; empty when the RFC says to send none (a request without a token).
    pub error: &'static str,
    /// The platform's dotted code.
    pub code: &'static str,
    pub description: String,
    pub www_authenticate: Option<String>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        error: &'static str,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            error,
            code,
            description: description.into(),
            www_authenticate: None,
            retry_after: None,
        }
    }

    pub fn missing_token() -> Self {
        let mut e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "",
            "authentication.required",
            "no bearer token was sent",
        );
        e.www_authenticate = Some(format!("Bearer realm=\"{REALM}\""));
        e
    }

    pub fn invalid_token(why: Reject) -> Self {
        let mut e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "bad.credentials",
            why.to_string(),
        );
        e.www_authenticate = Some(format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{why}\""
        ));
        e
    }

    pub fn insufficient_scope(needed: &str) -> Self {
        let description = format!("the token lacks the `{needed}` scope");
        let mut e = ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "missing.permissions",
            &description,
        );
        e.www_authenticate = Some(format!(
            "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"{description}\", scope=\"{needed}\""
        ));
        e
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "bad.request",
            description,
        )
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "invalid.grant",
            description,
        )
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "not.found", description)
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too.many.requests.retry.after",
            format!("Rate limit exceeded the maximum. Retry the request in [{retry_after_secs}] seconds"),
        );
        e.retry_after = Some(retry_after_secs);
        e
    }

    pub fn server_error(unavailable: bool) -> Self {
        if unavailable {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "service.unavailable",
                "the service is temporarily unavailable",
            )
        } else {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal.server.error",
                "the server encountered an internal error",
            )
        }
    }

    /// 429 always carries the platform body, whatever the style (that is what the platform sends).
    pub fn into_response(self, style: ErrorStyle, correlation_id: &str) -> Response {
        let body = if style == ErrorStyle::Platform || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            Some(json!({
                "message": self.description,
                "code": self.code,
                "status": self.status.as_u16(),
                "contextId": correlation_id,
                "details": [],
                "errors": [],
            }))
        } else if self.error.is_empty() {
            None
        } else {
            Some(json!({"error": self.error, "error_description": self.description}))
        };
        let mut response = match body {
            Some(body) => (self.status, Json(body)).into_response(),
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        if let Some(v) = self
            .www_authenticate
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(WWW_AUTHENTICATE, v);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// An OAuth error from a token, revocation or introspection endpoint (RFC 6749 section 5.2).
pub(crate) fn oauth_error(
    style: ErrorStyle,
    status: StatusCode,
    error: &str,
    description: &str,
) -> Response {
    let body = match style {
        ErrorStyle::Standards => json!({"error": error, "error_description": description}),
        ErrorStyle::Platform => {
            json!({"error": error, "description": description, "error_description": description})
        }
    };
    let mut response = (status, Json(body)).into_response();
    no_store(&mut response);
    if status == StatusCode::UNAUTHORIZED {
        let basic = HeaderValue::from_static("Basic realm=\"tokenstorm\"");
        response.headers_mut().insert(WWW_AUTHENTICATE, basic);
    }
    response
}

/// Token responses must not be cached (RFC 6749 section 5.1).
pub(crate) fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}
