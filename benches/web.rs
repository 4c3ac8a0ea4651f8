//! The service, server side (tower's `oneshot`, no sockets): a warm request served from
//! the cache, and a cold one from the first request to the complete data.

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::http::{Request, StatusCode};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nano_pipeline::engine::{Engine, EngineConfig};
use nano_store::{Log, LogOptions};
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

fn web(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let engine = Engine::start(EngineConfig {
        workers: 2,
        network: None,
        block: 4096,
        log: Some(log.clone()),
    })
    .unwrap();
    let state = AppState::new(
        engine.handle(),
        log,
        Cache::memory(256 << 20, Duration::from_secs(3600)),
        Limits::default(),
    )
    // No rate limit: the cold bench starts thousands of new runs from one client.
    .with_access(nano_web::access::Access::new(None, u32::MAX));
    let app = app(state);
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
    group.finish();
    drop(runtime);
    engine.shutdown().unwrap();
}

criterion_group!(benches, web);
criterion_main!(benches);
