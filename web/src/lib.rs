//! The web service: `/propagate/<n>` in a browser, the run API, progress events, and the
//! hot cache, in front of the dataflow engine and the log; and `/accuracy`, the orbit
//! integrators against Kepler (computed once per process, [`routes::accuracy`]).
//!
//! - [`app`] builds the router (for `main` and for tests); [`serve`] ([`server`]) runs
//!   it on a listener with our own accept loop, bounding connections in number and
//!   time, until a shutdown signal, then stops within a deadline.
//! - [`ServeConfig`]: `serve`'s flags and environment, defined once; it builds the
//!   limits, the access rules and the cache.
//! - [`AppState`] holds handles, not data: the engine, the log, the cache, the limits
//!   and the metrics.
//! - [`routes`]: one file per concern. [`cache`]: Redis or in-process (whole runs, and
//!   the page's series). [`series`]: bodies read from the log, streamed in bounded
//!   pieces, and the page's decimated series (computed once, then kept in the log). [`error::ApiError`]: every failure as a status and a
//!   JSON body. [`params`]: parameters parsed so that refusals name the field.
//!   [`openapi`]: the OpenAPI document, from the routes' attributes and the bodies
//!   of [`schemas`].
//! - Element-set catalogues (`/api/catalogs`, [`routes::catalogs`]) are kept in the log
//!   by their content hash; scenarios name them, and find their objects through one
//!   [`LogCatalogs`] in [`Handles::catalogs`].
//! - What a logged orbit run is, read in any version, manoeuvred and screened, is
//!   `nano_pipeline::runs`: the routes parse, call it, and encode its answers.
//!
//! Where a run comes from, cheapest first: the cache, then the log (a logged run with at
//! least `n` iterations serves its prefix), then the cluster (one job per run however
//! many ask). The page never waits on the computation inside a request: it follows
//! progress by server-sent events and fetches the plot when the run is complete.
//!
//! ```no_run
//! # async fn demo(state: nano_web::AppState) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! nano_web::serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```

pub mod access;
pub mod body;
pub mod budget;
pub mod cache;
pub mod clients;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod params;
pub mod routes;
pub mod schemas;
pub mod screenings;
pub mod series;
pub mod server;
pub mod trace;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use nano_pipeline::catalog::LogCatalogs;
use nano_pipeline::engine::EngineHandle;
use nano_store::Log;
use tokio::sync::Semaphore;
use tower_http::timeout::TimeoutLayer;

pub use cache::Cache;
pub use config::ServeConfig;
pub use error::ApiError;
pub use metrics::Metrics;
pub use server::{serve, Stopping};

/// The service's limits (see [`ServeConfig::limits`]).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest `n` a request may ask for.
    pub max_steps: u64,
    /// The most bodies an orbit scenario may have (`--max-bodies`).
    pub max_bodies: usize,
    /// Jobs in flight beyond which a request for a new run gets 503.
    pub max_jobs: usize,
    /// Runs up to this many iterations are cached whole; longer ones are streamed.
    pub cache_max_iterations: u64,
    /// Points per agent the page asks for.
    pub page_points: usize,
    /// How long a request may take (server-sent events are exempt).
    pub request_timeout: Duration,
    /// Open connections; more wait to be accepted until one closes.
    pub max_connections: usize,
    /// How long a client may take to send a request's head, and how long a keep-alive
    /// connection may stay idle.
    pub header_timeout: Duration,
    /// How long a response may wait on a client that reads nothing before the
    /// connection is dropped.
    pub send_timeout: Duration,
    /// Progress streams and streamed bodies open at once; beyond, 503.
    pub max_streams: usize,
    /// The most one client may hold of the open streams and of the memory for reads,
    /// in percent ([`clients`]).
    pub client_share: u8,
    /// Bytes a second below which a reader the server waits on is dropped, after
    /// [`Limits::read_grace`] ([`server`]); 0 for no minimum.
    pub min_read_rate: u64,
    /// How long a reader may be slower than [`Limits::min_read_rate`].
    pub read_grace: Duration,
    /// Blocking reads of the log that streamed bodies run at once (each produces one
    /// bounded chunk).
    pub stream_reads: usize,
    /// How long open connections get to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How long the engine may go without committing a round, with runs in flight,
    /// before `/readyz` says it is stuck.
    pub stall_after: Duration,
    /// The most versions a run may have after version 0 (`--max-versions`).
    pub max_versions: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: config::DEFAULT_MAX_STEPS,
            max_bodies: config::DEFAULT_MAX_BODIES,
            max_jobs: config::DEFAULT_MAX_JOBS,
            cache_max_iterations: 200_000,
            page_points: 5_000,
            request_timeout: Duration::from_secs(30),
            max_connections: config::DEFAULT_MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(config::DEFAULT_HEADER_TIMEOUT),
            send_timeout: Duration::from_secs(config::DEFAULT_SEND_TIMEOUT),
            max_streams: config::DEFAULT_MAX_STREAMS,
            client_share: config::DEFAULT_CLIENT_SHARE,
            min_read_rate: config::DEFAULT_MIN_READ_RATE,
            read_grace: Duration::from_secs(config::DEFAULT_READ_GRACE),
            stream_reads: config::DEFAULT_STREAM_READS,
            shutdown_grace: Duration::from_secs(config::DEFAULT_SHUTDOWN_GRACE),
            stall_after: Duration::from_secs(config::DEFAULT_STALL_AFTER),
            max_versions: config::DEFAULT_MAX_VERSIONS,
        }
    }
}

/// Iterations committed per second between two scrapes of `/metrics`.
#[derive(Default)]
pub struct Rate {
    last: Option<(Instant, u64)>,
}

impl Rate {
    /// The rate since the previous sample (0 on the first).
    pub fn sample(&mut self, committed: u64) -> f64 {
        let now = Instant::now();
        let rate = match self.last {
            Some((then, before)) => {
                let seconds = now.duration_since(then).as_secs_f64();
                if seconds > 0.0 {
                    committed.saturating_sub(before) as f64 / seconds
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((now, committed));
        rate
    }
}

/// Shared by every handler: handles to the engine, the log and the cache ([`Handles`]).
/// axum clones the state for every request many times over (each layer and extractor
/// that takes it), so it is one reference count to clone, not one per handle.
#[derive(Clone)]
pub struct AppState(Arc<Handles>);

impl std::ops::Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct Handles {
    pub engine: EngineHandle,
    pub log: Log,
    pub cache: Cache,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    pub rate: Arc<Mutex<Rate>>,
    pub access: Arc<access::Access>,
    /// Requests holding on with `?wait=` at once (each an async wait on its job's
    /// events); past it, a request answers 202 at once.
    pub waiters: Arc<Semaphore>,
    /// Set when the service stops: long-lived responses end by themselves.
    pub stopping: Arc<Stopping>,
    /// Permits for open progress streams and streamed bodies ([`Limits::max_streams`]).
    pub streams: Arc<Semaphore>,
    /// Permits for the blocking reads of streamed bodies ([`Limits::stream_reads`]).
    pub reads: Arc<Semaphore>,
    /// Admission of large reads within the memory budget.
    pub readers: budget::Readers,
    /// What each client holds of the streams and of the readers' share.
    pub clients: Arc<clients::ClientShares>,
    /// The accuracy report, once a request has asked for it.
    pub accuracy: routes::accuracy::Computed,
    /// Conjunction screeners kept alive between manoeuvres, within their share.
    pub screenings: Arc<screenings::Screenings>,
    /// The windowed screenings' workers on every process, in a cluster.
    pub cluster_screenings: Option<Arc<screenings::ClusterWorkers>>,
    /// The first answers to `POST /api/runs` by `Idempotency-Key` (bounded).
    pub answers: Arc<idempotency::Answers>,
    /// The catalogues the log keeps, the latest read kept read: scenarios naming one
    /// (a request's, a logged run's) find its objects there.
    pub catalogs: Arc<LogCatalogs>,
    /// What this process knows of the kept catalogues' counts ([`routes::catalogs`]).
    pub catalog_summaries: Arc<routes::catalogs::Summaries>,
}

/// Requests that may wait (`?wait=`) at once.
pub const MAX_WAITERS: usize = 64;

impl AppState {
    /// State over a running engine and its log, open to all (see [`AppState::with_access`]).
    pub fn new(engine: EngineHandle, log: Log, cache: Cache, limits: Limits) -> Self {
        let catalogs = Arc::new(LogCatalogs::new(log.clone()));
        AppState(Arc::new(Handles {
            engine,
            log,
            cache,
            limits,
            metrics: Arc::default(),
            rate: Arc::default(),
            access: Arc::new(access::Access::new(None, config::DEFAULT_RATE_LIMIT)),
            waiters: Arc::new(Semaphore::new(MAX_WAITERS)),
            stopping: Arc::default(),
            streams: Arc::new(Semaphore::new(limits.max_streams)),
            reads: Arc::new(Semaphore::new(limits.stream_reads)),
            readers: budget::Readers::new(budget::MemoryBudget::default().readers()),
            clients: Arc::new(clients::ClientShares::new(
                limits.client_share,
                limits.max_streams,
                budget::MemoryBudget::default().readers(),
            )),
            accuracy: Arc::default(),
            screenings: Arc::new(screenings::Screenings::new(
                budget::MemoryBudget::default().screenings(),
                1,
            )),
            cluster_screenings: None,
            answers: Arc::default(),
            catalogs,
            catalog_summaries: Arc::default(),
        }))
    }

    /// The same state with large reads admitted within `budget`'s share.
    pub fn with_budget(mut self, budget: budget::MemoryBudget) -> Self {
        let handles = Arc::make_mut(&mut self.0);
        handles.readers = budget::Readers::new(budget.readers());
        handles.clients = Arc::new(clients::ClientShares::new(
            handles.limits.client_share,
            handles.limits.max_streams,
            handles.readers.capacity(),
        ));
        handles.screenings = Arc::new(screenings::Screenings::new(
            budget.screenings(),
            handles.screenings.workers(),
        ));
        self
    }

    /// The same state with screenings on `workers` worker threads.
    pub fn with_screen_workers(mut self, workers: usize) -> Self {
        let handles = Arc::make_mut(&mut self.0);
        handles.screenings = Arc::new(screenings::Screenings::new(
            handles.screenings.capacity(),
            workers,
        ));
        self
    }

    /// The same state with windowed screenings on the workers of a whole cluster.
    pub fn with_cluster_screenings(mut self, workers: Arc<screenings::ClusterWorkers>) -> Self {
        Arc::make_mut(&mut self.0).cluster_screenings = Some(workers);
        self
    }

    /// The same state with these access rules.
    pub fn with_access(mut self, access: access::Access) -> Self {
        Arc::make_mut(&mut self.0).access = Arc::new(access);
        self
    }
}

/// The Content-Security-Policy: scripts only from this origin (no inline script);
/// Plotly sets inline styles, hence `style-src 'unsafe-inline'`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The router, with its limits and headers as layers.
pub fn app(state: AppState) -> Router {
    let timed = Router::new()
        .route("/", get(routes::page::index))
        .route("/go", get(routes::page::go))
        .route("/propagate/{n}", get(routes::page::run_page))
        .route("/runs/{id}", get(routes::page::orbit_page))
        .route("/assets/{name}", get(routes::page::asset))
        .route("/api/propagate/{n}", get(routes::api::run))
        .route("/api/runs/{id}/states", get(routes::windows::states))
        .route("/api/runs/{id}/positions", get(routes::windows::positions))
        .route("/api/runs/{id}/bodies/{k}", get(routes::windows::track))
        .route(
            "/api/runs",
            get(routes::api::runs).post(routes::runs::create),
        )
        .route("/api/runs/{id}", get(routes::runs::data))
        .route(
            "/api/catalogs",
            get(routes::catalogs::list).post(routes::catalogs::upload),
        )
        .route("/api/catalogs/{id}", get(routes::catalogs::detail))
        .route("/api/runs/{id}/status", get(routes::runs::status))
        .route(
            "/api/runs/{id}/manoeuvres",
            axum::routing::post(routes::versions::manoeuvre),
        )
        .route("/api/runs/{id}/versions", get(routes::versions::versions))
        .route(
            "/api/runs/{id}/conjunctions",
            get(routes::conjunctions::conjunctions),
        )
        .route(
            "/api/runs/{id}/screenings",
            get(routes::screenings::list).post(routes::screenings::create),
        )
        .route(
            "/api/runs/{id}/screenings/{job}",
            get(routes::screenings::status),
        )
        .route("/accuracy", get(routes::accuracy::page))
        .route("/api/accuracy", get(routes::accuracy::json))
        .route("/api/openapi.json", get(openapi::document))
        .route("/healthz", get(routes::ops::healthz))
        .route("/readyz", get(routes::ops::readyz))
        .route("/metrics", get(routes::ops::metrics))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.limits.request_timeout,
        ));
    Router::new()
        // Server-sent events last as long as the run: no request timeout.
        .route("/api/propagate/{n}/events", get(routes::events::events))
        .route("/api/runs/{id}/events", get(routes::runs::run_events))
        .route(
            "/api/runs/{id}/conjunctions/events",
            get(routes::conjunctions::events),
        )
        .route(
            "/api/runs/{id}/screenings/{job}/events",
            get(routes::screenings::events),
        )
        .merge(timed)
        .fallback(|request: Request| async move {
            ApiError::NotFound(request.uri().path().chars().take(60).collect())
        })
        .layer(middleware::from_fn_with_state(state.clone(), body::limit))
        .layer(middleware::from_fn_with_state(state.clone(), around))
        .with_state(state)
}

/// The largest request body of every route but `POST /api/runs`
/// ([`routes::runs::RUN_BODY_BYTES`]) and `POST /api/catalogs`
/// ([`routes::catalogs::CATALOG_BODY_BYTES`]): no other handler reads one. Bounded, and a body
/// over it drained before its 413, by [`body::limit`].
pub const BODY_BYTES: usize = 16 * 1024;

/// What every response goes through, in one layer (each layer of its own cost a clone
/// of the services beneath it per request): errors made before a handler ran get the
/// JSON form ([`error::as_json`]), the request is counted by route and status and
/// logged ([`trace`]), and the security headers are set.
async fn around(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let traced = trace::Traced::start(&request);
    let response = error::as_json(next.run(request).await).await;
    state
        .metrics
        .request(traced.route(), response.status().as_u16());
    let mut response = response;
    traced.finish(&mut response);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
