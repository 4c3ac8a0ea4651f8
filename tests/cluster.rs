//! The dataflow across worker threads and real processes over TCP on 127.0.0.1.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nano_testing::cluster::{cluster_engine, hostfile, spawn_worker};
use nano_testing::golden::golden_runs;
use nano_testing::process::{assert_same_output, bin, run, stdout_of, until_committed, Proc};

fn propagate_args(n: u64, seed: u64) -> Vec<String> {
    [
        "propagate",
        "--steps",
        &n.to_string(),
        "--seed",
        &seed.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn every_worker_count_writes_the_reference_bytes() {
    for golden in golden_runs() {
        let args = propagate_args(golden.n, golden.seed);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let reference = run(&[&args[..], &["--engine", "reference"]].concat());
        assert!(reference.stdout == golden.bytes());
        for workers in ["1", "2", "4"] {
            let out = run(&[&args[..], &["--workers", workers]].concat());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                out.stdout == reference.stdout,
                "n={} seed={} on {workers} workers",
                golden.n,
                golden.seed
            );
        }
    }
}

#[test]
fn clusters_of_two_and_three_processes_write_the_reference_bytes() {
    for processes in [2, 3] {
        let dir = tempfile::tempdir().unwrap();
        let hosts = hostfile(dir.path(), processes);
        for golden in golden_runs() {
            let _peers: Vec<Proc> = (1..processes).map(|p| spawn_worker(&hosts, p, 2)).collect();
            let mut args = propagate_args(golden.n, golden.seed);
            args.extend(
                ["--hostfile", hosts.to_str().unwrap(), "--workers", "2"].map(String::from),
            );
            let out = stdout_of(&args);
            assert!(
                out == golden.bytes(),
                "{processes} processes, n={} seed={}",
                golden.n,
                golden.seed
            );
        }
    }
}

#[test]
fn sixty_four_runs_at_once_on_two_processes_each_equal_their_reference() {
    use nano_pipeline::job::JobEvent;
    use nano_pipeline::{Propagator, RunKey};

    let dir = tempfile::tempdir().unwrap();
    let hosts_path = hostfile(dir.path(), 2);
    let _peer = spawn_worker(&hosts_path, 1, 2);
    // This test process is process 0.
    let (engine, _screenings) = cluster_engine(&hosts_path, 2);
    let jobs: Vec<_> = (0..64u64)
        .map(|i| {
            (
                i,
                engine
                    .submit(RunKey::nano(1000 + i), 3000 + 37 * i, true)
                    .unwrap(),
            )
        })
        .collect();
    std::thread::scope(|s| {
        for (i, job) in jobs {
            s.spawn(move || {
                let mut records = Vec::new();
                loop {
                    match job
                        .next_timeout(Duration::from_secs(60))
                        .expect("progress within a minute")
                    {
                        Some(JobEvent::Records(block)) => records.extend(block.iter().map(|r| {
                            nano_pipeline::Record::from_stored(r).expect("a nano record")
                        })),
                        Some(JobEvent::Progress { .. }) => {}
                        Some(JobEvent::Complete { iterations }) => {
                            assert_eq!(iterations, 3000 + 37 * i);
                            break;
                        }
                        other => panic!("run {i}: {other:?}"),
                    }
                }
                let reference: Vec<_> = Propagator::new(1000 + i, 3000 + 37 * i).collect();
                assert!(records == reference, "run {i} differs from its reference");
            });
        }
    });
    engine.shutdown().unwrap();
}

/// Reads a child's stderr to the end.
fn stderr_of(child: &mut std::process::Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn a_killed_process_stops_the_cluster_and_a_restart_completes_the_run_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = hostfile(dir.path(), 3);
    let data = dir.path().join("data");
    let (n, seed) = ("3000000", "77");
    let propagate = ["propagate", "--steps", n, "--seed", seed, "--format", "csv"];
    let cluster_args = |extra: &[&str]| -> Vec<String> {
        let cluster = [
            "--data",
            data.to_str().unwrap(),
            "--hostfile",
            hosts.to_str().unwrap(),
            "--workers",
            "1",
            "--block",
            "2000",
        ];
        [&propagate[..], &cluster, extra]
            .concat()
            .into_iter()
            .map(String::from)
            .collect()
    };

    let mut p1 = spawn_worker(&hosts, 1, 1);
    let p2 = spawn_worker(&hosts, 2, 1);
    let mut p0 = bin()
        .args(cluster_args(&[]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until_committed(&data, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    drop(p2); // SIGKILL to process 2
    let killed = Instant::now();

    // The others stop on their own, promptly, each naming a peer it lost. Process 1
    // stops when it loses process 2, so process 0 may lose process 1's connection
    // before it notices process 2's: which one it names first is a race. At least one
    // of them names process 2.
    let mut named_the_killed = false;
    for (name, child) in [("process 0", &mut p0), ("process 1", &mut p1.0)] {
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                killed.elapsed() < Duration::from_secs(5),
                "{name} still runs 5 s after its peer died"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(
            !status.success(),
            "{name} exited successfully after losing a peer"
        );
        let said = stderr_of(child);
        assert!(said.contains("lost process "), "{name} said: {said}");
        named_the_killed |= said.contains("lost process 2");
    }
    assert!(named_the_killed, "neither survivor named process 2");

    // Restart the whole cluster: the run completes from its last committed block.
    let _p1 = spawn_worker(&hosts, 1, 1);
    let _p2 = spawn_worker(&hosts, 2, 1);
    let resumed = bin()
        .args(cluster_args(&[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let reference = bin()
        .args(propagate)
        .args(["--engine", "reference"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let total = assert_same_output(resumed, reference);
    assert!(
        total > 300_000_000,
        "{total} bytes is too little for the run"
    );

    let verify = run(&["verify", "--data", data.to_str().unwrap()]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let runs = run(&["runs", "--data", data.to_str().unwrap(), "--json"]);
    let catalog: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(catalog[0]["iterations"], 3_000_000);
    assert_eq!(catalog[0]["complete"], true);
}

#[test]
fn bad_cluster_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = hostfile(dir.path(), 2);
    let hosts = hosts.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["worker", "--hostfile", hosts, "--process", "2"],
            "process 2 is out of range",
        ),
        (
            &["worker", "--hostfile", hosts, "--process", "0"],
            "process 0 is the one that",
        ),
        (
            &["worker", "--process", "1"],
            "needs the cluster's --hostfile",
        ),
        (
            &[
                "worker",
                "--hostfile",
                "/nonexistent/hosts",
                "--process",
                "1",
            ],
            "cannot read the hostfile",
        ),
        (
            &[
                "propagate",
                "--steps",
                "5",
                "--hostfile",
                hosts,
                "--process",
                "1",
            ],
            "runs as process 0",
        ),
        (
            &["propagate", "--steps", "5", "--workers", "0"],
            "--workers",
        ),
        (
            &[
                "propagate",
                "--steps",
                "5",
                "--workers",
                "2",
                "--engine",
                "reference",
            ],
            "need --engine dataflow",
        ),
    ];
    for (args, says) in cases {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(says),
            "{args:?} should say {says:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    let bad = dir.path().join("bad-hosts");
    std::fs::write(&bad, "127.0.0.1:1\nnot-an-address\n").unwrap();
    let out = run(&[
        "worker",
        "--hostfile",
        bad.to_str().unwrap(),
        "--process",
        "1",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("hostfile line 2"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_peer_is_named_within_the_peer_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = hostfile(dir.path(), 3);
    let _p1 = spawn_worker(&hosts, 1, 2);
    let started = Instant::now();
    let out = bin()
        .args([
            "propagate",
            "--steps",
            "10",
            "--hostfile",
            hosts.to_str().unwrap(),
            "--workers",
            "2",
            "--peer-timeout",
            "2",
        ])
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("still missing: process 2 at 127.0.0.1:"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
