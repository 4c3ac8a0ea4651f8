//! `/accuracy` and `/api/accuracy`: the accuracy report (every integrator against the
//! exact Kepler solution, `nano_pipeline::orbit::accuracy`) as a page and as JSON.
//!
//! The report takes seconds of computation, so it is computed once per process, on
//! the blocking pool, by the first request that asks; later requests get it from
//! memory. The page answers at once and fetches the JSON.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use nano_pipeline::orbit::accuracy;

use crate::error::ApiError;
use crate::AppState;

/// Orbits the service's report covers (the CLI's default).
pub const ORBITS: u64 = 1000;

const PAGE: &str = include_str!("../../assets/accuracy.html");

/// The report's JSON once computed, shared by every request (see the module).
pub type Computed = Arc<tokio::sync::OnceCell<Bytes>>;

/// The report, computing it the first time. The computation runs in a task of its
/// own, so that a request that ends (a time-out, a client gone) does not cancel it
/// and the next one does not start over.
async fn report(state: &AppState) -> Result<Bytes, ApiError> {
    let cell = Arc::clone(&state.accuracy);
    tokio::spawn(async move {
        cell.get_or_try_init(|| async {
            tokio::task::spawn_blocking(|| {
                let rows = accuracy::report(ORBITS).map_err(std::io::Error::other)?;
                let mut json = Vec::new();
                accuracy::write_json(&rows, ORBITS, &mut json)?;
                Ok::<_, std::io::Error>(Bytes::from(json))
            })
            .await
            .map_err(std::io::Error::other)?
        })
        .await
        .cloned()
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// `GET /api/accuracy`: the report over 1,000 orbits.
#[utoipa::path(get, path = "/api/accuracy", tag = "accuracy",
    responses(
        (status = 200, description = "Every integrator on every eccentricity: errors against Kepler, steps, time, and the energy error over time", body = crate::schemas::AccuracyReport),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn json(State(state): State<AppState>) -> Result<Response, ApiError> {
    let body = report(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// `GET /accuracy`: the page (the table and a log-scale plot of the energy error over
/// time), drawn from `/api/accuracy`.
#[utoipa::path(get, path = "/accuracy", tag = "pages",
    responses(
        (status = 200, description = "The accuracy report's page", content_type = "text/html", body = String),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn page() -> Html<String> {
    Html(PAGE.replace("{{orbits}}", &ORBITS.to_string()))
}
