//! The service in the test's own process, over a fresh log in a temporary directory,
//! asked without sockets (`tower::ServiceExt::oneshot`).

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use nano_pipeline::engine::{Engine, EngineConfig};
use nano_store::{Log, LogOptions};
use nano_web::{AppState, Cache, Limits};
use tower::ServiceExt;

/// The service's state over a log of its own, with the engine that computes its runs.
pub struct Service {
    pub state: AppState,
    _engine: Engine,
    _dir: tempfile::TempDir,
}

/// An in-process cache of 16 MiB that keeps a run a minute.
pub fn memory_cache() -> Cache {
    Cache::memory(16 << 20, Duration::from_secs(60))
}

/// A service over a fresh log with `cache`, and its router.
pub fn serving(cache: Cache) -> (Service, Router) {
    let service = service(cache);
    let app = nano_web::app(service.state.clone());
    (service, app)
}

/// A service over a fresh log with `cache` and the default limits.
pub fn service(cache: Cache) -> Service {
    service_in(tempfile::tempdir().unwrap(), cache)
}

impl Service {
    /// The service stopped, and started again on the same log with `cache`: what a
    /// restart keeps is what the log holds.
    pub fn restart(self, cache: Cache) -> Service {
        let Service {
            state,
            _engine: engine,
            _dir: dir,
        } = self;
        drop(state);
        engine.shutdown().unwrap();
        service_in(dir, cache)
    }
}

/// A service over a fresh log with these limits (`--max-steps`, `--max-bodies`, ...).
pub fn service_with(cache: Cache, limits: Limits) -> Service {
    service_limited(tempfile::tempdir().unwrap(), cache, limits)
}

/// A service over the log in `dir` (a fresh one if `dir` is empty).
pub fn service_in(dir: tempfile::TempDir, cache: Cache) -> Service {
    service_limited(dir, cache, Limits::default())
}

fn service_limited(dir: tempfile::TempDir, cache: Cache, limits: Limits) -> Service {
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let engine = Engine::start(EngineConfig {
        workers: 2,
        network: None,
        block: 500,
        log: Some(log.clone()),
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    })
    .unwrap();
    let state = AppState::new(engine.handle(), log, cache, limits);
    Service {
        state,
        _engine: engine,
        _dir: dir,
    }
}

/// What the service answered: the status, the headers and the whole body.
pub type Answer = (StatusCode, HeaderMap, Vec<u8>);

/// Sends `request` to `app` and reads the whole answer.
pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        to_bytes(body, usize::MAX).await.unwrap().to_vec(),
    )
}

/// GETs `uri`.
pub async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// POSTs `body` as JSON to `uri`, with extra `headers`.
pub async fn post(app: &Router, uri: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::post(uri)
        .header("content-type", "application/json")
        .header("content-length", body.len());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::from(body.to_owned())).unwrap()).await
}

/// The `id` of the run an answer names (a run started or joined).
pub fn run_id(body: &[u8]) -> String {
    let answer: serde_json::Value = serde_json::from_slice(body).expect("the answer is JSON");
    answer["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no run id in {answer}"))
        .to_owned()
}

/// GETs `uri` until it answers 200 (202 meanwhile); returns the body.
pub async fn until_ready(app: &Router, uri: &str) -> Vec<u8> {
    for _ in 0..2000 {
        let (status, _, body) = get(app, uri).await;
        match status {
            StatusCode::OK => return body,
            StatusCode::ACCEPTED => tokio::time::sleep(Duration::from_millis(10)).await,
            other => panic!("{uri}: {other} {}", String::from_utf8_lossy(&body)),
        }
    }
    panic!("{uri} was not ready within 20 s");
}

/// Screens version `version` (the latest when `None`) of run `id` at `d` km through
/// `POST /api/runs/{id}/screenings` and waits for the job: its final state (`done`,
/// or `failed` with its status and reason), or the 200 when one was kept.
pub async fn screened(app: &Router, id: &str, d: f64, version: Option<u32>) -> serde_json::Value {
    let body = match version {
        Some(v) => serde_json::json!({"d": d, "version": v}),
        None => serde_json::json!({"d": d}),
    };
    let (status, headers, answer) = post(
        app,
        &format!("/api/runs/{id}/screenings"),
        &body.to_string(),
        &[],
    )
    .await;
    let doc: serde_json::Value = serde_json::from_slice(&answer)
        .unwrap_or_else(|_| panic!("{status}: {}", String::from_utf8_lossy(&answer)));
    if status == axum::http::StatusCode::OK {
        return doc;
    }
    assert_eq!(status, axum::http::StatusCode::ACCEPTED, "{doc}");
    let location = headers["location"].to_str().unwrap().to_owned();
    for _ in 0..6000 {
        let (status, _, answer) = get(app, &location).await;
        assert_eq!(status, axum::http::StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        if doc["state"] != "running" {
            return doc;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the screening at {location} did not end in two minutes");
}
