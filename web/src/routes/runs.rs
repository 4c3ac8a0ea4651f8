//! `/api/runs/...`: runs named by their scenario. `POST /api/runs` starts (or joins)
//! the run of a scenario document; `GET /api/runs/{id}/status` says how far it is;
//! `GET /api/runs/{id}` is its data once complete; `GET /api/runs/{id}/events` streams
//! its progress.
//!
//! An orbit run is named by the hash of its canonical scenario (32 hex digits), a nano
//! run by its seed ([`RunId`]). What the service knows of a run it reads from the log
//! (its catalog entry and the scenario kept with its first block) or, before that
//! block, from the engine's job in flight: a bad scenario is refused before either
//! hears of it, so nothing is logged for it.
//!
//! The rules of computation are `/api/propagate`'s ([`api::start_scenario`]): the
//! token, the rate limit and `--max-jobs` apply to requests that would compute; joining
//! a run in flight and reading a logged one are open.
//!
//! A run started is admitted into the engine's share of the memory budget
//! ([`crate::budget`]): while that share is taken by others it waits, `running` with no
//! steps done, and starts as they end.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nano_pipeline::catalog::CatalogSource;
use nano_pipeline::ephemeris::{self, OrbitFormat};
use nano_pipeline::scenario::{RunId, Scenario, ScenarioLimits};
use nano_pipeline::{Format, RunKey};
use nano_store::CatalogEntry;
use serde_json::{json, Value};

use crate::clients::Client;
use crate::error::ApiError;
use crate::idempotency::{self, Answer};
use crate::metrics::Metrics;
use crate::routes::api::{self, peer_ip, stream_permit, POLL_AFTER_SECONDS};
use crate::routes::events;
use crate::routes::versions::{pick_version, version_param};
use crate::series;
use crate::{budget, params, AppState};
use nano_pipeline::runs::{self, Keep, OrbitPieces, Overlay};

/// The largest body `POST /api/runs` takes (every other route takes 16 KiB): room for
/// a scenario that lists some thousands of bodies.
pub const RUN_BODY_BYTES: usize = 1 << 20;

/// The most body names a status object lists.
pub const MAX_NAMES: usize = 100_000;

/// A run the service knows: its key in the log and engine, and its scenario.
struct Known {
    id: RunId,
    key: RunKey,
    scenario: Scenario,
    /// The log's catalog entry, once the run has logged a block.
    entry: Option<CatalogEntry>,
    /// The steps the job in flight runs to, if one is.
    in_flight: Option<u64>,
    /// Why its last job failed, if a body of it stopped (the engine remembers).
    failure: Option<String>,
}

impl Known {
    /// The steps the run is wanted to: the most anyone asked of it.
    fn target(&self) -> u64 {
        self.entry
            .map_or(0, |e| e.target)
            .max(self.in_flight.unwrap_or(0))
    }

    /// Steps logged (durable).
    fn logged(&self) -> u64 {
        self.entry.map_or(0, |e| e.iterations)
    }

    /// `complete`, `running`, or `stopped` (not in flight and short of `steps`: its job
    /// failed, or the process stopped under it); nothing continues a stopped run until
    /// someone asks for it again.
    fn state(&self, steps: u64) -> &'static str {
        if steps > 0 && self.logged() >= steps {
            "complete"
        } else if self.in_flight.is_some() {
            "running"
        } else {
            "stopped"
        }
    }

    /// The status object of the contract, for a client that wants `steps` steps.
    fn status(&self, steps: u64) -> Value {
        let done = self.logged();
        let status = self.state(steps);
        let id = self.id.to_string();
        let mut object = json!({
            "id": id,
            "model": match self.scenario { Scenario::Nano { .. } => "nano", Scenario::Orbit(_) => "orbit" },
            "status": status,
            "steps": steps,
            "iterations_done": done.min(steps),
            "scenario": self.scenario,
            "links": {
                "self": format!("/api/runs/{id}"),
                "events": format!("/api/runs/{id}/events"),
                "page": match self.scenario {
                    Scenario::Nano { seed } => format!("/propagate/{steps}?seed={seed}"),
                    Scenario::Orbit(_) => format!("/runs/{id}"),
                },
            },
        });
        let fields = match &self.scenario {
            Scenario::Nano { .. } => json!({
                "bodies": nano_pipeline::model::BODIES,
                "output_step_s": null,
                "epoch": null,
            }),
            Scenario::Orbit(orbit) => {
                let names: Vec<String> = (0..orbit.body_count().min(MAX_NAMES))
                    .map(|i| orbit.body(i).expect("index below body_count").name)
                    .collect();
                let mut fields = json!({
                    "bodies": orbit.body_count(),
                    "output_step_s": orbit.output_step_s(),
                    "epoch": orbit.epoch().to_string(),
                    "names": names,
                });
                // What the catalogue gave and what its selection dropped (objects SGP4
                // cannot start among them, with their codes).
                if let Some(part) = orbit.catalog() {
                    fields["catalog"] = json!({
                        "id": part.id(),
                        "objects": part.objects().map(|o| o.objects.len()),
                        "dropped": part.objects().map(|o| &o.dropped),
                    });
                }
                fields
            }
        };
        if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
            object.extend(fields);
        }
        if let (Some(reason), "stopped") = (&self.failure, status) {
            object["reason"] = json!(reason);
        }
        object
    }
}

/// What the service knows of run `id` (blocking: it reads the log), or 404: what the
/// log holds of it, or else what the engine computing it holds.
fn lookup(state: &AppState, id: RunId) -> Result<Known, ApiError> {
    let key = runs::run_key(id);
    let entry = state.log.entry(key)?;
    let in_flight = state.engine.in_flight_target(key);
    let failure = state.engine.failure(key);
    let unknown = || match &failure {
        // Nothing logged, so nothing else can say why.
        Some(reason) => ApiError::Refused {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!("run {id} failed before its first block was logged: {reason}"),
        },
        None => ApiError::NotFound(format!("run {id}")),
    };
    let scenario = match id {
        RunId::Nano(seed) if entry.is_some() || in_flight.is_some() => Scenario::Nano { seed },
        RunId::Nano(_) => return Err(unknown()),
        RunId::Orbit(_) => match runs::kept_scenario_with(&state.log, id, &*state.catalogs)? {
            Some(scenario) => scenario,
            None => match state.engine.in_flight_scenario(key) {
                Some(document) => runs::parse_kept(id, &document, &*state.catalogs)?,
                None if entry.is_some() => {
                    return Err(nano_pipeline::Error::NoScenario { run: id }.into())
                }
                None => return Err(unknown()),
            },
        },
    };
    Ok(Known {
        id,
        key,
        scenario,
        entry,
        in_flight,
        failure,
    })
}

/// [`lookup`] on a blocking thread.
async fn lookup_blocking(state: &AppState, id: RunId) -> Result<Known, ApiError> {
    let state = state.clone();
    super::blocking(move || lookup(&state, id)).await
}

/// A run request's body: `{"scenario": {...}, "steps": N}`, checked, the catalogue it
/// names (if any) from `catalogs`; each refusal names the field by its path in the
/// body.
pub fn parse_request(
    body: &[u8],
    max_steps: u64,
    max_bodies: usize,
    catalogs: &dyn CatalogSource,
) -> Result<(Scenario, u64), ApiError> {
    let bad = |field: &str, rule: String| ApiError::BadField {
        field: field.to_owned(),
        rule,
    };
    let shape = "must be a JSON object {\"scenario\": {...}, \"steps\": N}";
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad("body", format!("{shape}; it is not JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(bad(
            "body",
            format!(
                "{shape}, not {}",
                nano_pipeline::scenario::json_kind(&value)
            ),
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["scenario", "steps"].contains(&k.as_str()))
    {
        return Err(bad(
            unknown,
            "is not a field of a run request (it has scenario and steps)".into(),
        ));
    }
    let steps_rule = format!("must be a whole number from 1 to {max_steps} (--max-steps)");
    let steps = match fields.get("steps") {
        None => return Err(bad("steps", format!("is required: {steps_rule}"))),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max_steps).contains(&n) => n,
            _ => return Err(bad("steps", format!("{steps_rule}, got {v}"))),
        },
    };
    let Some(document) = fields.get("scenario") else {
        return Err(bad(
            "scenario",
            "is required: an orbit scenario document (ORBITS.md) or {\"model\":\"nano\",\"seed\":S}".into(),
        ));
    };
    let limits = ScenarioLimits { max_bodies };
    let scenario = Scenario::from_value_with(document, &limits, catalogs).map_err(|e| {
        let field = if e.field.is_empty() {
            "scenario".to_owned()
        } else {
            format!("scenario.{}", e.field)
        };
        bad(&field, e.rule)
    })?;
    if let Scenario::Orbit(orbit) = &scenario {
        orbit.check_span(steps).map_err(|e| bad(&e.field, e.rule))?;
    }
    Ok((scenario, steps))
}

/// `Location` of run `id`.
fn location(id: RunId) -> HeaderValue {
    HeaderValue::from_str(&format!("/api/runs/{id}")).expect("digits and ASCII letters")
}

/// `POST /api/runs`: starts (or joins) the run of `steps` steps of the scenario.
#[utoipa::path(post, path = "/api/runs", tag = "runs",
    request_body(content = crate::schemas::RunRequest, content_type = "application/json",
        description = "The scenario (an orbit document of ORBITS.md, or {\"model\":\"nano\",\"seed\":S}) and its steps; at most 1 MiB"),
    params(
        ("access_token" = Option<String>, Query, description = "The API token, for clients that cannot send headers"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters naming this request: sent again with the same body, the first answer comes back (nothing is made twice); with another body, 422"),
    ),
    responses(
        (status = 200, description = "The log already holds the steps", body = crate::schemas::RunStatus, headers(
            ("Location" = String, description = "The run's URL"),
        )),
        (status = 202, description = "Started, or joined in flight", body = crate::schemas::RunStatus, headers(
            ("Location" = String, description = "The run's URL"),
            ("Retry-After" = u64, description = "Seconds to wait before asking"),
        )),
        (status = 400, description = "A bad field of the request, named by its path (`scenario.bodies[2].elements.e`); nothing is logged", body = crate::schemas::ErrorBody),
        (status = 401, description = "Starting a run needs the API token", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 1 MiB", body = crate::schemas::ErrorBody),
        (status = 413, description = "Even one step of every body of the scenario could never fit in the engine's share of the memory budget: the reason names the bytes and the share", body = crate::schemas::ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = crate::schemas::ErrorBody),
        (status = 422, description = "The Idempotency-Key was sent before with another request", body = crate::schemas::ErrorBody),
        (status = 429, description = "Too many new runs from this client", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "Too many runs in flight, or the log cannot be written (Retry-After and the reason)", body = crate::schemas::ErrorBody),
        (status = 507, description = "The log is read-only (its volume full) or a new run would pass its quota", body = crate::schemas::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    super::json_body(&headers)?;
    // A retry with the key of an answered request gets that answer.
    let idempotent = idempotency::key(&headers)?.map(|key| (key, idempotency::digest(&body)));
    if let Some((key, request)) = &idempotent {
        if let Some(answer) = state.answers.find(key, *request)? {
            return Ok(answer.into_response());
        }
    }
    // Checked on a blocking thread: a scenario of a hundred thousand bodies takes a
    // while to expand.
    let (max_steps, max_bodies) = (state.limits.max_steps, state.limits.max_bodies);
    let catalogs = Arc::clone(&state.catalogs);
    let (scenario, steps) =
        super::blocking(move || parse_request(&body, max_steps, max_bodies, &*catalogs)).await?;
    let id = scenario.run_id();
    let address = state.access.client(peer_ip(&peer), &headers);
    let token = query.get("access_token").map(|t| t.to_string());
    let job =
        api::start_scenario_blocking(&state, scenario, steps, headers, token, address).await?;
    let known = lookup_blocking(&state, id).await?;
    drop(job);
    let status = known.status(steps);
    let answer = Answer {
        status: if known.logged() >= steps {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        },
        headers: if known.logged() >= steps {
            vec![(header::LOCATION, location(id))]
        } else {
            vec![
                (header::LOCATION, location(id)),
                (header::RETRY_AFTER, HeaderValue::from(POLL_AFTER_SECONDS)),
            ]
        },
        body: serde_json::to_vec(&status)
            .map_err(ApiError::internal)?
            .into(),
    };
    if let Some((key, request)) = idempotent {
        state.answers.keep(key, request, answer.clone());
    }
    Ok(answer.into_response())
}

/// `GET /api/runs/{id}/status`: how far the run is.
#[utoipa::path(get, path = "/api/runs/{id}/status", tag = "runs",
    params(("id" = String, Path, description = "The run's id: 32 lowercase hex digits (orbit) or a decimal seed (nano)")),
    responses(
        (status = 200, description = "The run's status", body = crate::schemas::RunStatus),
        (status = 400, description = "A malformed id", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such run", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let known = lookup_blocking(&state, params::run_id(&id)?).await?;
    Ok(Json(known.status(known.target())))
}

/// `GET /api/runs/{id}`: the run's data once complete; 202 and its status while it is
/// computed; 409 once it is stopped short (a client polling `Location` must hear that
/// waiting will not finish it).
///
/// An orbit run is served in the version `version=` names (default: the latest, as the
/// other reads; 0 is the run as propagated; one that does not exist: 404 naming the
/// latest): version 0's states as the log holds them, with each manoeuvred body's
/// states from its version's `from_output` on read from that version
/// ([`series::Overlay`], the rule of [`super::versions`]), streamed like the rest.
/// Nothing of an orbit run's download is cached, so no cached document of one version
/// can be served for another. A nano run has only version 0.
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs",
    params(
        ("id" = String, Path, description = "The run's id: 32 lowercase hex digits (orbit) or a decimal seed (nano)"),
        ("format" = Option<String>, Query, description = "json (default), csv, or oem (orbit runs)", pattern = "^(json|csv|oem)$"),
        ("points" = Option<u32>, Query, description = "At most this many output times per body (every m-th, first and last kept); for a nano run, the page's series", minimum = 2, maximum = 100000),
        ("version" = Option<u32>, Query, description = "The run's version (default: the latest; 0 is the run as propagated; a nano run has only 0)", minimum = 0),
    ),
    responses(
        (status = 200, description = "The run in the version asked for (the manoeuvred bodies' states from their manoeuvres on are the version's): JSON, CSV (t,body,x,y,z,vx,vy,vz by time then body) or a CCSDS OEM (one segment per body)", content(
            (crate::schemas::OrbitRunDocument = "application/json"),
            (String = "text/csv"),
            (String = "text/plain"),
        )),
        (status = 202, description = "Being computed: its status; ask again at Location", body = crate::schemas::RunStatus, headers(
            ("Location" = String, description = "The URL to ask again"),
            ("Retry-After" = u64, description = "Seconds to wait before asking"),
        )),
        (status = 400, description = "A malformed id or a bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such run, or no such version of it (the latest named)", body = crate::schemas::ErrorBody),
        (status = 409, description = "The run is stopped (not in flight and short of its steps: its job failed, or the process stopped under it): asking again will not complete it; POST /api/runs with its scenario and steps, or open its events, to continue it. The message says how far the log holds it; `run` is its status object", body = crate::schemas::StoppedRun),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 429, description = "This client holds its share of the open streams or of the memory for reads (--client-share; Retry-After)", body = crate::schemas::ErrorBody),
        (status = 503, description = "Too many streams open, or the read does not fit in the memory budget (Retry-After)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn data(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    Client(client): Client,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    let id = params::run_id(&id)?;
    let points = params::points(&query)?;
    let version = version_param(&query)?;
    let format_text = query.get("format").unwrap_or("json");
    let format: OrbitFormat = format_text
        .parse()
        .map_err(|_| ApiError::bad("format", format_text, "must be json, csv or oem"))?;
    let known = lookup_blocking(&state, id).await?;
    let steps = known.target();
    let running = || {
        (
            StatusCode::ACCEPTED,
            [
                (header::LOCATION, location(id)),
                (header::RETRY_AFTER, HeaderValue::from(POLL_AFTER_SECONDS)),
            ],
            Json(known.status(steps)),
        )
            .into_response()
    };
    match known.state(steps) {
        "running" => return Ok(running()),
        // Asking again would never end: no job is computing the rest.
        "stopped" => return Ok(stopped(&known, steps)),
        _ => {}
    }
    let orbit = match &known.scenario {
        Scenario::Nano { seed } => {
            let format = match format {
                OrbitFormat::Json => Format::Json,
                OrbitFormat::Csv => Format::Csv,
                OrbitFormat::Oem => {
                    return Err(ApiError::bad(
                        "format",
                        format_text,
                        "must be json or csv for a nano run (OEM is for orbit runs)",
                    ))
                }
            };
            pick_version(id, 0, version)?;
            // The same bytes as `/api/propagate/{steps}?seed=S`, from the same place.
            return Ok(api::ready(&state, steps, *seed, format, points, client)
                .await?
                .unwrap_or_else(running));
        }
        Scenario::Orbit(orbit) => orbit.clone(),
    };

    let log = state.log.clone();
    let key = known.key;
    let mut versions = super::blocking(move || log.versions(key).map_err(ApiError::from)).await?;
    let version = pick_version(id, versions.len() as u32, version)?;
    versions.truncate(version as usize);

    Metrics::bump(&state.metrics.log_served);
    let (permit, budget) = api::download_permits(
        &state,
        client,
        budget::STREAM_BYTES + Overlay::bytes(&versions),
        "a download of a run",
    )?;
    let pieces = OrbitPieces::new(
        state.log.clone(),
        known.key,
        orbit,
        steps,
        format,
        Keep::new(steps, points.map(|p| p as u64)),
        ephemeris::now_utc(),
    )
    .versioned(versions);
    let body: Body = series::stream_pieces(
        pieces,
        Arc::clone(&state.reads),
        state.limits.send_timeout,
        permit,
        budget,
    );
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response())
}

/// The 409 of `GET /api/runs/{id}` for a stopped run: what the log holds and how to
/// continue it, with the status object under `run`.
fn stopped(known: &Known, steps: u64) -> Response {
    let id = known.id;
    let message = format!(
        "run {id} is stopped: the log holds {} of its {steps} steps and no job is computing \
         the rest; POST /api/runs with its scenario and steps (or open /api/runs/{id}/events) \
         to continue it",
        known.logged().min(steps)
    );
    (
        StatusCode::CONFLICT,
        Json(json!({"error": {"message": message}, "run": known.status(steps)})),
    )
        .into_response()
}

/// `GET /api/runs/{id}/events`: the run's progress; a stopped run is resumed (which,
/// being computation, needs the token).
#[utoipa::path(get, path = "/api/runs/{id}/events", tag = "runs",
    params(
        ("id" = String, Path, description = "The run's id: 32 lowercase hex digits (orbit) or a decimal seed (nano)"),
        ("access_token" = Option<String>, Query, description = "The API token (EventSource cannot send headers)"),
    ),
    responses(
        (status = 200, description = "Server-sent `progress` events ({\"iterations_done\":K,\"steps\":N}), ending with `complete` or `error`", content_type = "text/event-stream"),
        (status = 400, description = "A malformed id", body = crate::schemas::ErrorBody),
        (status = 401, description = "Resuming a stopped run needs the API token", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such run", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 429, description = "Too many new runs from this client, or it holds its share of the open streams (--client-share; Retry-After)", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "Too many streams or runs, or the log cannot be written", body = crate::schemas::ErrorBody),
        (status = 507, description = "The log is read-only (its volume full) or the run would pass its quota", body = crate::schemas::ErrorBody),
    )
)]
pub async fn run_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    let known = lookup_blocking(&state, params::run_id(&id)?).await?;
    let steps = known.target();
    let address = state.access.client(peer_ip(&peer), &headers);
    let permit = stream_permit(&state, address)?;
    let token = query.get("access_token").map(|t| t.to_string());
    let job = api::start_scenario_blocking(&state, known.scenario, steps, headers, token, address)
        .await?;
    Ok(events::follow(&state, job, steps, "steps", permit).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_pipeline::catalog::NoCatalogs;

    #[test]
    fn every_refusal_of_a_request_names_its_field() {
        let good = r#"{"model":"orbit","epoch":"2026-01-01T00:00:00Z","output_step_s":60,"bodies":[{"name":"a","elements":{"a_km": 7200, "e": 0.1}}]}"#;
        let cases = [
            ("[]".to_owned(), "body"),
            ("{".to_owned(), "body"),
            (format!(r#"{{"scenario":{good}}}"#), "steps"),
            (format!(r#"{{"scenario":{good},"steps":0}}"#), "steps"),
            (format!(r#"{{"scenario":{good},"steps":-3}}"#), "steps"),
            (format!(r#"{{"scenario":{good},"steps":1001}}"#), "steps"),
            (
                format!(r#"{{"scenario":{good},"steps":5,"colour":1}}"#),
                "colour",
            ),
            (r#"{"steps":5}"#.to_owned(), "scenario"),
            (
                format!(r#"{{"scenario":{},"steps":5}}"#, good.replace("0.1", "1.5")),
                "scenario.bodies[0].elements.e",
            ),
        ];
        for (body, field) in cases {
            match parse_request(body.as_bytes(), 1000, 10, &NoCatalogs) {
                Err(ApiError::BadField { field: f, .. }) => assert_eq!(f, field, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let (scenario, steps) = parse_request(
            format!(r#"{{"scenario":{good},"steps":5}}"#).as_bytes(),
            1000,
            10,
            &NoCatalogs,
        )
        .unwrap();
        assert_eq!(steps, 5);
        assert!(matches!(scenario, Scenario::Orbit(_)));
    }
}
