//! Fixtures shared by the service's tests: a service over a fresh log, requests
//! without sockets, a private redis-server, the golden runs.

#![allow(dead_code)] // each test file uses its own part

/// The independent decimation of a golden run, shared with the whole-process tests.
#[path = "../../../tests/support/series.rs"]
pub mod series;

use std::path::Path;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use axum::Router;
use nano_pipeline::engine::{Engine, EngineConfig};
use nano_store::{Log, LogOptions};
use nano_web::{AppState, Cache, Limits};
use tower::ServiceExt;

pub struct Service {
    pub state: AppState,
    _engine: Engine,
    _dir: tempfile::TempDir,
}

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

pub async fn get(app: &Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        to_bytes(body, usize::MAX).await.unwrap().to_vec(),
    )
}

/// POSTs `body` as JSON to `uri`, with extra `headers`.
pub async fn post(
    app: &Router,
    uri: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::post(uri)
        .header("content-type", "application/json")
        .header("content-length", body.len());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        to_bytes(body, usize::MAX).await.unwrap().to_vec(),
    )
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

pub fn golden(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/golden")
            .join(name),
    )
    .unwrap()
}

/// A private redis-server (the one `local-cluster` runs), ready when started.
#[allow(unused_imports)] // not every test file uses them
pub use nano_cluster::redis_server::{private_ca, RedisServer};

/// A small tmpfs for a test to fill, shared with the whole-process tests.
#[path = "../../../tests/support/tmpfs.rs"]
pub mod tmpfs;
