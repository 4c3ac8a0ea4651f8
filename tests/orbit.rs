//! Orbit scenarios through the command line, as nano runs go: the same bytes on any
//! number of workers and processes, in the log (durable per epoch, resumed after a
//! SIGKILL, replayed, verified), equal to the propagator's own states, and bad
//! scenarios refused with exit 2 before anything is logged.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nano_pipeline::orbit::{BodyPropagator, OrbitState};
use nano_pipeline::scenario::{Scenario, ScenarioLimits};
use nano_testing::cluster::{hostfile, spawn_worker};
use nano_testing::process::{
    assert_verified, bin, propagate_csv, run, scenario_args, stdout_of, until_committed,
    write_file, Proc,
};

/// Three bodies, J2, DOP853: one from elements, one from a state, one retrograde-ish.
const THREE: &str = r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z",
  "forces": ["point_mass", "j2"], "integrator": {"method": "dop853", "tolerance": 1e-10},
  "output_step_s": 60.0,
  "bodies": [
    {"name": "sat-1", "elements": {"a_km": 7200.0, "e": 0.1, "i_deg": 53.0,
     "raan_deg": 0.0, "argp_deg": 0.0, "nu_deg": 0.0}},
    {"name": "sat-2", "state": [7000.0, 0.0, 0.0, 0.0, 7.546, 0.0]},
    {"name": "sat-3", "elements": {"a_km": 8000.0, "e": 0.01, "i_deg": 98.0,
     "raan_deg": 10.0, "argp_deg": 0.0, "nu_deg": 45.0}}
  ]}"#;

/// A Walker shell of 60 satellites on RK4: enough work that a run can be killed in
/// the middle.
const SHELL: &str = r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z",
  "forces": ["point_mass", "j2"], "integrator": {"method": "rk4", "step_s": 1.0},
  "output_step_s": 10.0,
  "walker": {"i_deg": 53, "total": 60, "planes": 6, "phasing": 1, "altitude_km": 550}}"#;

#[test]
fn the_same_scenario_gives_the_same_bytes_on_1_2_and_4_workers_and_on_2_processes() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_file(dir.path(), "three.json", THREE);
    let one = propagate_csv(&scenario, "700", &["--workers", "1"]);
    // A header, then 3 bodies at each of 701 output times.
    assert_eq!(one.iter().filter(|&&b| b == b'\n').count(), 1 + 3 * 701);
    for workers in ["2", "4"] {
        let out = propagate_csv(&scenario, "700", &["--workers", workers]);
        assert!(out == one, "{workers} workers wrote other bytes");
    }
    // One propagator per body, straight to stdout: the same bytes again.
    let reference = propagate_csv(&scenario, "700", &[]);
    assert!(reference == one, "the reference path wrote other bytes");
    // Through the log, on 3 workers: the same bytes, and the same again replayed.
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let logged = propagate_csv(&scenario, "700", &["--workers", "3", "--data", data]);
    assert!(logged == one, "the logged run wrote other bytes");
    let replayed = stdout_of(&[
        "replay",
        "--scenario",
        &scenario,
        "--steps",
        "700",
        "--format",
        "csv",
        "--data",
        data,
    ]);
    assert!(replayed == one, "the replay wrote other bytes");
    assert_verified(Path::new(data));

    let hosts = hostfile(dir.path(), 2);
    let _peer: Proc = spawn_worker(&hosts, 1, 2);
    let hostfile = ["--hostfile", hosts.to_str().unwrap(), "--workers", "2"];
    let out = propagate_csv(&scenario, "700", &hostfile);
    assert!(out == one, "a 2-process cluster wrote other bytes");
}

/// The CSV's rows, parsed: `(t, body, [x, y, z, vx, vy, vz])`.
fn rows(csv: &[u8]) -> Vec<(f64, u32, [f64; 6])> {
    let text = std::str::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("t,body,x,y,z,vx,vy,vz"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 8, "{line}");
            let f = |i: usize| fields[i].parse::<f64>().unwrap();
            (
                f(0),
                fields[1].parse().unwrap(),
                [f(2), f(3), f(4), f(5), f(6), f(7)],
            )
        })
        .collect()
}

#[test]
fn the_csv_holds_the_body_propagators_own_states_by_time_then_body() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_file(dir.path(), "three.json", THREE);
    let steps = 400;
    let rows = rows(&propagate_csv(
        &scenario,
        &steps.to_string(),
        &["--workers", "2"],
    ));
    let Scenario::Orbit(orbit) = Scenario::parse(THREE, &ScenarioLimits::default()).unwrap() else {
        panic!("an orbit scenario");
    };
    // Each body on its own, through the library, in one go.
    let mut expected: Vec<Vec<OrbitState>> = Vec::new();
    for body in 0..orbit.body_count() {
        let mut states = vec![orbit.body(body).unwrap().state0];
        BodyPropagator::new(&orbit, body)
            .advance(steps, &mut states)
            .unwrap();
        expected.push(states);
    }
    assert_eq!(rows.len(), 3 * (steps as usize + 1));
    for (i, (t, body, values)) in rows.iter().enumerate() {
        let (k, b) = (i / 3, i % 3);
        assert_eq!(*body as usize, b, "row {i}: bodies ascend within a time");
        let s = &expected[b][k];
        assert_eq!(*t, k as f64 * 60.0, "row {i}");
        assert_eq!(*t, s.t, "row {i}");
        // Shortest round-trip text: the very same doubles.
        assert_eq!(
            values.map(f64::to_bits),
            [s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]].map(f64::to_bits),
            "row {i}: body {b} at step {k}"
        );
    }
}

#[test]
fn a_run_killed_mid_way_resumes_to_the_fresh_runs_bytes_and_verifies_clean() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_file(dir.path(), "shell.json", SHELL);
    let data = dir.path().join("data");
    // Long enough (some 200 epochs at --block 256) that the kill, right after the first
    // durable epoch, lands mid-run on a quiet machine too: 3,000 steps once ended within
    // the wait.
    let steps = "30000";
    let mut doomed = bin()
        .args(scenario_args("propagate", &scenario, steps, "csv"))
        .args([
            "--workers",
            "2",
            "--block",
            "256",
            "--data",
            data.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until an epoch is durable, then a little more, and kill it.
    until_committed(&data, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(20));
    doomed.kill().unwrap();
    doomed.wait().unwrap();

    let runs: serde_json::Value = serde_json::from_slice(&stdout_of(&[
        "runs",
        "--json",
        "--data",
        data.to_str().unwrap(),
    ]))
    .unwrap();
    let logged = runs[0]["iterations"].as_u64().unwrap();
    assert_eq!(runs[0]["model"], "orbit");
    assert!(
        logged > 0 && logged < 30_000 && runs[0]["complete"] == false,
        "the kill came at step {logged}: {runs}"
    );
    assert_verified(&data);

    let resumed = propagate_csv(
        &scenario,
        steps,
        &[
            "--workers",
            "3",
            "--block",
            "256",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    let fresh = propagate_csv(&scenario, steps, &["--workers", "1"]);
    assert!(
        resumed == fresh,
        "the resumed run differs from a fresh one (killed at {logged})"
    );
    assert_verified(&data);
    let replay = scenario_args("replay", &scenario, steps, "csv");
    let replayed = stdout_of(&[&replay[..], &["--data", data.to_str().unwrap()]].concat());
    assert!(replayed == fresh, "the log replays other bytes");
}

#[test]
fn bad_scenarios_exit_2_naming_the_field_and_log_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let good: serde_json::Value = serde_json::from_str(THREE).unwrap();
    let broken = |path: &[&str], value: serde_json::Value| {
        let mut doc = good.clone();
        let mut at = &mut doc;
        for key in &path[..path.len() - 1] {
            at = match key.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*key],
            };
        }
        at[path[path.len() - 1]] = value;
        doc.to_string()
    };
    let cases = [
        (
            broken(&["bodies", "0", "elements", "e"], 1.2.into()),
            "bodies[0].elements.e",
            &[][..],
        ),
        (
            broken(&["integrator", "method"], "euler".into()),
            "integrator.method",
            &[][..],
        ),
        (
            broken(&["output_step_s"], (-10.0).into()),
            "output_step_s",
            &[][..],
        ),
        (
            broken(&["bodies"], serde_json::json!([])),
            "bodies",
            &[][..],
        ),
        (THREE.to_owned(), "bodies", &["--max-bodies", "2"][..]),
        ("{not json".to_owned(), "scenario", &[][..]),
    ];
    for (i, (doc, field, extra)) in cases.iter().enumerate() {
        let scenario = write_file(dir.path(), &format!("bad-{i}.json"), doc);
        let out = run(&[
            &["propagate", "--scenario", &scenario, "--steps", "10"][..],
            &["--data", data.to_str().unwrap()],
            extra,
        ]
        .concat());
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {said}");
        assert!(
            said.contains(field) && said.contains(&scenario),
            "case {i}: {said}"
        );
        assert!(out.stdout.is_empty(), "case {i}");
        assert!(!data.exists(), "case {i}: the log was touched");
    }
}
