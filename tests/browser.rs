//! The run page in real headless Chromium (Debian's, driven by playwright-core): the
//! progress bar moving while the run computes, then a plot with both named
//! trajectories holding the golden run's decimated values, drawn without a reload, no
//! console errors, and nothing fetched from beyond 127.0.0.1.

mod support;

use std::path::Path;
use std::process::Command;

use support::series::{assert_values, decimate, floats};
use support::{golden_runs, serve, TOLERANCE};

#[test]
fn the_run_page_shows_progress_moving_then_plots_both_trajectories_without_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    // Blocks of 250 iterations: the run of 10,000 reports progress forty times, so the
    // bar has values to show between 0 and n while the page watches.
    let (n, seed, block) = (10_000u64, 7u64, 250u64);
    let (_server, address) = serve(&dir.path().join("data"), &["--block", &block.to_string()]);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let screenshot = root.join(format!("target/propagate-{n}.png"));
    let out = Command::new("node")
        .current_dir(root.join("web/e2e"))
        .args([
            "page.mjs",
            &format!("http://{address}/propagate/{n}?seed={seed}"),
            screenshot.to_str().unwrap(),
        ])
        .output()
        .expect("node runs (.ci/run installs the browser test's packages)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser script failed: {stderr}");
    let seen: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let summary = || {
        let mut s = seen.clone();
        s["traces"] = serde_json::json!("(left out)");
        s.to_string()
    };

    assert_eq!(seen["sawProgress"], true, "{}", summary());
    assert_eq!(seen["state"], "plotted", "{}", summary());
    assert_eq!(
        seen["reloaded"],
        false,
        "the page was loaded again: {}",
        summary()
    );
    assert_eq!(
        seen["errors"],
        serde_json::json!([]),
        "console errors: {}",
        summary()
    );
    assert_eq!(
        seen["external"],
        serde_json::json!([]),
        "requests beyond 127.0.0.1: {}",
        summary()
    );

    // The bar moved while the run computed: the page set it to at least one value
    // strictly between 0 and n, never backwards, and ended at n.
    let values = floats(&seen["progressValues"]);
    assert!(
        values.iter().any(|&v| v > 0.0 && v < n as f64),
        "the bar never showed the run part done: {values:?}"
    );
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "the bar went backwards: {values:?}"
    );
    assert_eq!(seen["progressMax"], n, "{}", summary());
    assert_eq!(seen["progress"], n, "{}", summary());

    // The plot holds the golden run's decimated series, value for value.
    let golden = golden_runs()
        .into_iter()
        .find(|g| (g.n, g.seed) == (n, seed))
        .unwrap()
        .document();
    // The page asks for the service's default number of points per agent.
    let page_points = nano_web::Limits::default().page_points as u64;
    let expected = decimate(&golden, page_points);
    let traces = seen["traces"].as_array().unwrap();
    assert_eq!(traces.len(), expected.len(), "{}", summary());
    for (trace, (agent, want)) in traces.iter().zip(&expected) {
        assert_eq!(trace["name"], agent.as_str());
        assert!(want.x.len() as u64 <= page_points + 1, "{agent}");
        assert_values(
            &format!("{agent} x"),
            &floats(&trace["x"]),
            &want.x,
            TOLERANCE,
        );
        assert_values(
            &format!("{agent} y"),
            &floats(&trace["y"]),
            &want.y,
            TOLERANCE,
        );
    }
    assert_eq!(
        seen["legend"],
        serde_json::json!(["Planet", "Satellite"]),
        "{}",
        summary()
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
    let wrong = "/api/propagate/1800?seed=78&access_token=k9%20Zx/Qw=R2";
    assert_eq!(
        support::http_get(&address, wrong).unwrap().0,
        401,
        "a space is not a plus"
    );
}
