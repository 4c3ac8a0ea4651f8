//! The pages in real headless Chromium (Debian's, driven by playwright-core; WebGL by
//! SwiftShader), each checked for console errors and for anything fetched from beyond
//! 127.0.0.1:
//! - the nano run page (`web/e2e/page.mjs`): the progress bar moving while the run
//!   computes, then a plot with both named trajectories holding the golden run's
//!   decimated values, drawn without a reload;
//! - the orbit pages (`web/e2e/run.mjs`): `/runs/{id}` of a two-body run (3D tracks, the
//!   Earth as a sphere, the error plot), of an unknown id, the orbit form of `/`, and
//!   the playback of a 100-satellite constellation; the conjunction list of a run
//!   whose orbits cross (sorted, filtered, capped, a row showing the pair at its
//!   closest approach) following a manoeuvre made in the form, without a reload; a
//!   catalogue uploaded from the form of `/` and played back, every object a point;
//!   and a catalogue run's screening started by its page, listed, and updated in place
//!   by a manoeuvre of one of the scenario's own bodies.

use std::path::Path;
use std::process::Command;

use nano_testing::golden::{golden_runs, TOLERANCE};
use nano_testing::process::{write_file, Proc};
use nano_testing::series::{assert_values, decimate, floats};
use nano_testing::server::serve;
use nano_testing::{crossing, http};

#[test]
fn the_run_page_shows_progress_moving_then_plots_both_trajectories_without_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    // Blocks of 250 iterations: the run of 10,000 reports progress forty times, so the
    // bar has values to show between 0 and n while the page watches.
    let (n, seed, block) = (10_000u64, 7u64, 250u64);
    let (_server, address) = serve(&dir.path().join("data"), &["--block", &block.to_string()]);
    let screenshot = root().join(format!("target/propagate-{n}.png"));
    let seen = node(&[
        "page.mjs",
        &format!("http://{address}/propagate/{n}?seed={seed}"),
        screenshot.to_str().unwrap(),
    ]);
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
    let (_dir, _server, address) = served(&["--api-token", token]);
    let screenshot = root().join("target/propagate-token.png");
    let seen = node(&[
        "page.mjs",
        &format!("http://{address}/propagate/1500?seed=77#token={token}"),
        screenshot.to_str().unwrap(),
    ]);
    assert_eq!(seen["state"], "plotted", "{seen}");
    assert_eq!(seen["traces"].as_array().map(Vec::len), Some(2), "{seen}");
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    // The same token from the API, as a lower-case bearer and as a raw query value.
    let bearer = format!("bearer {token}");
    let r = http::http(
        &address,
        "127.0.0.1",
        "/api/propagate/1600?seed=77",
        &[("Authorization", &bearer)],
    )
    .unwrap();
    assert!(matches!(r.status, 200 | 202), "{}", r.status);
    let raw = format!("/api/propagate/1700?seed=77&access_token={token}");
    assert!(matches!(
        http::http_get(&address, &raw).unwrap().0,
        200 | 202
    ));
    let wrong = "/api/propagate/1800?seed=78&access_token=k9%20Zx/Qw=R2";
    assert_eq!(
        http::http_get(&address, wrong).unwrap().0,
        401,
        "a space is not a plus"
    );
}

/// The paths the page asked the service for, in order.
fn requests(seen: &serde_json::Value) -> Vec<&str> {
    seen["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect()
}

/// `serve` over a fresh log in a directory of its own (the test's files go there too).
fn served(flags: &[&str]) -> (tempfile::TempDir, Proc, String) {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(&dir.path().join("data"), flags);
    (dir, server, address)
}

/// Runs `web/e2e/run.mjs` in `mode` against the service at `address` and returns what
/// it saw (a scenario, when given, is posted to `/api/runs` by the script first).
fn drive(mode: &str, url: &str, scenario: Option<(&str, u64)>) -> serde_json::Value {
    let screenshot = root().join(format!("target/run-{mode}.png"));
    let mut args = vec![
        "run.mjs".to_owned(),
        mode.to_owned(),
        url.to_owned(),
        screenshot.to_str().unwrap().to_owned(),
    ];
    if let Some((file, steps)) = scenario {
        args.push(file.to_owned());
        args.push(steps.to_string());
    }
    node(&args)
}

/// The workspace's root, where `target/` and `web/e2e` are.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the script `args[0]` of `web/e2e` with the rest of `args` under node; what it
/// saw (its stdout, as JSON).
fn node(args: &[impl AsRef<std::ffi::OsStr>]) -> serde_json::Value {
    let out = Command::new("node")
        .current_dir(root().join("web/e2e"))
        .args(args)
        .output()
        .expect("node runs (.ci/run installs the browser test's packages)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the browser script failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

/// `seen` without its long arrays, for failure messages.
fn brief(seen: &serde_json::Value) -> String {
    let mut s = seen.clone();
    for key in ["before", "after", "apiAtShown", "requests"] {
        if s.get(key).is_some() {
            s[key] = serde_json::json!("(left out)");
        }
    }
    if let Some(track) = s.get_mut("track") {
        for axis in ["x", "y", "z"] {
            track[axis] = serde_json::json!("(left out)");
        }
    }
    s.to_string()
}

/// No request of the page left 127.0.0.1, and the console stayed clean but for the
/// `expected` resource errors (Chromium logs each 4xx a page fetches).
fn assert_clean(seen: &serde_json::Value, expected: &[&str]) {
    assert_eq!(
        seen["external"],
        serde_json::json!([]),
        "requests beyond 127.0.0.1: {}",
        brief(seen)
    );
    let errors: Vec<&str> = seen["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), expected.len(), "console errors: {errors:?}");
    for (error, want) in errors.iter().zip(expected) {
        assert!(
            error.contains(want),
            "console error {error:?}, wanted {want:?}"
        );
    }
}

const EARTH_RADIUS_KM: f64 = 6378.137;

/// The sphere of the central body: one `surface` trace, every vertex at radius R.
fn assert_sphere(seen: &serde_json::Value) {
    let spheres: Vec<&serde_json::Value> = seen["traces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "surface")
        .collect();
    assert_eq!(spheres.len(), 1, "no central body: {}", brief(seen));
    for key in ["minRadius", "maxRadius"] {
        let r = spheres[0][key].as_f64().unwrap();
        assert!(
            (r - EARTH_RADIUS_KM).abs() < 1e-6 * EARTH_RADIUS_KM,
            "the sphere's {key} is {r}, not R"
        );
    }
}

/// A two-body orbit run: `/runs/{id}` draws both tracks in 3D (named, with t and the
/// position on hover) around the Earth as a sphere, and the energy and
/// angular-momentum errors on log axes, with values a dop853 run at 1e-12 has.
#[test]
fn an_orbit_runs_page_draws_both_bodies_around_the_earth_and_their_errors() {
    let (dir, _server, address) = served(&[]);
    let scenario = write_file(
        dir.path(),
        "two.json",
        r#"{"model":"orbit","epoch":"2026-01-01T00:00:00Z","forces":["point_mass"],
            "integrator":{"method":"dop853","tolerance":1e-12},"output_step_s":30.0,
            "bodies":[
              {"name":"leo","elements":{"a_km":7200.0,"e":0.05,"i_deg":53.0,"raan_deg":0.0,"argp_deg":0.0,"nu_deg":0.0}},
              {"name":"meo","elements":{"a_km":12000.0,"e":0.3,"i_deg":20.0,"raan_deg":40.0,"argp_deg":10.0,"nu_deg":0.0}}]}"#,
    );
    let steps = 600u64;
    let seen = drive(
        "tracks",
        &format!("http://{address}/"),
        Some((&scenario, steps)),
    );
    assert_eq!(seen["state"], "plotted", "{}", brief(&seen));
    assert_clean(&seen, &[]);
    assert!(seen["canvases"].as_u64().unwrap() >= 1, "no WebGL canvas");

    let tracks: Vec<&serde_json::Value> = seen["traces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "scatter3d")
        .collect();
    let names: Vec<&str> = tracks.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["leo", "meo"], "{}", brief(&seen));
    for track in &tracks {
        assert_eq!(track["mode"], "lines");
        assert_eq!(
            track["points"],
            steps + 1,
            "every output time (within points=2000)"
        );
        let hover = track["hovertemplate"].as_str().unwrap();
        assert!(hover.contains("t = ") && hover.contains("x = "), "{hover}");
        // Each track goes round the Earth, above it.
        assert!(track["minRadius"].as_f64().unwrap() > EARTH_RADIUS_KM);
    }
    assert_sphere(&seen);
    let legend = seen["legend"].as_array().unwrap();
    assert!(
        legend.iter().any(|l| l == "leo") && legend.iter().any(|l| l == "meo"),
        "legend: {legend:?}"
    );

    // Two errors a body, each on a log axis, with positive values, as small as a
    // dop853 run at 1e-12 makes them (a wrong mu or state would make them large).
    assert_eq!(seen["errorAxes"], serde_json::json!(["log", "log"]));
    let errors = seen["errorTraces"].as_array().unwrap();
    assert_eq!(errors.len(), 4, "{}", brief(&seen));
    for e in errors {
        assert!(e["positive"].as_u64().unwrap() > steps / 2, "{e}");
        assert!(e["max"].as_f64().unwrap() < 1e-9, "{e}");
    }
    let ask = format!(
        "/api/runs/{}?format=json&points=2000",
        seen["id"].as_str().unwrap()
    );
    assert!(
        requests(&seen).contains(&ask.as_str()),
        "the page never asked {ask}"
    );
}

/// `/runs/{id}` of no run says so; an id that cannot be one is a 400 naming it.
#[test]
fn the_page_of_an_unknown_run_says_so() {
    let (_dir, _server, address) = served(&[]);
    let seen = drive(
        "unknown",
        &format!("http://{address}/runs/0123456789abcdef0123456789abcdef"),
        None,
    );
    assert_eq!(seen["state"], "unknown", "{}", brief(&seen));
    assert!(
        seen["status"]
            .as_str()
            .unwrap()
            .contains("no run has the id 0123456789abcdef0123456789abcdef"),
        "{}",
        brief(&seen)
    );
    assert_clean(&seen, &["404"]);
    let (status, body) = http::http_get(&address, "/runs/not-a-run").unwrap();
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("\"field\":\"id\""));
}

/// The orbit form of `/`: a broken element is refused beside the form (the 400's
/// message naming it), and a good one starts the run and goes to its page, drawn.
#[test]
fn the_orbit_form_shows_a_refusal_then_starts_a_run_and_goes_to_its_page() {
    let (_dir, _server, address) = served(&[]);
    let seen = drive("form", &format!("http://{address}/"), None);
    let refusal = seen["refusal"]["message"].as_str().unwrap();
    assert!(
        refusal.contains("400") && refusal.contains("elements.e"),
        "{}",
        brief(&seen)
    );
    assert_eq!(seen["refusal"]["url"], format!("http://{address}/"));
    assert!(
        seen["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://{address}/runs/")),
        "{}",
        brief(&seen)
    );
    assert_eq!(seen["state"], "plotted", "{}", brief(&seen));
    // The refused POST is the one error the console shows.
    assert_clean(&seen, &["400"]);
    let names: Vec<&str> = seen["traces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "scatter3d")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sat-1"], "{}", brief(&seen));
    assert_sphere(&seen);
    // The form asked for J2 and rk4 at 5 s: the page's energy holds the J2 potential
    // (without it the point-mass energy would vary by about 1e-3) and h_z is kept.
    let errors = seen["errorTraces"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{}", brief(&seen));
    for e in errors {
        assert!(e["positive"].as_u64().unwrap() > 100, "{e}");
        assert!(e["max"].as_f64().unwrap() < 1e-9, "{e}");
    }
}

/// A constellation of 100 satellites plays back: every satellite a point around the
/// Earth's sphere; after a few seconds of play the points have moved, and they are
/// the states the API gives at the time the page shows; a satellite picked by name
/// shows its track; the page never asks for the whole run.
#[test]
fn a_constellation_plays_back_and_a_satellite_picked_by_name_shows_its_track() {
    let (dir, _server, address) = served(&[]);
    let scenario = write_file(
        dir.path(),
        "walker.json",
        r#"{"model":"orbit","epoch":"2026-01-01T00:00:00Z","forces":["point_mass","j2"],
            "integrator":{"method":"dop853","tolerance":1e-10},"output_step_s":60.0,
            "walker":{"i_deg":53,"total":100,"planes":10,"phasing":1,"altitude_km":550}}"#,
    );
    let steps = 240u64; // four hours
    let seen = drive(
        "playback",
        &format!("http://{address}/"),
        Some((&scenario, steps)),
    );
    assert_eq!(seen["state"], "ready", "{}", brief(&seen));
    assert_eq!(seen["playingState"], "playing", "{}", brief(&seen));
    assert_clean(&seen, &[]);
    let kinds: Vec<(&str, &str)> = seen["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap(),
                t["mode"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("scatter3d", "markers"),
            ("surface", ""),
            ("scatter3d", "lines")
        ],
        "{}",
        brief(&seen)
    );
    assert_eq!(seen["max"].as_f64().unwrap(), steps as f64 * 60.0);

    // The points moved: the time shown went on and (almost) every satellite with it.
    let (before, after) = (&seen["before"], &seen["after"]);
    let (t0, t1) = (before["t"].as_f64().unwrap(), after["t"].as_f64().unwrap());
    assert_eq!(t0, 0.0);
    assert!(t1 > 60.0, "played to t = {t1} only");
    let xyz = |v: &serde_json::Value| -> Vec<[f64; 3]> {
        let (x, y, z) = (floats(&v["x"]), floats(&v["y"]), floats(&v["z"]));
        (0..x.len()).map(|i| [x[i], y[i], z[i]]).collect()
    };
    let (p0, p1) = (xyz(before), xyz(after));
    assert_eq!((p0.len(), p1.len()), (100, 100));
    let moved = p0
        .iter()
        .zip(&p1)
        .filter(|(a, b)| (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f64>().sqrt() > 1.0)
        .count();
    assert_eq!(moved, 100, "satellites that moved more than 1 km");
    assert_eq!(
        seen["screenChanged"], true,
        "the canvas showed the same image"
    );
    // What the page shows at t1 is what the API gives at t1.
    let records = seen["apiAtShown"]["records"]
        .as_array()
        .unwrap_or_else(|| panic!("states?t={t1}: {}", seen["apiAtShown"]));
    assert_eq!(records.len(), 100);
    for (record, shown) in records.iter().zip(&p1) {
        let state = floats(record);
        for k in 0..3 {
            assert!(
                (state[2 + k] - shown[k]).abs() < 1e-9,
                "{record} against {shown:?}"
            );
        }
    }

    // The satellite picked by name: its whole track so far, on its circle.
    let track = &seen["track"];
    assert_eq!(track["picked"], 7);
    assert_eq!(track["name"], seen["pickedName"]);
    assert_eq!(track["visible"], true);
    let points = xyz(track);
    assert!(points.len() > 100, "{}", brief(&seen));
    for p in points {
        let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        assert!((r - (EARTH_RADIUS_KM + 550.0)).abs() < 30.0, "r = {r}");
    }

    // Window by window: many states requests, and never the whole run.
    let id = seen["id"].as_str().unwrap();
    let requests = requests(&seen);
    let frames = requests
        .iter()
        .filter(|r| r.starts_with(&format!("/api/runs/{id}/positions?t=")))
        .count();
    assert!(frames > 3, "{requests:?}");
    assert!(
        !requests
            .iter()
            .any(|r| r.starts_with(&format!("/api/runs/{id}?")) || *r == format!("/api/runs/{id}")),
        "the page fetched the whole run: {requests:?}"
    );
}

/// A constellation still computing plays what is durable and follows the frontier:
/// the slider's end grows with the run's progress, the time shown never passes it,
/// and the points move while the run computes. The run is minutes long, so that it is
/// still computing whatever the machine's load; the test ends it with the server.
#[test]
fn a_constellation_still_computing_plays_up_to_the_frontier_and_follows_it() {
    // Blocks of 25: an orbit round of 32 blocks is 800 states, 8 steps of the 100
    // satellites, each made durable and reported on its own.
    let (dir, _server, address) = served(&["--block", "25"]);
    // rk4 at 5 ms: 1.2e6 steps a round (under a second), 1.2e10 in all (minutes).
    let scenario = write_file(
        dir.path(),
        "slow.json",
        r#"{"model":"orbit","epoch":"2026-01-01T00:00:00Z","forces":["point_mass","j2"],
            "integrator":{"method":"rk4","step_s":0.005},"output_step_s":60.0,
            "walker":{"i_deg":53,"total":100,"planes":10,"phasing":1,"altitude_km":550}}"#,
    );
    let steps = 10_000u64;
    let seen = drive(
        "follow",
        &format!("http://{address}/"),
        Some((&scenario, steps)),
    );
    assert_clean(&seen, &[]);
    let end = steps as f64 * 60.0;
    let samples = seen["samples"].as_array().unwrap();
    let field = |s: &serde_json::Value, k: &str| s[k].as_f64().unwrap();
    assert_eq!(seen["firstStatus"], "running", "{seen}");
    for pair in samples.windows(2) {
        assert!(field(&pair[0], "max") <= field(&pair[1], "max"), "{seen}");
    }
    for s in samples {
        assert!(field(s, "max") < end, "the run completed: {s}");
        assert!(
            field(s, "t") <= field(s, "max") + 1e-9,
            "past the frontier: {s}"
        );
    }
    let distinct = |k: &str| -> std::collections::BTreeSet<u64> {
        samples
            .iter()
            .filter(|s| field(s, "t") > 0.0)
            .map(|s| field(s, k).to_bits())
            .collect()
    };
    assert!(
        distinct("max").len() >= 3,
        "the frontier did not move: {seen}"
    );
    assert!(
        distinct("t").len() >= 3,
        "the page did not play while the run computed: {seen}"
    );
}

/// Rows of the conjunction list the page draws at most.
const ROW_CAP: usize = 500;

/// `seen` with every array longer than a few items replaced by its length.
fn shortened(seen: &serde_json::Value) -> String {
    fn cut(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Array(a) if a.len() > 6 => {
                serde_json::json!(format!("({} items)", a.len()))
            }
            serde_json::Value::Array(a) => a.iter().map(cut).collect(),
            serde_json::Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), cut(v))).collect(),
            other => other.clone(),
        }
    }
    cut(seen).to_string()
}

/// A conjunction as the page's rows and the API's JSON both give it.
#[derive(Debug, Clone, PartialEq)]
struct Conj {
    a: u64,
    b: u64,
    tca_s: f64,
    miss_km: f64,
}

fn conjs(v: &serde_json::Value) -> Vec<Conj> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list of conjunctions: {v}"))
        .iter()
        .map(|c| Conj {
            a: c["a"].as_u64().unwrap(),
            b: c["b"].as_u64().unwrap(),
            tca_s: c["tca_s"].as_f64().unwrap(),
            miss_km: c["miss_km"].as_f64().unwrap(),
        })
        .collect()
}

/// The first `ROW_CAP` of `all` (what the page draws of them).
fn capped(all: &[Conj]) -> &[Conj] {
    &all[..all.len().min(ROW_CAP)]
}

/// The API's answer in `doc` (a version's conjunctions at a distance) is what the panel
/// `panel` shows: its version, its count, and its rows (closest first, capped).
fn assert_lists(panel: &serde_json::Value, doc: &serde_json::Value, version: u64) {
    assert_eq!(doc["version"], version, "{doc}");
    let want = conjs(&doc["conjunctions"]);
    assert_eq!(doc["count"].as_u64(), Some(want.len() as u64));
    assert_eq!(panel["version"], version.to_string());
    assert_eq!(panel["dataVersion"], version.to_string());
    assert_eq!(panel["dataCount"].as_u64(), Some(want.len() as u64));
    assert_eq!(
        panel["count"].as_str().unwrap().replace(',', ""),
        want.len().to_string()
    );
    assert_eq!(conjs(&panel["rows"]), capped(&want), "version {version}");
    let shown = panel["shown"].as_str().unwrap();
    assert_eq!(
        shown.contains(&format!("the {ROW_CAP} closest shown")),
        want.len() > ROW_CAP,
        "{shown:?} with {} conjunctions",
        want.len()
    );
}

/// A run of `bodies` crossing orbits on its page: the conjunction list equals the
/// API's (sorted, filtered, capped), the closest row shows its pair at the closest
/// approach, a refused manoeuvre shows the API's reason, and an accepted one changes
/// the list to the new version's without a reload. Returns what the page saw.
fn conjunctions_page(bodies: usize, token: Option<&str>) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let flags: Vec<&str> = token.map(|t| vec!["--api-token", t]).unwrap_or_default();
    let (_server, address) = serve(&dir.path().join("data"), &flags);
    // Every body through the meeting point at 305 s, none more than 1.9 km from it (a
    // low-discrepancy spread): every pair closer than 3.8 km there, so a conjunction at
    // 5 km.
    let text = crossing::scenario(bodies, 305.0, 10.0, |i| {
        let f = i as f64 + 1.0;
        [0.618_034, 0.754_877_7, 0.569_840_3].map(|g| (f * g).fract() * 2.2 - 1.1)
    });
    let scenario = write_file(dir.path(), "crossing.json", &text);
    let steps = 60u64;
    let fragment = token.map(|t| format!("#token={t}")).unwrap_or_default();
    let seen = drive(
        "conjunctions",
        &format!("http://{address}/{fragment}"),
        Some((&scenario, steps)),
    );
    let brief = shortened(&seen);
    assert!(
        ["ready", "plotted"].contains(&seen["state"].as_str().unwrap()),
        "{brief}"
    );
    // The refused manoeuvre's POST is the one error the console shows.
    assert_clean(&seen, &["400"]);
    assert_eq!(seen["reloaded"], false, "{brief}");
    let names: Vec<&str> = seen["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    let name = |k: u64| names[k as usize];

    // The list: the API's version 0, closest first, at most ROW_CAP rows.
    let first = &seen["first"];
    assert_eq!(first["listed"], true, "{brief}");
    // The page asked for the screening (a job), was told its progress, and drew the
    // list once it was kept.
    assert_eq!(first["screening"]["state"], "done", "{brief}");
    assert!(first["screening"]["done"].is_string(), "{brief}");
    assert_eq!(first["api"]["d_km"].as_f64(), Some(5.0));
    assert_lists(first, &first["api"], 0);
    let all = conjs(&first["api"]["conjunctions"]);
    assert_eq!(
        all.len(),
        bodies * (bodies - 1) / 2,
        "every pair meets once within 5 km"
    );
    let row = &first["rows"][0];
    let cells: Vec<&str> = row["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let c = &all[0];
    assert_eq!(
        cells[0],
        format!("{} ({}) – {} ({})", name(c.a), c.a, name(c.b), c.b)
    );
    // The epoch is midnight: the TCA's clock time is its seconds.
    let ms = (c.tca_s * 1000.0).round() as u64;
    assert_eq!(
        cells[1],
        format!(
            "2026-01-01T00:{:02}:{:02}.{:03}Z",
            ms / 60_000,
            ms / 1000 % 60,
            ms % 1000
        )
    );
    assert_eq!(cells[2], format!("{:.3}", c.miss_km));

    // Filtered: by a part of a name (c-3 is also in c-30...), by an index.
    let picked = seen["pickedName"].as_str().unwrap();
    let index = seen["pickedIndex"].as_u64().unwrap();
    let by_name: Vec<Conj> = all
        .iter()
        .filter(|c| name(c.a).contains(picked) || name(c.b).contains(picked))
        .cloned()
        .collect();
    assert_eq!(conjs(&seen["byName"]["rows"]), capped(&by_name), "{brief}");
    let by_index: Vec<Conj> = all
        .iter()
        .filter(|c| c.a == index || c.b == index)
        .cloned()
        .collect();
    assert!(!by_index.is_empty());
    assert_eq!(
        conjs(&seen["byIndex"]["rows"]),
        capped(&by_index),
        "{brief}"
    );
    assert!(seen["byIndex"]["shown"]
        .as_str()
        .unwrap()
        .contains(&format!("{} match the filter", by_index.len())));
    // Sorted by TCA, both ways, the header saying which.
    let mut by_tca = all.clone();
    by_tca.sort_by(|p, q| {
        p.tca_s
            .total_cmp(&q.tca_s)
            .then(p.miss_km.total_cmp(&q.miss_km))
    });
    assert_eq!(conjs(&seen["byTca"]["rows"]), capped(&by_tca), "{brief}");
    assert_eq!(
        seen["byTca"]["sort"],
        serde_json::json!(["none", "ascending", "none"])
    );
    by_tca.reverse();
    assert_eq!(conjs(&seen["byTcaDown"]["rows"]), capped(&by_tca));
    assert_eq!(
        seen["byTcaDown"]["sort"],
        serde_json::json!(["none", "descending", "none"])
    );

    // The closest row chosen: the time shown is its TCA (the manoeuvre's time with it),
    // both tracks drawn around it, the pair at it as far apart as the miss distance,
    // the view centred between them.
    assert_eq!(conjs(&serde_json::json!([seen["chosen"]]))[0], *c);
    assert_eq!(seen["focused"], true, "{brief}");
    let focus = &seen["focus"];
    assert_eq!(focus["t"].as_f64(), Some(c.tca_s), "{brief}");
    if bodies > 12 {
        // The slider holds its value as a decimal string of fewer digits.
        let slider = focus["slider"].as_f64().unwrap();
        assert!((slider - c.tca_s).abs() < 1e-9, "{brief}");
    }
    let manoeuvre_t: f64 = focus["manoeuvreT"].as_str().unwrap().parse().unwrap();
    assert_eq!(manoeuvre_t, c.tca_s);
    let traces = focus["traces"].as_array().unwrap();
    let marks = &traces[2];
    assert_eq!(marks["text"], serde_json::json!([name(c.a), name(c.b)]));
    let at = |i: usize| -> [f64; 3] {
        [
            marks["x"][i].as_f64().unwrap(),
            marks["y"][i].as_f64().unwrap(),
            marks["z"][i].as_f64().unwrap(),
        ]
    };
    let (pa, pb) = (at(0), at(1));
    let apart = (0..3).map(|k| (pa[k] - pb[k]).powi(2)).sum::<f64>().sqrt();
    assert!(
        (apart - c.miss_km).abs() < 1e-3,
        "the pair is {apart} km apart at its TCA, the list says {}",
        c.miss_km
    );
    for (trace, (k, p)) in traces[..2].iter().zip([(c.a, pa), (c.b, pb)]) {
        assert_eq!(trace["visible"], true);
        assert!(trace["name"].as_str().unwrap().starts_with(name(k)));
        let t = floats(&trace["t"]);
        assert!(t.len() > 10, "{}", t.len());
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        assert!(t[0] >= c.tca_s - 300.0 && t[t.len() - 1] <= c.tca_s + 300.0);
        let i = t
            .iter()
            .position(|&x| x == c.tca_s)
            .expect("the TCA in the track");
        let q = [&trace["x"][i], &trace["y"][i], &trace["z"][i]].map(|v| v.as_f64().unwrap());
        assert_eq!(q, p);
    }
    let ranges = focus["ranges"].as_array().unwrap();
    for (k, range) in ranges.iter().enumerate() {
        let (lo, hi) = (range[0].as_f64().unwrap(), range[1].as_f64().unwrap());
        let mid = (pa[k] + pb[k]) / 2.0;
        assert!(((lo + hi) / 2.0 - mid).abs() < 1e-6, "{range} around {mid}");
        // Both tracks in the box, and the box not the whole orbit's (about 16,000 km).
        assert!(hi - lo < 8000.0, "{range}");
        for trace in &traces[..2] {
            let axis = ["x", "y", "z"][k];
            assert!(floats(&trace[axis]).iter().all(|&v| v >= lo && v <= hi));
        }
    }

    // The refused manoeuvre: the API's reason, naming t.
    let refusal = seen["refusal"]["text"].as_str().unwrap();
    assert!(refusal.starts_with("400: t"), "{refusal}");
    assert_eq!(seen["refusal"]["className"], "failed");

    // The accepted one: the list became the API's version 1 in place, and version 0
    // is still what it was.
    let after = &seen["after"];
    assert_eq!(after["updated"], true, "{brief}");
    assert_eq!(after["api"]["d_km"].as_f64(), Some(5.0));
    assert_lists(after, &after["api"], 1);
    let status = after["status"].as_str().unwrap();
    assert!(
        status.starts_with(&format!("Version 1: {} at t = 0 s", name(c.a)))
            && status.contains("The conjunction list shows version 1"),
        "{status}"
    );
    assert_ne!(
        conjs(&after["api"]["conjunctions"]),
        all,
        "the manoeuvre changed nothing"
    );
    assert_eq!(
        after["apiVersion0"]["conjunctions"],
        first["api"]["conjunctions"]
    );
    // Body a, 30 km off by the meeting time, meets no one.
    assert!(conjs(&after["api"]["conjunctions"])
        .iter()
        .all(|x| x.a != c.a && x.b != c.a));

    // The page of whole tracks drew the manoeuvred body's track again: version 1's.
    if bodies <= 12 {
        assert_eq!(after["redrawn"], true, "{brief}");
        let xyz = |doc: &serde_json::Value| -> [Vec<f64>; 3] {
            let records = doc["records"].as_array().unwrap();
            [2, 3, 4].map(|i| records.iter().map(|r| r[i].as_f64().unwrap()).collect())
        };
        let drawn = ["x", "y", "z"].map(|axis| floats(&after["track"][axis]));
        assert_eq!(after["track"]["name"], name(c.a));
        assert_eq!(drawn, xyz(&after["apiTrack"]), "{brief}");
        assert_ne!(drawn, xyz(&after["apiTrack0"]), "{brief}");
    }

    // At 2 km: the API's version 1 at 2 km, fewer.
    let two = &seen["atTwo"];
    assert_eq!(two["narrowed"], true, "{brief}");
    assert_eq!(two["api"]["d_km"].as_f64(), Some(2.0));
    assert_lists(two, &two["api"], 1);
    assert!(
        two["api"]["count"].as_u64() < after["api"]["count"].as_u64() || bodies == 2,
        "{brief}"
    );

    // One stream a distance, followed throughout; the list never fetched.
    let id = seen["id"].as_str().unwrap();
    let requests = requests(&seen);
    let streams = |d: &str| {
        let prefix = format!("/api/runs/{id}/conjunctions/events?d={d}");
        requests
            .iter()
            .filter(|r| *r == &prefix || r.starts_with(&format!("{prefix}&")))
            .count()
    };
    assert_eq!((streams("5"), streams("2")), (1, 1), "{requests:?}");
    // A screening asked for at each distance (the second served by the first's, kept
    // at 5 km), and the first job's progress followed.
    let screenings = format!("/api/runs/{id}/screenings");
    assert_eq!(
        requests.iter().filter(|r| **r == screenings).count(),
        2,
        "{requests:?}"
    );
    assert_eq!(
        requests
            .iter()
            .filter(
                |r| r.starts_with(&format!("/api/runs/{id}/screenings/")) && r.contains("/events")
            )
            .count(),
        1,
        "{requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.starts_with(&format!("/api/runs/{id}/conjunctions?"))),
        "{requests:?}"
    );
    seen
}

/// Forty satellites whose orbits cross (780 conjunctions, more than the page draws):
/// the playback page's list, its time moved to a pair's closest approach, and a
/// manoeuvre from the form changing the list in place.
#[test]
fn a_constellations_conjunction_list_follows_a_manoeuvre_from_the_form_without_a_reload() {
    let seen = conjunctions_page(40, None);
    assert_eq!(seen["state"], "ready", "{}", shortened(&seen));
    assert_eq!(seen["first"]["rows"].as_array().unwrap().len(), ROW_CAP);
}

/// Two bodies whose orbits cross, on the page that draws whole tracks, of a service
/// that needs a token (the page's stream and form send it): one conjunction, shown at
/// its closest approach, gone after the manoeuvre.
#[test]
fn a_two_body_runs_conjunction_is_listed_shown_and_manoeuvred_away_with_a_token() {
    let seen = conjunctions_page(2, Some("k9+Zx/Qw=R2"));
    assert_eq!(seen["state"], "plotted", "{}", shortened(&seen));
    assert_eq!(seen["after"]["rows"], serde_json::json!([]));
}

/// A catalogue of 6,000 element sets (past the 5,000 from which the playback draws
/// its points the fast way) uploaded from the form of `/` (the file chosen in
/// its file input) is kept, a run of it starts, and its playback draws every object as
/// a point of one WebGL trace, moving as it plays, with an object picked by name
/// showing its track; no console error, nothing fetched beyond 127.0.0.1.
#[test]
fn a_catalogue_uploaded_from_the_page_plays_back_with_every_object_a_point() {
    let (dir, _server, address) = served(&[]);
    let objects = 6000u64;
    let file = write_file(
        dir.path(),
        "catalogue.tle",
        &nano_testing::tle::catalogue(objects as usize),
    );
    let screenshot = root().join("target/run-catalog.png");
    let seen = node(&[
        "run.mjs",
        "catalog",
        &format!("http://{address}/"),
        screenshot.to_str().unwrap(),
        &file,
        "30",
        "2026-01-01T12:00:00Z",
    ]);
    let brief = || {
        let mut s = seen.clone();
        s["requests"] = serde_json::json!("(left out)");
        s.to_string()
    };
    assert_eq!(seen["uploaded"]["status"], 201, "{}", brief());
    assert_eq!(seen["uploaded"]["body"]["objects"], objects, "{}", brief());
    assert_eq!(seen["uploaded"]["body"]["format"], "tle", "{}", brief());
    let kept = seen["catalogs"]["catalogs"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{}", brief());
    assert_eq!(kept[0]["id"], seen["uploaded"]["body"]["id"]);

    assert_eq!(seen["state"], "ready", "{}", brief());
    assert_eq!(seen["status"]["status"], "complete", "{}", brief());
    assert_eq!(seen["status"]["bodies"], objects, "{}", brief());
    assert_eq!(seen["status"]["names"], objects, "{}", brief());
    assert_eq!(
        seen["names"][5], "SAT-5",
        "bodies are named by their name lines"
    );
    // Every object is a point of the one scatter trace, before and after playing.
    assert_eq!(
        seen["plotted"],
        serde_json::json!({"type": "scatter3d", "mode": "markers", "before": objects, "after": objects}),
        "{}",
        brief()
    );
    assert!(seen["canvases"].as_u64().unwrap() > 0, "{}", brief());
    let t = floats(&seen["t"]);
    assert_eq!(t[0], 0.0);
    assert!(t[1] > 60.0, "played to t = {} only: {}", t[1], brief());
    assert_eq!(seen["moved"], objects, "objects that moved more than 1 km");
    let track = &seen["track"];
    assert_eq!(track["picked"], 5, "{}", brief());
    assert_eq!(track["name"], "SAT-5");
    assert_eq!(track["visible"], true);
    assert!(track["points"].as_u64().unwrap() > 10, "{}", brief());

    assert_clean(&seen, &[]);
    let requests = requests(&seen);
    let id = seen["id"].as_str().unwrap();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with(&format!("/api/runs/{id}/positions?t="))),
        "{requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.starts_with(&format!("/api/runs/{id}/states"))),
        "the page fetched the states as JSON: {requests:?}"
    );
}

/// A catalogue (six objects through one node some eight minutes in, half a km apart
/// along the track) uploaded to the service and named by a scenario of four crossing
/// bodies of its own: the run's page starts the screening and is told its progress,
/// lists the API's conjunctions (the catalogue's pairs with their names, their TCA
/// and miss those of `screen --catalog` in one process: found again on SGP4), and a
/// manoeuvre of an own body from the form updates the list in place, the catalogue's
/// pairs untouched.
#[test]
fn a_catalogue_runs_screening_starts_from_its_page_and_a_manoeuvre_updates_its_list() {
    let (dir, _server, address) = served(&[]);
    let own = 4u64;
    let text = crossing::scenario(own as usize, 305.0, 10.0, |i| {
        let f = i as f64 + 1.0;
        [0.618_034, 0.754_877_7, 0.569_840_3].map(|g| (f * g).fract() * 2.2 - 1.1)
    });
    let scenario = write_file(dir.path(), "crossing.json", &text);
    let tle: String = (0..6u32)
        .map(|k| {
            let kf = f64::from(k);
            nano_testing::tle::element_set(
                &format!("NODE-{k}"),
                50_000 + k,
                1.0,
                [
                    30.0 + 10.0 * kf,
                    40.0,
                    0.0005,
                    0.0,
                    330.0 + 0.004 * kf,
                    15.2,
                ],
            )
        })
        .collect();
    let catalogue = write_file(dir.path(), "node.tle", &tle);
    let steps = 60u64;
    let screenshot = root().join("target/run-catalog-conjunctions.png");
    let seen = node(&[
        "run.mjs",
        "catalog-conjunctions",
        &format!("http://{address}/"),
        screenshot.to_str().unwrap(),
        &scenario,
        &steps.to_string(),
        &catalogue,
        &own.to_string(),
    ]);
    let brief = shortened(&seen);
    assert_eq!(seen["uploaded"]["status"], 201, "{brief}");
    assert_eq!(seen["uploaded"]["body"]["objects"], 6, "{brief}");
    assert_clean(&seen, &["400"]);
    assert_eq!(seen["reloaded"], false, "{brief}");

    // Started by the page, its progress told, the list the API's.
    let first = &seen["first"];
    assert_eq!(first["listed"], true, "{brief}");
    assert_eq!(first["screening"]["state"], "done", "{brief}");
    assert!(first["screening"]["done"].is_string(), "{brief}");
    assert_lists(first, &first["api"], 0);
    let api0 = first["api"]["conjunctions"].as_array().unwrap();
    let catalogue_pairs = |list: &[serde_json::Value]| -> Vec<serde_json::Value> {
        list.iter()
            .filter(|c| c["a"].as_u64().unwrap() >= own)
            .cloned()
            .collect()
    };
    let pairs0 = catalogue_pairs(api0);
    assert!(pairs0.len() >= 5, "the catalogue's pairs: {pairs0:?}");
    assert!(
        api0.iter().any(|c| c["b"].as_u64().unwrap() < own),
        "the own bodies' pairs: {brief}"
    );
    for c in &pairs0 {
        let (a, b) = (c["a"].as_u64().unwrap(), c["b"].as_u64().unwrap());
        assert_eq!(c["a_norad"].as_u64(), Some(50_000 + a - own), "{c}");
        assert_eq!(c["b_name"], format!("NODE-{}", b - own), "{c}");
    }
    // The page names the catalogue's objects in its rows.
    assert!(
        first["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cells"].to_string().contains("NODE-")),
        "{brief}"
    );
    // The kept minima are `screen --catalog`'s, bit for bit (SGP4's: tests/catalog_screening.rs).
    let alone: serde_json::Value = serde_json::from_slice(&nano_testing::process::stdout_of(&[
        "screen",
        "--scenario",
        &scenario,
        "--catalog",
        &catalogue,
        "--steps",
        &steps.to_string(),
        "--distance",
        "5",
        "--format",
        "json",
    ]))
    .unwrap();
    let key = |c: &serde_json::Value| {
        (
            c["a"].as_u64().unwrap(),
            c["b"].as_u64().unwrap(),
            c["tca_s"].as_f64().unwrap().to_bits(),
            c["miss_km"].as_f64().unwrap().to_bits(),
        )
    };
    let mut served_keys: Vec<_> = pairs0.iter().map(key).collect();
    let mut alone_keys: Vec<_> = catalogue_pairs(alone["conjunctions"].as_array().unwrap())
        .iter()
        .map(key)
        .collect();
    served_keys.sort_unstable();
    alone_keys.sort_unstable();
    assert_eq!(served_keys, alone_keys);

    // The manoeuvre, of an own body, updates the list in place.
    assert!(seen["chosen"]["a"].as_u64().unwrap() < own, "{brief}");
    let after = &seen["after"];
    assert_eq!(after["updated"], true, "{brief}");
    assert_lists(after, &after["api"], 1);
    let api1 = after["api"]["conjunctions"].as_array().unwrap();
    assert_eq!(catalogue_pairs(api1), pairs0, "the catalogue's pairs moved");
    assert_ne!(
        conjs(&after["api"]["conjunctions"]),
        conjs(&first["api"]["conjunctions"]),
        "the manoeuvre changed nothing"
    );
}
