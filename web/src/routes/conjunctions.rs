//! A version's conjunctions (`GET /api/runs/{id}/conjunctions?d=&version=`) and their
//! changes as versions are made (`GET /api/runs/{id}/conjunctions/events?d=`).
//!
//! Both only read: a version's conjunctions below `d` come from the screening the log
//! keeps of it at the least distance `D >= d` ([`screening::kept_within`]; a minimum
//! below `d` is one below `D`, so every smaller distance is a filter of one kept
//! screening, never a new one). A screening is made by a job
//! ([`super::screenings`]: the token, the rate limit, the memory budget); a version
//! with none at `d` or more is a 409 naming what to POST, or the job under way.
//!
//! The event stream sends the latest version's set (`snapshot`), then, for each later
//! version, what it added and removed (`change`): the stream keeps the set it last
//! sent and diffs the next version's against it, so removing then adding turns one
//! into the other exactly, whichever way the next set was found. A version not yet
//! screened is said once (`pending`), and the stream waits for its screening's
//! announcement.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::fmt::Write as _;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use nano_pipeline::runs::screening;
use nano_pipeline::runs::LoggedRun;
use nano_pipeline::screening::Conjunction;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};

use super::blocking;
use super::events::event;
use super::versions::{complete_run, pick, version_param};
use crate::clients::Client;
use crate::error::ApiError;
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

/// A version's conjunctions below a distance, sorted by miss distance.
pub(crate) struct Found {
    pub run: LoggedRun,
    pub version: u32,
    /// The distance of the kept screening they were read from (`d` or more).
    pub screened_km: f64,
    pub conjunctions: Vec<Conjunction>,
}

/// A conjunction as the API writes it: the bodies' names and catalogue numbers, the
/// time of closest approach in seconds and in UTC, the miss, the relative speed and
/// the miss in `a`'s radial, in-track and cross-track directions (null when the kept
/// screening predates them).
pub(crate) fn conjunction_json(run: &LoggedRun, c: &Conjunction) -> Value {
    let ((a_name, a_norad), (b_name, b_norad)) = (identity(run, c.a), identity(run, c.b));
    json!({
        "a": c.a, "b": c.b, "a_name": a_name, "b_name": b_name,
        "a_norad": a_norad, "b_norad": b_norad,
        "tca_s": c.tca_s, "tca_utc": tca_utc(run, c.tca_s), "miss_km": c.miss_km,
        "rel_speed_kms": c.rel_speed_kms,
        "miss_radial_km": c.ric_km[0], "miss_in_track_km": c.ric_km[1], "miss_cross_track_km": c.ric_km[2],
    })
}

/// Body `i`'s name and catalogue number (a catalogue object's), as conjunctions name
/// their bodies.
fn identity(run: &LoggedRun, i: u32) -> (Option<String>, Option<u32>) {
    run.scenario
        .body(i as usize)
        .map_or((None, None), |b| (Some(b.name), b.norad_id))
}

/// The time `t_s` after the run's epoch in UTC, to the millisecond, `Z`-suffixed.
fn tca_utc(run: &LoggedRun, t_s: f64) -> String {
    format!("{}Z", run.scenario.epoch().iso_at(t_s, 3))
}

/// The largest page of conjunctions (`limit`), and the page when none is asked.
pub const MAX_PAGE: usize = 10_000;
pub const DEFAULT_PAGE: usize = 1_000;

/// A whole-number parameter `name`, at most `max`, or `default`.
fn whole(query: &Query, name: &'static str, default: usize, max: usize) -> Result<usize, ApiError> {
    let Some(text) = query.get(name) else {
        return Ok(default);
    };
    match text.parse::<usize>() {
        Ok(n) if n <= max => Ok(n),
        _ => Err(ApiError::bad(
            name,
            text,
            format!("must be a whole number from 0 to {max}"),
        )),
    }
}

/// Which conjunctions a request keeps: those of body index `body` and those of
/// catalogue number `norad`, when given.
struct Filter {
    body: Option<u32>,
    norad: Option<u32>,
}

impl Filter {
    fn parse(query: &Query, run: &LoggedRun) -> Result<Filter, ApiError> {
        let body = match query.get("body") {
            None => None,
            Some(text) => match text.parse::<u32>() {
                Ok(k) if k < run.bodies => Some(k),
                _ => {
                    return Err(ApiError::bad(
                        "body",
                        text,
                        format!(
                            "must be a body index of the run, from 0 to {}",
                            run.bodies.saturating_sub(1)
                        ),
                    ))
                }
            },
        };
        let norad = match query.get("norad") {
            None => None,
            Some(text) => match text.parse::<u32>() {
                Ok(n) => Some(n),
                _ => {
                    return Err(ApiError::bad(
                        "norad",
                        text,
                        "must be a catalogue (NORAD) number, a whole number",
                    ))
                }
            },
        };
        Ok(Filter { body, norad })
    }

    /// The bodies `norad` names (a catalogue number may be in a run once at most, but
    /// nothing here relies on it).
    fn bodies(&self, run: &LoggedRun) -> Vec<u32> {
        let Some(norad) = self.norad else {
            return Vec::new();
        };
        (0..run.bodies)
            .filter(|&i| run.scenario.body(i as usize).and_then(|b| b.norad_id) == Some(norad))
            .collect()
    }

    fn keeps(&self, c: &Conjunction, norad_bodies: &[u32]) -> bool {
        let has = |k: u32| c.a == k || c.b == k;
        self.body.is_none_or(has) && (self.norad.is_none() || norad_bodies.iter().any(|&k| has(k)))
    }
}

/// Version `version` (default: the latest) of run `id`'s conjunctions below `d_km`,
/// read from the screening the log keeps of it at `d_km` or more; never screened here
/// (409 naming the screening to POST, or the job under way).
pub(crate) async fn find(
    state: &AppState,
    id: &str,
    version: Option<u32>,
    d_km: f64,
) -> Result<Found, ApiError> {
    let (state, id) = (state.clone(), id.to_owned());
    blocking(move || {
        let run = complete_run(&state, &id)?;
        let versions = state.log.versions(run.key)?;
        let version = pick(&run, &versions, version)?;
        match screening::kept_within(&state.log, &run, version, d_km)? {
            Some((screened_km, conjunctions)) => {
                Metrics::bump(&state.metrics.conjunctions_from_log);
                Ok(Found {
                    run,
                    version,
                    screened_km,
                    conjunctions,
                })
            }
            None => Err(not_screened(&state, &run, version, d_km)),
        }
    })
    .await
}

/// Why version `version` of `run` has no conjunctions at `d_km` to read: a job under
/// way that will hold them, or no screening at all (what to POST).
fn not_screened(state: &AppState, run: &LoggedRun, version: u32, d_km: f64) -> ApiError {
    let id = run.id;
    let message = match state.screenings.running_covering(run.key, version, d_km) {
        Some(job) => format!(
            "version {version} of run {id} is being screened at {} km: follow /api/runs/{id}/screenings/{} (or its /events)",
            job.d_km, job.id
        ),
        None => format!(
            "version {version} of run {id} has not been screened at {d_km} km or more: POST /api/runs/{id}/screenings with {{\"d\": {d_km}, \"version\": {version}}} to screen it"
        ),
    };
    ApiError::Refused {
        status: StatusCode::CONFLICT,
        message,
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// `GET /api/runs/{id}/conjunctions?d=D[&version=V][&body=K][&norad=N][&offset=O][&limit=L][&format=json|csv]`.
#[utoipa::path(get, path = "/api/runs/{id}/conjunctions", tag = "versions",
    params(
        ("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits"),
        ("d" = Option<f64>, Query, description = "The screening distance in km, above 0 and at most 100 (default 5)", exclusive_minimum = 0, maximum = 100),
        ("version" = Option<u32>, Query, description = "The run's version (default: the latest)", minimum = 0),
        ("body" = Option<u32>, Query, description = "Only the conjunctions of this body index", minimum = 0),
        ("norad" = Option<u32>, Query, description = "Only the conjunctions of the object of this catalogue (NORAD) number", minimum = 0),
        ("offset" = Option<u64>, Query, description = "JSON: the page starts after this many conjunctions (default 0)", minimum = 0),
        ("limit" = Option<u64>, Query, description = "JSON: the page holds at most this many (default 1000, at most 10000)", minimum = 0, maximum = 10000),
        ("format" = Option<String>, Query, description = "json (default, paged) or csv (every conjunction kept by the filter, streamed)", pattern = "^(json|csv)$"),
    ),
    responses(
        (status = 200, description = "The version's conjunctions closer than d, read from the screening the log keeps at d or more, sorted by miss distance (then pair and time); JSON a page of them with the total count and the next page's URL; CSV: a,b,a_name,b_name,a_norad,b_norad,tca_s,tca_utc,miss_km,rel_speed_kms,miss_radial_km,miss_in_track_km,miss_cross_track_km", content(
            (crate::schemas::Conjunctions = "application/json"),
            (String = "text/csv"),
        ), headers(
            ("X-Screened-Km" = f64, description = "The distance of the kept screening the conjunctions were read from"),
        )),
        (status = 400, description = "A bad parameter (d, version, body, norad, offset, limit, format, id) or a nano run, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run, or no such version (the message names the latest)", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 409, description = "The run is still computing or stopped short, or the version has no screening at d or more: the message names what to POST to /api/runs/{id}/screenings, or the job under way", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
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
    let offset = whole(&query, "offset", 0, usize::MAX)?;
    let limit = whole(&query, "limit", DEFAULT_PAGE, MAX_PAGE)?;
    let found = find(&state, &id, version, d_km).await?;
    let run = found.run;
    let filter = Filter::parse(&query, &run)?;
    let norad_bodies = filter.bodies(&run);
    let mut kept = found.conjunctions;
    kept.retain(|c| filter.keeps(c, &norad_bodies));
    let screened = [(
        "x-screened-km",
        HeaderValue::from_str(&found.screened_km.to_string()).expect("a number"),
    )];
    if format == nano_pipeline::Format::Csv {
        // Streamed a thousand rows at a time: the rows are made as the client reads.
        let run = std::sync::Arc::new(run);
        let header = tokio_stream::once(Ok::<_, Infallible>(axum::body::Bytes::from_static(
            CSV_HEADER,
        )));
        let n = kept.len();
        let rows = tokio_stream::iter((0..n).step_by(1000)).map(move |i| {
            let chunk = &kept[i..(i + 1000).min(n)];
            Ok(axum::body::Bytes::from(csv_rows(&run, chunk)))
        });
        return Ok((
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            )],
            screened,
            axum::body::Body::from_stream(header.chain(rows)),
        )
            .into_response());
    }
    let count = kept.len();
    let page: Vec<Value> = kept
        .iter()
        .skip(offset)
        .take(limit)
        .map(|c| conjunction_json(&run, c))
        .collect();
    let next = (offset.saturating_add(limit) < count && limit > 0).then(|| {
        let mut url = format!(
            "/api/runs/{}/conjunctions?d={d_km}&version={}&offset={}&limit={limit}",
            run.id,
            found.version,
            offset + limit
        );
        for (name, value) in [("body", filter.body), ("norad", filter.norad)] {
            if let Some(v) = value {
                url.push_str(&format!("&{name}={v}"));
            }
        }
        url
    });
    let body = json!({
        "run": run.id.to_string(),
        "version": found.version,
        "d_km": d_km,
        "screened_km": found.screened_km,
        "bodies": run.bodies,
        "count": count,
        "offset": offset,
        "limit": limit,
        "next": next,
        "conjunctions": page,
    });
    Ok((screened, axum::Json(body)).into_response())
}

/// The CSV's header.
const CSV_HEADER: &[u8] = b"a,b,a_name,b_name,a_norad,b_norad,tca_s,tca_utc,miss_km,rel_speed_kms,miss_radial_km,miss_in_track_km,miss_cross_track_km\n";

/// CSV rows of `chunk`, as the header names them.
fn csv_rows(run: &LoggedRun, chunk: &[Conjunction]) -> String {
    let mut out = String::with_capacity(chunk.len() * 96);
    for c in chunk {
        let ((a_name, a_norad), (b_name, b_norad)) = (identity(run, c.a), identity(run, c.b));
        let name = |n: Option<String>| n.map(|n| csv_field(&n)).unwrap_or_default();
        let norad = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
        // Display writes the shortest form that reads back to the same f64; written
        // into the chunk's one buffer.
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            c.a,
            c.b,
            name(a_name),
            name(b_name),
            norad(a_norad),
            norad(b_norad),
            c.tca_s,
            tca_utc(run, c.tca_s),
            c.miss_km
        );
        for x in [c.rel_speed_kms].into_iter().chain(c.ric_km) {
            out.push(',');
            if x.is_finite() {
                let _ = write!(out, "{x}");
            }
        }
        out.push('\n');
    }
    out
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
        let mut latest = last;
        let mut pending = None;
        let mut set: BTreeSet<Conjunction> = first.conjunctions.iter().copied().collect();
        tokio::pin!(stopping);
        loop {
            // A version made, or a screening finished (of any version): the stream
            // goes on as far as the versions made so far allow.
            latest = tokio::select! {
                next = versions.recv() => match next {
                    Ok((r, v)) if r == key => latest.max(v),
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
                    // Not screened yet: said once, and the stream waits for the
                    // screening's announcement.
                    Err(ApiError::Refused { status, message })
                        if status == StatusCode::CONFLICT =>
                    {
                        if pending != Some(last + 1) {
                            pending = Some(last + 1);
                            let wait =
                                json!({"version": last + 1, "d_km": d_km, "reason": message});
                            if !send(event("pending", wait)).await {
                                return;
                            }
                        }
                        break;
                    }
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
