//! The web's access rules through the binary, over real TCP on loopback: the rate limit
//! counts per client address (127.0.0.2 is a loopback address too, so one machine can
//! be several clients), `X-Forwarded-For` counts only from a trusted proxy, the API
//! token is read back exactly however it is sent, and a new screening needs the token
//! and counts against the rate limit while reads stay open.

use nano_testing::http::{http, http_request, HttpResponse};
use nano_testing::process;
use nano_testing::server::{screened, serve, until_ok};

/// Asks for a new run (a seed of its own) from `from`, with `headers`.
fn new_run(address: &str, from: &str, seed: u64, headers: &[(&str, &str)]) -> HttpResponse {
    http(
        address,
        from,
        &format!("/api/propagate/1000?seed={seed}"),
        headers,
    )
    .expect("the service answers")
}

fn body(response: &HttpResponse) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

#[test]
fn one_client_exhausting_its_allowance_leaves_another_address_free_to_start_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, address) = serve(&dir.path().join("data"), &["--rate-limit", "2"]);
    for seed in 1..=2 {
        let r = new_run(&address, "127.0.0.1", seed, &[]);
        assert_eq!(r.status, 202, "run {seed}: {}", body(&r));
    }
    let r = new_run(&address, "127.0.0.1", 3, &[]);
    assert_eq!(r.status, 429, "{}", body(&r));
    assert!(r.header("retry-after").is_some(), "{}", r.head);
    // A client cannot escape by naming another address: the peer is not a trusted proxy.
    let r = new_run(&address, "127.0.0.1", 4, &[("X-Forwarded-For", "10.9.9.9")]);
    assert_eq!(r.status, 429, "{}", body(&r));

    let r = new_run(&address, "127.0.0.2", 5, &[]);
    assert_eq!(
        r.status,
        202,
        "a second address is its own client: {}",
        body(&r)
    );
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_client_is_counted_and_forged_entries_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, address) = serve(
        &dir.path().join("data"),
        &[
            "--rate-limit",
            "1",
            "--trusted-proxies",
            "127.0.0.3/32, ::1",
        ],
    );
    let proxy = "127.0.0.3";
    let forwarded = |value| [("X-Forwarded-For", value)];
    assert_eq!(
        new_run(&address, proxy, 1, &forwarded("10.0.0.1")).status,
        202
    );
    assert_eq!(
        new_run(&address, proxy, 2, &forwarded("10.0.0.1")).status,
        429
    );
    // The proxy appends the address it saw; what the client wrote to its left is not
    // believed.
    assert_eq!(
        new_run(&address, proxy, 3, &forwarded("10.0.0.7, 10.0.0.1")).status,
        429
    );
    assert_eq!(
        new_run(&address, proxy, 4, &forwarded("10.0.0.1, 10.0.0.2")).status,
        202
    );
    // Another peer's header is ignored: it is counted by its own address.
    let other = "127.0.0.4";
    assert_eq!(
        new_run(&address, other, 5, &forwarded("10.0.0.5")).status,
        202
    );
    assert_eq!(
        new_run(&address, other, 6, &forwarded("10.0.0.6")).status,
        429
    );
}

#[test]
fn a_bad_trusted_proxy_is_refused_by_name() {
    let out = process::run(&[
        "serve",
        "--trusted-proxies",
        "10.0.0.0/33",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--trusted-proxies") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
}

/// A screening computes: without the token it is 401, and each new one counts against
/// the client's allowance as a run does; reading a kept screening is open, and asking
/// again for one the log keeps (at its distance or below) computes nothing and is
/// not counted.
#[test]
fn a_new_screening_needs_the_token_and_counts_against_the_rate_limit_while_reads_are_open() {
    let dir = tempfile::tempdir().unwrap();
    let token = "s3cret-screens";
    let (_server, address) = serve(
        &dir.path().join("data"),
        &["--api-token", token, "--rate-limit", "2"],
    );
    let bearer = format!("Bearer {token}");
    let auth = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let scenario = nano_testing::crossing::scenario(6, 600.0, 30.0, |i| [0.0, 2.0 * i as f64, 0.0]);
    let request = format!(r#"{{"scenario": {scenario}, "steps": 60}}"#);
    let post = |path: &str, body: &str, headers: &[(&str, &str)]| {
        http_request(
            &address,
            "127.0.0.1",
            "POST",
            path,
            headers,
            body.as_bytes(),
        )
        .expect("the service answers")
    };
    // The run from another address: its allowance is its own.
    let created = http_request(
        &address,
        "127.0.0.2",
        "POST",
        "/api/runs",
        &auth,
        request.as_bytes(),
    )
    .unwrap();
    assert!(created.status < 300, "{}", body(&created));
    let id = serde_json::from_slice::<serde_json::Value>(&created.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    until_ok(&address, &format!("/api/runs/{id}"));
    let screenings = format!("/api/runs/{id}/screenings");
    let json = [("Content-Type", "application/json")];

    // No token: 401, nothing started.
    let r = post(&screenings, r#"{"d": 20}"#, &json);
    assert_eq!(r.status, 401, "{}", body(&r));
    let r = post(
        &screenings,
        r#"{"d": 20}"#,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", "Bearer wrong"),
        ],
    );
    assert_eq!(r.status, 401, "{}", body(&r));
    let conjunctions = format!("/api/runs/{id}/conjunctions?d=20");
    assert_eq!(
        http(&address, "127.0.0.1", &conjunctions, &[])
            .unwrap()
            .status,
        409
    );

    // With it: screened (the first of the two a minute), then open to read.
    let job = screened(&address, &id, 20.0, &[("Authorization", &bearer)]);
    assert_eq!(job["state"], "done", "{job}");
    let read = http(&address, "127.0.0.1", &conjunctions, &[]).unwrap();
    assert_eq!(read.status, 200, "{}", body(&read));
    let doc: serde_json::Value = serde_json::from_slice(&read.body).unwrap();
    assert!(doc["count"].as_u64().unwrap() > 0, "{doc}");

    // A second at a larger distance takes the last of the allowance...
    let job = screened(&address, &id, 30.0, &[("Authorization", &bearer)]);
    assert_eq!(job["state"], "done", "{job}");
    // ...so a third is refused with 429,
    let r = post(&screenings, r#"{"d": 40}"#, &auth);
    assert_eq!(r.status, 429, "{}", body(&r));
    assert!(r.header("retry-after").is_some(), "{}", r.head);
    // while one the log keeps (at 30 km or below) is answered, computing nothing.
    for d in ["30", "12.5", "0.5"] {
        let r = post(&screenings, &format!(r#"{{"d": {d}}}"#), &auth);
        assert_eq!(r.status, 200, "d = {d}: {}", body(&r));
    }
}
