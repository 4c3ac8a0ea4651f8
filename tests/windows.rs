//! Reads of an orbit run by window, through the binary: a run logged by `propagate
//! --scenario --data`, served by `serve`, read back by `/api/runs/{id}/states?t=` and
//! `/api/runs/{id}/bodies/{k}`, and by `replay --body/--from/--to`, all against the
//! CSV the run wrote; between output times against a Hermite cubic computed here.

use std::path::Path;

use nano_pipeline::scenario::{Scenario, ScenarioLimits};
use nano_testing::http::http_get;
use nano_testing::process::{run, stdout_of};
use nano_testing::server;
use nano_testing::server::serve;
use serde_json::Value;

/// Twelve satellites in three planes and one listed body, J2, RK4: small and quick,
/// with several blocks of 7 output steps in the log.
const SCENARIO: &str = r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z",
  "forces": ["point_mass", "j2"], "integrator": {"method": "rk4", "step_s": 5.0},
  "output_step_s": 30.0,
  "walker": {"i_deg": 53, "total": 12, "planes": 3, "phasing": 1, "altitude_km": 550},
  "bodies": [{"name": "hi", "elements": {"a_km": 9000.0, "e": 0.2, "i_deg": 20.0,
     "raan_deg": 10.0, "argp_deg": 30.0, "nu_deg": 40.0}}]}"#;

const BODIES: usize = 13;
const STEPS: u64 = 50;
const STEPS_TEXT: &str = "50";
const STEP_S: f64 = 30.0;

/// One CSV row: `t, body` and the state.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Row {
    t: f64,
    body: u32,
    state: [f64; 6],
}

fn rows(csv: &[u8]) -> Vec<Row> {
    let text = std::str::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t,body,x,y,z,vx,vy,vz"));
    lines
        .map(|line| {
            let f: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
            assert_eq!(f.len(), 8, "{line}");
            Row {
                t: f[0],
                body: f[1] as u32,
                state: [f[2], f[3], f[4], f[5], f[6], f[7]],
            }
        })
        .collect()
}

fn json_rows(doc: &Value) -> Vec<Row> {
    doc["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f: Vec<f64> = r
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            Row {
                t: f[0],
                body: f[1] as u32,
                state: [f[2], f[3], f[4], f[5], f[6], f[7]],
            }
        })
        .collect()
}

/// The CSV's text: its header line and the lines `keep` selects.
fn csv_lines(csv: &[u8], keep: impl Fn(&Row) -> bool) -> String {
    let text = std::str::from_utf8(csv).unwrap();
    let mut out = String::from("t,body,x,y,z,vx,vy,vz\n");
    for line in text.lines().skip(1) {
        if keep(&rows(format!("t,body,x,y,z,vx,vy,vz\n{line}").as_bytes())[0]) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The state at `t` on the cubic through `a` and `b` with their velocities as its
/// slopes, written out here (not the library's): with `h = tb - ta`, `s = (t - ta) / h`,
/// `p(s) = (2s^3 - 3s^2 + 1) ra + (s^3 - 2s^2 + s) h va + (-2s^3 + 3s^2) rb +
/// (s^3 - s^2) h vb`, and the velocity `p'(s) / h`.
fn cubic(a: &Row, b: &Row, t: f64) -> [f64; 6] {
    let h = b.t - a.t;
    let s = (t - a.t) / h;
    let mut out = [0.0; 6];
    for i in 0..3 {
        let (ra, va, rb, vb) = (a.state[i], a.state[i + 3], b.state[i], b.state[i + 3]);
        out[i] = (2.0 * s.powi(3) - 3.0 * s * s + 1.0) * ra
            + (s.powi(3) - 2.0 * s * s + s) * h * va
            + (-2.0 * s.powi(3) + 3.0 * s * s) * rb
            + (s.powi(3) - s * s) * h * vb;
        out[i + 3] = ((6.0 * s * s - 6.0 * s) * ra
            + (3.0 * s * s - 4.0 * s + 1.0) * h * va
            + (-6.0 * s * s + 6.0 * s) * rb
            + (3.0 * s * s - 2.0 * s) * h * vb)
            / h;
    }
    out
}

/// A run of [`SCENARIO`] logged in `dir/data`: the scenario file, the data
/// directory, the run's id and its CSV as `propagate` wrote it.
fn logged_run(dir: &Path) -> (String, String, String, Vec<u8>) {
    let scenario = dir.join("scenario.json");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let scenario = scenario.to_str().unwrap().to_owned();
    let data = dir.join("data").to_str().unwrap().to_owned();
    let csv = stdout_of(&[
        "propagate",
        "--scenario",
        &scenario,
        "--steps",
        &STEPS.to_string(),
        "--format",
        "csv",
        "--workers",
        "2",
        "--block",
        "7",
        "--data",
        &data,
    ]);
    let id = Scenario::parse(SCENARIO, &ScenarioLimits::default())
        .unwrap()
        .run_id()
        .to_string();
    (scenario, data, id, csv)
}

fn get(address: &str, path: &str) -> (u16, Vec<u8>) {
    http_get(address, path).unwrap_or_else(|| panic!("{path}: no answer"))
}

fn error_of(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body).unwrap()["error"].clone()
}

#[test]
fn states_and_tracks_served_from_the_log_are_the_runs_rows_and_its_hermite_cubic() {
    let dir = tempfile::tempdir().unwrap();
    let (_, data, id, csv) = logged_run(dir.path());
    let all = rows(&csv);
    assert_eq!(all.len(), BODIES * (STEPS as usize + 1));
    let (server, address) = serve(Path::new(&data), &[]);

    // At output times, the run's rows at that time, byte for byte in CSV; among them
    // t = 0 (the scenario's states), a block's edge and the frontier.
    for k in [0u64, 1, 7, 8, 23, 49, 50] {
        let t = k as f64 * STEP_S;
        let (status, body) = get(&address, &format!("/api/runs/{id}/states?t={t}&format=csv"));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let expected = csv_lines(&csv, |r| r.t == t);
        assert_eq!(expected.lines().count(), 1 + BODIES);
        assert_eq!(String::from_utf8(body).unwrap(), expected, "t = {t}");
        let (status, body) = get(&address, &format!("/api/runs/{id}/states?t={t}"));
        assert_eq!(status, 200);
        let doc: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["t"].as_f64(), Some(t));
        assert_eq!(doc["columns"][2], "x");
        let at: Vec<Row> = all.iter().filter(|r| r.t == t).copied().collect();
        assert_eq!(json_rows(&doc), at, "t = {t}");
    }

    // Between output times, the cubic through the two rows around each body's.
    for t in [0.1, 13.7, 29.999, 211.0, 1234.5, 1499.0] {
        let k = (t / STEP_S).floor();
        let (status, body) = get(&address, &format!("/api/runs/{id}/states?t={t}"));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let served = json_rows(&serde_json::from_slice(&body).unwrap());
        assert_eq!(served.len(), BODIES);
        for (b, row) in served.iter().enumerate() {
            let find = |k: f64| {
                *all.iter()
                    .find(|r| r.t == k * STEP_S && r.body == b as u32)
                    .unwrap()
            };
            let (before, after) = (find(k), find(k + 1.0));
            let expected = cubic(&before, &after, t);
            assert_eq!((row.t, row.body), (t, b as u32));
            for (i, (served, cubic)) in row.state.iter().zip(expected).enumerate() {
                assert!(
                    (served - cubic).abs() <= 1e-12 * cubic.abs().max(1.0),
                    "t = {t}, body {b}, component {i}: served {served}, cubic {cubic}"
                );
            }
            // And not simply one of the two ends.
            assert_ne!(row.state, before.state);
            assert_ne!(row.state, after.state);
        }
    }

    // A body's track: its rows in the window, byte for byte.
    for (body, from, to) in [(0u32, 0.0, 1500.0), (5, 95.0, 700.0), (12, 210.0, 210.0)] {
        let (status, served) = get(
            &address,
            &format!("/api/runs/{id}/bodies/{body}?from={from}&to={to}&format=csv"),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&served));
        let expected = csv_lines(&csv, |r| r.body == body && r.t >= from && r.t <= to);
        assert!(expected.lines().count() > 1);
        assert_eq!(String::from_utf8(served).unwrap(), expected, "body {body}");
    }
    // Without a window: the whole track, in JSON, with the body's name.
    let (status, served) = get(&address, &format!("/api/runs/{id}/bodies/12"));
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_slice(&served).unwrap();
    assert_eq!(doc["name"], "hi");
    let expected: Vec<Row> = all.iter().filter(|r| r.body == 12).copied().collect();
    assert_eq!(json_rows(&doc), expected);
    // At most `points` of them, the first and the last kept.
    let (_, served) = get(&address, &format!("/api/runs/{id}/bodies/3?points=7"));
    let decimated = json_rows(&serde_json::from_slice(&served).unwrap());
    let track: Vec<Row> = all.iter().filter(|r| r.body == 3).copied().collect();
    assert!(
        decimated.len() <= 7 && decimated.len() >= 4,
        "{}",
        decimated.len()
    );
    assert_eq!(decimated.first(), track.first());
    assert_eq!(decimated.last(), track.last());
    assert!(decimated.iter().all(|r| track.contains(r)));

    // Refusals name the parameter; a time past the frontier names the frontier.
    let frontier = STEPS as f64 * STEP_S;
    let unknown = "0123456789abcdef0123456789abcdef";
    let cases: [(String, u16, &str); 10] = [
        (format!("/api/runs/{id}/states?t=-1"), 400, "t"),
        (format!("/api/runs/{id}/states?t=nan"), 400, "t"),
        (format!("/api/runs/{id}/states"), 400, "t"),
        (
            format!("/api/runs/{id}/states?t=1&format=xml"),
            400,
            "format",
        ),
        (format!("/api/runs/{id}/bodies/x"), 400, "k"),
        (
            format!("/api/runs/{id}/bodies/1?from=90&to=60"),
            400,
            "from",
        ),
        (format!("/api/runs/{id}/bodies/1?points=1"), 400, "points"),
        (format!("/api/runs/{id}/bodies/1?to=-5"), 400, "to"),
        ("/api/runs/ABC/states?t=1".to_owned(), 400, "id"),
        (format!("/api/runs/{unknown}/states?t=1"), 404, unknown),
    ];
    for (path, status, named) in cases {
        let (got, body) = get(&address, &path);
        let error = error_of(&body);
        assert_eq!(got, status, "{path}: {error}");
        let said = error.to_string();
        assert!(
            error["field"] == named || said.contains(named),
            "{path}: {said}"
        );
    }
    let (status, body) = get(
        &address,
        &format!("/api/runs/{id}/states?t={}", frontier + 0.5),
    );
    let said = error_of(&body)["message"].as_str().unwrap().to_owned();
    assert_eq!(status, 404, "{said}");
    assert!(
        said.contains("t = 1500.5") && said.contains(&format!("frontier t = {frontier}")),
        "{said}"
    );
    let (status, body) = get(&address, &format!("/api/runs/{id}/bodies/13"));
    let said = error_of(&body)["message"].as_str().unwrap().to_owned();
    assert_eq!(status, 404);
    assert!(
        said.contains("k = 13") && said.contains("13 bodies"),
        "{said}"
    );
    let (status, body) = get(&address, &format!("/api/runs/{id}/bodies/2?to=2000"));
    let said = error_of(&body)["message"].as_str().unwrap().to_owned();
    assert_eq!(status, 404);
    assert!(
        said.contains("to = 2000") && said.contains("frontier"),
        "{said}"
    );
    server::stop(server);
}

#[test]
fn replay_selects_a_body_and_a_window_of_times() {
    let dir = tempfile::tempdir().unwrap();
    let (scenario, data, _, csv) = logged_run(dir.path());
    // `replay` of the logged run in `format`, with the `extra` flags.
    let replay_args = |format: &str, extra: &[&str]| -> Vec<String> {
        let flags = [
            "--scenario",
            &scenario,
            "--steps",
            STEPS_TEXT,
            "--data",
            &data,
        ];
        [&["replay"][..], &flags, &["--format", format], extra]
            .concat()
            .into_iter()
            .map(String::from)
            .collect()
    };
    let replay_as = |format: &str, extra: &[&str]| stdout_of(&replay_args(format, extra));
    let replay = |extra: &[&str]| replay_as("csv", extra);
    assert!(replay(&[]) == csv, "the whole replay is the run");
    let one = replay(&["--body", "4"]);
    assert_eq!(
        String::from_utf8(one).unwrap(),
        csv_lines(&csv, |r| r.body == 4)
    );
    let window = replay(&["--body", "12", "--from", "60", "--to", "300"]);
    assert_eq!(
        String::from_utf8(window).unwrap(),
        csv_lines(&csv, |r| r.body == 12 && (60.0..=300.0).contains(&r.t))
    );
    // A window of every body: by time, then body.
    let window = replay(&["--from", "100", "--to", "250"]);
    assert_eq!(
        String::from_utf8(window).unwrap(),
        csv_lines(&csv, |r| (100.0..=250.0).contains(&r.t))
    );
    // JSON: the same rows.
    let json = replay_as("json", &["--body", "7", "--from", "0", "--to", "90"]);
    let doc: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        json_rows(&doc),
        rows(&csv)
            .into_iter()
            .filter(|r| r.body == 7 && r.t <= 90.0)
            .collect::<Vec<_>>()
    );

    // Bad values exit 2 naming the flag.
    for (extra, flag) in [
        (&["--body", "13"][..], "--body"),
        (&["--body", "-1"][..], "--body"),
        (&["--from", "x"][..], "--from"),
        (&["--from", "-3"][..], "--from"),
        (&["--from", "300", "--to", "200"][..], "--from"),
        (&["--to", "1e9"][..], "--to"),
    ] {
        let out = run(&replay_args("csv", extra));
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {said}");
        assert!(said.contains(flag), "{extra:?}: {said}");
        assert!(out.stdout.is_empty(), "{extra:?} wrote output");
    }
}
