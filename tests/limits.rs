//! Bounded under hostile clients, through the binary: clients that never read, clients
//! that send their headers a byte at a time, and SIGTERM with streams open. Each test
//! fails if the service stops answering, keeps what it should have dropped, or does not
//! stop in time.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{assert_reference, assert_verified, http_get, raise_fd_limit, serve, until_ok, Proc};

/// Opens `path` and reads only the response's status line: the client then reads
/// nothing more.
fn open_and_stall(address: &str, path: &str) -> (TcpStream, u16) {
    let mut stream = TcpStream::connect(address).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    stream
        .read_exact(&mut head)
        .unwrap_or_else(|e| panic!("{path}: no status line within 60 s ({e})"));
    let status = std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap();
    (stream, status)
}

/// A GET that must answer `expected` before the test's bound.
fn answers(address: &str, path: &str, expected: u16) -> Vec<u8> {
    let started = Instant::now();
    loop {
        let (status, body) = http_get(address, path).expect("the service answers");
        if status == expected {
            return body;
        }
        assert!(
            status == 202 && started.elapsed() < Duration::from_secs(60),
            "{path}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server's open sockets, from /proc.
fn sockets(server: &Proc) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.0.id()))
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter(|target| target.to_string_lossy().starts_with("socket:"))
                .count()
        })
        .unwrap_or(0)
}

fn sigterm(server: &Proc) {
    assert!(Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap()
        .success());
}

fn data_dir(dir: &Path) -> std::path::PathBuf {
    dir.join("data")
}

#[test]
fn six_hundred_clients_that_never_read_leave_the_service_answering() {
    raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    // The memory budget admits a download by a 4 MB weight (`tests/memory.rs` holds it
    // to its bound); here the budget is large enough for 300 stalled downloads, so what
    // is tested is the threads and connections they hold, not the budget's refusals.
    // The blocking pool is far smaller than the clients: a client that held a blocking
    // thread (a progress stream or a download on a thread of its own) would exhaust it.
    let (server, address) = serve(
        &data_dir(dir.path()),
        &[
            "--max-streams",
            "700",
            "--send-timeout",
            "120",
            "--memory-mb",
            "8192",
            "--blocking-threads",
            "64",
            // Small blocks: the progress streams' run stays in flight throughout.
            "--block",
            "256",
        ],
    );
    // A run too large to be cached whole (so it is streamed) and whose CSV (~35 MB) is
    // far more than the socket buffers hold; and a small one for the log read.
    let big = "/api/propagate/300000?seed=3&format=csv";
    answers(&address, "/api/propagate/300000?seed=3", 200);
    answers(&address, "/api/propagate/1000?seed=4&format=csv", 200);
    // A long run, for progress streams that stay open.
    let events = "/api/propagate/10000000/events?seed=5";

    let mut stalled = Vec::new();
    for i in 0..600 {
        let path = if i % 2 == 0 { big } else { events };
        let (stream, status) = open_and_stall(&address, path);
        assert_eq!(status, 200, "client {i} ({path}) was refused");
        stalled.push(stream);
    }

    // Every kind of request still answers: health, log reads (the catalog, a document
    // not yet cached, a streamed CSV), a new small run.
    answers(&address, "/healthz", 200);
    answers(&address, "/api/runs", 200);
    let json = answers(&address, "/api/propagate/999?seed=4", 200);
    assert!(json.starts_with(b"{\"model\":\"nano\""));
    let csv = answers(&address, "/api/propagate/1000?seed=4&format=csv", 200);
    assert!(csv.starts_with(b"t0,t1,agent"));
    answers(&address, "/api/propagate/500?seed=6", 200);
    // The progress streams' run was in flight all along (so were the streams).
    let (_, runs) = http_get(&address, "/api/runs").unwrap();
    let runs: serde_json::Value = serde_json::from_slice(&runs).unwrap();
    let done = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["seed"] == 5)
        .map_or(0, |r| r["iterations"].as_u64().unwrap());
    assert!(
        done < 10_000_000,
        "the streams' run completed during the test"
    );
    drop(stalled);
    drop(server);
}

#[test]
fn streams_beyond_the_bound_get_503_and_a_client_that_stops_reading_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(
        &data_dir(dir.path()),
        &["--max-streams", "2", "--send-timeout", "2"],
    );
    let big = "/api/propagate/300000?seed=3&format=csv";
    answers(&address, "/api/propagate/300000?seed=3", 200);
    let full = answers(&address, big, 200).len();

    let (mut first, status) = open_and_stall(&address, big);
    assert_eq!(status, 200);
    let (_second, status) = open_and_stall(&address, big);
    assert_eq!(status, 200);
    let (status, body) = http_get(&address, big).unwrap();
    assert_eq!(status, 503, "a third stream was let in");
    let reason: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        reason["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many streams"),
        "{reason}"
    );

    // The first client stops reading for longer than the send timeout: the server
    // drops it, so it never receives the whole body.
    std::thread::sleep(Duration::from_secs(6));
    let mut rest = Vec::new();
    let _ = first.read_to_end(&mut rest);
    assert!(
        rest.len() + 12 < full,
        "the stalled client still got the whole body ({} of {full} bytes)",
        rest.len() + 12
    );
    // And its place among the streams is free again.
    answers(&address, big, 200);
    drop(server);
}

#[test]
fn slow_header_connections_are_capped_and_closed_after_the_header_timeout() {
    raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    // Below the number the clients keep open at once (about 500 here: the header
    // timeout closes the oldest while the rest connect), so the cap is what holds it.
    let cap = 300;
    let (server, address) = serve(
        &data_dir(dir.path()),
        &[
            "--header-timeout",
            "2",
            "--max-connections",
            &cap.to_string(),
        ],
    );
    answers(&address, "/healthz", 200);
    let baseline = sockets(&server);

    // 2,000 clients that send a request's head a byte every second or so.
    let head = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";
    let mut slow: Vec<Option<TcpStream>> = (0..2000)
        .map(|_| {
            let stream =
                TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(10))
                    .expect(
                        "connects (the kernel's backlog holds what the server has not accepted)",
                    );
            stream.set_nonblocking(true).unwrap();
            Some(stream)
        })
        .collect();
    let mut most = 0;
    let started = Instant::now();
    let mut healthy = false;
    for round in 0..8 {
        for stream in slow.iter_mut() {
            if let Some(s) = stream {
                match s.write(&head[round..round + 1]) {
                    Err(e) if e.kind() != ErrorKind::WouldBlock => *stream = None,
                    _ => {}
                }
            }
        }
        most = most.max(sockets(&server));
        if !healthy {
            // The slow ones time out, so a real request gets its turn.
            answers(&address, "/healthz", 200);
            healthy = true;
        }
        std::thread::sleep(Duration::from_millis(900));
    }
    assert!(healthy);
    assert!(
        most <= cap + baseline,
        "the server held {most} sockets, over its cap of {cap} (+{baseline})"
    );

    // Every slow connection is closed by the server (EOF or reset), none answered.
    let deadline = Instant::now() + Duration::from_secs(30);
    for stream in slow.into_iter().flatten() {
        stream.set_nonblocking(false).unwrap();
        let left = deadline.saturating_duration_since(Instant::now());
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(10))))
            .unwrap();
        let mut buffer = [0u8; 256];
        match (&stream).read(&mut buffer) {
            Ok(0) => {}
            Ok(n) => panic!(
                "a slow client was answered: {}",
                String::from_utf8_lossy(&buffer[..n])
            ),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!(
                "a slow connection was still open {:?} after it started: {e}",
                started.elapsed()
            ),
        }
    }
    answers(&address, "/healthz", 200);
    drop(server);
}

#[test]
fn sigterm_with_open_streams_and_a_stalled_client_stops_promptly_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let (server, address) = serve(&data, &["--send-timeout", "120"]);
    answers(&address, "/api/propagate/300000?seed=3", 200);
    let (stalled, status) = open_and_stall(&address, "/api/propagate/300000?seed=3&format=csv");
    assert_eq!(status, 200);

    let (n, seed) = (2_000_000u64, 9u64);
    let path = format!("/api/propagate/{n}/events?seed={seed}");
    let streams: Vec<TcpStream> = (0..50)
        .map(|_| {
            let (stream, status) = open_and_stall(&address, &path);
            assert_eq!(status, 200);
            stream
        })
        .collect();
    // Readers of the streams, each to the stream's end.
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                let _ = stream.read_to_end(&mut text);
                String::from_utf8_lossy(&text).to_string()
            })
        })
        .collect();
    // Let the run get going.
    let started = Instant::now();
    loop {
        let (_, body) = http_get(&address, "/api/runs").unwrap();
        let runs: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let done = runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["seed"] == seed)
            .map_or(0, |r| r["iterations"].as_u64().unwrap());
        if done > 0 {
            assert!(done < n, "the run finished before the signal");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut server = server;
    sigterm(&server);
    let signalled = Instant::now();
    while server.0.try_wait().unwrap().is_none() {
        assert!(
            signalled.elapsed() < Duration::from_secs(5),
            "serve was still running 5 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.0.wait().unwrap().success(),
        "serve failed to stop cleanly"
    );
    // Every stream was told, and ended.
    for reader in readers {
        let text = reader.join().unwrap();
        assert!(
            text.contains("event: error") && text.contains("the service is stopping"),
            "a progress stream ended without the last event: {}",
            &text[text.len().saturating_sub(300)..]
        );
    }
    drop(stalled);

    assert_verified(&data);
    // A restart finishes the run by itself, and it equals the reference.
    let (server, address) = serve(&data, &[]);
    until_ok(
        &address,
        &format!("/api/propagate/{n}?seed={seed}&points=10"),
    );
    assert_reference(&address, n, seed);
    drop(server);
}
