//! The API's OpenAPI document (`/api/openapi.json`) against the live service: it lists
//! every route, and schemathesis (PyPI, pinned in `.ci/deps`) sends generated requests
//! to a running `serve` and requires no 5xx and every response (status, content type,
//! headers, body) to be one the document describes.

use std::process::Command;
use std::time::Duration;

use nano_testing::http::http_get;
use nano_testing::server::serve;

/// The checks schemathesis runs: no server errors, and conformance to the document.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance";

#[test]
fn the_document_describes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, address) = serve(&dir.path().join("data"), &[]);
    let (status, body) = http_get(&address, "/api/openapi.json").unwrap();
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort_unstable();
    assert_eq!(
        paths,
        [
            "/",
            "/accuracy",
            "/api/accuracy",
            "/api/catalogs",
            "/api/catalogs/{id}",
            "/api/openapi.json",
            "/api/propagate/{n}",
            "/api/propagate/{n}/events",
            "/api/runs",
            "/api/runs/{id}",
            "/api/runs/{id}/bodies/{k}",
            "/api/runs/{id}/conjunctions",
            "/api/runs/{id}/conjunctions/events",
            "/api/runs/{id}/events",
            "/api/runs/{id}/manoeuvres",
            "/api/runs/{id}/positions",
            "/api/runs/{id}/screenings",
            "/api/runs/{id}/screenings/{job}",
            "/api/runs/{id}/screenings/{job}/events",
            "/api/runs/{id}/states",
            "/api/runs/{id}/status",
            "/api/runs/{id}/versions",
            "/assets/{name}",
            "/go",
            "/healthz",
            "/metrics",
            "/propagate/{n}",
            "/readyz",
            "/runs/{id}",
        ]
    );
    let run = &doc["paths"]["/api/propagate/{n}"]["get"];
    for status in ["200", "202", "400", "401", "429", "503"] {
        assert!(
            run["responses"][status].is_object(),
            "{status} undocumented"
        );
    }
    let post = &doc["paths"]["/api/runs"]["post"];
    assert!(
        post["requestBody"]["content"]["application/json"].is_object(),
        "{post}"
    );
    for status in ["200", "202", "400", "401", "413", "429", "503"] {
        assert!(
            post["responses"][status].is_object(),
            "POST {status} undocumented"
        );
    }
    let screening = &doc["paths"]["/api/runs/{id}/screenings"]["post"];
    for status in ["200", "202", "400", "401", "404", "429", "503"] {
        assert!(
            screening["responses"][status].is_object(),
            "POST screenings {status} undocumented"
        );
    }
    let params: Vec<&str> = run["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in ["n", "seed", "format", "points", "wait", "access_token"] {
        assert!(params.contains(&name), "{name} undocumented: {params:?}");
    }
}

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let dir = tempfile::tempdir().unwrap();
    // Small runs, and limits that generated requests do not hit by chance.
    let (_server, address) = serve(
        &dir.path().join("data"),
        &[
            "--max-steps",
            "3000",
            "--rate-limit",
            "1000000",
            "--max-jobs",
            "1000",
        ],
    );
    let mut child = Command::new("st")
        .current_dir(dir.path())
        .args(["run", &format!("http://{address}/api/openapi.json")])
        .args([
            "--checks",
            CHECKS,
            "--max-examples",
            "25",
            "--seed",
            "20261125",
        ])
        .args(["--request-timeout", "30", "--no-color"])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("schemathesis is installed (.ci/deps installs it)");
    // Bounded: schemathesis is stopped after five minutes.
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("schemathesis ran past five minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis found failures:\n{said}");
    // Every operation of the document was tried (schemathesis may skip one whose
    // inputs it cannot generate).
    let (_, body) = http_get(&address, "/api/openapi.json").unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert!(
        said.contains(&format!("Tested: {operations}"))
            || said.contains(&format!("Tested: {}", operations - 1)),
        "{operations} operations: {said}"
    );
    assert!(!said.contains("FAILURES"), "{said}");
}
