//! The local form of the cluster as `make cluster-local` runs it (no `--redis`): three
//! processes and the private Redis the supervisor starts, supervised; a worker killed
//! mid-run makes the supervisor restart the cluster, and the run completes equal to the
//! reference.

use std::time::{Duration, Instant};

use nano_testing::cluster::LocalCluster;
use nano_testing::http::{free_address, http_get};
use nano_testing::process;
use nano_testing::process::{assert_verified, run};
use nano_testing::server::{assert_reference, logged, stop, until_ok};
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
