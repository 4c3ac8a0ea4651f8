//! Web errors as values: every failure a handler can meet, with the status and the JSON
//! body it becomes.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// What went wrong with a request; handlers return `Result<_, ApiError>`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter broke its rule: named, with the value (shortened) and the rule.
    #[error("{field} {rule} (got '{value}')")]
    BadParam {
        field: &'static str,
        value: String,
        rule: String,
    },
    /// Too many jobs are in flight to start another.
    #[error("too many runs are being computed ({in_flight}); try again shortly")]
    Busy { in_flight: usize },
    /// The service cannot compute now (the log cannot be written); the reason says why.
    #[error("{0}")]
    Unavailable(String),
    /// No credentials, or the wrong ones, for an endpoint that needs them.
    #[error("this endpoint needs the API token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// The client started too many runs too quickly.
    #[error("too many new runs from this client; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// No such page or endpoint.
    #[error("no such resource: {0}")]
    NotFound(String),
    /// The log or the engine failed; the detail is logged, not shown.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A parameter error, with the offending value cut to a readable length.
    pub fn bad(field: &'static str, value: &str, rule: impl Into<String>) -> Self {
        let mut shown: String = value.chars().take(40).collect();
        if shown.len() < value.len() {
            shown.push('…');
        }
        ApiError::BadParam {
            field,
            value: shown,
            rule: rule.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let (status, body) = match &self {
            ApiError::BadParam { field, value, rule } => (
                StatusCode::BAD_REQUEST,
                json!({"error": {"field": field, "value": value, "rule": rule, "message": message}}),
            ),
            ApiError::Busy { .. } | ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": {"message": message}}),
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"error": {"message": message}}),
            ),
            ApiError::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": {"message": message}}),
            ),
            ApiError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                json!({"error": {"message": message}}),
            ),
            ApiError::Internal(detail) => {
                eprintln!("sedaro-nano serve: internal error: {detail}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": {"message": message}}),
                )
            }
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            ApiError::Busy { .. } => Some(2),
            ApiError::Unavailable(_) => Some(30),
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<nano_store::Error> for ApiError {
    fn from(e: nano_store::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<nano_pipeline::Error> for ApiError {
    fn from(e: nano_pipeline::Error) -> Self {
        match e {
            nano_pipeline::Error::LogFailed(_) => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
