//! `sedaro-nano screen` through the binary: on a small constellation whose orbits
//! cross, its answer equals the tests' own brute force over every pair of the states
//! `propagate` writes (`conjunctions::screen_by_sampling`, sharing no code with the
//! screening; pairs equal, TCA within 1 ms, miss within 1 m), closest first, the same
//! on 1, 2 and 4 workers, from the log, and on a 2-process cluster; a miss known in
//! closed form just under the distance is reported and one just over is not; bad
//! input exits 2 naming the flag or field.

use nano_testing::conjunctions::{assert_misses, assert_same, screen_by_sampling};
use std::io::Read;
use std::path::Path;

use nano_pipeline::screening::Conjunction;
use nano_testing::cluster::hostfile;
use nano_testing::process::{bin, run, states_of_csv, stdout_of, write_file};
use nano_testing::{crossing, process};

const STEP: f64 = 10.0;
const STEPS: usize = 60;
/// Every body passes near the meeting point at this time.
const MEET: f64 = 305.0;
const D: &str = "20";

/// Sixteen bodies through the meeting point from every direction, a few km apart.
fn scenario(dir: &Path) -> String {
    let text = crossing::scenario(16, MEET, STEP, |i| {
        let f = i as f64;
        [
            (f * 7.3) % 17.0 - 8.0,
            (f * 5.1) % 23.0 - 11.0,
            (f * 3.7) % 19.0 - 9.0,
        ]
    });
    write_file(dir, "crossing.json", &text)
}

/// The brute force over the states `propagate` writes, closest first.
fn oracle_of(scenario: &str) -> Vec<Conjunction> {
    let csv = stdout_of(&[
        "propagate",
        "--scenario",
        scenario,
        "--steps",
        &STEPS.to_string(),
        "--format",
        "csv",
    ]);
    let bodies = states_of_csv(&csv);
    assert!(bodies.iter().all(|b| b.len() == STEPS + 1));
    let mut want = screen_by_sampling(&bodies, D.parse().unwrap());
    want.sort_by(|x, y| x.miss_km.total_cmp(&y.miss_km));
    want
}

/// `screen`'s CSV, parsed.
fn rows(csv: &[u8]) -> Vec<Conjunction> {
    let text = std::str::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("a,b,tca_s,miss_km,rel_speed_kms,radial_km,in_track_km,cross_track_km")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 8, "{line}");
            let x = |i: usize| f[i].parse::<f64>().unwrap();
            Conjunction {
                a: f[0].parse().unwrap(),
                b: f[1].parse().unwrap(),
                tca_s: x(2),
                miss_km: x(3),
                rel_speed_kms: x(4),
                ric_km: [x(5), x(6), x(7)],
            }
        })
        .collect()
}

fn screen(scenario: &str, extra: &[&str]) -> Vec<u8> {
    screen_at(scenario, D, extra)
}

/// `screen` at the distance `d`.
fn screen_at(scenario: &str, d: &str, extra: &[&str]) -> Vec<u8> {
    let steps = STEPS.to_string();
    let args = [
        &[
            "screen",
            "--scenario",
            scenario,
            "--steps",
            &steps,
            "--distance",
            d,
        ][..],
        extra,
    ]
    .concat();
    stdout_of(&args)
}

#[test]
fn screen_equals_the_brute_force_closest_first_on_any_workers_and_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path());
    let want = oracle_of(&scenario);
    assert!(want.len() >= 10, "too few conjunctions to test: {want:?}");
    assert!(want.windows(2).all(|w| w[0].miss_km <= w[1].miss_km));

    let one = screen(&scenario, &["--format", "csv", "--workers", "1"]);
    assert_same(&rows(&one), &want, "1 worker");
    for workers in ["2", "4"] {
        let out = screen(&scenario, &["--format", "csv", "--workers", workers]);
        assert!(out == one, "{workers} workers wrote other bytes");
    }
    // In windows of one interval, of seven, of more than the run: the same bytes.
    for window in ["1", "7", "1000"] {
        let out = screen(&scenario, &["--format", "csv", "--window", window]);
        assert!(out == one, "--window {window} wrote other bytes");
    }

    // JSON holds the same rows.
    let json = screen(&scenario, &["--workers", "2"]);
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["distance_km"], 20.0);
    assert_eq!(doc["bodies"], 16);
    let from_json: Vec<Conjunction> = serde_json::from_value(doc["conjunctions"].clone()).unwrap();
    assert_eq!(from_json, rows(&one));

    // Logged with --data, then screened again from the log alone: the same bytes.
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let logged = screen(&scenario, &["--format", "csv", "--data", data]);
    assert!(logged == one, "the logged run screened differently");
    let runs = stdout_of(&["runs", "--data", data, "--json"]);
    let runs: serde_json::Value = serde_json::from_slice(&runs).unwrap();
    assert_eq!(runs.as_array().map(Vec::len), Some(1), "{runs}");
    let replayed = screen(&scenario, &["--format", "csv", "--data", data]);
    assert!(replayed == one, "the replayed run screened differently");
}

#[test]
fn a_miss_just_under_the_distance_is_reported_and_one_just_over_is_not() {
    // Two pairs on circular orbits meeting at MEET (`crossing::threshold_pairs`): bodies
    // 0 and 1 then 4.99 km apart, bodies 2 and 3 5.01 km, the difference of their
    // radii; integrated, interpolated and screened, within a centimetre of that.
    let dir = tempfile::tempdir().unwrap();
    let bodies: Vec<String> = crossing::threshold_pairs(4.99, 5.01, MEET, 0.0)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                r#"{{"name": "t-{i}", "state": [{:?}, {:?}, {:?}, {:?}, {:?}, {:?}]}}"#,
                s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]
            )
        })
        .collect();
    let scenario = write_file(
        dir.path(),
        "threshold.json",
        &format!(
            r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
  "integrator": {{"method": "dop853", "tolerance": 1e-12}}, "output_step_s": {STEP},
  "bodies": [{}]}}"#,
            bodies.join(",\n")
        ),
    );
    for (d, want) in [
        ("5", &[(0, 1, 4.99)][..]),
        ("5.02", &[(0, 1, 4.99), (2, 3, 5.01)][..]),
    ] {
        let out = screen_at(&scenario, d, &["--format", "csv"]);
        assert_misses(&rows(&out), want, MEET, &format!("--distance {d}"));
    }
}

#[test]
fn a_two_process_cluster_screens_to_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path());
    let want = oracle_of(&scenario);
    let one = screen(&scenario, &["--format", "csv", "--workers", "1"]);
    assert_same(&rows(&one), &want, "1 worker");

    let hosts = hostfile(dir.path(), 2);
    let hosts = hosts.to_str().unwrap();
    let steps = STEPS.to_string();
    let flags = [
        "screen",
        "--scenario",
        &scenario,
        "--steps",
        &steps,
        "--distance",
        D,
        "--format",
        "csv",
        "--hostfile",
        hosts,
        "--workers",
        "2",
        "--peer-timeout",
        "30",
    ];
    let peer = bin()
        .args(flags)
        .args(["--process", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut peer = process::Proc(peer);
    let out = stdout_of(&flags);
    assert!(out == one, "a 2-process cluster screened differently");
    // The peer ends with the screening, cleanly and silently.
    let status = peer.0.wait().unwrap();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    peer.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    peer.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "the peer: {stderr}");
    assert!(stdout.is_empty(), "the peer wrote {stdout}");
}

/// The largest resident set (bytes) any waited-for child of this test process had.
fn children_peak_rss() -> u64 {
    // SAFETY: `usage` is a valid, writable rusage; RUSAGE_CHILDREN is a constant.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    usage.ru_maxrss as u64 * 1024
}

#[test]
fn a_500_satellite_shell_over_six_hours_screens_in_bounded_memory() {
    // Walker 53: 500/20/1 at 550 km, J2, 2,161 states a satellite (1.08 M states):
    // BENCHMARKS.md measures 563 MB; 1 GB is the bound, a third of Starlink's 2 GB for
    // a third of its satellites.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shell.json");
    std::fs::write(
        &path,
        r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass", "j2"],
  "integrator": {"method": "dop853", "tolerance": 1e-10}, "output_step_s": 10.0,
  "walker": {"i_deg": 53, "total": 500, "planes": 20, "phasing": 1, "altitude_km": 550}}"#,
    )
    .unwrap();
    let out = stdout_of(&[
        "screen",
        "--scenario",
        path.to_str().unwrap(),
        "--steps",
        "2160",
        "--distance",
        "5",
        "--format",
        "csv",
        "--workers",
        "2",
    ]);
    let found = rows(&out);
    assert!(found.len() > 100, "{} conjunctions", found.len());
    assert!(found.windows(2).all(|w| w[0].miss_km <= w[1].miss_km));
    assert!(found
        .iter()
        .all(|c| c.a < c.b && c.b < 500 && c.miss_km < 5.0));
    let peak = children_peak_rss();
    assert!(peak < 1 << 30, "peak RSS {} MB", peak >> 20);
}

#[test]
fn bad_input_exits_2_naming_the_flag_or_field() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = scenario(dir.path());
    let broken = dir.path().join("broken.json");
    std::fs::write(
        &broken,
        std::fs::read_to_string(&scenario)
            .unwrap()
            .replace("\"output_step_s\": 10", "\"output_step_s\": -10"),
    )
    .unwrap();
    let broken = broken.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--scenario", &scenario, "--steps", "60", "--distance", "0"],
            "--distance",
        ),
        (
            &[
                "--scenario",
                &scenario,
                "--steps",
                "60",
                "--distance",
                "5",
                "--window",
                "0",
            ],
            "--window",
        ),
        (
            &[
                "--scenario",
                &scenario,
                "--steps",
                "60",
                "--distance",
                "NaN",
            ],
            "--distance",
        ),
        (
            &["--scenario", &scenario, "--steps", "0", "--distance", "5"],
            "--steps",
        ),
        (
            &[
                "--scenario",
                &scenario,
                "--steps",
                "60",
                "--distance",
                "5",
                "--format",
                "oem",
            ],
            "--format",
        ),
        (
            &["--scenario", broken, "--steps", "60", "--distance", "5"],
            "output_step_s",
        ),
    ];
    for (args, named) in cases {
        let out = run(&[&["screen"][..], args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(named), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} wrote output");
    }
}
