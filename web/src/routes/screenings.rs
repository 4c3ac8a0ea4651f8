//! Screenings as jobs: `POST /api/runs/{id}/screenings` (`{"d": D, "version": V}`)
//! starts one, `GET /api/runs/{id}/screenings[/{job}[/events]]` follows them.
//!
//! A screening computes, so it is asked for as a run is: with the token when the
//! service has one, counted by the rate limit, and admitted against the screenings'
//! share of the memory budget. It answers at once: 200 when the log already keeps a
//! screening of the version at `D` or more (the conjunctions below `D` are read from
//! it, [`screening::kept_within`]), 202 with the job's `Location` otherwise (the job
//! already under way at `D` or more when there is one). Reads
//! (`GET .../conjunctions`) never compute.
//!
//! How a job screens a version ([`start`]): when the whole run's screening fits in the
//! share, at once, keeping the screener when the version is the latest so that a
//! manoeuvre updates it in milliseconds; otherwise in windows of time
//! ([`nano_pipeline::screening::windows`]) within half the share, its progress told
//! window by window. Either way the answer is kept in the log, and announced.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nano_pipeline::runs::screening::{self, Held};
use nano_pipeline::runs::LoggedRun;
use nano_pipeline::screening::screener::ScreeningError;
use nano_pipeline::screening::windows;
use nano_store::Version;
use serde_json::{json, Value};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};

use super::blocking;
use super::conjunctions::{DEFAULT_DISTANCE_KM, MAX_DISTANCE_KM};
use super::events::event;
use super::versions::{complete_run, pick};
use crate::budget::SCREENING_BYTES_PER_SAMPLE;
use crate::clients::Client;
use crate::error::{ApiError, While};
use crate::metrics::Metrics;
use crate::params;
use crate::routes::api::stream_permit;
use crate::screenings::{Job, JobState, Reservation};
use crate::AppState;

/// A screening request's body: `{"d": D, "version": V}`, both optional.
fn parse_request(body: &[u8]) -> Result<(f64, Option<u32>), ApiError> {
    let bad = |field: &str, rule: String| ApiError::BadField {
        field: field.to_owned(),
        rule,
    };
    let shape = "must be a JSON object {\"d\": D, \"version\": V} (both optional)";
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| bad("body", format!("{shape}; it is not JSON: {e}")))?
    };
    let Value::Object(fields) = value else {
        return Err(bad("body", format!("{shape}, not {value}")));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["d", "version"].contains(&k.as_str()))
    {
        return Err(bad(
            unknown,
            "is not a field of a screening (it has d and version)".into(),
        ));
    }
    let d = match fields.get("d") {
        None => DEFAULT_DISTANCE_KM,
        Some(v) => match v.as_f64() {
            Some(d) if d > 0.0 && d <= MAX_DISTANCE_KM => d,
            _ => {
                return Err(bad(
                    "d",
                    format!("must be the screening distance in km, above 0 and at most {MAX_DISTANCE_KM}, got {v}"),
                ))
            }
        },
    };
    let version = match fields.get("version") {
        None => None,
        Some(v) => match v.as_u64().and_then(|v| u32::try_from(v).ok()) {
            Some(v) => Some(v),
            None => {
                return Err(bad(
                    "version",
                    format!("must be a version of the run, a whole number from 0, got {v}"),
                ))
            }
        },
    };
    Ok((d, version))
}

/// Where a job is read.
fn job_path(run: &LoggedRun, job: &Job) -> String {
    format!("/api/runs/{}/screenings/{}", run.id, job.id)
}

/// A job as the API writes it, in its state now.
fn job_json(run: &LoggedRun, job: &Job) -> Value {
    job_json_in(run, job, job.state())
}

/// A job as the API writes it, in `state`.
fn job_json_in(run: &LoggedRun, job: &Job, state: JobState) -> Value {
    let path = job_path(run, job);
    let conjunctions = format!(
        "/api/runs/{}/conjunctions?d={}&version={}",
        run.id, job.d_km, job.version
    );
    let mut doc = json!({
        "id": job.id,
        "run": run.id.to_string(),
        "version": job.version,
        "d_km": job.d_km,
        "windowed": job.windowed,
        "processes": job.processes,
        "incremental": job.incremental.load(std::sync::atomic::Ordering::Relaxed),
        "status_url": path,
        "events_url": format!("{path}/events"),
        "conjunctions_url": conjunctions,
    });
    let fields = doc.as_object_mut().expect("an object");
    match state {
        JobState::Running { done, total } => {
            fields.insert("state".into(), json!("running"));
            fields.insert("done".into(), json!(done));
            fields.insert("total".into(), json!(total));
        }
        JobState::Done { count } => {
            fields.insert("state".into(), json!("done"));
            fields.insert("count".into(), json!(count));
        }
        JobState::Failed { status, reason } => {
            fields.insert("state".into(), json!("failed"));
            fields.insert("status".into(), json!(status));
            fields.insert("reason".into(), json!(reason));
        }
    }
    doc
}

/// 202, the job's `Location`, and the job in `state`.
fn accepted(run: &LoggedRun, job: &Job, state: JobState) -> Response {
    let location = HeaderValue::from_str(&job_path(run, job)).expect("hex digits and ASCII");
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(job_json_in(run, job, state)),
    )
        .into_response()
}

/// `POST /api/runs/{id}/screenings`: screens a version (default: the latest) at `d`.
#[utoipa::path(post, path = "/api/runs/{id}/screenings", tag = "versions",
    params(
        ("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits"),
        ("access_token" = Option<String>, Query, description = "The API token, when not sent as a bearer token"),
    ),
    request_body(content = crate::schemas::ScreeningRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The log already keeps a screening of the version at d or more: the conjunctions below d are read from it (conjunctions_url)", body = crate::schemas::Screening),
        (status = 202, description = "A screening is under way (this one, or one at d or more already running): follow status_url or events_url (Location)", body = crate::schemas::Screening),
        (status = 400, description = "A bad field (d, version), named", body = crate::schemas::ErrorBody),
        (status = 401, description = "The service has a token and the request does not carry it", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run, or no such version", body = crate::schemas::ErrorBody),
        (status = 409, description = "The run is still computing or stopped short", body = crate::schemas::ErrorBody),
        (status = 415, description = "The body is not sent as application/json", body = crate::schemas::ErrorBody),
        (status = 429, description = "This client started its share of computations this minute (Retry-After)", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "The screening does not fit beside those under way now (Retry-After)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    Client(client): Client,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    super::json_body(&headers)?;
    state
        .access
        .authorize(&headers, query.get("access_token"))?;
    let (d_km, version) = parse_request(&body)?;
    let (run, versions, version, kept) = {
        let state = state.clone();
        blocking(move || {
            let run = complete_run(&state, &id)?;
            let versions = state.log.versions(run.key)?;
            let version = pick(&run, &versions, version)?;
            let kept = screening::kept_within(&state.log, &run, version, d_km)?;
            Ok::<_, ApiError>((run, versions, version, kept))
        })
        .await?
    };
    if let Some((screened_km, found)) = kept {
        return Ok(Json(json!({
            "run": run.id.to_string(),
            "version": version,
            "d_km": d_km,
            "screened_km": screened_km,
            "state": "done",
            "count": found.len(),
            "conjunctions_url": format!("/api/runs/{}/conjunctions?d={d_km}&version={version}", run.id),
        }))
        .into_response());
    }
    if let Some(job) = state.screenings.running_covering(run.key, version, d_km) {
        return Ok(accepted(&run, &job, job.state()));
    }
    state.access.admit(client)?;
    let versions = versions[..version as usize].to_vec();
    let job = start(&state, Arc::new(run.clone()), versions, d_km)?;
    // As it was accepted: not yet begun (a small one may be done already).
    let begun = JobState::Running {
        done: 0,
        total: run.iterations + 1,
    };
    Ok(accepted(&run, &job, begun))
}

/// Starts a job screening the version of `run` that `versions` make at `d_km`, once
/// it is admitted against the screenings' share (413 when it never could be, 503 when
/// not now), on the blocking pool.
pub(crate) fn start(
    state: &AppState,
    run: Arc<LoggedRun>,
    versions: Vec<Version>,
    d_km: f64,
) -> Result<Arc<Job>, ApiError> {
    let version = versions.len() as u32;
    let outputs = run.iterations + 1;
    let samples = u64::from(run.bodies) * outputs;
    let what = format!(
        "screening version {version} of run {} ({} bodies x {outputs} output times) at {d_km} km",
        run.id, run.bodies
    );
    let screenings = &state.screenings;
    let whole = samples.saturating_mul(SCREENING_BYTES_PER_SAMPLE) <= screenings.capacity();
    let reservation = if whole {
        screenings.reserve(samples, &what)?
    } else {
        screenings.reserve_bytes(screenings.capacity() / 2, &what)?
    };
    // Windowed, on every process of the cluster; a kept screener, in this one.
    let processes = match &state.cluster_screenings {
        Some(cluster) if !whole => cluster.processes(),
        _ => 1,
    };
    let job = screenings.add_job(run.key, version, d_km, !whole, processes, outputs);
    let (state, job_run) = (state.clone(), Arc::clone(&job));
    tokio::spawn(async move {
        // A screener to keep is made under the run's lock, so that no manoeuvre
        // slips between its version and the one it is kept as.
        let guard = match whole {
            true => Some(state.screenings.run_lock(run.key).lock_owned().await),
            false => None,
        };
        let (state2, job2, run2) = (state.clone(), Arc::clone(&job_run), Arc::clone(&run));
        let result = blocking(move || {
            let _serialised = guard;
            screen(&state2, &job2, &run2, &versions, reservation, &what)
        })
        .await;
        match result {
            Ok(count) => job_run.set(JobState::Done { count }),
            Err(e) => {
                let reason = e.to_string();
                tracing::warn!(run = %run.id, job = job_run.id, %reason, "a screening failed");
                let status = e.into_response().status().as_u16();
                job_run.set(JobState::Failed { status, reason });
            }
        }
        state.screenings.announce(run.key, job_run.version);
    });
    Ok(job)
}

/// A job's work, on the blocking pool: the screening, kept in the log; the number of
/// conjunctions.
fn screen(
    state: &AppState,
    job: &Job,
    run: &LoggedRun,
    versions: &[Version],
    reservation: Reservation,
    what: &str,
) -> Result<usize, ApiError> {
    let log = &state.log;
    let d_bits = job.d_km.to_bits();
    let workers = state.screenings.workers();
    let total = run.iterations + 1;
    let failed = |e: nano_pipeline::Error| match e {
        nano_pipeline::Error::Screening(ScreeningError::Workers(_)) => ApiError::internal(While {
            doing: what.to_owned(),
            cause: e.into(),
        }),
        // States the grid cannot take (not finite, too far, too fast): the run's, not
        // the service's, and asking again cannot help.
        nano_pipeline::Error::Screening(e) => ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!("{what}: the run's states cannot be screened: {e}"),
        },
        e => e.into(),
    };
    // Whether the catalogue pairs are refined on SGP4 already (a kept screener's).
    let (mut found, refined) = if job.windowed {
        let window =
            windows::window_for(run.bodies, reservation.weight(), SCREENING_BYTES_PER_SAMPLE);
        let progress = |done: usize| {
            job.set(JobState::Running {
                done: done as u64,
                total,
            })
        };
        // A manoeuvred version whose parent's screening at d is kept: only what the
        // manoeuvre changed is screened.
        if let Some(mut found) =
            screening::screen_manoeuvred(log, run, versions, job.d_km, window, &progress)
                .map_err(failed)?
        {
            job.incremental
                .store(true, std::sync::atomic::Ordering::Relaxed);
            Metrics::bump(&state.metrics.screenings_updated);
            screening::keep_refined(log, run, job.version, d_bits, &mut found)?;
            return Ok(found.len());
        }
        let found = match &state.cluster_screenings {
            // Every worker of every process, when the cluster's turn comes.
            Some(cluster) => cluster
                .with(|on| {
                    screening::screen_windowed_on(
                        on, log, run, versions, job.d_km, window, progress,
                    )
                })
                .unwrap_or_else(|| {
                    Err(ScreeningError::Workers("the service is stopping".into()).into())
                }),
            None => {
                screening::screen_windowed(log, run, versions, job.d_km, window, workers, progress)
            }
        };
        (found.map_err(failed)?, false)
    } else {
        let held = Held::screen(log, run, versions, job.d_km, workers).map_err(failed)?;
        let found = held.conjunctions(&run.scenario);
        // Kept to follow manoeuvres when it holds the latest version (under the run's
        // lock: no manoeuvre made one since).
        if log.versions(run.key)?.len() as u32 == job.version {
            state.screenings.keep(reservation, run.key, d_bits, held);
        } else {
            held.screener.shutdown().map_err(|e| failed(e.into()))?;
        }
        (found, true)
    };
    Metrics::bump(&state.metrics.screenings);
    if refined {
        screening::keep_refined(log, run, job.version, d_bits, &mut found)?;
    } else {
        screening::keep(log, run, job.version, d_bits, &mut found)?;
    }
    Ok(found.len())
}

/// `GET /api/runs/{id}/screenings`: the screenings the log keeps, by version, and the
/// jobs remembered.
#[utoipa::path(get, path = "/api/runs/{id}/screenings", tag = "versions", operation_id = "screenings",
    params(("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits")),
    responses(
        (status = 200, description = "kept: [{version, d_km}] (each serves every distance up to its own); jobs: the screenings started since the service started, oldest first", body = crate::schemas::Screenings),
        (status = 400, description = "A malformed id", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state2 = state.clone();
    let (run, kept) = blocking(move || {
        let run = complete_run(&state2, &id)?;
        let latest = state2.log.versions(run.key)?.len() as u32;
        let mut kept = Vec::new();
        for version in 0..=latest {
            for d_bits in state2.log.screening_distances(run.key, version)? {
                kept.push(json!({"version": version, "d_km": f64::from_bits(d_bits)}));
            }
        }
        Ok::<_, ApiError>((run, kept))
    })
    .await?;
    let jobs: Vec<Value> = state
        .screenings
        .jobs_of(run.key)
        .iter()
        .map(|job| job_json(&run, job))
        .collect();
    Ok(Json(
        json!({"run": run.id.to_string(), "kept": kept, "jobs": jobs}),
    ))
}

/// Job `job` of run `id`, or 404.
async fn find_job(
    state: &AppState,
    id: String,
    job: &str,
) -> Result<(LoggedRun, Arc<Job>), ApiError> {
    let number = job
        .parse::<u64>()
        .map_err(|_| ApiError::bad("job", job, "must be a screening job's number"))?;
    let state2 = state.clone();
    let run = blocking(move || complete_run(&state2, &id)).await?;
    let Some(found) = state.screenings.job(run.key, number) else {
        return Err(ApiError::NotFound(format!(
            "screening job {number} of run {} (jobs are remembered until the service restarts; GET /api/runs/{}/screenings lists the kept screenings)",
            run.id, run.id
        )));
    };
    Ok((run, found))
}

/// `GET /api/runs/{id}/screenings/{job}`: the job's state.
#[utoipa::path(get, path = "/api/runs/{id}/screenings/{job}", tag = "versions", operation_id = "screening",
    params(
        ("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits"),
        ("job" = u64, Path, description = "The job's number, from its Location"),
    ),
    responses(
        (status = 200, description = "state: running (done of total output times), done (count), or failed (status, reason)", body = crate::schemas::Screening),
        (status = 400, description = "A malformed id or job", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run, or no such job remembered", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Path((id, job)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (run, job) = find_job(&state, id, &job).await?;
    Ok(Json(job_json(&run, &job)))
}

/// `GET /api/runs/{id}/screenings/{job}/events`: the job's progress as server-sent
/// events: `progress` {done, total}, then `done` (the job) or `error` {reason, status}.
#[utoipa::path(get, path = "/api/runs/{id}/screenings/{job}/events", tag = "versions", operation_id = "screening_events",
    params(
        ("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits"),
        ("job" = u64, Path, description = "The job's number, from its Location"),
    ),
    responses(
        (status = 200, description = "Server-sent events: `progress` {\"done\",\"total\"} as windows are screened, then `done` (the job, as its status gives it) or `error` {\"reason\",\"status\"}", content_type = "text/event-stream"),
        (status = 400, description = "A malformed id or job", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run, or no such job remembered", body = crate::schemas::ErrorBody),
        (status = 429, description = "This client holds its share of the open streams (Retry-After)", body = crate::schemas::ErrorBody),
        (status = 503, description = "Too many streams open", body = crate::schemas::ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    Path((id, job)): Path<(String, String)>,
    Client(client): Client,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (run, job) = find_job(&state, id, &job).await?;
    let permit = stream_permit(&state, client)?;
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let stopping = state.stopping.wait();
    let send_timeout = state.limits.send_timeout;
    let mut watch = job.watch();
    tokio::spawn(async move {
        let _permit = permit;
        let send = |e: Event| {
            let sender = sender.clone();
            async move { sender.send_timeout(e, send_timeout).await.is_ok() }
        };
        tokio::pin!(stopping);
        loop {
            let now = watch.borrow_and_update().clone();
            let (sse, last) = match now {
                JobState::Running { done, total } => (
                    event("progress", json!({"done": done, "total": total})),
                    false,
                ),
                JobState::Done { .. } => (event("done", job_json(&run, &job)), true),
                JobState::Failed { status, reason } => (
                    event("error", json!({"reason": reason, "status": status})),
                    true,
                ),
            };
            if !send(sse).await || last {
                return;
            }
            tokio::select! {
                changed = watch.changed() => if changed.is_err() { return },
                () = &mut stopping => {
                    send(event("error", json!({"reason": "the service is stopping; POST the screening again when it is back", "status": 503}))).await;
                    return;
                }
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(receiver).map(Ok)).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_its_bad_field() {
        assert_eq!(parse_request(b"").unwrap(), (DEFAULT_DISTANCE_KM, None));
        assert_eq!(
            parse_request(br#"{"d": 20, "version": 3}"#).unwrap(),
            (20.0, Some(3))
        );
        for (body, field) in [
            (&br#"{"d": 0}"#[..], "d"),
            (br#"{"d": 101}"#, "d"),
            (br#"{"d": "5"}"#, "d"),
            (br#"{"version": -1}"#, "version"),
            (br#"{"distance": 5}"#, "distance"),
            (br#"[5]"#, "body"),
            (br#"{"d": 5"#, "body"),
        ] {
            match parse_request(body) {
                Err(ApiError::BadField { field: f, .. }) => assert_eq!(f, field, "{body:?}"),
                other => panic!("{body:?}: {other:?}"),
            }
        }
    }
}
