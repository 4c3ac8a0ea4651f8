//! Reads of an orbit run by window, from the log: every body at one time
//! (`/api/runs/{id}/states?t=`, or only the positions packed for the playback page:
//! `/positions?t=`) and one body over a time range
//! (`/api/runs/{id}/bodies/{k}?from=&to=`). Neither scans the run: the states at `t`
//! cost one read per frame of eight bodies ([`nano_store::Log::states_at`]), a track
//! reads only the frames holding its body ([`nano_store::Log::track`]), streamed in
//! bounded pieces.
//!
//! A run's states are at the output times `t_k = k * output_step_s`, `k = 0 ..=
//! iterations_done` (the durable frontier): the state at `t_0` is the scenario's, the
//! others are logged. Between two output times a state is the cubic Hermite interpolant
//! of the two around it ([`nano_pipeline::orbit::hermite`], `docs/orbits.md`); at an
//! output time it is the logged state exactly.
//!
//! Both take `version=` (default: the latest; [`super::versions`]): a body a
//! manoeuvre changed is read from its version's states where they replace version 0's.

use std::ops::RangeInclusive;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use nano_pipeline::catalog::CatalogSource;
use nano_pipeline::ephemeris::{self, EphemerisWriter, OrbitFormat, COLUMNS};
use nano_pipeline::orbit::{hermite, OrbitState};
use nano_pipeline::Format;
use nano_store::{Log, Track, Window};

use super::blocking;
use super::versions::{pick, version_param};
use crate::clients::Client;
use crate::error::ApiError;
use crate::params::{self, Query};
use crate::series::{self, Piecewise};
use crate::{budget, AppState};
use nano_pipeline::runs::{LoggedRun, Overlay};
use nano_store::Version;

/// What a window read holds per body while it runs: the body's window and its row,
/// rounded up (a `Window` is 136 bytes, a CSV row at most about 180).
const BYTES_PER_BODY: u64 = 400;

/// Opens the logged orbit run `id` ([`LoggedRun::open`]): 400 for an id that is not
/// one, 404 for a run the log does not hold or one that is not an orbit run.
/// Its catalogue, if it names one, from `catalogs` (the service's, which keeps the
/// latest read: a frame of the playback must not read the catalogue's file again).
pub(crate) fn logged(
    log: &Log,
    catalogs: &dyn CatalogSource,
    id: &str,
) -> Result<LoggedRun, ApiError> {
    Ok(LoggedRun::open_with(log, params::run_id(id)?, catalogs)?)
}

/// A time parameter: a finite number of seconds, at least 0.
pub(crate) fn seconds(query: &Query, field: &'static str) -> Result<Option<f64>, ApiError> {
    let Some(text) = query.get(field) else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(Some(t + 0.0)),
        Ok(t) if t < 0.0 => Err(ApiError::bad(field, text, "must not be negative")),
        _ => Err(ApiError::bad(
            field,
            text,
            "must be a finite number of seconds since the run's epoch",
        )),
    }
}

/// A time past the durable frontier: 404 naming the parameter and the frontier.
fn past_frontier(field: &str, t: f64, run: &LoggedRun) -> ApiError {
    ApiError::NotFound(format!(
        "{field} = {t} s is past run {}'s durable frontier t = {} s ({} of its output steps of {} s are logged)",
        run.id,
        run.frontier(),
        run.iterations,
        run.step()
    ))
}

fn content_type(format: OrbitFormat) -> HeaderValue {
    HeaderValue::from_static(format.content_type())
}

fn orbit_format(query: &Query) -> Result<OrbitFormat, ApiError> {
    Ok(match params::format(query)? {
        Format::Json => OrbitFormat::Json,
        Format::Csv => OrbitFormat::Csv,
    })
}

/// The JSON array of the columns.
fn columns() -> String {
    serde_json::to_string(&COLUMNS).expect("strings serialise")
}

/// `GET /api/runs/{id}/states?t=T[&format=json|csv]`: every body's state at `T`.
#[utoipa::path(get, path = "/api/runs/{id}/states", tag = "runs",
    params(
        ("id" = String, Path, description = "The run's id: 32 lowercase hex digits for an orbit run"),
        ("t" = f64, Query, description = "Seconds since the run's epoch, from 0 to the durable frontier (iterations_done * output_step_s)", minimum = 0),
        ("version" = Option<u32>, Query, description = "The run's version (default: the latest; 0 is the run as propagated)", minimum = 0),
        ("format" = Option<String>, Query, description = "json (default) or csv", pattern = "^(json|csv)$"),
    ),
    responses(
        (status = 200, description = "Every body's state at t, by body: the logged state at an output time, the cubic Hermite interpolant of the two around it between", content(
            (crate::schemas::States = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A bad parameter (t, id, format), named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run, no such version (the latest named), or t past its durable frontier (named)", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "The read does not fit in the memory budget now (Retry-After)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn states(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    let format = orbit_format(&query)?;
    let body = at_time(
        &state,
        id,
        &query,
        "the states of a run at a time",
        move |log, run, t, versions| states_at(log, run, t, format, versions),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, content_type(format))], body).into_response())
}

/// Bytes a body takes in `/positions`: x, y and z as little-endian f64.
pub const POSITION_BYTES: usize = 24;

/// `GET /api/runs/{id}/positions?t=T`: every body's position at `T`, packed: the
/// playback page's frame for tens of thousands of bodies (24 bytes a body, where the
/// JSON states take some 150), the same numbers as `/states` gives.
#[utoipa::path(get, path = "/api/runs/{id}/positions", tag = "runs",
    params(
        ("id" = String, Path, description = "The run's id: 32 lowercase hex digits for an orbit run"),
        ("t" = f64, Query, description = "Seconds since the run's epoch, from 0 to the durable frontier (iterations_done * output_step_s)", minimum = 0),
        ("version" = Option<u32>, Query, description = "The run's version (default: the latest; 0 is the run as propagated)", minimum = 0),
    ),
    responses(
        (status = 200, description = "Every body's position at t (km, the run's frame) by body index: x, y, z as little-endian IEEE 754 doubles, 24 bytes a body; the values of /states at t, and NaN for an object of a catalogue that SGP4 stopped before t", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 400, description = "A bad parameter (t, id), named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run, no such version (the latest named), or t past its durable frontier (named)", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "The read does not fit in the memory budget now (Retry-After)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn positions(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    let what = "the positions of a run at a time";
    let body = at_time(&state, id, &query, what, |log, run, t, versions| {
        let mut out = vec![0u8; run.bodies as usize * POSITION_BYTES];
        each_state_at(log, run, t, versions, |body, s| {
            let at = body as usize * POSITION_BYTES;
            let slot = out.get_mut(at..at + POSITION_BYTES).ok_or_else(|| {
                ApiError::internal(format!("run {}: a body {body} of {}", run.id, run.bodies))
            })?;
            for (k, bytes) in slot.chunks_exact_mut(8).enumerate() {
                bytes.copy_from_slice(&s.r[k].to_le_bytes());
            }
            Ok(())
        })?;
        Ok(out)
    })
    .await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        body,
    )
        .into_response())
}

/// What `/states` and `/positions` share: `t` (required) and `version` from `query`,
/// the run opened, `t` checked against its durable frontier and the read admitted to
/// the readers' budget (`what` names it), then `read` on a blocking thread with the
/// run, `t` and the versions up to the one asked.
async fn at_time(
    state: &AppState,
    id: String,
    query: &params::Query,
    what: &'static str,
    read: impl FnOnce(&Log, &LoggedRun, f64, &[Version]) -> Result<Vec<u8>, ApiError> + Send + 'static,
) -> Result<Vec<u8>, ApiError> {
    let t = seconds(query, "t")?.ok_or_else(|| {
        ApiError::bad(
            "t",
            "",
            "is required: seconds since the run's epoch, from 0 to the durable frontier",
        )
    })?;
    let version = version_param(query)?;
    let log = state.log.clone();
    let catalogs = std::sync::Arc::clone(&state.catalogs);
    let readers = state.readers.clone();
    blocking(move || {
        let run = logged(&log, &*catalogs, &id)?;
        let versions = log.versions(run.key)?;
        let version = pick(&run, &versions, version)?;
        if t > run.frontier() {
            return Err(past_frontier("t", t, &run));
        }
        let _permit = readers.admit(run.bodies as u64 * BYTES_PER_BODY, what)?;
        read(&log, &run, t, &versions[..version as usize])
    })
    .await
}

/// Every body's state at `t` (at most the frontier) in the version made by
/// `versions` (every version up to it), written by body.
fn states_at(
    log: &Log,
    run: &LoggedRun,
    t: f64,
    format: OrbitFormat,
    versions: &[Version],
) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(run.bodies as usize * 160 + 256);
    if format == OrbitFormat::Json {
        out.extend_from_slice(b"{\"t\":");
        out.extend_from_slice(serde_json::to_string(&t).expect("finite").as_bytes());
        out.extend_from_slice(b",\"columns\":");
        out.extend_from_slice(columns().as_bytes());
        out.extend_from_slice(b",\"records\":[");
    }
    let mut writer = EphemerisWriter::rows(out, format).map_err(ApiError::internal)?;
    each_state_at(log, run, t, versions, |body, state| {
        writer.state(body, state).map_err(ApiError::internal)
    })?;
    writer.finish().map_err(ApiError::internal)
}

/// Every body's state at `t` (at most the frontier) in the version made by `versions`,
/// handed to `emit` one body at a time: the logged state at an output time, the cubic
/// Hermite interpolant of the two around it between.
fn each_state_at(
    log: &Log,
    run: &LoggedRun,
    t: f64,
    versions: &[Version],
    mut emit: impl FnMut(u32, &OrbitState) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    if run.iterations == 0 {
        // Nothing logged yet: the frontier is t_0 = t, the scenario's own states.
        for body in 0..run.bodies {
            emit(
                body,
                &OrbitState {
                    t,
                    ..run.initial(body)?
                },
            )?;
        }
        return Ok(());
    }
    // The record containing `t`; at the frontier, which no record contains, the last
    // record (its end is the frontier).
    let at = if t >= run.frontier() {
        (run.iterations - 1) as f64 * run.step()
    } else {
        t
    };
    let mut windows: Vec<Window> = Vec::new();
    log.states_at(run.key, at, &mut windows)?;
    if windows.len() != run.bodies as usize {
        return Err(ApiError::internal(format!(
            "run {}: {} of its {} bodies have a record at t = {at}",
            run.id,
            windows.len(),
            run.bodies
        )));
    }
    let mut overlay = Overlay::new(versions.to_vec(), run.step());
    for w in &windows {
        let r = &w.record;
        // The outputs around t: the record of iteration k runs from t_k to t_{k+1}.
        let k = r.iteration;
        let changed = overlay.state(log, run.key, r.body, k)?.is_some()
            || overlay.state(log, run.key, r.body, k + 1)?.is_some();
        if changed {
            let around = run.body_states(log, &mut overlay, r.body, k..k + 2)?;
            let s = hermite(&around[0], &around[1], t);
            emit(r.body, &OrbitState { t, ..s })?;
            continue;
        }
        let [x, y, z, vx, vy, vz] = match w.start {
            Some(state) => state,
            None => {
                let s = run.initial(r.body)?;
                [s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]]
            }
        };
        let s0 = OrbitState {
            t: r.t0,
            r: [x, y, z],
            v: [vx, vy, vz],
        };
        let [x, y, z, vx, vy, vz] = r.state;
        let s1 = OrbitState {
            t: r.t1,
            r: [x, y, z],
            v: [vx, vy, vz],
        };
        let s = hermite(&s0, &s1, t);
        emit(r.body, &OrbitState { t, ..s })?;
    }
    Ok(())
}

/// `GET /api/runs/{id}/bodies/{k}?from=A&to=B[&points=K][&format=json|csv]`: body k's
/// states at the output times in `[A, B]`, streamed.
#[utoipa::path(get, path = "/api/runs/{id}/bodies/{k}", tag = "runs",
    params(
        ("id" = String, Path, description = "The run's id: 32 lowercase hex digits for an orbit run"),
        ("k" = u32, Path, description = "The body's index, from 0 to bodies - 1", minimum = 0),
        ("version" = Option<u32>, Query, description = "The run's version (default: the latest; 0 is the run as propagated)", minimum = 0),
        ("from" = Option<f64>, Query, description = "Seconds since the epoch (default 0)", minimum = 0),
        ("to" = Option<f64>, Query, description = "Seconds since the epoch, at most the durable frontier (default: the frontier)", minimum = 0),
        ("points" = Option<u32>, Query, description = "At most this many output times (every m-th, the first and last kept)", minimum = 2, maximum = 100000),
        ("format" = Option<String>, Query, description = "json (default) or csv", pattern = "^(json|csv)$"),
    ),
    responses(
        (status = 200, description = "Body k's states at the output times in [from, to], in time order", content(
            (crate::schemas::Track = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "A bad parameter (k, from, to, points, id, format), named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run, no body k in it, no such version (the latest named), or a time past its durable frontier (named)", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 429, description = "This client holds its share of the open streams or of the memory for reads (--client-share; Retry-After)", body = crate::schemas::ErrorBody),
        (status = 503, description = "Too many streams open, or the read does not fit in the memory budget now (Retry-After)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn track(
    State(state): State<AppState>,
    Path((id, k)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    Client(client): Client,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    let format = orbit_format(&query)?;
    let points = params::points(&query)?;
    let body = k
        .parse::<u32>()
        .map_err(|_| ApiError::bad("k", &k, "must be a body's index, a whole number from 0"))?;
    let from = seconds(&query, "from")?;
    let to = seconds(&query, "to")?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ApiError::bad(
                "from",
                &from.to_string(),
                format!("must be at most to ({to})"),
            ));
        }
    }
    let version = version_param(&query)?;
    let log = state.log.clone();
    let catalogs = std::sync::Arc::clone(&state.catalogs);
    let (run, versions, version) = blocking(move || {
        let run = logged(&log, &*catalogs, &id)?;
        let versions = log.versions(run.key)?;
        let version = pick(&run, &versions, version)?;
        Ok::<_, ApiError>((run, versions, version))
    })
    .await?;
    if body >= run.bodies {
        return Err(ApiError::NotFound(format!(
            "k = {body}: run {} has {} bodies (0 to {})",
            run.id,
            run.bodies,
            run.bodies.saturating_sub(1)
        )));
    }
    let to = match to {
        Some(to) if to > run.frontier() => return Err(past_frontier("to", to, &run)),
        Some(to) => to,
        None => run.frontier(),
    };
    let from = from.unwrap_or(0.0);
    if from > to {
        return Err(ApiError::bad(
            "from",
            &from.to_string(),
            format!("must be at most to ({to}, the durable frontier)"),
        ));
    }
    let times = ephemeris::output_steps(from, to, run.step(), run.iterations);
    let header = match format {
        OrbitFormat::Json => {
            let name = run.scenario.body(body as usize).map(|b| b.name);
            format!(
                "{{\"id\":\"{}\",\"body\":{body},\"name\":{},\"from\":{},\"to\":{},\"columns\":{},\"records\":[",
                run.id,
                serde_json::to_string(&name).expect("a string serialises"),
                serde_json::to_string(&from).expect("finite"),
                serde_json::to_string(&to).expect("finite"),
                columns()
            )
        }
        _ => String::new(),
    };
    // The version's states over version 0's, a stored part at a time as the track
    // reaches them (`Overlay`, as the whole run's download does).
    let mut versions = versions;
    versions.truncate(version as usize);
    let (permit, budget) = crate::routes::api::download_permits(
        &state,
        client,
        budget::STREAM_BYTES + Overlay::bytes(&versions),
        "a body's track",
    )?;
    let run_step = run.step();
    let pieces = TrackPieces {
        log: state.log.clone(),
        initial: run.initial(body)?,
        run,
        body,
        stride: stride(&times, points),
        times,
        header: Some(header),
        format,
        open: None,
        finished: false,
        overlay: Overlay::new(versions, run_step),
    };
    let stream = series::stream_pieces(
        pieces,
        Arc::clone(&state.reads),
        state.limits.send_timeout,
        permit,
        budget,
    );
    Ok(([(header::CONTENT_TYPE, content_type(format))], stream).into_response())
}

/// Every how many output times a track keeps one, for at most `points` of them (the
/// first and the last always kept).
fn stride(times: &Option<RangeInclusive<u64>>, points: Option<usize>) -> u64 {
    let count = times.as_ref().map_or(0, |t| t.end() - t.start() + 1);
    match points {
        Some(points) if count > points as u64 => (count - 1).div_ceil(points as u64 - 1),
        _ => 1,
    }
}

/// A track's place in the log, carried from one blocking read to the next.
struct TrackPieces {
    log: Log,
    run: LoggedRun,
    body: u32,
    initial: OrbitState,
    /// The output steps wanted (none: the window holds no output time), and every
    /// how many one is kept.
    times: Option<RangeInclusive<u64>>,
    stride: u64,
    /// The JSON opening, written with the first piece.
    header: Option<String>,
    format: OrbitFormat,
    open: Option<(Track, EphemerisWriter<Vec<u8>>)>,
    finished: bool,
    /// The version's states where a manoeuvre replaced version 0's.
    overlay: Overlay,
}

impl TrackPieces {
    fn next(&mut self) -> Result<Option<Bytes>, ApiError> {
        if self.finished {
            return Ok(None);
        }
        if self.open.is_none() {
            let mut out = Vec::with_capacity(series::CHUNK + 512);
            out.extend_from_slice(self.header.take().unwrap_or_default().as_bytes());
            let mut writer = EphemerisWriter::rows(out, self.format).map_err(ApiError::internal)?;
            // The record of iteration k - 1 holds the state at t_k.
            let iterations = match &self.times {
                Some(times) => times.start().max(&1) - 1..*times.end(),
                None => 0..0,
            };
            if self.times.as_ref().is_some_and(|t| *t.start() == 0) {
                let initial = self.overlay.state(&self.log, self.run.key, self.body, 0)?;
                writer
                    .state(self.body, &initial.unwrap_or(self.initial))
                    .map_err(ApiError::internal)?;
            }
            let track = self.log.track(self.run.key, self.body, iterations)?;
            self.open = Some((track, writer));
        }
        let Some((track, writer)) = &mut self.open else {
            return Ok(None);
        };
        while writer.get_mut().len() < series::CHUNK {
            match track.next() {
                Some(record) => {
                    let r = record?;
                    let k = r.iteration + 1;
                    let kept = self
                        .times
                        .as_ref()
                        .is_some_and(|t| (k - t.start()) % self.stride == 0 || k == *t.end());
                    if kept {
                        let [x, y, z, vx, vy, vz] = r.state;
                        let s = self.overlay.state(&self.log, self.run.key, self.body, k)?;
                        let s = s.unwrap_or(OrbitState {
                            t: r.t1,
                            r: [x, y, z],
                            v: [vx, vy, vz],
                        });
                        writer.state(self.body, &s).map_err(ApiError::internal)?;
                    }
                }
                None => {
                    let (_, writer) = self.open.take().expect("open above");
                    self.finished = true;
                    return Ok(Some(Bytes::from(
                        writer.finish().map_err(ApiError::internal)?,
                    )));
                }
            }
        }
        let chunk = std::mem::replace(writer.get_mut(), Vec::with_capacity(series::CHUNK + 512));
        Ok(Some(Bytes::from(chunk)))
    }
}

impl Piecewise for TrackPieces {
    fn next_piece(&mut self) -> Result<Option<Bytes>, String> {
        self.next().map_err(|e| match e {
            ApiError::Internal(cause) => crate::error::chain(&*cause),
            other => other.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stride_keeps_at_most_the_points_asked_for() {
        for count in 1..60u64 {
            for points in 2..12usize {
                let times = 0..=count - 1;
                let m = stride(&Some(times.clone()), Some(points));
                let kept = times.filter(|k| k % m == 0 || *k == count - 1).count();
                assert!(kept <= points, "{count} times, {points} points: {kept}");
                // Never fewer than half of what was asked for (or all there are).
                assert!(
                    kept >= (points / 2).min(count as usize),
                    "{count}, {points}: {kept}"
                );
            }
        }
    }
}
