//! One log line per request (method, route, status, latency, request id) with
//! `tracing`, and the request id echoed as `X-Request-Id`.
//!
//! The line names the route's pattern (`/api/propagate/{n}`), never the path or the
//! query: an `access_token=` in the URL, or an `Authorization` header, never reaches the
//! log. Internal errors leave their cause in the response's extensions
//! ([`crate::error::Detail`]); it is logged here with its sources, once, with the
//! request id, and the client sees only "internal error".

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;

use crate::error::Detail;

/// `X-Request-Id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of one request: the client's own `X-Request-Id` when it is a short token of
/// safe characters (so a proxy's id carries through), else a new one.
fn request_id(request: &Request) -> String {
    if let Some(given) = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
    {
        let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if (1..=64).contains(&given.len()) && given.chars().all(safe) {
            return given.to_owned();
        }
    }
    // The process's start (so ids differ across restarts) and a counter. A static is
    // the simplest owner of a counter that every request of the process shares.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static STARTED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let started = *STARTED.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    });
    format!("{started:x}-{:x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// One request being answered: what its log line needs, taken before the request is
/// handed on.
pub struct Traced {
    id: String,
    method: Method,
    route: Option<MatchedPath>,
    started: Instant,
}

impl Traced {
    /// Starts tracing `request`.
    pub fn start(request: &Request) -> Traced {
        Traced {
            id: request_id(request),
            method: request.method().clone(),
            // A clone of the route's shared name, not a copy of it.
            route: request.extensions().get::<MatchedPath>().cloned(),
            started: Instant::now(),
        }
    }

    /// The route's pattern, or "unmatched".
    pub fn route(&self) -> &str {
        self.route.as_ref().map_or("unmatched", |m| m.as_str())
    }

    /// Logs the request once its response is ready (the head: a streamed body may go
    /// on), and echoes the request id.
    pub fn finish(self, response: &mut Response) {
        let latency_ms = self.started.elapsed().as_micros() as f64 / 1e3;
        let (id, method, route) = (&self.id, &self.method, self.route());
        let status = response.status().as_u16();
        if let Some(detail) = response.extensions_mut().remove::<Detail>() {
            let detail = detail.chain();
            tracing::error!(request_id = %id, %method, route, status, detail, "internal error");
        }
        if response.status().is_server_error() {
            tracing::warn!(request_id = %id, %method, route, status, latency_ms, "request");
        } else {
            tracing::info!(request_id = %id, %method, route, status, latency_ms, "request");
        }
        if let Ok(value) = HeaderValue::from_str(id) {
            response.headers_mut().insert(REQUEST_ID.clone(), value);
        }
    }
}
