//! The run page in real headless Chromium (Debian's, driven by playwright-core): the
//! progress element, then a plot with both named trajectories, no console errors, and
//! nothing fetched from beyond 127.0.0.1.

mod support;

use std::path::Path;
use std::process::Command;

use support::{golden_runs, serve};

#[test]
fn the_run_page_shows_progress_then_plots_both_trajectories() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, address) = serve(&dir.path().join("data"), &[]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshot = root.join("target/propagate-2000.png");
    let out = Command::new("node")
        .current_dir(root.join("web/e2e"))
        .args([
            "page.mjs",
            &format!("http://{address}/propagate/2000?seed=42"),
            screenshot.to_str().unwrap(),
        ])
        .output()
        .expect("node runs (.ci/run installs the browser test's packages)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser script failed: {stderr}");
    let seen: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    assert_eq!(seen["sawProgress"], true, "{seen}");
    assert_eq!(seen["state"], "plotted", "{seen}");
    assert_eq!(
        seen["errors"],
        serde_json::json!([]),
        "console errors: {seen}"
    );
    assert_eq!(
        seen["external"],
        serde_json::json!([]),
        "requests beyond 127.0.0.1: {seen}"
    );
    assert_eq!(seen["progress"], 2000, "{seen}");

    // With 5,000 points per agent asked for, a run of 2,000 iterations is drawn whole:
    // as many points per trace as the agent has records in the golden run.
    let golden = golden_runs()
        .into_iter()
        .find(|g| (g.n, g.seed) == (2000, 42))
        .unwrap()
        .document();
    let count = |agent: &str| {
        support::records(&golden)
            .iter()
            .filter(|r| r[2] == agent)
            .count()
    };
    let traces = seen["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 2, "{seen}");
    for (trace, agent) in traces.iter().zip(["Planet", "Satellite"]) {
        assert_eq!(trace["name"], agent);
        assert_eq!(trace["points"], count(agent), "{agent}");
    }
    assert_eq!(
        seen["legend"],
        serde_json::json!(["Planet", "Satellite"]),
        "{seen}"
    );
    assert!(
        std::fs::metadata(&screenshot).unwrap().len() > 10_000,
        "no screenshot"
    );
}

/// A base64-style token (`+`, `/`, `=`) pasted into the page's link as it is: the page
/// sends it back exactly (percent-encoded for `EventSource`, where the server decodes
/// it as RFC 3986 says), the run starts and the plot appears.
#[test]
fn a_base64_token_in_the_link_starts_the_run_and_the_plot_appears() {
    let token = "k9+Zx/Qw=R2";
    let dir = tempfile::tempdir().unwrap();
    let (_server, address) = serve(&dir.path().join("data"), &["--api-token", token]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshot = root.join("target/propagate-token.png");
    let out = Command::new("node")
        .current_dir(root.join("web/e2e"))
        .args([
            "page.mjs",
            &format!("http://{address}/propagate/1500?seed=77#token={token}"),
            screenshot.to_str().unwrap(),
        ])
        .output()
        .expect("node runs (.ci/run installs the browser test's packages)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser script failed: {stderr}");
    let seen: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(seen["state"], "plotted", "{seen}");
    assert_eq!(seen["traces"].as_array().map(Vec::len), Some(2), "{seen}");
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    // The same token from the API, as a lower-case bearer and as a raw query value.
    let bearer = format!("bearer {token}");
    let r = support::http(
        &address,
        "127.0.0.1",
        "/api/propagate/1600?seed=77",
        &[("Authorization", &bearer)],
    )
    .unwrap();
    assert!(matches!(r.status, 200 | 202), "{}", r.status);
    let raw = format!("/api/propagate/1700?seed=77&access_token={token}");
    assert!(matches!(
        support::http_get(&address, &raw).unwrap().0,
        200 | 202
    ));
    let wrong = "/api/propagate/1800?seed=77&access_token=k9%20Zx/Qw=R2";
    assert_eq!(
        support::http_get(&address, wrong).unwrap().0,
        401,
        "a space is not a plus"
    );
}
