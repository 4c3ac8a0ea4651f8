//! The service's handlers, without sockets (tower's `oneshot`) and once over real TCP.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use nano_testing::golden;
use nano_testing::series::{assert_values, decimate, floats};
use nano_testing::service::{get, service, until_ready, Service};
use nano_web::{app, Cache};

#[tokio::test(flavor = "multi_thread")]
async fn a_run_through_the_api_is_the_golden_file_and_the_second_read_is_a_cache_hit() {
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    // The seed percent-encoded (RFC 3986) is the same seed.
    let (status, headers, body) = get(&app, "/api/propagate/2000?seed=%34%32").await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let running: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(running["status"], "running");
    assert_eq!(
        headers["location"], "/api/propagate/2000?seed=42",
        "where to poll"
    );
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(running["n"], 2000);
    let body = until_ready(&app, "/api/propagate/2000?seed=42").await;
    assert!(
        body == golden::read("nano-n2000-seed42.json"),
        "not the golden file"
    );
    let hits = s.state.metrics.cache_hits.load(Ordering::Relaxed);
    let (status, headers, again) = get(&app, "/api/propagate/2000?seed=42").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert!(again == body);
    assert_eq!(s.state.metrics.cache_hits.load(Ordering::Relaxed), hits + 1);
    assert_eq!(s.state.metrics.jobs_started.load(Ordering::Relaxed), 1);

    // A shorter run of the same seed is a prefix of the logged one: no new job.
    let body = until_ready(&app, "/api/propagate/200?seed=42&format=csv").await;
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with("t0,t1,agent,x,y,vx,vy,nextTimeStep,iteration\n0.0,0.01,Planet,"));
    assert_eq!(s.state.metrics.jobs_started.load(Ordering::Relaxed), 1);

    // The decimated series holds the golden run's values at the points the rule
    // picks, computed here from the golden file (`nano_testing::series`).
    let series: serde_json::Value =
        serde_json::from_slice(&until_ready(&app, "/api/propagate/2000?seed=42&points=100").await)
            .unwrap();
    let golden: serde_json::Value =
        serde_json::from_slice(&golden::read("nano-n2000-seed42.json")).unwrap();
    let expected = decimate(&golden, 100);
    assert_eq!(expected.len(), 2);
    for (agent, want) in &expected {
        let got = &series["agents"][agent.as_str()];
        assert!(want.x.len() <= 101, "{agent}: {} points", want.x.len());
        for (column, want) in [("t", &want.t), ("x", &want.x), ("y", &want.y)] {
            assert_values(
                &format!("{agent} {column}"),
                &floats(&got[column]),
                want,
                1e-9,
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_series_is_computed_from_the_log_once_then_served_from_the_cache() {
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    let uri = "/api/propagate/3000?seed=8&points=100";
    let first = until_ready(&app, uri).await;
    let read_log = |s: &Service| s.state.metrics.log_served.load(Ordering::Relaxed);
    let (hits, reads) = (
        s.state.metrics.cache_hits.load(Ordering::Relaxed),
        read_log(&s),
    );
    for _ in 0..3 {
        let (status, headers, again) = get(&app, uri).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["content-type"], "application/json");
        assert!(
            again == first,
            "the cached series differs from the computed one"
        );
    }
    assert_eq!(read_log(&s), reads, "a page view read the log again");
    assert_eq!(s.state.metrics.cache_hits.load(Ordering::Relaxed), hits + 3);
    // Another number of points is another series.
    let other = until_ready(&app, "/api/propagate/3000?seed=8&points=10").await;
    assert!(other != first);
    assert_eq!(read_log(&s), reads + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restart_the_page_series_of_a_big_run_is_served_without_reading_its_records() {
    let cache = || Cache::memory(64 << 20, Duration::from_secs(60));
    let s = service(cache());
    let uri = "/api/propagate/200000?seed=5&points=5000";
    let first = until_ready(&app(s.state.clone()), uri).await;
    // Computing it read every chunk of the run (about 1.6 records per iteration, up
    // to 112 a chunk): the counter sees a scan.
    let scanned = s.state.log.chunks_read();
    assert!(
        scanned >= 2800,
        "{scanned} chunks read to compute the series"
    );

    let s = s.restart(cache());
    let app = app(s.state.clone());
    let (status, headers, again) = get(&app, uri).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&again)
    );
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        again == first,
        "the kept series differs from the computed one"
    );
    assert_eq!(
        s.state.log.chunks_read(),
        0,
        "the page's series read the run's records after a restart"
    );
    // Another number of points was never kept: it is computed, and reads the run.
    let other = until_ready(&app, "/api/propagate/200000?seed=5&points=100").await;
    assert!(other != first);
    assert!(s.state.log.chunks_read() >= 2800);
    let report = s.state.log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.series, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_4xx_that_names_the_field_and_the_service_stays_healthy() {
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    let long = "9".repeat(10_000);
    let cases = [
        ("/propagate/0".to_owned(), "n"),
        ("/propagate/-1".to_owned(), "n"),
        ("/propagate/abc".to_owned(), "n"),
        ("/propagate/99999999999".to_owned(), "n"),
        ("/propagate/5?seed=-1".to_owned(), "seed"),
        ("/propagate/5?seed=x".to_owned(), "seed"),
        (format!("/propagate/{long}"), "n"),
        ("/api/propagate/0".to_owned(), "n"),
        ("/api/propagate/5?seed=x".to_owned(), "seed"),
        ("/api/propagate/5?points=1".to_owned(), "points"),
        ("/api/propagate/5?format=xml".to_owned(), "format"),
        ("/api/propagate/abc/events".to_owned(), "n"),
        ("/go?n=abc".to_owned(), "n"),
    ];
    for (uri, field) in &cases {
        let (status, headers, body) = get(&app, uri).await;
        assert!(status.is_client_error(), "{uri}: {status}");
        assert_eq!(headers["content-type"], "application/json", "{uri}");
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["field"], *field, "{uri}: {error}");
        assert!(
            error["error"]["rule"]
                .as_str()
                .unwrap()
                .starts_with("must be"),
            "{uri}: {error}"
        );
        assert!(body.len() < 1000, "{uri}: the error echoes too much");
    }
    let (status, _, body) = get(&app, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());
    let (status, _, _) = get(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.state.metrics.jobs_started.load(Ordering::Relaxed),
        0,
        "bad input started nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_concurrent_requests_for_a_new_run_start_one_job_and_get_identical_bodies() {
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { until_ready(&app, "/api/propagate/30000?seed=7").await })
        })
        .collect();
    let mut bodies = Vec::new();
    for client in clients {
        bodies.push(client.await.unwrap());
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]), "the bodies differ");
    let doc: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(doc["n"], 30000);
    assert_eq!(s.state.metrics.jobs_started.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn progress_events_stream_until_complete() {
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    let (status, headers, body) = get(&app, "/api/propagate/5000/events?seed=3").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    let text = String::from_utf8(body).unwrap();
    let progress = text.matches("event: progress").count();
    assert!(
        progress >= 10,
        "{progress} progress events for 10 blocks:\n{text}"
    );
    assert!(
        text.trim_end()
            .ends_with("data: {\"iterations_done\":5000,\"n\":5000}"),
        "{text}"
    );
    assert!(text.contains("event: complete"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_answers_at_once_with_no_inline_script_and_strict_headers() {
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    let (status, headers, body) = get(&app, "/propagate/100000000?seed=1").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "over the default limit of 10,000,000"
    );
    let _ = (headers, body);
    let (status, headers, body) = get(&app, "/propagate/2000?seed=42").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.state.metrics.jobs_started.load(Ordering::Relaxed),
        0,
        "the page itself starts nothing"
    );
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("<progress id=\"progress\"") && html.contains("id=\"plot\""));
    assert!(html.contains("data-n=\"2000\" data-seed=\"42\""));
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=").count(),
        "inline script"
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let (status, headers, body) = get(&app, "/assets/plotly-basic.min.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert!(body.len() > 1_000_000, "the vendored Plotly is embedded");
    let (status, _, _) = get(&app, "/assets/../../etc/passwd").await;
    assert!(status.is_client_error());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_answers_over_real_tcp() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(nano_web::serve(listener, s.state.clone(), async move {
        let _ = stopped.await;
    }));
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"status\":\"ready\""), "{response}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_token_set_computation_needs_it() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let s = service(Cache::memory(1 << 20, Duration::from_secs(60)));
    let state = s
        .state
        .clone()
        .with_access(nano_web::access::Access::new(Some("t0ps3cret".into()), 100));
    let app = app(state.clone());
    for uri in [
        "/api/propagate/100?seed=1",
        "/api/propagate/100/events?seed=1",
    ] {
        let (status, headers, body) = get(&app, uri).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert!(String::from_utf8_lossy(&body).contains("Authorization: Bearer"));
        let (status, _, _) = get(&app, &format!("{uri}&access_token=wrong")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    assert_eq!(
        state.metrics.jobs_started.load(Ordering::Relaxed),
        0,
        "refused requests started nothing"
    );
    let request = Request::get("/api/propagate/100?seed=1")
        .header("authorization", "Bearer t0ps3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.clone().oneshot(request).await.unwrap().status(),
        StatusCode::ACCEPTED
    );
    let (status, _, _) = get(
        &app,
        "/api/propagate/100/events?seed=1&access_token=t0ps3cret",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // The page, its assets and the health endpoints stay open.
    for uri in ["/propagate/100?seed=1", "/healthz", "/assets/app.js"] {
        assert_eq!(get(&app, uri).await.0, StatusCode::OK, "{uri}");
    }
    // Reading a logged run starts nothing and needs no token: the page's JSON and CSV
    // links work in a browser.
    let request = Request::get("/api/propagate/100?seed=1")
        .header("authorization", "bearer t0ps3cret")
        .body(Body::empty())
        .unwrap();
    let _ = app.clone().oneshot(request).await.unwrap();
    until_ready(&app, "/api/propagate/100?seed=1").await;
    for uri in [
        "/api/propagate/100?seed=1",
        "/api/propagate/100?seed=1&format=csv",
        "/api/propagate/50?seed=1&points=10",
        "/api/propagate/100/events?seed=1",
        "/api/runs",
    ] {
        assert_eq!(get(&app, uri).await.0, StatusCode::OK, "{uri}");
    }
    assert_eq!(
        get(&app, "/api/propagate/101?seed=1").await.0,
        StatusCode::UNAUTHORIZED,
        "a longer run is new computation"
    );
    assert_eq!(state.metrics.jobs_started.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn past_its_allowance_a_client_gets_429_with_retry_after() {
    let s = service(Cache::memory(1 << 20, Duration::from_secs(60)));
    let state = s
        .state
        .clone()
        .with_access(nano_web::access::Access::new(None, 3));
    let app = app(state.clone());
    for seed in 0..3 {
        let (status, _, _) = get(&app, &format!("/api/propagate/50000?seed={seed}")).await;
        assert_eq!(status, StatusCode::ACCEPTED, "run {seed}");
    }
    let (status, headers, body) = get(&app, "/api/propagate/50000?seed=99").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    // Joining a run already in flight or logged costs nothing.
    let (status, _, _) = get(&app, "/api/propagate/50000?seed=0").await;
    assert!(
        status == StatusCode::ACCEPTED || status == StatusCode::OK,
        "{status}"
    );
    assert_eq!(state.metrics.jobs_started.load(Ordering::Relaxed), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_is_the_json_error_even_before_a_handler_runs() {
    use axum::body::{to_bytes, Body};
    use axum::http::{Method, Request};
    use tower::ServiceExt;
    let s = service(Cache::memory(1 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    let big = vec![b'x'; 20 * 1024];
    let cases: Vec<(Method, &str, Vec<u8>, StatusCode)> = vec![
        (
            Method::PUT,
            "/api/runs",
            vec![],
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/no/such/page", vec![], StatusCode::NOT_FOUND),
        (
            Method::GET,
            "/api/propagate/%FF",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/propagate/10?seed=%FF",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/propagate/10?seed=%G1",
            vec![],
            StatusCode::BAD_REQUEST,
        ),
        (Method::GET, "/healthz", big, StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (method, uri, body, want) in cases {
        let length = body.len();
        let request = Request::builder()
            .method(method.clone())
            .uri(uri)
            .header("content-length", length)
            .body(Body::from(body))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(parts.status, want, "{method} {uri}");
        assert_eq!(
            parts.headers["content-type"], "application/json",
            "{method} {uri}"
        );
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty(), "{method} {uri}: {error}");
        if want == StatusCode::METHOD_NOT_ALLOWED {
            assert!(parts.headers.contains_key("allow"), "405 keeps Allow");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_can_wait_for_its_run_and_gets_it_in_one_request() {
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    let (status, headers, body) = get(&app, "/api/propagate/2000?seed=42&wait=30").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        body == golden::read("nano-n2000-seed42.json"),
        "not the golden file"
    );
    // wait=0 does not wait: a new run answers 202 with where to poll.
    let (status, headers, _) = get(&app, "/api/propagate/30000?seed=5&format=csv&wait=0").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        headers["location"],
        "/api/propagate/30000?seed=5&format=csv"
    );
    for bad in ["wait=31", "wait=-1", "wait=soon"] {
        let (status, _, body) = get(&app, &format!("/api/propagate/10?seed=1&{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["error"]["field"], "wait", "{error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_accuracy_report_is_computed_once_and_its_page_has_no_inline_script() {
    let s = service(Cache::memory(64 << 20, Duration::from_secs(60)));
    let app = app(s.state.clone());
    let (status, _, body) = get(&app, "/accuracy").await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains("<script src=\"/assets/accuracy.js\""),
        "{html}"
    );
    assert!(html.contains("id=\"plot\"") && html.contains("id=\"report\""));
    assert_eq!(
        html.matches("<script").count(),
        html.matches("<script src=").count(),
        "inline script"
    );
    assert!(
        s.state.accuracy.get().is_none(),
        "the page computes nothing"
    );
    let (status, _, body) = get(&app, "/assets/accuracy.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body).unwrap().contains("/api/accuracy"));

    // Two requests at once share one computation.
    let (a, b) = tokio::join!(get(&app, "/api/accuracy"), get(&app, "/api/accuracy"));
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    assert!(a.2 == b.2, "one report for both");
    let report: serde_json::Value = serde_json::from_slice(&a.2).unwrap();
    assert_eq!(report["orbits"], 1000);
    let rows = report["rows"].as_array().unwrap();
    let cases: Vec<(String, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["integrator"].as_str().unwrap().to_owned(),
                r["e"].as_f64().unwrap(),
            )
        })
        .collect();
    let mut want = Vec::new();
    for m in ["dop853", "yoshida4", "rk4"] {
        for e in [0.0, 0.1, 0.7] {
            want.push((m.to_owned(), e));
        }
    }
    assert_eq!(cases, want);
    // The bounds `pipeline/tests/orbit.rs` holds dop853 at 1e-12 to over 1,000 orbits,
    // as the page shows them.
    for (row, (energy, metres)) in rows
        .iter()
        .zip([(1e-10, 10.0), (1e-9, 100.0), (1e-8, 5000.0)])
    {
        assert!(
            row["max_rel_energy_err"].as_f64().unwrap() < energy,
            "{row}"
        );
        assert!(
            row["final_position_err_m"].as_f64().unwrap() < metres,
            "{row}"
        );
    }
    let computed = s.state.accuracy.get().expect("kept").clone();
    let (_, _, again) = get(&app, "/api/accuracy").await;
    assert!(again == a.2, "the same report again");
    // The same bytes, not a second computation (whose times would differ).
    assert_eq!(
        computed.as_ptr(),
        s.state.accuracy.get().unwrap().as_ptr(),
        "not computed again"
    );
}
