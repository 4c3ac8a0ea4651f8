//! The local form of the cluster as `make cluster-local` runs it (no `--redis`): three
//! processes and the private Redis the supervisor starts, supervised; a worker killed
//! mid-run makes the supervisor restart the cluster, and the run completes equal to the
//! reference; and a screening the service runs in windows runs on every process of
//! the cluster, its answer that of `screen` in one process.

use std::time::{Duration, Instant};

use nano_testing::cluster::LocalCluster;
use nano_testing::crossing;
use nano_testing::http::{free_address, http_get};
use nano_testing::process;
use nano_testing::process::{assert_verified, cpu_ticks, run, stdout_of, write_file};
use nano_testing::server::{assert_reference, logged, screened, stop, until_ok};
use redis::Commands;

#[test]
fn a_supervised_local_cluster_survives_a_killed_worker_and_completes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let data = dir.path().join("data");
    // The supervisor reports its cache and the processes it starts.
    let cluster = LocalCluster::start(&address, &data);
    let cache = cluster.cache();
    let redis_port: u16 = cache
        .strip_prefix("a private redis-server on 127.0.0.1:")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("not the private Redis: {cache}"));
    let worker2 = cluster.pid_of(2);

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
        let logged = logged(&address, seed);
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
    process::signal(&worker2, "-9");
    // The supervisor restarts every process.
    cluster.restarted(Duration::from_secs(30));
    // The run resumes from the log and completes; its records equal the reference's.
    until_ok(
        &address,
        &format!("/api/propagate/{n}?seed={seed}&points=10"),
    );
    assert_reference(&address, n, seed);

    // SIGTERM stops the supervisor and, through it, every process of the cluster and
    // its private Redis.
    stop(cluster.supervisor);
    assert_verified(&data);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_err(),
        "the private Redis outlived the supervisor"
    );
}

/// `a,b,tca_s,miss_km` of each row of a CSV of conjunctions (columns found by name),
/// as bits, sorted.
fn conjunction_rows(csv: &[u8]) -> Vec<(u32, u32, u64, u64)> {
    let text = String::from_utf8(csv.to_vec()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (a, b, tca, miss) = (column("a"), column("b"), column("tca_s"), column("miss_km"));
    let mut rows: Vec<_> = lines
        .map(|line| {
            // No field before miss_km holds a comma: the names here are c-<i>.
            let f: Vec<&str> = line.split(',').collect();
            let float = |i: usize| f[i].parse::<f64>().unwrap().to_bits();
            (
                f[a].parse().unwrap(),
                f[b].parse().unwrap(),
                float(tca),
                float(miss),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_windowed_screening_runs_on_every_process_of_the_local_cluster_and_equals_one_processes() {
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let data = dir.path().join("data");
    // At 128 MB the screenings' share (16 MB) keeps no screener of this run's
    // 360,060 samples: it is screened in windows (of some 290 output times). Long
    // enough that each peer's share of the sweep takes some fifteen ticks of CPU.
    let cluster = LocalCluster::start_with(&address, &data, &[("NANO_MEMORY_MB", "128")]);
    let peers = [cluster.pid_of(1), cluster.pid_of(2)];
    until_ok(&address, "/readyz");
    // Sixty bodies on crossing orbits of one period: they meet again every half orbit.
    let text = crossing::scenario(60, 305.0, 10.0, |i| {
        let f = i as f64 + 1.0;
        [0.618_034, 0.754_877_7, 0.569_840_3].map(|g| (f * g).fract() * 2.2 - 1.1)
    });
    let steps = 6000;
    let request = serde_json::json!({
        "scenario": serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        "steps": steps,
    });
    let id = nano_testing::server::post_run(&address, &request.to_string());
    until_ok(&address, &format!("/api/runs/{id}"));
    nano_testing::server::until_all_complete(&address, std::slice::from_ref(&id));

    let before = peers.each_ref().map(|pid| cpu_ticks(pid));
    let job = screened(&address, &id, 5.0, &[]);
    let after = peers.each_ref().map(|pid| cpu_ticks(pid));
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["windowed"], true, "{job}");
    assert_eq!(job["processes"], 3, "{job}");
    eprintln!(
        "the screening: {job}; the peers' CPU ticks: {:?}",
        [after[0] - before[0], after[1] - before[1]]
    );
    // The peers worked: an idle process uses at most a tick in seconds (tests/idle.rs).
    for (p, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            a - b >= 5,
            "process {} used {} ticks of CPU during the screening",
            p + 1,
            a - b
        );
    }

    // The answer: that of `screen` in one process, bit for bit.
    let served = until_ok(
        &address,
        &format!("/api/runs/{id}/conjunctions?d=5&format=csv"),
    );
    let scenario = write_file(dir.path(), "crossing.json", &text);
    let alone = stdout_of(&[
        "screen",
        "--scenario",
        &scenario,
        "--steps",
        &steps.to_string(),
        "--distance",
        "5",
        "--workers",
        "1",
        "--format",
        "csv",
    ]);
    let (served, alone) = (conjunction_rows(&served), conjunction_rows(&alone));
    assert!(alone.len() > 1000, "{} conjunctions", alone.len());
    assert_eq!(served.len(), alone.len());
    assert!(
        served == alone,
        "the cluster's screening differs from one process's"
    );
    stop(cluster.supervisor);
}

#[test]
fn an_unusable_redis_url_is_refused_before_any_process_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for (flag, env, said) in [
        // An empty REDIS_URL, as `REDIS_URL= make cluster-local` leaves it.
        (None, "", "--redis (REDIS_URL) \"\" is not a usable"),
        // Another scheme, its password not repeated.
        (
            Some("http://:s3cret@127.0.0.1:6379/"),
            "",
            "--redis (REDIS_URL) \"http://***@127.0.0.1:6379/\" is not a usable",
        ),
    ] {
        let mut command = nano_testing::process::bin();
        command
            .args(["local-cluster", "--processes", "2", "--listen"])
            .arg(free_address())
            .arg("--data")
            .arg(&data)
            .env("REDIS_URL", env);
        if let Some(url) = flag {
            command.args(["--redis", url]);
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert!(!stderr.contains("started process"), "{stderr}");
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
}

/// A test that fails holding a local cluster (its `LocalCluster` dropped, not stopped)
/// leaves none of the cluster's processes running.
#[test]
fn a_local_cluster_let_go_of_leaves_no_process_behind() {
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let cluster = LocalCluster::start(&address, &dir.path().join("data"));
    let pids: Vec<String> = (0..3).map(|i| cluster.pid_of(i)).collect();
    until_ok(&address, "/readyz");
    drop(cluster);
    let alive = |pid: &String| process::running(pid);
    let started = Instant::now();
    while pids.iter().any(alive) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "still running: {:?}",
            pids.iter().filter(|p| alive(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
