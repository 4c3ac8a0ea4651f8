//! The web's access rules through the binary, over real TCP on loopback: the rate limit
//! counts per client address (127.0.0.2 is a loopback address too, so one machine can
//! be several clients), `X-Forwarded-For` counts only from a trusted proxy, and the API
//! token is read back exactly however it is sent.

use nano_testing::http::{http, HttpResponse};
use nano_testing::process;
use nano_testing::server::serve;

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
