//! `/healthz`, `/readyz` and `/metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::cache::CacheStatus;
use crate::AppState;

/// Alive: the process answers and its log can be written. After a failed write (a
/// full disk) it answers 503, so that an orchestrator restarts it: sled cannot recover
/// in-process, and a restart resumes every run from its last durable block.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "Alive", body = crate::schemas::Status),
        (status = 503, description = "The log cannot be written", body = crate::schemas::Status),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.engine.log_failure() {
        None => (StatusCode::OK, Json(json!({"status": "alive"}))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({"status": "unhealthy", "reason": format!("the log cannot be written: {reason}")}),
            ),
        ),
    }
}

/// Ready to serve, with the state of the cache, the log, the engine and the cluster.
/// An engine with runs in flight that has committed no round for `--stall-after`
/// seconds is stuck (`"engine": {"status": "stuck", "reason": ..}`, 503). A degraded cache is
/// reported (`"status": "degraded"`) but the service still serves: from the log, or by
/// computing. So is a read-only log (its volume full, `"log": {"status": "read-only",
/// "reason": ..}`): logged runs are served, and computation resumes when space returns.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready (perhaps with a degraded cache)", body = crate::schemas::Ready),
        (status = 503, description = "The log cannot be written, or the engine is stuck (runs in flight and no round committed for --stall-after seconds)", body = crate::schemas::Ready),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let cache = match state.cache.status().await {
        CacheStatus::Memory => json!({"kind": "memory", "status": "ok"}),
        CacheStatus::RedisOk => json!({"kind": "redis", "status": "ok"}),
        CacheStatus::RedisDegraded(error) => {
            json!({"kind": "redis", "status": "degraded", "error": error})
        }
    };
    let read_only = {
        let log = state.log.clone();
        tokio::task::spawn_blocking(move || log.read_only())
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
    };
    let log = match (state.engine.log_failure(), read_only) {
        (Some(reason), _) => json!({"status": "failed", "error": reason}),
        (None, Ok(Some(reason))) => json!({"status": "read-only", "reason": reason}),
        (None, Err(e)) => json!({"status": "read-only", "reason": e}),
        (None, Ok(None)) => json!({"status": "ok"}),
    };
    let engine = match state.engine.stalled(state.limits.stall_after) {
        Some(reason) => json!({"status": "stuck", "reason": reason}),
        None => json!({"status": "ok"}),
    };
    let degraded = cache["status"] != "ok" || log["status"] != "ok";
    // Read-only still serves every logged run: ready, degraded. A stuck engine serves
    // logged runs too, but every run waiting on it waits in vain: not ready.
    let status = if log["status"] != "failed" && engine["status"] == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if engine["status"] != "ok" { "stuck" } else if degraded { "degraded" } else { "ready" },
        "cache": cache,
        "log": log,
        "engine": engine,
        "cluster": {"jobs_in_flight": state.engine.in_flight(), "max_jobs": state.limits.max_jobs},
        "memory": {"reads_in_use_bytes": state.readers.in_use(), "reads_capacity_bytes": state.readers.capacity(),
                   "engine_blocks_charged_bytes": state.engine.blocks_charged(), "engine_blocks_capacity_bytes": state.engine.blocks_bound()},
    });
    (status, Json(body))
}

/// Prometheus text.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text", content_type = "text/plain", body = String),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let log = state.log.clone();
    let log_bytes = tokio::task::spawn_blocking(move || log.size_on_disk().unwrap_or(0))
        .await
        .unwrap_or(0);
    let committed = state.engine.iterations_committed();
    let rate = state
        .rate
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .sample(committed);
    let text = state
        .metrics
        .render(state.engine.in_flight(), log_bytes, rate);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
