//! A constellation across the cluster: the same bytes on one worker, four workers and
//! three processes over TCP; a 200-satellite run on a supervised three-process
//! `local-cluster` that loses a worker process to SIGKILL mid-run, is restarted by the
//! supervisor, completes, replays to a fresh one-process run's CSV and verifies clean;
//! and a Walker shell's satellites where docs/orbits.md's formulas put them, on their Kepler
//! orbits a step later (`nano_testing::kepler`, sharing no code with the propagator).

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nano_testing::cluster::{hostfile, spawn_worker, LocalCluster};
use nano_testing::http::{free_address, http_get};
use nano_testing::process::{
    assert_verified, bin, propagate_csv, stdout_of, until_committed, write_file, Proc,
};
use nano_testing::{kepler, process, server};

/// 200 satellites in 10 planes, J2, RK4 at 0.05 s: some 25 microseconds of
/// computation per state, so that a run of a few thousand steps lasts long enough to
/// kill a process in the middle of it.
const SHELL: &str = r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z",
  "forces": ["point_mass", "j2"], "integrator": {"method": "rk4", "step_s": 0.05},
  "output_step_s": 10.0,
  "walker": {"i_deg": 53, "total": 200, "planes": 10, "phasing": 1, "altitude_km": 550}}"#;

#[test]
fn a_walker_shells_satellites_start_where_the_walker_formulas_put_them_and_follow_kepler() {
    // 53: 15/5/2 at 550 km: planes 72 degrees apart, three satellites a plane 120
    // degrees apart, each plane's turned by a further 48 degrees (phasing 2 of 15).
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_file(
        dir.path(),
        "walker.json",
        r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
  "integrator": {"method": "dop853", "tolerance": 1e-12}, "output_step_s": 10.0,
  "walker": {"i_deg": 53, "total": 15, "planes": 5, "phasing": 2, "altitude_km": 550}}"#,
    );
    let csv = String::from_utf8(propagate_csv(&scenario, "1", &[])).unwrap();
    let rows: Vec<Vec<f64>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
        .collect();
    let want = kepler::walker(53.0, 15, 5, 2, 550.0);
    assert_eq!(rows.len(), 2 * want.len(), "{csv}");
    for row in &rows {
        let (t, body) = (row[0], row[1] as usize);
        // At t = 0 the elements' state to rounding; at t = 10 s, DOP853 at 1e-12.
        let expected = kepler::kepler(&want[body], t);
        let (r_tol, v_tol) = if t == 0.0 {
            (1e-8, 1e-11)
        } else {
            (1e-6, 1e-9)
        };
        assert!(
            kepler::distance([row[2], row[3], row[4]], expected.r) < r_tol
                && kepler::distance([row[5], row[6], row[7]], expected.v) < v_tol,
            "body {body} at t = {t}: written {row:?}, expected {expected:?}"
        );
    }
}

/// What the log says of its one run: `(iterations, target)`.
fn logged(data: &Path) -> Option<(u64, u64)> {
    let out = process::run(&["runs", "--json", "--data", data.to_str().unwrap()]);
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let run = runs.as_array()?.first()?;
    Some((run["iterations"].as_u64()?, run["target"].as_u64()?))
}

#[test]
fn a_constellation_writes_the_same_bytes_on_1_and_4_workers_and_3_processes() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_file(dir.path(), "shell.json", SHELL);
    let one = propagate_csv(&scenario, "400", &["--workers", "1"]);
    // A header, then 200 bodies at each of 401 output times.
    assert_eq!(one.iter().filter(|&&b| b == b'\n').count(), 1 + 200 * 401);
    let four = propagate_csv(&scenario, "400", &["--workers", "4"]);
    assert!(four == one, "4 workers wrote other bytes");

    // Three processes of two workers over TCP on 127.0.0.1, logging as they go, in
    // epochs of 20 steps (blocks of 64).
    let hosts = hostfile(dir.path(), 3);
    let _peers: Vec<Proc> = (1..3).map(|p| spawn_worker(&hosts, p, 2)).collect();
    let data = dir.path().join("data");
    let three = propagate_csv(
        &scenario,
        "400",
        &[
            "--hostfile",
            hosts.to_str().unwrap(),
            "--workers",
            "2",
            "--block",
            "64",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(three == one, "a 3-process cluster wrote other bytes");
    let replayed = stdout_of(&[
        "replay",
        "--scenario",
        &scenario,
        "--steps",
        "400",
        "--format",
        "csv",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(
        replayed == one,
        "the 3-process cluster's log replays other bytes"
    );
    assert_verified(&data);
}

#[test]
fn a_worker_process_killed_mid_run_on_a_supervised_3_process_cluster_loses_nothing() {
    const STEPS: &str = "3000";
    let steps: u64 = STEPS.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_file(dir.path(), "shell.json", SHELL);
    let data = dir.path().join("data");

    // The run starts in one process (epochs of 81 steps), which is killed once its
    // first epoch is durable: the log then holds an unfinished orbit run (with its
    // scenario) that the cluster's service resumes when it starts.
    let mut first = bin()
        .args(["propagate", "--scenario", &scenario, "--steps", STEPS])
        .args([
            "--format",
            "csv",
            "--workers",
            "1",
            "--block",
            "256",
            "--data",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    until_committed(&data, Duration::from_secs(120));
    first.kill().unwrap();
    first.wait().unwrap();
    let (before, target) = logged(&data).unwrap();
    assert!(
        before > 0 && before < steps && target == steps,
        "{before} of {target}"
    );

    let address = free_address();
    let cluster = LocalCluster::start(&address, &data);
    let worker = cluster.pid_of(2);

    // The service resumes the run on the cluster: wait for it to move, then kill a
    // worker process while it is under way.
    let run_of = || -> Option<u64> {
        let (status, body) = http_get(&address, "/api/runs")?;
        if status != 200 {
            return None;
        }
        let runs: serde_json::Value = serde_json::from_slice(&body).ok()?;
        runs["runs"].as_array()?.first()?["iterations"].as_u64()
    };
    let started = Instant::now();
    let moved = loop {
        if let Some(done) = run_of().filter(|&done| done > before) {
            break done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the cluster did not resume the run"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(
        moved < steps,
        "the run finished before a worker could be killed"
    );
    process::signal(&worker, "-9");
    let mut restarted = cluster.restarted(Duration::from_secs(60));
    restarted.sort_unstable();
    assert_eq!(restarted, [0, 1, 2]);

    // The restarted cluster resumes from the last durable epoch and completes.
    let started = Instant::now();
    while run_of() != Some(steps) {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the run did not complete after the restart ({:?} of {steps})",
            run_of()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server::stop(cluster.supervisor);

    // Nothing lost, nothing duplicated: the log replays a fresh run's bytes.
    let fresh = propagate_csv(&scenario, STEPS, &["--workers", "1"]);
    let replayed = stdout_of(&[
        "replay",
        "--scenario",
        &scenario,
        "--steps",
        STEPS,
        "--format",
        "csv",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(replayed.len(), fresh.len(), "states lost or duplicated");
    assert!(replayed == fresh, "the log differs from a fresh run");
    assert_verified(&data);
}
