//! The pages (no inline script: the CSP forbids it) and the embedded assets.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::params;
use crate::AppState;

const PAGE: &str = include_str!("../../assets/page.html");
const INDEX: &str = include_str!("../../assets/index.html");
const RUN: &str = include_str!("../../assets/run.html");

/// Output times per body the orbit run page asks for: enough for a smooth track and
/// error curve, few enough for Plotly to draw twelve bodies at once.
pub const RUN_PAGE_POINTS: usize = 2000;

/// An embedded asset, by name: the pages' scripts and style, and Plotly (vendored,
/// MIT; its licence is served beside it): the basic bundle for the 2D pages, the gl3d
/// bundle (3D traces, and 2D scatter too) for the orbit run page.
#[utoipa::path(get, path = "/assets/{name}", tag = "pages",
    params(("name" = String, Path, description = "app.js, auth.js, index.js, catalog.js, run.js, accuracy.js, style.css, plotly-basic.min.js, plotly-gl3d.min.js or LICENSE-plotly.txt", example = "app.js")),
    responses(
        (status = 200, description = "The asset", content(
            (String = "text/javascript"), (String = "text/css"), (String = "text/plain"),
        )),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn asset(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (body, kind): (&'static [u8], &str) = match name.as_str() {
        "app.js" => (
            include_bytes!("../../assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "auth.js" => (
            include_bytes!("../../assets/auth.js"),
            "text/javascript; charset=utf-8",
        ),
        "index.js" => (
            include_bytes!("../../assets/index.js"),
            "text/javascript; charset=utf-8",
        ),
        "catalog.js" => (
            include_bytes!("../../assets/catalog.js"),
            "text/javascript; charset=utf-8",
        ),
        "run.js" => (
            include_bytes!("../../assets/run.js"),
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
        "plotly-gl3d.min.js" => (
            include_bytes!("../../assets/vendor/plotly-gl3d.min.js"),
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
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn index(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let log = state.log.clone();
    let mut catalog = super::blocking(move || log.catalog()).await?;
    catalog.sort_by_key(|e| std::cmp::Reverse(e.updated_ms));
    let rows: String = catalog
        .iter()
        .take(20)
        .map(|e| {
            // A nano run's page is by seed and iterations; an orbit run's by its id.
            let link = match e.run.seed() {
                Some(seed) => format!(
                    "<a href=\"/propagate/{n}?seed={seed}\">seed {seed}</a>",
                    n = e.iterations.max(1)
                ),
                None => format!(
                    "<a href=\"/runs/{id}\">orbit {short}… ({bodies} bod{ies})</a>",
                    id = e.run.id.hex(),
                    short = &e.run.id.hex()[..8],
                    bodies = e.bodies,
                    ies = if e.bodies == 1 { "y" } else { "ies" },
                ),
            };
            format!(
                "<tr><td>{link}</td><td>{n}</td><td>{target}</td><td>{status}</td><td>{updated}</td></tr>\n",
                n = e.iterations.max(1),
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
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
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
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
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

/// `/runs/{id}`: the page of an orbit run, at once; it asks for the run's status and
/// then draws the tracks (up to 12 bodies) or plays the run back (a constellation);
/// once the run is complete, it lists the conjunctions (kept current from
/// `/conjunctions/events`) and has the manoeuvre form.
/// An id that is no run's is the page's to say (it asks `/api/runs/{id}/status`); an
/// id that cannot be one is a 400 here.
#[utoipa::path(get, path = "/runs/{id}", tag = "pages",
    params(("id" = String, Path, description = "The run's id: 32 lowercase hex digits (an orbit run) or a decimal seed (nano)", example = "0123456789abcdef0123456789abcdef")),
    responses(
        (status = 200, description = "The run's page: progress, then the 3D plot and the error plot, or the playback", content_type = "text/html", body = String),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn orbit_page(Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = params::run_id(&id)?;
    let page = RUN
        .replace("{{id}}", &id.to_string())
        .replace("{{points}}", &RUN_PAGE_POINTS.to_string());
    Ok((StatusCode::OK, Html(page)).into_response())
}
