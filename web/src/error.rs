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
    /// A field of a request's JSON body broke its rule: named by its path in the body
    /// (`scenario.bodies[2].elements.e`), with the rule (which quotes the value).
    #[error("{field}: {rule}")]
    BadField { field: String, rule: String },
    /// Too many jobs are in flight to start another.
    #[error("too many runs are being computed ({in_flight}); try again shortly")]
    Busy { in_flight: usize },
    /// Too many progress streams and streamed bodies are open to open another.
    #[error("too many streams are open ({open}); try again shortly")]
    TooManyStreams { open: usize },
    /// The service cannot compute now (the log cannot be written); the reason says why.
    #[error("{0}")]
    Unavailable(String),
    /// A read of the log does not fit in the memory budget now; the reason says why.
    #[error("{reason}")]
    MemoryFull { reason: String },
    /// The log has reached its disk quota, or its volume is full: no new computation.
    #[error("{reason}")]
    LogFull { reason: String },
    /// No credentials, or the wrong ones, for an endpoint that needs them.
    #[error("this endpoint needs the API token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// The client started too many runs too quickly.
    #[error("too many new runs from this client; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// The client holds its share of the open streams or of the memory for reads
    /// ([`crate::clients`]); the reason says which.
    #[error("{reason}")]
    ClientShare { reason: String },
    /// No such page or endpoint.
    #[error("no such resource: {0}")]
    NotFound(String),
    /// The log or the engine failed; the error and its sources are logged, not shown.
    #[error("internal error")]
    Internal(#[source] Cause),
    /// A file sent as a catalogue is not one, or no object of it could be read: what
    /// was wrong, and the first objects refused with their field and rule.
    #[error("{message}")]
    Catalog {
        message: String,
        refused: Vec<nano_pipeline::catalog::Refusal>,
    },
    /// Refused before a handler ran (a method the route does not have, a body over the
    /// limit, a time-out, a path that is not UTF-8): the status and what was said.
    #[error("{message}")]
    Refused { status: StatusCode, message: String },
}

/// What an internal error comes from: an error of the log, the engine or the
/// runtime, with its own sources, or a description where there is none.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An internal cause and what was being done when it came.
#[derive(Debug, thiserror::Error)]
#[error("{doing}")]
pub struct While {
    pub doing: String,
    #[source]
    pub cause: Cause,
}

/// The cause of an internal error, left in the response's extensions for the request
/// log ([`crate::trace`]); the client sees only "internal error".
#[derive(Debug, Clone)]
pub struct Detail(pub std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl Detail {
    /// The error and each of its sources, joined by ": ".
    pub fn chain(&self) -> String {
        chain(&*self.0)
    }
}

/// `error` and each of its sources, joined by ": ".
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

impl ApiError {
    /// An internal error caused by `cause` (an error, or a description).
    pub fn internal(cause: impl Into<Cause>) -> Self {
        ApiError::Internal(cause.into())
    }

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
            ApiError::BadField { field, rule } => (
                StatusCode::BAD_REQUEST,
                json!({"error": {"field": field, "rule": rule, "message": message}}),
            ),
            ApiError::Busy { .. }
            | ApiError::TooManyStreams { .. }
            | ApiError::Unavailable(_)
            | ApiError::MemoryFull { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": {"message": message}}),
            ),
            ApiError::LogFull { .. } => (
                StatusCode::INSUFFICIENT_STORAGE,
                json!({"error": {"message": message}}),
            ),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                json!({"error": {"message": message}}),
            ),
            ApiError::RateLimited { .. } | ApiError::ClientShare { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({"error": {"message": message}}),
            ),
            ApiError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                json!({"error": {"message": message}}),
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": {"message": message}}),
            ),
            ApiError::Catalog { refused, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": {"field": "body", "message": message, "refused": refused}}),
            ),
            ApiError::Refused { status, .. } => (*status, json!({"error": {"message": message}})),
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            ApiError::Busy { .. }
            | ApiError::TooManyStreams { .. }
            | ApiError::ClientShare { .. } => Some(2),
            ApiError::Unavailable(_) | ApiError::LogFull { .. } => Some(30),
            ApiError::MemoryFull { .. } => Some(1),
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let ApiError::Internal(cause) = self {
            response.extensions_mut().insert(Detail(cause.into()));
            return response;
        }
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Gives every error response the JSON form: those made before a handler ran (axum's
/// extractor rejections, 404/405, the body limit's 413, the time-out's 408) come as
/// plain text or empty; they become [`ApiError::Refused`] with the same status and
/// headers (`Allow`, ...), and what they said as the message.
pub async fn as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let said = axum::body::to_bytes(body, 1024).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&said);
    let reason = status.canonical_reason().unwrap_or("error").to_lowercase();
    let message = match said.trim() {
        "" => reason,
        text => format!("{reason}: {}", text.chars().take(200).collect::<String>()),
    };
    let mut json = ApiError::Refused { status, message }.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

impl From<nano_store::Error> for ApiError {
    fn from(e: nano_store::Error) -> Self {
        match e {
            nano_store::Error::NoSpace { .. }
            | nano_store::Error::QuotaReached { .. }
            | nano_store::Error::ReadOnly(_) => ApiError::LogFull {
                reason: e.to_string(),
            },
            other => ApiError::internal(other),
        }
    }
}

impl From<nano_pipeline::Error> for ApiError {
    fn from(e: nano_pipeline::Error) -> Self {
        match e {
            nano_pipeline::Error::LogFailed(_) => ApiError::Unavailable(e.to_string()),
            // Refused with a reason (503, as a run the memory cannot take now is).
            // Retrying cannot help (the process's budget decides), so no 503: a 413, as
            // for a screening that could never fit.
            nano_pipeline::Error::OverMemory { .. } => ApiError::Refused {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: e.to_string(),
            },
            nano_pipeline::Error::Store(store) => store.into(),
            nano_pipeline::Error::NanoRun { .. } | nano_pipeline::Error::NoSuchRun { .. } => {
                ApiError::NotFound(e.to_string())
            }
            nano_pipeline::Error::TooManyVersions { .. } => ApiError::Refused {
                status: StatusCode::CONFLICT,
                message: e.to_string(),
            },
            nano_pipeline::Error::Manoeuvre(refused) => ApiError::BadField {
                field: "dv_kms".into(),
                rule: refused.to_string(),
            },
            other => ApiError::internal(other),
        }
    }
}
