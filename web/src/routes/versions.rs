//! Versions of an orbit run (`docs/orbits.md`, "Manoeuvres and versions"): `POST
//! /api/runs/{id}/manoeuvres` makes the next one, `GET /api/runs/{id}/versions` lists
//! them, and the run's download ([`super::runs::data`], through
//! [`nano_pipeline::runs::Overlay`]), the window reads and the conjunctions take `version=`.
//!
//! Version 0 is the run as propagated (its chunks in the log); version `V` is version
//! `V - 1` with one body's states from some output on replaced
//! ([`nano_pipeline::orbit::manoeuvre`]), kept in the log beside it
//! ([`nano_store::Log::put_version`]); a body's state in a version is read as
//! [`nano_pipeline::runs::overlay`] says (a later version wins).
//!
//! A manoeuvre takes the run's lock ([`crate::screenings::Screenings::run_lock`]), so
//! that the versions of a run follow each other, then updates every screener the
//! service keeps for the run incrementally, keeps the new version's screening in the
//! log, and announces the version to the conjunction event streams.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nano_pipeline::orbit::manoeuvre::Impulse;
use nano_pipeline::runs::screening;
use nano_pipeline::runs::version::Made;
use nano_pipeline::runs::LoggedRun;
use nano_pipeline::scenario::RunId;
use nano_pipeline::screening::Conjunction;
use nano_store::{ManoeuvreKey, Version};
use serde_json::{json, Value};

use super::blocking;
use super::conjunctions::conjunction_json;
use super::windows::logged;
use crate::budget;
use crate::error::ApiError;
use crate::idempotency::{self, Answer};
use crate::metrics::Metrics;
use crate::params::{self, Query};
use crate::routes::api::peer_ip;
use crate::AppState;

/// The largest impulse a manoeuvre takes, km/s.
pub const MAX_DV_KMS: f64 = 10.0;

/// The `version` parameter: a whole number from 0, if given.
pub(crate) fn version_param(query: &Query) -> Result<Option<u32>, ApiError> {
    let Some(text) = query.get("version") else {
        return Ok(None);
    };
    text.parse::<u32>().map(Some).map_err(|_| {
        ApiError::bad(
            "version",
            text,
            "must be a version of the run: a whole number from 0 (0 is the run as propagated)",
        )
    })
}

/// The version `wanted` of `run`, whose versions after 0 are `versions`: the latest
/// when none is wanted, 404 naming the latest for one that does not exist.
pub(crate) fn pick(
    run: &LoggedRun,
    versions: &[Version],
    wanted: Option<u32>,
) -> Result<u32, ApiError> {
    pick_version(run.id, versions.len() as u32, wanted)
}

/// The version `wanted` of run `id`, whose latest is `latest`: [`pick`]'s rule.
pub(crate) fn pick_version(id: RunId, latest: u32, wanted: Option<u32>) -> Result<u32, ApiError> {
    match wanted {
        None => Ok(latest),
        Some(v) if v <= latest => Ok(v),
        Some(v) => Err(ApiError::NotFound(format!(
            "version {v} of run {id}: the latest is {latest}"
        ))),
    }
}

/// A manoeuvre's request, checked: the body, the time and the impulse.
fn parse_manoeuvre(body: &[u8], run: &LoggedRun) -> Result<(u32, Impulse), ApiError> {
    let bad = |field: &str, rule: String| ApiError::BadField {
        field: field.to_owned(),
        rule,
    };
    let shape = "must be a JSON object {\"body\": K, \"t\": T, \"dv_kms\": [dx, dy, dz]}";
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad("body", format!("{shape}; it is not JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(bad("body", format!("{shape}, not {value}")));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !["body", "t", "dv_kms"].contains(&k.as_str()))
    {
        return Err(bad(
            unknown,
            "is not a field of a manoeuvre (it has body, t and dv_kms)".into(),
        ));
    }
    let bodies = run.bodies;
    let body_rule = format!(
        "must be a body index of the run, a whole number from 0 to {}",
        bodies.saturating_sub(1)
    );
    let index = match fields.get("body") {
        None => return Err(bad("body", format!("is required: {body_rule}"))),
        Some(v) => match v.as_u64() {
            Some(k) if k < u64::from(bodies) => k as u32,
            _ => return Err(bad("body", format!("{body_rule}, got {v}"))),
        },
    };
    let t_end = run.iterations as f64 * run.step();
    let t_rule = format!(
        "must be seconds since the run's epoch, at least 0 and before the run's end t_end = {t_end}"
    );
    let t = match fields.get("t") {
        None => return Err(bad("t", format!("is required: {t_rule}"))),
        Some(v) => match v.as_f64() {
            Some(t) if t.is_finite() && (0.0..t_end).contains(&t) => t + 0.0,
            _ => return Err(bad("t", format!("{t_rule}, got {v}"))),
        },
    };
    let dv_rule = format!(
        "must be three finite numbers [dx, dy, dz] in km/s (inertial frame), of magnitude at most {MAX_DV_KMS}"
    );
    let dv = match fields.get("dv_kms") {
        None => return Err(bad("dv_kms", format!("is required: {dv_rule}"))),
        Some(Value::Array(items)) if items.len() == 3 => {
            let mut dv = [0.0; 3];
            for (i, item) in items.iter().enumerate() {
                match item.as_f64() {
                    Some(x) if x.is_finite() => dv[i] = x,
                    _ => {
                        return Err(bad(
                            &format!("dv_kms[{i}]"),
                            format!("{dv_rule}, got {item}"),
                        ))
                    }
                }
            }
            let magnitude = dv.iter().map(|x| x * x).sum::<f64>().sqrt();
            if magnitude == 0.0 {
                return Err(bad(
                    "dv_kms",
                    format!("{dv_rule}, and not zero: a zero impulse makes no new version"),
                ));
            }
            if magnitude > MAX_DV_KMS {
                return Err(bad(
                    "dv_kms",
                    format!("{dv_rule}; this one is {magnitude} km/s"),
                ));
            }
            dv
        }
        Some(v) => return Err(bad("dv_kms", format!("{dv_rule}, got {v}"))),
    };
    Ok((index, Impulse { t, dv_kms: dv }))
}

/// The 409 for a run that does not take manoeuvres (still computing, or stopped).
fn not_complete(run: &LoggedRun, computing: bool) -> ApiError {
    ApiError::Refused {
        status: StatusCode::CONFLICT,
        message: if computing {
            format!(
                "run {} is still being computed ({} steps logged): only complete runs take manoeuvres and are screened",
                run.id, run.iterations
            )
        } else {
            format!(
                "run {} is stopped short of its steps ({} logged): only complete runs take manoeuvres and are screened; \
                 POST /api/runs with its scenario and steps to complete it",
                run.id, run.iterations
            )
        },
    }
}

/// The orbit run `id`, complete: 400 for a nano run, 404 for an unknown one, 409 for
/// one still computing or stopped short.
pub(crate) fn complete_run(state: &AppState, id: &str) -> Result<LoggedRun, ApiError> {
    if let RunId::Nano(seed) = params::run_id(id)? {
        return Err(ApiError::bad(
            "id",
            &seed.to_string(),
            "must be an orbit run's id: manoeuvres and conjunctions are of orbit runs, not nano runs",
        ));
    }
    let run = logged(&state.log, &*state.catalogs, id)?;
    // A job that has logged every step it runs to may still be winding down: the run
    // is complete all the same.
    let computing = state
        .engine
        .in_flight_target(run.key)
        .is_some_and(|target| target > run.iterations);
    if !run.complete || computing {
        return Err(not_complete(&run, computing));
    }
    Ok(run)
}

/// The JSON of a version after 0, as `/versions` and the manoeuvre's answer show it.
fn version_json(run: &LoggedRun, v: &Version) -> Value {
    let name = run.scenario.body(v.body as usize).map(|b| b.name);
    json!({
        "version": v.version,
        "parent": v.parent,
        "manoeuvre": {"body": v.body, "name": name, "t": v.t, "dv_kms": v.dv_kms},
        "from_output": v.from_output,
    })
}

/// `POST /api/runs/{id}/manoeuvres`: an impulse on one body makes the next version.
#[utoipa::path(post, path = "/api/runs/{id}/manoeuvres", tag = "versions",
    request_body(content = crate::schemas::ManoeuvreRequest, content_type = "application/json",
        description = "The body, the time and the impulse (km/s, inertial frame)"),
    params(
        ("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits"),
        ("access_token" = Option<String>, Query, description = "The API token, for clients that cannot send headers"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters naming this request: sent again with the same body, the first answer comes back (nothing is made twice); with another body, 422"),
    ),
    responses(
        (status = 201, description = "The new version", body = crate::schemas::ManoeuvreResult, headers(
            ("Location" = String, description = "The run at the new version"),
        )),
        (status = 400, description = "A bad field of the manoeuvre (body, t, dv_kms), a nano run, or a malformed id, named", body = crate::schemas::ErrorBody),
        (status = 401, description = "A manoeuvre needs the API token", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such run", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 409, description = "The run is still computing or stopped short (only complete runs take manoeuvres), or it has the most versions a run may have (--max-versions, named)", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 415, description = "The body is not declared as JSON", body = crate::schemas::ErrorBody),
        (status = 422, description = "The Idempotency-Key was sent before with another request", body = crate::schemas::ErrorBody),
        (status = 429, description = "Too many requests from this client", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
        (status = 503, description = "The log cannot be written now, or the manoeuvre's share of the memory budget is taken (Retry-After)", body = crate::schemas::ErrorBody),
        (status = 507, description = "The log is read-only (its volume full), or the version's estimated bytes would pass the log's quota (--max-log-gb; the message names the estimate and the quota)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn manoeuvre(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let query = params::query(raw.as_deref())?;
    super::json_body(&headers)?;
    state
        .access
        .authorize(&headers, query.get("access_token"))?;
    let run = {
        let (state, id) = (state.clone(), id.clone());
        blocking(move || complete_run(&state, &id)).await?
    };
    let run = std::sync::Arc::new(run);
    let (body_index, impulse) = parse_manoeuvre(&body, &run)?;
    let idempotent = idempotency::key(&headers)?.map(|text| {
        let key = ManoeuvreKey {
            key: idempotency::digest(format!("{}/{text}", run.id).as_bytes()),
            request: idempotency::digest(&body),
        };
        (text, key)
    });
    let lock = state.screenings.run_lock(run.key);
    let guard = lock.lock_owned().await;
    // Under the run's lock: a retry racing its first request finds its version.
    if let Some((text, key)) = &idempotent {
        if let Some(answer) = state.answers.find(&text_scope(&run, text), key.request)? {
            return Ok(answer.into_response());
        }
        let (state, run, key) = (state.clone(), std::sync::Arc::clone(&run), *key);
        let earlier = blocking(move || replay(&state, &run, key)).await?;
        match earlier {
            Earlier::None => {}
            Earlier::Other => return Err(idempotency::reused(text)),
            Earlier::Answer(answer) => return Ok(created(&id, answer).into_response()),
        }
    }
    state
        .access
        .admit(state.access.client(peer_ip(&peer), &headers))?;
    let answer = {
        let (state, key) = (state.clone(), idempotent.as_ref().map(|(_, key)| *key));
        let run = std::sync::Arc::clone(&run);
        blocking(move || {
            let _serialised = guard;
            apply(&state, &run, body_index, impulse, key)
        })
        .await?
    };
    let answer = created(&id, answer);
    if let Some((text, key)) = idempotent {
        state
            .answers
            .keep(text_scope(&run, &text), key.request, answer.clone());
    }
    Ok(answer.into_response())
}

/// The in-memory answers' key of a manoeuvre's `Idempotency-Key` (scoped by its run).
fn text_scope(run: &LoggedRun, key: &str) -> String {
    format!("{}/manoeuvres/{key}", run.id)
}

/// A manoeuvre's answer: 201, the new version's `Location`, and `body`.
fn created(id: &str, body: Value) -> Answer {
    let location = format!("/api/runs/{id}?version={}", body["version"]);
    Answer {
        status: StatusCode::CREATED,
        headers: vec![(
            header::LOCATION,
            HeaderValue::from_str(&location).expect("hex digits and ASCII"),
        )],
        body: body.to_string().into(),
    }
}

/// What the log knows of a manoeuvre's idempotency key.
enum Earlier {
    /// Nothing: the manoeuvre is new.
    None,
    /// It made a version from another request.
    Other,
    /// It made a version from this request: the answer, made again.
    Answer(Value),
}

/// The version the log says `key` made, and its answer made again from the log: the
/// version, and at each distance whose screenings of it and its parent the log keeps,
/// what it added and removed (as the first answer listed them).
fn replay(state: &AppState, run: &LoggedRun, key: ManoeuvreKey) -> Result<Earlier, ApiError> {
    let log = &state.log;
    let Some((made, request)) = log.manoeuvre_key(run.key, key.key)? else {
        return Ok(Earlier::None);
    };
    if request != key.request {
        return Ok(Earlier::Other);
    }
    let versions = log.versions(run.key)?;
    let version = versions.get(made as usize - 1).ok_or_else(|| {
        ApiError::internal(format!(
            "run {}: a key names version {made}, which the log lacks",
            run.id
        ))
    })?;
    let mut changes = Vec::new();
    for d_bits in log.screening_distances(run.key, made)? {
        let (Some(before), Some(after)) = (
            log.screening(run.key, version.parent, d_bits)?,
            log.screening(run.key, made, d_bits)?,
        ) else {
            continue;
        };
        let before: BTreeSet<Conjunction> = screening::decode(run, &before)?.into_iter().collect();
        let after: BTreeSet<Conjunction> = screening::decode(run, &after)?.into_iter().collect();
        changes.push(json!({
            "d_km": f64::from_bits(d_bits),
            "added": after.difference(&before).map(|c| conjunction_json(run, c)).collect::<Vec<_>>(),
            "removed": before.difference(&after).map(|c| conjunction_json(run, c)).collect::<Vec<_>>(),
        }));
    }
    Ok(Earlier::Answer(answer_json(run, version, changes)))
}

/// A manoeuvre's answer: the version, its run, and what it changed of the
/// conjunctions at each distance.
fn answer_json(run: &LoggedRun, version: &Version, changes: Vec<Value>) -> Value {
    let mut answer = version_json(run, version);
    let fields = answer.as_object_mut().expect("an object");
    fields.insert("run".into(), json!(run.id.to_string()));
    fields.insert("conjunctions".into(), Value::Array(changes));
    answer
}

/// Makes the next version of `run` (under its lock, [`LoggedRun::next_version`]):
/// within a [`budget::MANOEUVRE_BYTES`] share of the memory budget, the version is
/// made and logged; the kept screeners are updated and their screenings logged; the
/// version is announced. The answer is the new version's JSON.
fn apply(
    state: &AppState,
    run: &LoggedRun,
    body: u32,
    impulse: Impulse,
    key: Option<ManoeuvreKey>,
) -> Result<Value, ApiError> {
    let log = &state.log;
    let next = run.next_version(log, body, impulse, state.limits.max_versions)?;
    let what = next.what().to_owned();
    let _memory = state.readers.admit(budget::MANOEUVRE_BYTES, &what)?;
    let made = next.make(log, key)?;
    let updated = update_screeners(state, run, &made, &what)?;
    screen_again(state, run, &made.version);
    state.screenings.announce(run.key, made.version.version);
    Ok(answer_json(run, &made.version, updated))
}

/// Keeps the conjunctions current where no kept screener could: when the log keeps
/// screenings of the manoeuvre's parent version and none of the new version at the
/// largest of their distances, a job screens the new version at it (windowed, for a
/// run too large to keep a screener of). Best effort: a job the budget does not admit
/// now is left for a client to POST (the event streams say so).
fn screen_again(state: &AppState, run: &LoggedRun, version: &Version) {
    let largest = |v: u32| -> Option<f64> {
        let distances = state.log.screening_distances(run.key, v).ok()?;
        distances
            .into_iter()
            .map(f64::from_bits)
            .max_by(f64::total_cmp)
    };
    let Some(d_km) = largest(version.parent) else {
        return;
    };
    if largest(version.version).is_some_and(|d| d >= d_km) {
        return;
    }
    let versions = match state.log.versions(run.key) {
        Ok(v) => v[..version.version as usize].to_vec(),
        Err(e) => {
            tracing::warn!(run = %run.id, error = %e, "the new version is not screened again");
            return;
        }
    };
    if let Err(e) =
        super::screenings::start(state, std::sync::Arc::new(run.clone()), versions, d_km)
    {
        tracing::info!(run = %run.id, reason = %e, "the new version is not screened again now");
    }
}

/// Updates every screener kept for `run` to its latest version (the last of
/// `versions`), keeps their screenings in the log, and says what each changed. The
/// manoeuvred body's new track is read back from the log, and what the update holds
/// (the track, the samples retracted and inserted) is taken from the screenings'
/// share of the memory budget as a screening of that many samples; when it does not
/// fit, the run's screeners are dropped instead (the next request screens the version
/// from scratch, admitted as any screening is).
fn update_screeners(
    state: &AppState,
    run: &LoggedRun,
    made: &Made,
    what: &str,
) -> Result<Vec<Value>, ApiError> {
    let log = &state.log;
    let version = made.version;
    if state.screenings.kept_of(run.key).is_empty() {
        return Ok(Vec::new());
    }
    let reservation = match state.screenings.reserve(
        version.states,
        &format!("updating the screenings to {what}"),
    ) {
        Ok(reservation) => reservation,
        Err(e) => {
            tracing::info!(run = %run.id, reason = %e, "the run's screeners are dropped, not updated");
            for (d_bits, _) in state.screenings.kept_of(run.key) {
                state.screenings.forget(run.key, d_bits);
            }
            return Ok(Vec::new());
        }
    };
    let states = made.states(log, run)?;
    let mut updated = Vec::new();
    for (d_bits, held) in state.screenings.kept_of(run.key) {
        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
        let Some(changes) = held.follow(&version, states.clone()) else {
            // Behind, or the new track moves further between outputs than its grid
            // allows: screened from scratch when next asked.
            drop(held);
            state.screenings.forget(run.key, d_bits);
            continue;
        };
        Metrics::bump(&state.metrics.screenings_updated);
        let mut found = held.conjunctions(&run.scenario);
        drop(held);
        if let Err(e) = screening::keep_refined(log, run, version.version, d_bits, &mut found) {
            // The answer below stands; the version's screening is made again by a job.
            tracing::warn!(run = %run.id, error = %e, "an updated screening is not kept in the log");
        }
        updated.push(json!({
            "d_km": f64::from_bits(d_bits),
            "added": changes.added.iter().map(|c| conjunction_json(run, c)).collect::<Vec<_>>(),
            "removed": changes.removed.iter().map(|c| conjunction_json(run, c)).collect::<Vec<_>>(),
        }));
    }
    drop(reservation);
    Ok(updated)
}

/// `GET /api/runs/{id}/versions`: every version of the run.
#[utoipa::path(get, path = "/api/runs/{id}/versions", tag = "versions",
    params(("id" = String, Path, description = "The orbit run's id: 32 lowercase hex digits")),
    responses(
        (status = 200, description = "The versions, from 0 (the run as propagated) to the latest", body = crate::schemas::Versions),
        (status = 400, description = "A malformed id", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such orbit run", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let log = state.log.clone();
    let catalogs = std::sync::Arc::clone(&state.catalogs);
    blocking(move || {
        let run = logged(&log, &*catalogs, &id)?;
        let versions = log.versions(run.key)?;
        let mut list = vec![json!({"version": 0})];
        list.extend(versions.iter().map(|v| version_json(&run, v)));
        Ok::<_, ApiError>(Json(json!({
            "run": run.id.to_string(),
            "latest": versions.len(),
            "versions": list,
        })))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_parameter_is_a_whole_number() {
        for (text, ok) in [
            ("0", true),
            ("7", true),
            ("-1", false),
            ("x", false),
            ("1.5", false),
        ] {
            let query = params::query(Some(&format!("version={text}"))).unwrap();
            assert_eq!(version_param(&query).is_ok(), ok, "{text}");
        }
    }
}
