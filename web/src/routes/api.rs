//! `/api/propagate/{n}` and `/api/runs`: where a run comes from, cheapest first.

use axum::body::{Body, Bytes};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use nano_pipeline::job::JobEvent;

use super::blocking;
use crate::access::Caller;
use crate::budget::ReadPermit;
use crate::clients::StreamPlace;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::{budget, cache, params, series, AppState};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use nano_pipeline::scenario::Scenario;
use nano_pipeline::{Format, RunKey};
use serde_json::json;

fn content_type(format: Format) -> HeaderValue {
    HeaderValue::from_static(match format {
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
    })
}

/// `GET /api/propagate/{n}?seed=S[&format=csv][&points=K][&wait=W]`: 200 with the run
/// when it is ready (cache, then log); otherwise starts it (or joins it), waits up to
/// `W` seconds (at most 30) for it to complete, and if it has not, answers 202 with how
/// far it got, `Location` (the URL to ask again) and `Retry-After`.
#[utoipa::path(get, path = "/api/propagate/{n}", tag = "runs",
    params(
        ("n" = u64, Path, description = "Iterations, from 1 to --max-steps", minimum = 1),
        ("seed" = Option<u64>, Query, description = "The run's seed (default 0)"),
        ("format" = Option<String>, Query, description = "json (default) or csv", pattern = "^(json|csv)$"),
        ("points" = Option<u32>, Query, description = "A decimated series of at most this many points per agent", minimum = 2, maximum = 100000),
        ("wait" = Option<u32>, Query, description = "Seconds to hold the request until the run completes", minimum = 0, maximum = 30),
        ("access_token" = Option<String>, Query, description = "The API token, for clients that cannot send headers"),
    ),
    responses(
        (status = 200, description = "The run, whole (JSON or CSV) or decimated", content(
            (crate::schemas::RunBody = "application/json"),
            (String = "text/csv"),
        )),
        (status = 202, description = "Being computed: ask again at Location", body = crate::schemas::Running, headers(
            ("Location" = String, description = "The URL to ask again"),
            ("Retry-After" = u64, description = "Seconds to wait before asking"),
        )),
        (status = 401, description = "Starting a run needs the API token", body = crate::schemas::ErrorBody),
        (status = 429, description = "Too many new runs from this client, or it holds its share of the open streams or of the memory for reads (--client-share; Retry-After)", body = crate::schemas::ErrorBody),
        (status = 503, description = "Too many runs in flight, the log cannot be written, or a read does not fit in the memory budget (Retry-After)", body = crate::schemas::ErrorBody),
        (status = 507, description = "The log is read-only (its volume full) or a new run would pass its quota", body = crate::schemas::ErrorBody),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn run(
    State(state): State<AppState>,
    Path(n): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    let request = params::run_request(&n, &query, state.limits.max_steps)?;
    let format = params::format(&query)?;
    let points = params::points(&query)?;
    let (n, seed) = (request.n, request.seed);

    let wait = params::wait(&query)?;
    let address = state.access.client(peer_ip(&peer), &headers);
    if let Some(ready) = ready(&state, n, seed, format, points, address).await? {
        return Ok(ready);
    }

    let token = query.get("access_token").map(|t| t.to_string());
    let job = start_blocking(&state, RunKey::nano(seed), n, headers, token, address).await?;
    let joined_at = job.joined_at;
    if let Some(wait) = wait {
        // Within the request's own time-out, so that a wait ends in 202, not 408.
        let wait = wait.min(state.limits.request_timeout.mul_f64(0.9));
        if completes(&state, job, wait).await? {
            if let Some(ready) = ready(&state, n, seed, format, points, address).await? {
                return Ok(ready);
            }
        }
    }
    let mut poll = format!("/api/propagate/{n}?seed={seed}");
    if format != Format::Json {
        poll.push_str("&format=csv");
    }
    if let Some(points) = points {
        poll.push_str(&format!("&points={points}"));
    }
    Ok((
        StatusCode::ACCEPTED,
        [
            (
                header::LOCATION,
                HeaderValue::from_str(&poll).expect("digits and ASCII letters"),
            ),
            (header::RETRY_AFTER, HeaderValue::from(POLL_AFTER_SECONDS)),
        ],
        Json(
            json!({"status": "running", "n": n, "seed": seed, "iterations_done": joined_at.min(n)}),
        ),
    )
        .into_response())
}

/// The `Retry-After` of a 202: how long a client should wait before asking again.
pub const POLL_AFTER_SECONDS: u64 = 1;

/// The connection's peer address, when the server knows it (not in `oneshot` tests).
pub fn peer_ip(peer: &Option<Extension<ConnectInfo<SocketAddr>>>) -> Option<IpAddr> {
    peer.as_ref()
        .map(|Extension(ConnectInfo(address))| address.ip())
}

/// A place among the open streams ([`crate::Limits::max_streams`]) within `client`'s
/// share of them ([`crate::clients`]): 503 when they are all taken, 429 when the
/// client holds its share.
pub fn stream_permit(state: &AppState, client: Option<IpAddr>) -> Result<StreamPlace, ApiError> {
    stream_place(state, client, 0, "a stream")
}

/// What a streamed download holds while it runs: a place among the open streams and
/// `bytes` of the readers' share, each within `client`'s share; 503 when either is
/// full, 429 when the client holds its share. `what` names the read in a refusal.
pub fn download_permits(
    state: &AppState,
    client: Option<IpAddr>,
    bytes: u64,
    what: &str,
) -> Result<(StreamPlace, ReadPermit), ApiError> {
    let budget = state.readers.admit(bytes, what)?;
    Ok((stream_place(state, client, bytes, what)?, budget))
}

fn stream_place(
    state: &AppState,
    client: Option<IpAddr>,
    bytes: u64,
    what: &str,
) -> Result<StreamPlace, ApiError> {
    let place = Arc::clone(&state.streams)
        .try_acquire_owned()
        .map_err(|_| ApiError::TooManyStreams {
            open: state.limits.max_streams,
        })?;
    let client = state.clients.take(client, 1, bytes, what)?;
    Ok(StreamPlace::new(place, client))
}

/// [`start`] on a blocking thread: it reads the log and may write it (a run's target).
/// The caller's headers, query token and address are moved there.
pub async fn start_blocking(
    state: &AppState,
    run: RunKey,
    n: u64,
    headers: HeaderMap,
    query_token: Option<String>,
    address: Option<IpAddr>,
) -> Result<nano_pipeline::job::JobHandle, ApiError> {
    let seed = run.seed().ok_or_else(|| {
        ApiError::internal(format!(
            "run {run} is not a nano run: start it by its scenario"
        ))
    })?;
    start_scenario_blocking(
        state,
        Scenario::Nano { seed },
        n,
        headers,
        query_token,
        address,
    )
    .await
}

/// [`start_blocking`] for any scenario (an orbit run needs its scenario to start).
pub async fn start_scenario_blocking(
    state: &AppState,
    scenario: Scenario,
    n: u64,
    headers: HeaderMap,
    query_token: Option<String>,
    address: Option<IpAddr>,
) -> Result<nano_pipeline::job::JobHandle, ApiError> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        let caller = Caller {
            headers: &headers,
            query_token: query_token.as_deref(),
            address,
        };
        start_scenario(&state, &scenario, n, &caller)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Starts (or joins) the job for the first `n` iterations of `run`. Joining a run in
/// flight (for no more than it runs to), or one the log holds far enough, is open to all; a request that would start
/// computation needs the API token (when one is set), fits under the bound on jobs in
/// flight, and takes one from the caller's allowance of new runs.
pub fn start(
    state: &AppState,
    run: RunKey,
    n: u64,
    caller: &Caller<'_>,
) -> Result<nano_pipeline::job::JobHandle, ApiError> {
    let seed = run.seed().ok_or_else(|| {
        ApiError::internal(format!(
            "run {run} is not a nano run: start it by its scenario"
        ))
    })?;
    start_scenario(state, &Scenario::Nano { seed }, n, caller)
}

/// [`start`] for any scenario: the first `n` output steps (orbit) or iterations (nano)
/// of the run `scenario` names, under the same rules.
pub fn start_scenario(
    state: &AppState,
    scenario: &Scenario,
    n: u64,
    caller: &Caller<'_>,
) -> Result<nano_pipeline::job::JobHandle, ApiError> {
    let run = scenario.run_key();
    if let Some(reason) = state.engine.log_failure() {
        return Err(ApiError::Unavailable(
            nano_pipeline::Error::LogFailed(reason).to_string(),
        ));
    }
    // Joining a job in flight is open to all, unless it asks for more than the job
    // runs to: extending it is new computation.
    let in_flight_target = state.engine.in_flight_target(run);
    let joining = in_flight_target.is_some();
    let computes = match in_flight_target {
        Some(wanted) => wanted < n,
        None => state.log.entry(run)?.is_none_or(|e| e.iterations < n),
    };
    if computes {
        state.access.authorize(caller.headers, caller.query_token)?;
    }
    let in_flight = state.engine.in_flight();
    if in_flight >= state.limits.max_jobs && !joining {
        return Err(ApiError::Busy { in_flight });
    }
    let job = if computes {
        // Refused up front when the log's quota or its volume cannot take the run; its
        // estimate stays reserved with the job until the job ends.
        let logged = state.log.entry(run)?.map_or(0, |e| e.iterations);
        let bodies = match scenario {
            Scenario::Orbit(orbit) => u32::try_from(orbit.body_count()).unwrap_or(u32::MAX),
            Scenario::Nano { .. } => 2,
        };
        let reservation = state.log.admit(run, bodies, n.saturating_sub(logged))?;
        state.access.admit(caller.address)?;
        state
            .engine
            .submit_scenario_admitted(scenario, n, reservation)?
    } else {
        state.engine.submit_scenario(scenario, n, false)?
    };
    if job.started {
        Metrics::bump(&state.metrics.jobs_started);
    }
    Ok(job)
}

/// The run when it is ready, cheapest first: the cache, then the log (a logged run with
/// at least `n` iterations serves its prefix); `None` when it must be computed.
pub(crate) async fn ready(
    state: &AppState,
    n: u64,
    seed: u64,
    format: Format,
    points: Option<usize>,
    client: Option<IpAddr>,
) -> Result<Option<Response>, ApiError> {
    let whole_json = format == Format::Json && points.is_none();
    // The page's series is cached as the whole documents are, and kept in the log
    // beside its run: computed from the run's records once, then served without a scan
    // of them, after a restart too.
    let key = match points {
        Some(points) => Some(cache::series_key(seed, n, points)),
        None if whole_json => Some(cache::key(seed, n)),
        None => None,
    };
    if let Some(key) = &key {
        if let Some(document) = state.cache.get(key).await {
            Metrics::bump(&state.metrics.cache_hits);
            return Ok(Some(
                (
                    [(header::CONTENT_TYPE, content_type(Format::Json))],
                    document,
                )
                    .into_response(),
            ));
        }
        Metrics::bump(&state.metrics.cache_misses);
    }

    let run = RunKey::nano(seed);
    let log = state.log.clone();
    let logged = blocking(move || log.entry(run).map(|e| e.map_or(0, |e| e.iterations))).await?;
    if logged >= n {
        Metrics::bump(&state.metrics.log_served);
        let log = state.log.clone();
        // Each read holds its share of the memory budget until it ends (see `budget`).
        if let (Some(points), Some(key)) = (points, key.clone()) {
            let permit = state
                .readers
                .admit(budget::STREAM_BYTES, "the series of a run")?;
            let kept_points =
                u32::try_from(points).expect("points are checked to be at most 100,000");
            let series = Bytes::from(
                blocking(move || -> Result<_, nano_pipeline::Error> {
                    let _permit = permit;
                    if let Some(kept) = log.series(run, n, kept_points)? {
                        return Ok(kept);
                    }
                    let series = series::decimated(&log, seed, n, points)?;
                    // Kept for the next view; a log that cannot take it now (its
                    // volume full) still serves this one, and the next computes it.
                    if let Err(e) = log.put_series(run, n, kept_points, &series) {
                        tracing::warn!(%run, n, points, error = %e, "the page's series is not kept");
                    }
                    Ok(series)
                })
                .await?,
            );
            state.cache.put(key, series.clone()).await;
            return Ok(Some(
                ([(header::CONTENT_TYPE, content_type(Format::Json))], series).into_response(),
            ));
        }
        if let Some(key) = key.filter(|_| {
            whole_json
                && n <= state.limits.cache_max_iterations
                && budget::document_bytes(n) <= state.readers.capacity()
        }) {
            let permit = state
                .readers
                .admit_within(
                    budget::document_bytes(n),
                    "the document of a run",
                    budget::DOCUMENT_WAIT,
                )
                .await?;
            let document = Bytes::from(
                blocking(move || {
                    let _permit = permit;
                    series::document(&log, seed, n, Format::Json)
                })
                .await?,
            );
            state.cache.put(key, document.clone()).await;
            return Ok(Some(
                ([(header::CONTENT_TYPE, content_type(format))], document).into_response(),
            ));
        }
        let (permit, budget) =
            download_permits(state, client, budget::STREAM_BYTES, "a download of a run")?;
        let body: Body = series::stream(
            log,
            seed,
            n,
            format,
            Arc::clone(&state.reads),
            state.limits.send_timeout,
            permit,
            budget,
        );
        return Ok(Some(
            ([(header::CONTENT_TYPE, content_type(format))], body).into_response(),
        ));
    }

    Ok(None)
}

/// Waits (at most `wait`) for the job to complete: `Ok(true)` when it did. The wait
/// takes a blocking-pool thread (the job's events arrive on a blocking channel), never
/// a tokio worker; at most [`crate::MAX_WAITERS`] requests wait at once, the others
/// answer at once.
async fn completes(
    state: &AppState,
    mut job: nano_pipeline::job::JobHandle,
    wait: Duration,
) -> Result<bool, ApiError> {
    let Ok(_permit) = state.waiters.clone().try_acquire_owned() else {
        return Ok(false);
    };
    // Awaited, not blocked on: a waiting request holds no thread.
    let ended = tokio::time::timeout(wait, async {
        loop {
            match job.recv().await {
                Some(JobEvent::Complete { .. }) => return Ok(true),
                Some(JobEvent::Failed(reason)) => return Err(reason),
                Some(_) => continue,
                None => return Ok(false),
            }
        }
    })
    .await;
    match ended {
        Ok(ended) => ended.map_err(ApiError::Unavailable),
        Err(_) => Ok(false),
    }
}

/// `GET /api/runs`: the catalog.
#[utoipa::path(get, path = "/api/runs", tag = "runs",
    responses(
        (status = 200, description = "The catalog of logged runs", body = crate::schemas::Runs),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn runs(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let log = state.log.clone();
    let catalog = blocking(move || log.catalog()).await?;
    let entries: Vec<_> = catalog
        .iter()
        .map(nano_store::CatalogEntry::summary)
        .collect();
    Ok(Json(json!({ "runs": entries })))
}
