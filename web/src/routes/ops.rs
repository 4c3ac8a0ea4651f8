//! `/healthz`, `/readyz` and `/metrics`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::cache::CacheStatus;
use crate::AppState;

/// Alive: the process answers.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "alive"}))
}

/// Ready to serve, with the state of the cache and the cluster. A degraded cache is
/// reported (`"status": "degraded"`) but the service still serves: from the log, or by
/// computing.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let cache = match state.cache.status().await {
        CacheStatus::Memory => json!({"kind": "memory", "status": "ok"}),
        CacheStatus::RedisOk => json!({"kind": "redis", "status": "ok"}),
        CacheStatus::RedisDegraded(error) => {
            json!({"kind": "redis", "status": "degraded", "error": error})
        }
    };
    let degraded = cache["status"] != "ok";
    let body = json!({
        "status": if degraded { "degraded" } else { "ready" },
        "cache": cache,
        "cluster": {"jobs_in_flight": state.engine.in_flight(), "max_jobs": state.limits.max_jobs},
    });
    (StatusCode::OK, Json(body))
}

/// Prometheus text.
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
