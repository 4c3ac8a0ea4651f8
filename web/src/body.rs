//! Request bodies: their limit ([`crate::BODY_BYTES`],
//! [`crate::routes::runs::RUN_BODY_BYTES`] for a scenario,
//! [`crate::routes::catalogs::CATALOG_BODY_BYTES`] for a catalogue), and the drain that lets a
//! client over it read its 413.
//!
//! A client sends its whole body before it reads the answer. Answered as soon as the
//! body passed its limit, with the rest unread, the connection was closed on data still
//! arriving: the kernel then resets it, the client's upload fails (EPIPE) and the 413
//! waiting in its socket is lost. So what follows the limit is read and discarded, up
//! to [`DRAIN_BYTES`] past it and within the request timeout, before the 413 (with
//! `Connection: close`) is answered. A body longer than that still gets the 413 at once
//! and the connection closed: the service does not read without bound to be polite. A
//! client that asks `Expect: 100-continue` has sent nothing yet and is answered at once.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::Frame;
use tokio_stream::StreamExt;

use crate::error::ApiError;
use crate::AppState;

/// How far past its limit a body is read (and discarded) so that its client gets the
/// 413: 4 MiB, four times a scenario's limit (a catalogue of just over 64 MiB is
/// drained too; a much larger one gets its 413 at once).
pub const DRAIN_BYTES: u64 = 4 << 20;

/// The largest body a request may send: a scenario posted to `/api/runs` gets
/// [`crate::routes::runs::RUN_BODY_BYTES`], a catalogue posted to `/api/catalogs`
/// [`crate::routes::catalogs::CATALOG_BODY_BYTES`], any other [`crate::BODY_BYTES`].
pub fn limit_of(method: &Method, path: &str) -> u64 {
    match (method == Method::POST, path) {
        (true, "/api/runs") => crate::routes::runs::RUN_BODY_BYTES as u64,
        (true, "/api/catalogs") => crate::routes::catalogs::CATALOG_BODY_BYTES as u64,
        _ => crate::BODY_BYTES as u64,
    }
}

/// Bounds every request's body (see the module docs): a declared length over the limit
/// is drained and answered 413 before any handler runs; a body of undeclared length
/// is drained past the limit as the handler reads it, and its answer replaced by 413.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = limit_of(request.method(), request.uri().path());
    let hint = request.body().size_hint();
    if hint.exact() == Some(0) {
        return next.run(request).await;
    }
    if let Some(declared) = hint.exact().filter(|&declared| declared > limit) {
        let waits_to_send = request
            .headers()
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !waits_to_send && declared <= limit + DRAIN_BYTES {
            let mut data = request.into_body().into_data_stream();
            let drain = async { while let Some(Ok(_)) = data.next().await {} };
            let _ = tokio::time::timeout(state.limits.request_timeout, drain).await;
        }
        return too_large(limit);
    }
    let over = Arc::new(AtomicBool::new(false));
    let request = {
        let over = Arc::clone(&over);
        request.map(|body| Body::new(Drained::new(body, limit, over)))
    };
    let response = next.run(request).await;
    if over.load(Ordering::Relaxed) {
        return too_large(limit);
    }
    response
}

/// The 413 of a body over `limit`, naming it.
fn too_large(limit: u64) -> Response {
    let mut response = ApiError::Refused {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message: format!(
            "the request body is over its limit of {limit} bytes (a scenario posted to /api/runs may have {} KiB, a catalogue posted to /api/catalogs {} MiB, any other body {} KiB)",
            crate::routes::runs::RUN_BODY_BYTES >> 10,
            crate::routes::catalogs::CATALOG_BODY_BYTES >> 20,
            crate::BODY_BYTES >> 10
        ),
    }
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A body that passes its first `limit` bytes through, and past them reads and
/// discards the rest (up to [`DRAIN_BYTES`] more) before it fails, saying so in
/// `over`.
struct Drained {
    inner: Body,
    limit: u64,
    seen: u64,
    over: Arc<AtomicBool>,
    failed: bool,
}

impl Drained {
    fn new(inner: Body, limit: u64, over: Arc<AtomicBool>) -> Drained {
        Drained {
            inner,
            limit,
            seen: 0,
            over,
            failed: false,
        }
    }
}

/// The error a body over its limit ends with (the handler's answer is then replaced).
#[derive(Debug, thiserror::Error)]
#[error("the request body is over its limit of {0} bytes")]
struct OverLimit(u64);

impl HttpBody for Drained {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None if this.seen > this.limit => break,
                None => return Poll::Ready(None),
            };
            if let Some(data) = frame.data_ref() {
                this.seen += data.len() as u64;
            }
            if this.seen <= this.limit {
                return Poll::Ready(Some(Ok(frame)));
            }
            this.over.store(true, Ordering::Relaxed);
            if this.seen > this.limit + DRAIN_BYTES {
                break;
            }
        }
        this.failed = true;
        Poll::Ready(Some(Err(OverLimit(this.limit).into())))
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }
}
