//! The JSON bodies of the API as its OpenAPI document describes them
//! ([`crate::openapi`]): types for documentation only, mirroring what the handlers
//! write with `json!`. The handlers' `#[utoipa::path]` attributes name them, and the
//! document lists them; neither depends on the other.

use utoipa::ToSchema;

/// Every 4xx and 5xx answer.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)] // documentation only: the handlers write this shape with json!
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong; a bad parameter is named, with its value and rule.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    message: String,
    field: Option<String>,
    value: Option<String>,
    rule: Option<String>,
}

/// A 202: the run is being computed.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Running {
    /// Always `running`.
    status: String,
    n: u64,
    seed: u64,
    iterations_done: u64,
}

/// A run (`format=json`), or its decimated series (`points=K`).
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum RunBody {
    Document(RunDocument),
    Series(Series),
}

/// The whole run: one record per row, in `columns` order.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RunDocument {
    model: String,
    n: u64,
    seed: u64,
    columns: Vec<String>,
    /// `[t0, t1, agent, x, y, vx, vy, nextTimeStep, iteration]`.
    records: Vec<Vec<serde_json::Value>>,
}

/// At most `points` points per agent: `{"Planet": {"t": [..], "x": [..], "y": [..]}, ..}`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Series {
    model: String,
    n: u64,
    seed: u64,
    points: u64,
    #[schema(value_type = Object)]
    agents: serde_json::Value,
}

/// `GET /api/runs`: the catalog.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Runs {
    #[schema(value_type = Vec<Object>)]
    runs: Vec<serde_json::Value>,
}

/// `GET /api/runs/{id}/states`: every body's state at `t`, by body.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct States {
    t: f64,
    /// `["t", "body", "x", "y", "z", "vx", "vy", "vz"]`.
    columns: Vec<String>,
    /// `[t, body, x, y, z, vx, vy, vz]` (km, km/s), one per body.
    records: Vec<Vec<f64>>,
}

/// `GET /api/runs/{id}/bodies/{k}`: one body's states at the output times in
/// `[from, to]`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Track {
    id: String,
    body: u32,
    name: Option<String>,
    from: f64,
    to: f64,
    columns: Vec<String>,
    /// `[t, body, x, y, z, vx, vy, vz]`, in time order.
    records: Vec<Vec<f64>>,
}

/// `POST /api/runs`: a run to start.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RunRequest {
    /// An orbit scenario document (ORBITS.md) or `{"model":"nano","seed":S}`.
    #[schema(value_type = Object)]
    scenario: serde_json::Value,
    /// Output steps (orbit) or iterations (nano), from 1 to --max-steps.
    #[schema(minimum = 1)]
    steps: u64,
}

/// A run's status (`POST /api/runs`, `GET /api/runs/{id}/status`, and the 202 of
/// `GET /api/runs/{id}`).
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RunStatus {
    /// 32 lowercase hex digits (orbit) or the seed (nano).
    id: String,
    /// `orbit` or `nano`.
    model: String,
    /// `running`, `complete` or `stopped` (not in flight and short of its steps).
    status: String,
    /// The steps wanted.
    steps: u64,
    /// Steps the log holds (durable), at most `steps`.
    iterations_done: u64,
    bodies: u64,
    /// Seconds between output states (orbit; null for nano).
    output_step_s: Option<f64>,
    /// The UTC instant of t = 0 (orbit; null for nano).
    epoch: Option<String>,
    /// The bodies' names, at most the first 100,000 (orbit only).
    names: Option<Vec<String>>,
    /// A catalogue scenario's catalogue: its id, the objects kept, and what the
    /// selection dropped by rule (`refused_in_file`, `not_listed`, `perigee`, `apogee`,
    /// `age`, and `sgp4_at_start`: each object SGP4 cannot start at the epoch, with
    /// `norad_id`, `name`, `code` and `message`).
    #[schema(value_type = Option<Object>)]
    catalog: Option<serde_json::Value>,
    /// The canonical scenario document.
    #[schema(value_type = Object)]
    scenario: serde_json::Value,
    links: RunLinks,
}

/// A 409 of `GET /api/runs/{id}`: the run is stopped short of its steps.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct StoppedRun {
    /// How far the log holds the run, and how to continue it.
    error: ErrorDetail,
    /// Its status object (`status` is `stopped`).
    run: RunStatus,
}

/// Where to follow a run.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RunLinks {
    #[serde(rename = "self")]
    #[schema(rename = "self")]
    self_: String,
    events: String,
    page: String,
}

/// An orbit run (`format=json`): one state per row, by time then body; or, for a nano
/// run, the document or series of `/api/propagate`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct OrbitRunDocument {
    model: String,
    id: Option<String>,
    n: u64,
    #[schema(value_type = Option<Object>)]
    scenario: Option<serde_json::Value>,
    bodies: Option<Vec<String>>,
    columns: Option<Vec<String>>,
    /// `[t, body, x, y, z, vx, vy, vz]` (orbit).
    records: Option<Vec<Vec<serde_json::Value>>>,
}

/// `/healthz`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Status {
    status: String,
    reason: Option<String>,
}

/// `/readyz`: the state of the cache, the log and the cluster.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Ready {
    status: String,
    #[schema(value_type = Object)]
    cache: serde_json::Value,
    #[schema(value_type = Object)]
    log: serde_json::Value,
    /// `{"status": "ok"}`, or `{"status": "stuck", "reason": ..}`.
    #[schema(value_type = Object)]
    engine: serde_json::Value,
    #[schema(value_type = Object)]
    cluster: serde_json::Value,
}

/// `GET /api/accuracy`: the report over `orbits` orbits.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AccuracyReport {
    orbits: u64,
    /// Outputs per orbit.
    samples_per_orbit: u64,
    /// Every case's perigee radius.
    perigee_km: f64,
    rows: Vec<AccuracyRow>,
}

/// One integrator on one orbit (`nano_pipeline::orbit::accuracy::AccuracyRow`).
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AccuracyRow {
    /// `dop853`, `yoshida4` or `rk4`.
    integrator: String,
    /// `tolerance=1e-12` or `step_s=...`.
    setting: String,
    e: f64,
    a_km: f64,
    period_s: f64,
    orbits: u64,
    max_rel_energy_err: f64,
    max_rel_energy_err_first_tenth: f64,
    max_rel_energy_err_last_tenth: f64,
    max_rel_h_err: f64,
    final_position_err_m: f64,
    steps: u64,
    rejected: u64,
    evaluations: u64,
    seconds: f64,
    /// `[t in orbits, relative energy error]` pairs.
    energy_series: Vec<[f64; 2]>,
}

/// `POST /api/runs/{id}/manoeuvres`: an impulse on one body.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ManoeuvreRequest {
    /// The body's index, from 0 to bodies - 1.
    #[schema(minimum = 0)]
    body: u32,
    /// Seconds since the run's epoch, `0 <= t < t_end` (steps x output_step_s).
    #[schema(minimum = 0)]
    t: f64,
    /// The impulse in the inertial frame, km/s: three finite numbers, magnitude at
    /// most 10.
    dv_kms: [f64; 3],
}

/// A manoeuvre as a version records it.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Manoeuvre {
    body: u32,
    /// The body's name.
    name: Option<String>,
    t: f64,
    dv_kms: [f64; 3],
}

/// The 201 of a manoeuvre: the version it made.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ManoeuvreResult {
    run: String,
    version: u32,
    parent: u32,
    manoeuvre: Manoeuvre,
    /// The first output whose state the version replaced.
    from_output: u64,
    /// One entry per screening distance kept current in memory (may be empty).
    conjunctions: Vec<ConjunctionChanges>,
}

/// What a version changed in the conjunctions at one distance.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ConjunctionChanges {
    d_km: f64,
    added: Vec<Conjunction>,
    removed: Vec<Conjunction>,
}

/// A close approach of bodies `a < b`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Conjunction {
    a: u32,
    b: u32,
    a_name: Option<String>,
    b_name: Option<String>,
    /// The catalogue (NORAD) number of `a`, for a catalogue object.
    a_norad: Option<u32>,
    b_norad: Option<u32>,
    /// The time of closest approach, seconds since the epoch.
    tca_s: f64,
    /// The time of closest approach in UTC, to the millisecond.
    tca_utc: String,
    miss_km: f64,
    /// `b`'s speed relative to `a` at the closest approach (null in a screening kept
    /// before it was written).
    rel_speed_kms: Option<f64>,
    /// `b`'s position relative to `a` at the closest approach, along `a`'s position.
    miss_radial_km: Option<f64>,
    /// ... along `(r x v) x r`.
    miss_in_track_km: Option<f64>,
    /// ... along `r x v`.
    miss_cross_track_km: Option<f64>,
}

/// `GET /api/runs/{id}/conjunctions`: a page of a version's conjunctions below `d_km`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Conjunctions {
    run: String,
    version: u32,
    d_km: f64,
    /// The distance of the kept screening they were read from.
    screened_km: f64,
    bodies: u32,
    /// Conjunctions the filter keeps, on every page.
    count: u64,
    offset: u64,
    limit: u64,
    /// The next page, when there is one.
    next: Option<String>,
    /// Sorted by miss distance, then pair and time.
    conjunctions: Vec<Conjunction>,
}

/// `POST /api/runs/{id}/screenings`: the version (default: the latest) and distance
/// (km, default 5) to screen.
#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ScreeningRequest {
    d: Option<f64>,
    version: Option<u32>,
}

/// A screening: a job (running, done or failed), or one the log keeps (state done,
/// with screened_km and no id).
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Screening {
    id: Option<u64>,
    run: String,
    version: u32,
    d_km: f64,
    /// running, done or failed.
    state: String,
    /// Screened in windows of time (no screener kept for manoeuvres).
    windowed: Option<bool>,
    /// The processes whose workers screen it: every one of the cluster when
    /// windowed, this one otherwise.
    processes: Option<u64>,
    /// Screened from its parent version's kept screening: only the manoeuvred body's
    /// pairs over the intervals the manoeuvre changed.
    incremental: Option<bool>,
    status_url: Option<String>,
    events_url: Option<String>,
    conjunctions_url: String,
    /// Output times screened so far (running).
    done: Option<u64>,
    total: Option<u64>,
    /// Conjunctions below d_km (done).
    count: Option<u64>,
    /// The status a request would have had (failed).
    status: Option<u16>,
    reason: Option<String>,
    /// The distance of the kept screening that answers (a kept one).
    screened_km: Option<f64>,
}

/// A screening the log keeps: it serves every distance up to `d_km`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct KeptScreening {
    version: u32,
    d_km: f64,
}

/// `GET /api/runs/{id}/screenings`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Screenings {
    run: String,
    kept: Vec<KeptScreening>,
    jobs: Vec<Screening>,
}

/// One version: 0 has only its number.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct VersionEntry {
    version: u32,
    parent: Option<u32>,
    manoeuvre: Option<Manoeuvre>,
    from_output: Option<u64>,
}

/// `GET /api/runs/{id}/versions`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Versions {
    run: String,
    latest: u32,
    versions: Vec<VersionEntry>,
}

/// An object of a catalogue file that was not read: which (`line 12`, `record 3`,
/// with its catalogue number when known), the field and the rule it broke.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogRefusal {
    object: String,
    field: String,
    rule: String,
}

/// Where a catalogue is read.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogLinks {
    #[serde(rename = "self")]
    self_: String,
}

/// A kept catalogue, as `GET /api/catalogs` lists it.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogSummary {
    /// The first 16 bytes of the SHA-256 of the file, as 32 lowercase hex digits.
    id: String,
    /// tle, kvn, xml, json or csv.
    format: String,
    /// The file's size.
    bytes: u64,
    /// Element sets read.
    objects: u64,
    /// Objects refused.
    refused_count: u64,
    links: CatalogLinks,
}

/// `POST /api/catalogs`: the catalogue kept, and the objects refused (at most 1,000
/// listed; `refused_count` says how many).
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogUpload {
    id: String,
    format: String,
    bytes: u64,
    objects: u64,
    refused_count: u64,
    refused: Vec<CatalogRefusal>,
    links: CatalogLinks,
}

/// `GET /api/catalogs`.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Catalogs {
    catalogs: Vec<CatalogSummary>,
}

/// One element set of a catalogue, as `GET /api/catalogs/{id}` lists it.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogObject {
    /// The catalogue number (six digits kept).
    norad_id: u32,
    /// The name line or OBJECT_NAME, else the catalogue number.
    name: String,
    /// The international designator, when given.
    object_id: Option<String>,
    /// The element set's epoch (UTC, ISO 8601).
    epoch: String,
    /// Perigee and apogee altitudes above WGS-72's equatorial radius.
    perigee_km: Option<f64>,
    apogee_km: Option<f64>,
}

/// `GET /api/catalogs/{id}`: the counts, the refusals, and the element sets from
/// `offset` (at most `limit`), in file order.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogDetail {
    id: String,
    format: String,
    bytes: u64,
    objects: u64,
    refused_count: u64,
    refused: Vec<CatalogRefusal>,
    links: CatalogLinks,
    offset: u64,
    element_sets: Vec<CatalogObject>,
}

/// A 422 of `POST /api/catalogs`: what was wrong, with the first objects refused
/// when there were objects but none good.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogRefused {
    error: CatalogRefusedDetail,
}

/// What was wrong with a catalogue file.
#[derive(serde::Serialize, ToSchema)]
#[allow(dead_code)]
pub struct CatalogRefusedDetail {
    /// Always `body`.
    field: String,
    message: String,
    refused: Vec<CatalogRefusal>,
}
