//! A version's conjunctions (`GET /api/runs/{id}/conjunctions?d=&version=`) and their
//! changes as versions are made (`GET /api/runs/{id}/conjunctions/events?d=`).
//!
//! Where a version's conjunctions at `D` come from, cheapest first (the response's
//! `X-Conjunctions-Source` header says which, and `/metrics` counts them): the log,
//! which keeps every screening the service made ([`nano_pipeline::runs::screening::keep`],
//! in the store's encoding of screened pairs), so a restarted service does not screen
//! again; the screener kept
//! in memory for the run at `D` ([`crate::screenings`]) when it holds that version;
//! otherwise a screening from scratch, on the blocking pool, under the run's lock (one
//! per run, version and distance however many ask), within the screenings' share of
//! the memory budget. The screener of the latest version is kept, so that the next
//! manoeuvre updates it.
//!
//! The event stream sends the latest version's set (`snapshot`), then, for each later
//! version, what it added and removed (`change`): the stream keeps the set it last
//! sent and diffs the next version's against it, so removing then adding turns one
//! into the other exactly, whichever way the next set was found.

use std::collections::BTreeSet;
use std::convert::Infallible;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use nano_pipeline::runs::screening::{self, Held};
use nano_pipeline::runs::LoggedRun;
use nano_pipeline::screening::screener::ScreeningError;
use nano_pipeline::screening::Conjunction;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};

use super::blocking;
use super::events::event;
use super::versions::{complete_run, pick, version_param};
use crate::clients::Client;
use crate::error::{ApiError, While};
use crate::metrics::Metrics;
use crate::params::{self, Query};
use crate::routes::api::stream_permit;
use crate::AppState;

/// The screening distance when none is given, km.
pub const DEFAULT_DISTANCE_KM: f64 = 5.0;
/// The largest screening distance, km.
pub const MAX_DISTANCE_KM: f64 = 100.0;

/// The `d` parameter: km, `0 < d <= 100`, default 5.
fn distance(query: &Query) -> Result<f64, ApiError> {
    let Some(text) = query.get("d") else {
        return Ok(DEFAULT_DISTANCE_KM);
    };
    match text.parse::<f64>() {
        Ok(d) if d > 0.0 && d <= MAX_DISTANCE_KM => Ok(d),
        _ => Err(ApiError::bad(
            "d",
            text,
            format!("must be the screening distance in km, above 0 and at most {MAX_DISTANCE_KM}"),
        )),
    }
}

/// Where a set of conjunctions came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Log,
    Memory,
    Screened,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Log => "log",
            Source::Memory => "memory",
            Source::Screened => "screened",
        }
    }
}

/// A version's conjunctions at a distance, sorted by miss distance.
pub(crate) struct Found {
    pub run: LoggedRun,
    pub version: u32,
    pub conjunctions: Vec<Conjunction>,
    pub source: Source,
}

/// A conjunction as the API writes it, with the bodies' names.
pub(crate) fn conjunction_json(run: &LoggedRun, c: &Conjunction) -> Value {
    let name = |i: u32| run.scenario.body(i as usize).map(|b| b.name);
    json!({
        "a": c.a, "b": c.b, "a_name": name(c.a), "b_name": name(c.b),
        "tca_s": c.tca_s, "miss_km": c.miss_km,
    })
}

/// Version `version` (default: the latest) of run `id`'s conjunctions at `d_km`,
/// cheapest first (see the module docs).
pub(crate) async fn find(
    state: &AppState,
    id: &str,
    version: Option<u32>,
    d_km: f64,
) -> Result<Found, ApiError> {
    let d_bits = d_km.to_bits();
    let (run, version, kept) = {
        let (state, id) = (state.clone(), id.to_owned());
        blocking(move || {
            let run = complete_run(&state, &id)?;
            let versions = state.log.versions(run.key)?;
            let version = pick(&run, &versions, version)?;
            let kept = screening::kept(&state.log, &run, version, d_bits)?;
            Ok::<_, ApiError>((run, version, kept))
        })
        .await?
    };
    if let Some(conjunctions) = kept {
        return Ok(from_log(state, run, version, conjunctions));
    }
    let guard = state.screenings.run_lock(run.key).lock_owned().await;
    let state = state.clone();
    blocking(move || {
        let _single_flight = guard;
        screen(&state, run, version, d_km)
    })
    .await
}

/// The conjunctions the log kept for `version` of `run`, closest first.
fn from_log(
    state: &AppState,
    run: LoggedRun,
    version: u32,
    conjunctions: Vec<Conjunction>,
) -> Found {
    Metrics::bump(&state.metrics.conjunctions_from_log);
    Found {
        run,
        version,
        conjunctions,
        source: Source::Log,
    }
}

/// [`find`] past the log's first look, under the run's lock: the log again (another
/// request may have screened it meanwhile), the kept screener, or a screening.
fn screen(state: &AppState, run: LoggedRun, version: u32, d_km: f64) -> Result<Found, ApiError> {
    let log = &state.log;
    let d_bits = d_km.to_bits();
    let found = |run, conjunctions, source| Found {
        run,
        version,
        conjunctions,
        source,
    };
    if let Some(conjunctions) = screening::kept(log, &run, version, d_bits)? {
        return Ok(from_log(state, run, version, conjunctions));
    }
    if let Some(held) = state.screenings.kept(run.key, d_bits) {
        let held = held.lock().unwrap_or_else(|e| e.into_inner());
        if held.version == version {
            let mut conjunctions = held.screener.conjunctions();
            drop(held);
            screening::keep(log, &run, version, d_bits, &mut conjunctions);
            Metrics::bump(&state.metrics.conjunctions_from_memory);
            return Ok(found(run, conjunctions, Source::Memory));
        }
    }
    let versions = log.versions(run.key)?;
    let outputs = run.iterations + 1;
    let samples = u64::from(run.bodies) * outputs;
    let what = format!(
        "screening version {version} of run {} ({} bodies x {outputs} output times) at {d_km} km",
        run.id, run.bodies
    );
    let reservation = state.screenings.reserve(samples, &what)?;
    let failed = |e: ScreeningError| match e {
        ScreeningError::Workers(_) => ApiError::internal(While {
            doing: what.clone(),
            cause: e.into(),
        }),
        // States the grid cannot take (not finite, too far, too fast): the run's, not
        // the service's, and asking again cannot help.
        _ => ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!("{what}: the run's states cannot be screened: {e}"),
        },
    };
    let workers = state.screenings.workers();
    let held = match Held::screen(log, &run, &versions[..version as usize], d_km, workers) {
        Ok(held) => held,
        Err(nano_pipeline::Error::Screening(e)) => return Err(failed(e)),
        Err(e) => return Err(e.into()),
    };
    let mut conjunctions = held.screener.conjunctions();
    Metrics::bump(&state.metrics.screenings);
    if version == versions.len() as u32 {
        state.screenings.keep(reservation, run.key, d_bits, held);
    } else {
        held.screener.shutdown().map_err(failed)?;
        drop(reservation);
    }
    screening::keep(log, &run, version, d_bits, &mut conjunctions);
    Ok(found(run, conjunctions, Source::Screened))
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `GET /api/runs/{id}/conjunctions?d=D[&version=V][&format=json|csv]`.
#[utoipa::path(get, path = "/api/runs/{id}/conjunctions", tag = "versions",
    params(
        ("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits"),
        ("d" = Option<f64>, Query, description = "The screening distance in km, above 0 and at most 100 (default 5)", exclusive_minimum = 0, maximum = 100),
        ("version" = Option<u32>, Query, description = "The run's version (default: the latest)", minimum = 0),
        ("format" = Option<String>, Query, description = "json (default) or csv", pattern = "^(json|csv)$"),
    ),
    responses(
        (status = 200, description = "Every conjunction of the version closer than d, sorted by miss distance (then pair and time); CSV: a,b,a_name,b_name,tca_s,miss_km", content(
            (crate::schemas::Conjunctions = "application/json"),
            (String = "text/csv"),
        ), headers(
            ("X-Conjunctions-Source" = String, description = "log (kept in the log), memory (a kept screener) or screened (screened for this request)"),
        )),
        (status = 400, description = "A bad parameter (d, version, format, id) or a nano run, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run, or no such version (the message names the latest)", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 409, description = "The run is still computing or stopped short", body = crate::schemas::ErrorBody),
        (status = 413, description = "The screening can never fit in the service's memory budget: the message names its samples, the limit, and `sedaro-nano screen`", body = crate::schemas::ErrorBody),
        (status = 422, description = "The version's states cannot be screened (not finite, or too far or too fast for a bounded grid): the message names the body, the state and the rule", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "The screening does not fit beside those under way now (Retry-After)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn conjunctions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    let d_km = distance(&query)?;
    let version = version_param(&query)?;
    let format = params::format(&query)?;
    let found = find(&state, &id, version, d_km).await?;
    let run = &found.run;
    let source = [(
        "x-conjunctions-source",
        HeaderValue::from_static(found.source.name()),
    )];
    if format == nano_pipeline::Format::Csv {
        let mut out = String::from("a,b,a_name,b_name,tca_s,miss_km\n");
        let name = |i: u32| {
            run.scenario
                .body(i as usize)
                .map(|b| b.name)
                .unwrap_or_default()
        };
        for c in &found.conjunctions {
            // Display writes the shortest form that reads back to the same f64.
            out.push_str(&format!(
                "{},{},{},{},{},{}\n",
                c.a,
                c.b,
                csv_field(&name(c.a)),
                csv_field(&name(c.b)),
                c.tca_s,
                c.miss_km
            ));
        }
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            )],
            source,
            out,
        )
            .into_response());
    }
    let list: Vec<Value> = found
        .conjunctions
        .iter()
        .map(|c| conjunction_json(run, c))
        .collect();
    let body = json!({
        "run": run.id.to_string(),
        "version": found.version,
        "d_km": d_km,
        "bodies": run.bodies,
        "count": list.len(),
        "conjunctions": list,
    });
    Ok((source, axum::Json(body)).into_response())
}

/// `GET /api/runs/{id}/conjunctions/events?d=D`: the latest version's conjunctions,
/// then each later version's changes.
#[utoipa::path(get, path = "/api/runs/{id}/conjunctions/events", tag = "versions", operation_id = "conjunction_events",
    params(
        ("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits"),
        ("d" = Option<f64>, Query, description = "The screening distance in km, above 0 and at most 100 (default 5)", exclusive_minimum = 0, maximum = 100),
        ("access_token" = Option<String>, Query, description = "The API token (EventSource cannot send headers)"),
    ),
    responses(
        (status = 200, description = "Server-sent events: `snapshot` {\"version\",\"d_km\",\"conjunctions\":[..]} for the latest version, then `change` {\"version\",\"d_km\",\"added\":[..],\"removed\":[..]} for every later one (removing then adding turns the previous set into the new one); `error` {\"reason\"} if one cannot be screened", content_type = "text/event-stream"),
        (status = 400, description = "A bad parameter (d, id) or a nano run, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run", body = crate::schemas::ErrorBody),
        (status = 409, description = "The run is still computing or stopped short", body = crate::schemas::ErrorBody),
        (status = 413, description = "The screening can never fit in the service's memory budget", body = crate::schemas::ErrorBody),
        (status = 422, description = "The latest version's states cannot be screened, named", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 429, description = "This client holds its share of the open streams or of the memory for reads (--client-share; Retry-After)", body = crate::schemas::ErrorBody),
        (status = 503, description = "Too many streams open, or the screening does not fit now", body = crate::schemas::ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    Client(client): Client,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let query = params::query(raw.as_deref())?;
    let d_km = distance(&query)?;
    let permit = stream_permit(&state, client)?;
    // Subscribed before the snapshot is read: no version made after it is missed.
    let mut versions = state.screenings.subscribe();
    let first = find(&state, &id, None, d_km).await?;
    let key = first.run.key;
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let stopping = state.stopping.wait();
    let send_timeout = state.limits.send_timeout;
    tokio::spawn(async move {
        let _permit = permit;
        let send = |e: Event| {
            let sender = sender.clone();
            async move { sender.send_timeout(e, send_timeout).await.is_ok() }
        };
        let run = &first.run;
        let snapshot = json!({
            "version": first.version,
            "d_km": d_km,
            "conjunctions": first.conjunctions.iter().map(|c| conjunction_json(run, c)).collect::<Vec<_>>(),
        });
        if !send(event("snapshot", snapshot)).await {
            return;
        }
        let mut last = first.version;
        let mut set: BTreeSet<Conjunction> = first.conjunctions.iter().copied().collect();
        tokio::pin!(stopping);
        loop {
            let latest = tokio::select! {
                next = versions.recv() => match next {
                    Ok((r, v)) if r == key => v,
                    Ok(_) => continue,
                    // Missed announcements: the versions in the log say how far to go.
                    Err(RecvError::Lagged(_)) => {
                        let log = state.log.clone();
                        match blocking(move || log.versions(key)).await {
                            Ok(v) => v.len() as u32,
                            Err(_) => return,
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
                () = &mut stopping => return,
            };
            while last < latest {
                let next = match find(&state, &id, Some(last + 1), d_km).await {
                    Ok(next) => next,
                    Err(e) => {
                        send(event("error", json!({"reason": e.to_string()}))).await;
                        return;
                    }
                };
                let new: BTreeSet<Conjunction> = next.conjunctions.iter().copied().collect();
                let removed: Vec<Value> = set
                    .difference(&new)
                    .map(|c| conjunction_json(&next.run, c))
                    .collect();
                let added: Vec<Value> = new
                    .difference(&set)
                    .map(|c| conjunction_json(&next.run, c))
                    .collect();
                let change = json!({
                    "version": next.version,
                    "d_km": d_km,
                    "added": added,
                    "removed": removed,
                });
                if !send(event("change", change)).await {
                    return;
                }
                set = new;
                last = next.version;
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(receiver).map(Ok)).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distance_is_above_0_and_at_most_100_km() {
        for (text, ok) in [
            ("5", true),
            ("0.001", true),
            ("100", true),
            ("0", false),
            ("-1", false),
            ("100.5", false),
            ("NaN", false),
            ("inf", false),
            ("x", false),
        ] {
            let query = params::query(Some(&format!("d={text}"))).unwrap();
            assert_eq!(distance(&query).is_ok(), ok, "{text}");
        }
        assert_eq!(distance(&params::query(None).unwrap()).unwrap(), 5.0);
    }
}
