//! The pages (no inline script: the CSP forbids it) and the embedded assets.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::params;
use crate::AppState;

const PAGE: &str = include_str!("../../assets/page.html");
const INDEX: &str = include_str!("../../assets/index.html");

/// An embedded asset, by name: the page's script and style, and Plotly (vendored,
/// MIT; its licence is served beside it).
#[utoipa::path(get, path = "/assets/{name}", tag = "pages",
    params(("name" = String, Path, description = "app.js, accuracy.js, style.css, plotly-basic.min.js or LICENSE-plotly.txt", example = "app.js")),
    responses(
        (status = 200, description = "The asset", content(
            (String = "text/javascript"), (String = "text/css"), (String = "text/plain"),
        )),
        (status = 400, description = "A bad parameter, named", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such resource", body = crate::openapi::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::openapi::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::openapi::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (body, kind): (&'static [u8], &str) = match name.as_str() {
        "app.js" => (
            include_bytes!("../../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "accuracy.js" => (
            include_bytes!("../../assets/accuracy.js"),
            "text/javascript; charset=utf-8",
        ),
        "style.css" => (
            include_bytes!("../../assets/style.css"),
            "text/css; charset=utf-8",
        ),
        "plotly-basic.min.js" => (
            include_bytes!("../../assets/vendor/plotly-basic.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "LICENSE-plotly.txt" => (
            include_bytes!("../../assets/vendor/LICENSE-plotly.txt"),
            "text/plain; charset=utf-8",
        ),
        other => {
            return Err(ApiError::NotFound(format!(
                "/assets/{}",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(kind).expect("a valid content type"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response())
}

/// `/`: the form, and the recent runs from the log's catalog.
#[utoipa::path(get, path = "/", tag = "pages",
    responses(
        (status = 200, description = "The form and the recent runs", content_type = "text/html", body = String),
        (status = 400, description = "A bad parameter, named", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such resource", body = crate::openapi::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::openapi::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::openapi::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn index(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let log = state.log.clone();
    let mut catalog = tokio::task::spawn_blocking(move || log.catalog())
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    catalog.sort_by_key(|e| std::cmp::Reverse(e.updated_ms));
    let rows: String = catalog
        .iter()
        .filter_map(|e| Some((e, e.run.seed()?)))
        .take(20)
        .map(|(e, seed)| {
            format!(
                "<tr><td><a href=\"/propagate/{n}?seed={seed}\">seed {seed}</a></td><td>{n}</td><td>{target}</td><td>{status}</td><td>{updated}</td></tr>\n",
                n = e.iterations.max(1),
                seed = seed,
                target = e.target,
                status = if e.complete() { "complete" } else { "partial" },
                updated = nano_store::catalog::utc(e.updated_ms),
            )
        })
        .collect();
    let rows = if rows.is_empty() {
        "<tr><td colspan=\"5\">no runs yet</td></tr>".to_owned()
    } else {
        rows
    };
    Ok(Html(
        INDEX
            .replace("{{max}}", &state.limits.max_steps.to_string())
            .replace("{{runs}}", &rows),
    ))
}

/// `/go?n=N&seed=S`: the form's target; sends the browser to the run's page.
#[utoipa::path(get, path = "/go", tag = "pages",
    params(
        ("n" = u64, Query, description = "Iterations", minimum = 1),
        ("seed" = Option<u64>, Query, description = "The run's seed (default 0)"),
    ),
    responses(
        (status = 303, description = "To the run's page", headers(("Location" = String))),
        (status = 200, description = "The run's page (where a client follows the redirect)", content_type = "text/html", body = String),
        (status = 400, description = "A bad parameter, named", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such resource", body = crate::openapi::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::openapi::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::openapi::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn go(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Redirect, ApiError> {
    let query = params::query(raw.as_deref())?;
    let n = query.get("n").unwrap_or("");
    let run = params::run_request(n, &query, state.limits.max_steps)?;
    Ok(Redirect::to(&format!(
        "/propagate/{}?seed={}",
        run.n, run.seed
    )))
}

/// `/propagate/{n}?seed=S`: the page, at once; it follows progress and draws the plot
/// by itself.
#[utoipa::path(get, path = "/propagate/{n}", tag = "pages",
    params(
        ("n" = u64, Path, description = "Iterations, from 1 to --max-steps", minimum = 1),
        ("seed" = Option<u64>, Query, description = "The run's seed (default 0)"),
    ),
    responses(
        (status = 200, description = "The run's page: progress, then the plot", content_type = "text/html", body = String),
        (status = 400, description = "A bad parameter, named", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such resource", body = crate::openapi::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::openapi::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::openapi::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn run_page(
    State(state): State<AppState>,
    Path(n): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    let run = params::run_request(&n, &query, state.limits.max_steps)?;
    let page = PAGE
        .replace("{{n}}", &run.n.to_string())
        .replace("{{seed}}", &run.seed.to_string())
        .replace("{{points}}", &state.limits.page_points.to_string());
    Ok((StatusCode::OK, Html(page)).into_response())
}
