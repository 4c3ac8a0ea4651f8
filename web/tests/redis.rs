//! The service against a real, private redis-server: the hot cache, and what happens
//! when Redis goes away and comes back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use nano_cluster::redis_server::{private_ca, RedisServer};
use nano_testing::service::{get, service, until_ready};
use nano_web::{app, Cache};
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread")]
async fn redis_caches_runs_and_the_service_survives_its_loss_and_return() {
    let mut redis = RedisServer::start(None).expect("redis-server starts");
    let s = service(Cache::redis(&redis.url(), Duration::from_secs(600)).unwrap());
    let app = app(s.state.clone());
    let metrics = &s.state.metrics;

    // Cold: computed once, then in Redis.
    let first = until_ready(&app, "/api/propagate/3000?seed=11").await;
    assert_eq!(metrics.jobs_started.load(Ordering::Relaxed), 1);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let cached: Option<Vec<u8>> = conn.get("nano:v1:run:11:3000").await.unwrap();
    let cached = cached.expect("the finished run is in Redis");
    assert_eq!(nano_web::cache::decompress(&cached).unwrap(), first);
    let ttl: i64 = conn.ttl("nano:v1:run:11:3000").await.unwrap();
    assert!(ttl > 500 && ttl <= 600, "ttl {ttl}");

    // Warm: from Redis, no job.
    let hits = metrics.cache_hits.load(Ordering::Relaxed);
    let (status, _, warm) = get(&app, "/api/propagate/3000?seed=11").await;
    assert_eq!(status, StatusCode::OK);
    assert!(warm == first);
    assert_eq!(metrics.cache_hits.load(Ordering::Relaxed), hits + 1);
    assert_eq!(metrics.jobs_started.load(Ordering::Relaxed), 1);

    // Redis dies: requests still succeed, from the log or by computing.
    redis.kill();
    let (status, _, from_log) = get(&app, "/api/propagate/3000?seed=11").await;
    assert_eq!(status, StatusCode::OK);
    assert!(from_log == first);
    let computed = until_ready(&app, "/api/propagate/4000?seed=12").await;
    assert_eq!(metrics.jobs_started.load(Ordering::Relaxed), 2);
    let (status, _, ready) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["cache"]["status"], "degraded", "{ready}");

    // Redis returns (empty): the cache is used again, without a restart of the service.
    redis.restart().expect("redis-server starts again");
    let hits = metrics.cache_hits.load(Ordering::Relaxed);
    let mut used_again = false;
    for _ in 0..100 {
        let (status, _, body) = get(&app, "/api/propagate/4000?seed=12").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body == computed);
        if metrics.cache_hits.load(Ordering::Relaxed) > hits {
            used_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        used_again,
        "the cache was not used again after Redis came back"
    );
    let (_, _, ready) = get(&app, "/readyz").await;
    let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(
        metrics.jobs_started.load(Ordering::Relaxed),
        2,
        "nothing was computed twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_password_protected_redis_is_used_with_the_password_from_the_url() {
    let redis = RedisServer::start(Some("s3cret-for-tests")).expect("redis-server starts");
    let s = service(Cache::redis(&redis.url(), Duration::from_secs(60)).unwrap());
    let app = app(s.state.clone());
    let body = until_ready(&app, "/api/propagate/500?seed=2").await;
    let (_, _, again) = get(&app, "/api/propagate/500?seed=2").await;
    assert!(again == body);
    assert_eq!(s.state.metrics.cache_hits.load(Ordering::Relaxed), 1);

    // Without the password the same server refuses, and the service says so.
    let wrong = service(
        Cache::redis(
            &format!("redis://127.0.0.1:{}/", redis.port),
            Duration::from_secs(60),
        )
        .unwrap(),
    );
    let (_, _, ready) = get(&nano_web::app(wrong.state.clone()), "/readyz").await;
    let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
    assert_eq!(ready["cache"]["status"], "degraded", "{ready}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_over_tls_with_a_password_caches_runs() {
    let dir = tempfile::tempdir().unwrap();
    private_ca(dir.path()).expect("openssl makes a CA");
    let redis = RedisServer::start_with(Some("tls-and-auth"), Some(dir.path()))
        .expect("redis-server starts");
    let port = redis.port;
    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let url = format!("rediss://:tls-and-auth@127.0.0.1:{port}/");
    let s = service(Cache::redis_with_ca(&url, Duration::from_secs(60), Some(ca)).unwrap());
    let app = app(s.state.clone());
    let body = until_ready(&app, "/api/propagate/700?seed=3").await;
    let (status, _, again) = get(&app, "/api/propagate/700?seed=3").await;
    assert_eq!(status, StatusCode::OK);
    assert!(again == body);
    assert_eq!(
        s.state.metrics.cache_hits.load(Ordering::Relaxed),
        1,
        "the second read came from Redis over TLS"
    );
    let (_, _, ready) = get(&app, "/readyz").await;
    assert!(
        String::from_utf8_lossy(&ready).contains("\"kind\":\"redis\",\"status\":\"ok\""),
        "{}",
        String::from_utf8_lossy(&ready)
    );

    // Without trusting the private CA, the TLS handshake fails: the cache is degraded.
    let untrusting = service(Cache::redis(&url, Duration::from_secs(60)).unwrap());
    let (_, _, ready) = get(&nano_web::app(untrusting.state.clone()), "/readyz").await;
    assert!(
        String::from_utf8_lossy(&ready).contains("degraded"),
        "{}",
        String::from_utf8_lossy(&ready)
    );
}
