//! The service's log through the binary: one line per request with its method, route,
//! status, latency and request id (echoed as `X-Request-Id`), readable by default and
//! JSON with `--log-format json`; and the secrets of a run that used them (the API
//! token, sent as a header and as `access_token=`, and the Redis password) never in it.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nano_testing::cluster::RedisServer;
use nano_testing::http::http;
use nano_testing::process::{bin, Proc};
use nano_testing::server;
use nano_testing::server::{listening_address, stop};

/// Starts serve with `extra`, keeping every line it writes to stderr.
fn serve_logged(data: &std::path::Path, extra: &[&str]) -> (Proc, String, Arc<Mutex<Vec<String>>>) {
    let mut child = bin()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--data",
        ])
        .arg(data)
        .args(extra)
        .env_remove("REDIS_URL")
        .env_remove("NANO_API_TOKEN")
        .env_remove("NANO_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&lines);
    let (address, rest) = listening_address(child.stderr.take().unwrap(), |line| {
        kept.lock().unwrap().push(line.to_owned())
    });
    let kept = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in rest.map_while(Result::ok) {
            kept.lock().unwrap().push(line);
        }
    });
    (Proc(child), address, lines)
}

/// Waits (bounded) until the log has a line containing `needle`.
fn wait_for_line(lines: &Mutex<Vec<String>>, needle: &str) {
    let started = Instant::now();
    while !lines.lock().unwrap().iter().any(|l| l.contains(needle)) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no log line with {needle}: {:?}",
            lines.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn requests_are_logged_as_json_lines_and_no_token_or_redis_password_reaches_the_log() {
    let token = "k9+Zx/Qw=R2-secret";
    let password = "r3dis-pa55word";
    let redis = RedisServer::start(Some(password)).expect("redis-server starts");
    let url = redis.url();
    assert!(url.contains(password));
    let dir = tempfile::tempdir().unwrap();
    let (server, address, lines) = serve_logged(
        &dir.path().join("data"),
        &[
            "--api-token",
            token,
            "--redis",
            &url,
            "--log-format",
            "json",
        ],
    );
    let encoded = "k9%2BZx%2FQw%3DR2-secret";
    let bearer = format!("Bearer {token}");
    let asks: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/api/propagate/300?seed=1".into(),
            vec![("Authorization", bearer.as_str())],
        ),
        (
            format!("/api/propagate/300?seed=2&access_token={token}"),
            vec![],
        ),
        (
            format!("/api/propagate/300/events?seed=3&access_token={encoded}"),
            vec![],
        ),
        (
            format!("/api/propagate/300?seed=4&access_token={encoded}x"),
            vec![],
        ),
        ("/no/such/page".into(), vec![]),
    ];
    let mut ids = Vec::new();
    for (path, headers) in &asks {
        let r = http(&address, "127.0.0.1", path, headers).expect("an answer");
        assert_ne!(r.status, 500, "{path}");
        ids.push(
            r.header("x-request-id")
                .expect("every answer has an id")
                .to_owned(),
        );
    }
    // A run that used the token and Redis, read back once complete.
    server::until_ok(&address, "/api/propagate/300?seed=1");
    stop(server);
    wait_for_line(&lines, "stopping");

    let lines = lines.lock().unwrap().clone();
    let log = lines.join("\n");
    for secret in [token, encoded, password, "access_token", &url] {
        assert!(!log.contains(secret), "{secret} is in the log:\n{log}");
    }
    let requests: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v: &serde_json::Value| v["fields"]["message"] == "request")
        .collect();
    for (id, (path, _)) in ids.iter().zip(&asks) {
        let line = requests
            .iter()
            .find(|r| r["fields"]["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no line for {path} ({id}):\n{log}"));
        let fields = &line["fields"];
        assert_eq!(fields["method"], "GET", "{line}");
        assert!(fields["status"].as_u64().is_some(), "{line}");
        assert!(fields["latency_ms"].as_f64().is_some(), "{line}");
        assert!(fields["route"].is_string(), "{line}");
    }
    let statuses: Vec<_> = requests
        .iter()
        .map(|r| r["fields"]["status"].as_u64().unwrap())
        .collect();
    assert!(
        statuses.contains(&401) && statuses.contains(&404),
        "{statuses:?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r["fields"]["route"] == "/api/propagate/{n}/events"),
        "routes are logged by pattern:\n{log}"
    );
}

#[test]
fn by_default_each_request_is_one_readable_line_and_a_client_request_id_carries_through() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address, lines) = serve_logged(&dir.path().join("data"), &[]);
    let r = http(
        &address,
        "127.0.0.1",
        "/healthz",
        &[("X-Request-Id", "probe-17")],
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-request-id"), Some("probe-17"));
    let r = http(
        &address,
        "127.0.0.1",
        "/healthz",
        &[("X-Request-Id", "not (a) safe id")],
    )
    .unwrap();
    let generated = r.header("x-request-id").unwrap().to_owned();
    assert_ne!(generated, "not (a) safe id");
    wait_for_line(&lines, &generated);
    stop(server);
    let lines = lines.lock().unwrap().clone();
    let line = lines.iter().find(|l| l.contains("probe-17")).unwrap();
    for part in [
        "INFO",
        "request",
        "method=GET",
        "route=\"/healthz\"",
        "status=200",
        "latency_ms=",
    ] {
        assert!(line.contains(part), "{part} missing from: {line}");
    }
    assert!(!line.starts_with('{'), "readable, not JSON: {line}");
}

#[test]
fn each_job_logs_one_line_when_it_ends_with_its_run_iterations_duration_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address, lines) = serve_logged(&dir.path().join("data"), &[]);
    server::until_ok(&address, "/api/propagate/2500?seed=44");
    wait_for_line(&lines, "job ended");
    stop(server);
    let lines = lines.lock().unwrap().clone();
    let jobs: Vec<_> = lines.iter().filter(|l| l.contains("job ended")).collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    for part in [
        "INFO",
        "run=nano seed 44",
        "iterations=2500",
        "duration_ms=",
        "outcome=\"complete\"",
    ] {
        assert!(jobs[0].contains(part), "{part} missing from: {}", jobs[0]);
    }
}
