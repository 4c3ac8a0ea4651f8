//! The local form of the cluster as `make cluster-local` runs it (no `--redis`): three
//! processes and the private Redis the supervisor starts, supervised; a worker killed
//! mid-run makes the supervisor restart the cluster, and the run completes equal to the
//! reference.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use redis::Commands;
use support::{assert_reference, assert_verified, bin, http_get, run, stop, until_ok, Proc};

#[test]
fn a_supervised_local_cluster_survives_a_killed_worker_and_completes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{http_port}");
    let data = dir.path().join("data");
    let mut supervisor = bin()
        .args([
            "local-cluster",
            "--processes",
            "3",
            "--listen",
            &address,
            "--data",
            data.to_str().unwrap(),
        ])
        .env_remove("REDIS_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Follow the supervisor's report of its cache and of process ids.
    let (pids_tx, pids) = mpsc::channel();
    let (cache_tx, cache) = mpsc::channel();
    let stderr = supervisor.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("; cache: ").nth(1) {
                let _ = cache_tx.send(rest.to_owned());
            }
            if let Some(rest) = line.strip_prefix("sedaro-nano local-cluster: started process ") {
                let (process, pid) = rest.split_once(" (pid ").unwrap();
                let _ = pids_tx.send((
                    process.parse::<usize>().unwrap(),
                    pid.trim_end_matches(')').to_owned(),
                ));
            }
        }
    });
    let supervisor = Proc(supervisor);
    let cache = cache
        .recv_timeout(Duration::from_secs(30))
        .expect("the supervisor says which cache it uses");
    let redis_port: u16 = cache
        .strip_prefix("a private redis-server on 127.0.0.1:")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("not the private Redis: {cache}"));
    let mut worker2 = None;
    while worker2.is_none() {
        let (process, pid) = pids
            .recv_timeout(Duration::from_secs(30))
            .expect("the supervisor starts processes");
        if process == 2 {
            worker2 = Some(pid);
        }
    }

    // A run through the cluster equals the reference.
    let reference = run(&[
        "propagate",
        "--steps",
        "5000",
        "--seed",
        "123",
        "--engine",
        "reference",
    ])
    .stdout;
    let body = until_ok(&address, "/api/propagate/5000?seed=123");
    assert!(
        body == reference,
        "the cluster's run differs from the reference"
    );
    // The private Redis is the cache, and the run landed in it.
    let (_, ready) = http_get(&address, "/readyz").unwrap();
    let ready: serde_json::Value = serde_json::from_slice(&ready).unwrap();
    assert_eq!(ready["cache"]["kind"], "redis", "{ready}");
    assert_eq!(ready["cache"]["status"], "ok", "{ready}");
    let redis = redis::Client::open(format!("redis://127.0.0.1:{redis_port}/")).unwrap();
    let mut conn = redis.get_connection().unwrap();
    let started = Instant::now();
    while !conn.exists::<_, bool>("nano:v1:run:123:5000").unwrap() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the run is not in the private Redis"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    // A long run, and a worker killed while it is under way.
    let (n, seed) = (2_000_000u64, 321u64);
    let (status, _) = http_get(&address, &format!("/api/propagate/{n}?seed={seed}")).unwrap();
    assert_eq!(status, 202);
    let started = Instant::now();
    loop {
        let (_, runs) = http_get(&address, "/api/runs").unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&runs).unwrap();
        let logged = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["seed"] == seed)
            .map_or(0, |r| r["iterations"].as_u64().unwrap());
        assert!(
            logged < n,
            "the run finished before a worker could be killed"
        );
        if logged > 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(Command::new("kill")
        .args(["-9", worker2.as_deref().unwrap()])
        .status()
        .unwrap()
        .success());
    // The supervisor restarts every process.
    let mut restarted = Vec::new();
    while restarted.len() < 3 {
        let (process, _) = pids
            .recv_timeout(Duration::from_secs(30))
            .expect("the supervisor restarts the cluster");
        restarted.push(process);
    }
    // The run resumes from the log and completes; its records equal the reference's.
    until_ok(
        &address,
        &format!("/api/propagate/{n}?seed={seed}&points=10"),
    );
    assert_reference(&address, n, seed);

    // SIGTERM stops the supervisor and, through it, every process of the cluster and
    // its private Redis.
    stop(supervisor);
    assert_verified(&data);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err(),
        "the private Redis outlived the supervisor"
    );
}
