//! Faults survived: the serving process killed mid-run, Redis answering slowly, and
//! the log's disk full (and its quota reached). Each test fails if data is lost, duplicated or served corrupt.

use std::time::{Duration, Instant};

use nano_testing::cluster::redis_server;
use nano_testing::http::http_get;
use nano_testing::process::{assert_verified, signal};
use nano_testing::server::{assert_reference, logged, metric, serve, stop, until_ok};
use nano_testing::tmpfs::Tmpfs;

#[test]
fn the_serving_process_killed_mid_run_resumes_from_the_log_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (n, seed) = (2_000_000u64, 5u64);
    let (server, address) = serve(&data, &[]);
    let (status, _) = http_get(&address, &format!("/api/propagate/{n}?seed={seed}")).unwrap();
    assert_eq!(status, 202);
    // Wait for two blocks: the log shows a block once it is written, and makes it
    // durable before the next is written, so the first is then surely on disk.
    let started = Instant::now();
    while logged(&address, seed) < 2 * 4096 {
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(server); // SIGKILL, mid-run
    let (server, address) = serve(&data, &[]);
    let at_restart = logged(&address, seed);
    assert!(at_restart < n, "the run had finished before the kill");
    assert!(
        at_restart >= 4096,
        "the durable block was lost: {at_restart}"
    );
    // Nobody asks again: the restarted service resumes the unfinished run by itself.
    let started = Instant::now();
    while logged(&address, seed) < n {
        if started.elapsed() > Duration::from_secs(120) {
            let runs =
                http_get(&address, "/api/runs").map(|r| String::from_utf8_lossy(&r.1).to_string());
            let ready =
                http_get(&address, "/readyz").map(|r| String::from_utf8_lossy(&r.1).to_string());
            panic!("the run did not resume from {at_restart}: runs {runs:?}, readyz {ready:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_reference(&address, n, seed);
    stop(server);
    assert_verified(&data);
}

#[test]
fn a_paused_redis_does_not_hold_requests_back() {
    let dir = tempfile::tempdir().unwrap();
    let redis = redis_server();
    let url = redis.url();
    let (server, address) = serve(&dir.path().join("data"), &["--redis", &url]);
    let warm = until_ok(&address, "/api/propagate/3000?seed=8");
    // Redis is in use before it is paused: the finished run is stored in it, and the
    // next read of the run is a cache hit.
    let key = nano_web::cache::key(8, 3000);
    let mut conn = redis.client().unwrap().get_connection().unwrap();
    let started = Instant::now();
    while !redis::cmd("EXISTS")
        .arg(&key)
        .query::<bool>(&mut conn)
        .unwrap()
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the finished run never reached Redis under {key}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let hits = metric(&address, "nano_cache_hits_total");
    assert!(until_ok(&address, "/api/propagate/3000?seed=8") == warm);
    assert_eq!(metric(&address, "nano_cache_hits_total"), hits + 1);

    // Redis stops answering (as under a long DEBUG SLEEP): the process is paused.
    let pid = redis.pid().expect("redis-server runs").to_string();
    signal(&pid, "-STOP");
    let asked = Instant::now();
    let (status, again) = http_get(&address, "/api/propagate/3000?seed=8").unwrap();
    let waited = asked.elapsed();
    assert_eq!(
        status, 200,
        "a logged run is served from the log while Redis hangs"
    );
    assert!(again == warm);
    // Not a performance figure but the fallback's correctness: the cache gives up on
    // Redis after its own short timeout (300 ms) and the log answers. A request that
    // waited for Redis until the server's 30 s request timeout would not be "not held
    // back", so the bound is far above the fallback's cost and far below that timeout.
    assert!(
        waited < Duration::from_secs(5),
        "the request waited {waited:?} on a paused Redis"
    );
    let computed = until_ok(&address, "/api/propagate/2500?seed=9");
    assert!(computed.starts_with(b"{\"model\":\"nano\",\"n\":2500,\"seed\":9,"));
    let (status, ready) = http_get(&address, "/readyz").unwrap();
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&ready).contains("\"status\":\"degraded\""),
        "{}",
        String::from_utf8_lossy(&ready)
    );
    signal(&pid, "-CONT");
    stop(server);
}

/// Fills what is left of the volume at `dir` with a file, until the volume is full.
fn fill(dir: &std::path::Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 64 << 10];
    while filler.write_all(&block).is_ok() {}
    let _ = filler.write_all(&block[..4096]);
    let _ = filler.write_all(&block[..1]);
}

fn readyz(address: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_get(address, "/readyz").expect("the service answers");
    (status, serde_json::from_slice(&body).unwrap())
}

#[test]
fn a_full_disk_makes_the_log_read_only_and_it_resumes_by_itself_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(dir.path().join("disk"), "16m");
    let data = disk.path().join("log");
    let (n, seed) = (300_000u64, 1u64);
    let (server, address) = serve(&data, &[]);
    // A small run fits; it stays servable throughout.
    let small = until_ok(&address, "/api/propagate/1000?seed=2");
    let (status, _) = http_get(&address, &format!("/api/propagate/{n}?seed={seed}")).unwrap();
    assert_eq!(status, 202);
    // The volume fills: the store refuses the next block before sled writes it, the job
    // fails cleanly, and new computation is refused with the reason.
    let started = Instant::now();
    let refusal = loop {
        let (status, body) =
            http_get(&address, &format!("/api/propagate/{n}?seed={seed}")).unwrap();
        if status == 507 {
            break String::from_utf8_lossy(&body).to_string();
        }
        assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the full volume was never reported"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        refusal.contains("volume") && refusal.contains("is full"),
        "{refusal}"
    );
    let (status, _) = http_get(&address, "/healthz").unwrap();
    assert_eq!(status, 200, "read-only is alive: no restart is needed");
    let (status, again) = http_get(&address, "/api/propagate/1000?seed=2").unwrap();
    assert_eq!(status, 200, "a logged run is still served");
    assert!(again == small);
    let partial = logged(&address, seed);
    assert!(partial > 0 && partial < n, "{partial}");

    // The service restarts on a volume something else has filled to the last byte,
    // with the empty snapshot sled 0.34 leaves when its open fails there.
    stop(server);
    fill(disk.path());
    std::fs::write(data.join("snap.00000000FFFFFFFF.generating"), b"").unwrap();
    let (server, address) = serve(&data, &[]);
    let (status, ready) = readyz(&address);
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["log"]["status"], "read-only", "{ready}");
    assert!(
        ready["log"]["reason"].as_str().unwrap().contains("is full"),
        "{ready}"
    );
    let (status, again) = http_get(&address, "/api/propagate/1000?seed=2").unwrap();
    assert_eq!(status, 200, "logged runs are served from a read-only log");
    assert!(again == small);
    assert_eq!(logged(&address, seed), partial);

    // The volume grows: nobody restarts anything or deletes a file, and the run completes.
    disk.resize("80m");
    let started = Instant::now();
    while logged(&address, seed) < n {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run did not resume when space returned: {}",
            readyz(&address).1
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(readyz(&address).1["log"]["status"], "ok");
    assert_reference(&address, n, seed);
    stop(server);
    assert_verified(&data);
}

#[test]
fn a_run_that_would_pass_the_log_quota_is_refused_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // 10 MiB: room for small runs, not for a million iterations (about 180 MB).
    let (server, address) = serve(&data, &["--max-log-gb", "0.01"]);
    let small = until_ok(&address, "/api/propagate/1000?seed=4");
    let (status, body) = http_get(&address, "/api/propagate/1000000?seed=5").unwrap();
    let body = String::from_utf8_lossy(&body).to_string();
    assert_eq!(status, 507, "{body}");
    assert!(
        body.contains("quota") && body.contains("--max-log-gb"),
        "{body}"
    );
    assert_eq!(
        logged(&address, 5),
        0,
        "nothing of the refused run was started"
    );
    let (status, again) = http_get(&address, "/api/propagate/1000?seed=4").unwrap();
    assert_eq!(status, 200, "logged runs are still served");
    assert!(again == small);
    stop(server);
}

#[test]
fn runs_asked_for_together_cannot_pass_the_log_quota_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Small blocks make each run take hundreds of rounds, so that every request of the
    // burst is admitted while the runs admitted before it are still in flight.
    let (n, fit, clients) = (50_000u64, 3u64, 24u64);
    let estimate = n * nano_store::space::BYTES_PER_ITERATION;
    let (server, address) = serve(&data, &[]);
    let empty = metric(&address, "nano_log_bytes");
    stop(server);
    let quota = empty + fit * estimate + estimate / 2;
    let gb = format!("{}", quota as f64 / (1u64 << 30) as f64);
    let (server, address) = serve(&data, &["--max-log-gb", &gb, "--block", "100"]);
    let size = metric(&address, "nano_log_bytes");
    assert_eq!((quota - size) / estimate, fit, "the quota fits {fit} runs");

    let start = std::sync::Arc::new(std::sync::Barrier::new(clients as usize));
    let askers: Vec<_> = (0..clients)
        .map(|seed| {
            let (address, start) = (address.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let (status, body) =
                    http_get(&address, &format!("/api/propagate/{n}?seed={seed}")).unwrap();
                (seed, status, String::from_utf8_lossy(&body).to_string())
            })
        })
        .collect();
    let answers: Vec<_> = askers.into_iter().map(|t| t.join().unwrap()).collect();
    let mut admitted = Vec::new();
    for (seed, status, body) in answers {
        match status {
            200 | 202 => admitted.push(seed),
            507 => assert!(
                body.contains("quota")
                    && body.contains("--max-log-gb")
                    && body.contains("reserved"),
                "{body}"
            ),
            _ => panic!("seed {seed}: {status} {body}"),
        }
    }
    assert_eq!(
        admitted.len() as u64,
        fit,
        "of {clients} runs asked for at once, only those the quota fits start: {admitted:?}"
    );

    // The admitted runs complete and are served; the log ends under its quota.
    let mut served = Vec::new();
    for &seed in &admitted {
        served.push(until_ok(
            &address,
            &format!("/api/propagate/{n}?seed={seed}"),
        ));
    }
    let after = metric(&address, "nano_log_bytes");
    assert!(
        after <= quota,
        "the log holds {after} bytes, past its quota of {quota}"
    );
    for seed in (0..clients).filter(|s| !admitted.contains(s)) {
        assert_eq!(logged(&address, seed), 0, "refused seed {seed} was logged");
    }
    // The completed runs gave their reservations back: a small run fits again.
    until_ok(&address, "/api/propagate/1000?seed=1000");
    let (status, again) = http_get(
        &address,
        &format!("/api/propagate/{n}?seed={}", admitted[0]),
    )
    .unwrap();
    assert_eq!(status, 200, "logged runs are still served");
    assert!(again == served[0]);
    stop(server);
}
