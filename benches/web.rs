//! The service, server side (tower's `oneshot`, no sockets): a warm request served from
//! the cache, and a cold one from the first request to the complete data; then the cold
//! path's parts, so that BENCHMARKS.md can say where its time goes: the same request
//! held open with `?wait=` (no polling), the same under `--sync never`, one commit of
//! the log (its flush and the commit mark: the durability floor), the engine's round
//! trip for a run of 2000 without a log, and the document built from the log.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nano_pipeline::engine::{Engine, EngineConfig};
use nano_pipeline::job::JobEvent;
use nano_pipeline::{Format, RunKey};
use nano_store::{Log, LogOptions, Sync};
use nano_web::{app, AppState, Cache, Limits};
use tower::ServiceExt;

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, usize) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    (
        status,
        to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .len(),
    )
}

/// A service over a fresh log synced as `sync` says.
fn service(dir: &std::path::Path, sync: Sync) -> (Engine, Log, axum::Router) {
    let log = Log::open(
        dir,
        LogOptions {
            sync,
            ..LogOptions::default()
        },
    )
    .unwrap();
    let engine = Engine::start(EngineConfig {
        workers: 2,
        network: None,
        block: 4096,
        log: Some(log.clone()),
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    })
    .unwrap();
    let state = AppState::new(
        engine.handle(),
        log.clone(),
        Cache::memory(256 << 20, Duration::from_secs(3600)),
        Limits::default(),
    )
    // No rate limit: the cold bench starts thousands of new runs from one client.
    .with_access(nano_web::access::Access::new(None, u32::MAX));
    (engine, log, app(state))
}

/// A cold request held open until the run is complete (`?wait=`): no polling interval
/// in the figure.
fn cold_wait(
    group: &mut criterion::BenchmarkGroup<criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    app: &axum::Router,
    seed: &mut u64,
) {
    group.bench_function(BenchmarkId::new(name, "n=2000"), |b| {
        b.to_async(runtime).iter(|| {
            *seed += 1;
            let uri = format!("/api/propagate/2000?seed={seed}&wait=10");
            let app = app.clone();
            async move {
                let (status, bytes) = get(&app, &uri).await;
                assert_eq!(status, StatusCode::OK);
                bytes
            }
        })
    });
}

fn web(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (engine, log, app) = service(dir.path(), Sync::Batch);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    // Make (2000, 42) warm.
    runtime.block_on(async {
        while get(&app, "/api/propagate/2000?seed=42").await.0 != StatusCode::OK {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut group = c.benchmark_group("web");
    group.bench_function(BenchmarkId::new("warm", "n=2000"), |b| {
        b.to_async(&runtime).iter(|| async {
            let (status, bytes) = get(&app, "/api/propagate/2000?seed=42").await;
            assert_eq!(status, StatusCode::OK);
            bytes
        })
    });
    let mut seed = 1_000_000u64;
    group.bench_function(BenchmarkId::new("cold", "n=2000"), |b| {
        b.to_async(&runtime).iter(|| {
            seed += 1;
            let uri = format!("/api/propagate/2000?seed={seed}");
            let app = app.clone();
            async move {
                loop {
                    match get(&app, &uri).await {
                        (StatusCode::OK, bytes) => return bytes,
                        (StatusCode::ACCEPTED, _) => {
                            tokio::time::sleep(Duration::from_micros(200)).await
                        }
                        (other, _) => panic!("{other}"),
                    }
                }
            }
        })
    });
    cold_wait(&mut group, &runtime, "cold-wait", &app, &mut seed);
    let never_dir = tempfile::tempdir().unwrap();
    let (never_engine, _never_log, never_app) = service(never_dir.path(), Sync::Never);
    cold_wait(
        &mut group,
        &runtime,
        "cold-wait-sync-never",
        &never_app,
        &mut seed,
    );
    never_engine.shutdown().unwrap();

    // The parts. One commit: sled's flush and the commit mark, what `--sync batch`
    // adds to every round.
    group.bench_function("commit", |b| b.iter(|| log.flush().unwrap()));
    // The document of a logged run of 2000, read back and written as JSON.
    group.bench_function(BenchmarkId::new("document", "n=2000"), |b| {
        b.iter(|| nano_web::series::document(&log, 42, 2000, Format::Json).unwrap())
    });
    // The engine's round trip without a log: submit, propagate, complete.
    let bare = Engine::start(EngineConfig {
        workers: 2,
        network: None,
        block: 4096,
        log: None,
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    })
    .unwrap();
    group.bench_function(BenchmarkId::new("engine-no-log", "n=2000"), |b| {
        b.iter(|| {
            seed += 1;
            let job = bare.submit(RunKey::nano(seed), 2000, false).unwrap();
            while let Some(event) = job.next() {
                if let JobEvent::Complete { .. } = event {
                    return;
                }
            }
            panic!("the job ended without completing");
        })
    });
    bare.shutdown().unwrap();
    group.finish();
    drop(runtime);
    engine.shutdown().unwrap();
}

criterion_group!(benches, web);
criterion_main!(benches);
