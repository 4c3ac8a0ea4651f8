//! Bounded under hostile clients, through the binary: clients that never read, clients
//! that send their headers a byte at a time, and SIGTERM with streams open. Each test
//! fails if the service stops answering, keeps what it should have dropped, or does not
//! stop in time.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use nano_testing::http::{connect_from, http, http_get};
use nano_testing::process::{assert_verified, raise_fd_limit, signal, Proc};
use nano_testing::server::{assert_reference, logged, screened, serve, until_ok};

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
    signal(&server.0.id().to_string(), "-TERM");
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
            // One client holds them all, and never reads: neither its share nor its
            // read rate stops it here (the tests below hold those).
            "--client-share",
            "100",
            "--read-grace",
            "300",
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
    let done = logged(&address, 5);
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
        &[
            "--max-streams",
            "2",
            "--send-timeout",
            "2",
            // Both streams are one client's.
            "--client-share",
            "100",
        ],
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
    // The stalled download stays open until the signal, however slow it reads.
    let (server, address) = serve(&data, &["--send-timeout", "120", "--read-grace", "120"]);
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
        let done = logged(&address, seed);
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

/// Sends a POST of `body` to `path` from a real socket, whole (with its length, or
/// chunked in 8 KiB pieces), and only then reads: the 413 and its JSON error, or why
/// not (the upload broken off, the response lost to a reset).
fn post_whole(address: &str, path: &str, body: &[u8], chunked: bool) -> Result<String, String> {
    let mut stream = TcpStream::connect(address).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| format!("the head: {e}"))?;
    let sent = if chunked {
        body.chunks(8 << 10)
            .try_for_each(|piece| {
                write!(stream, "{:x}\r\n", piece.len())?;
                stream.write_all(piece)?;
                stream.write_all(b"\r\n")
            })
            .and_then(|()| stream.write_all(b"0\r\n\r\n"))
    } else {
        stream.write_all(body)
    };
    sent.map_err(|e| format!("the upload was broken off: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("the response was lost: {e}"))?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[test]
fn a_body_over_the_limit_is_answered_413_with_its_reason_not_reset() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(&data_dir(dir.path()), &[]);
    // A JSON body of blanks: whatever its size, only its length is wrong.
    for (path, size, limit) in [
        ("/api/runs", 2 << 20, "1048576 bytes"),
        (
            "/api/runs/0123456789abcdef/manoeuvres",
            100 << 10,
            "16384 bytes",
        ),
    ] {
        for chunked in [false, true] {
            let body = vec![b' '; size];
            let response = post_whole(&address, path, &body, chunked).unwrap_or_else(|e| {
                panic!("POST {path} of {size} bytes (chunked: {chunked}): {e}")
            });
            let (head, json) = response.split_once("\r\n\r\n").expect("a response head");
            assert!(head.starts_with("HTTP/1.1 413"), "POST {path}: {head}");
            let json = if head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked")
            {
                json.lines().nth(1).unwrap_or(json)
            } else {
                json
            };
            let error: serde_json::Value = serde_json::from_str(json)
                .unwrap_or_else(|e| panic!("POST {path}: not JSON ({e}): {json}"));
            let message = error["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("request body") && message.contains(limit),
                "POST {path}: {message}"
            );
        }
    }
    // And the service goes on serving.
    answers(&address, "/healthz", 200);
    drop(server);
}

/// Opens `path` from the loopback address `from` and reads the response's head: the
/// status and the head's text. The client then reads nothing more.
fn open_from(address: &str, from: &str, path: &str) -> (TcpStream, u16, String) {
    let mut stream = connect_from(address, from).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!("{path}: no whole response head ({other:?})"),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head[9..12].parse().unwrap();
    (stream, status, head)
}

/// A refusal of one client past its share: 429 with `Retry-After`, and a JSON reason
/// that names the per-client limit.
fn assert_client_share_refusal(mut stream: TcpStream, status: u16, head: &str) {
    assert_eq!(status, 429, "{head}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    let reason: serde_json::Value = serde_json::from_str(&body).unwrap();
    let message = reason["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("--client-share"), "{message}");
}

/// Opens `count` responses of `path` from 127.0.0.1, one after another, and keeps those
/// admitted open, unread; the others must be the client's refusal past its share, and
/// some must be.
fn open_past_the_share(address: &str, path: &str, count: usize) -> Vec<TcpStream> {
    let mut admitted = Vec::new();
    for _ in 0..count {
        let (stream, status, head) = open_from(address, "127.0.0.1", path);
        if status == 200 {
            admitted.push(stream);
        } else {
            assert_client_share_refusal(stream, status, &head);
        }
    }
    assert!(
        !admitted.is_empty() && admitted.len() < count,
        "{} of {count} admitted",
        admitted.len()
    );
    admitted
}

/// Posts an orbit scenario of a Walker shell of `total` satellites over `steps` output
/// steps, and waits (bounded) until it is complete; its id.
fn orbit_run(address: &str, total: u32, steps: u64) -> String {
    let scenario = serde_json::json!({
        "model": "orbit", "epoch": "2026-01-01T00:00:00Z",
        "forces": ["point_mass"], "integrator": {"method": "rk4", "step_s": 10.0},
        "output_step_s": 30.0,
        "walker": {"i_deg": 53, "total": total, "planes": 10, "phasing": 1, "altitude_km": 550},
    });
    let request = serde_json::json!({"scenario": scenario, "steps": steps}).to_string();
    let id = nano_testing::server::post_run(address, &request);
    until_ok(address, &format!("/api/runs/{id}?points=2"));
    id
}

#[test]
fn forty_slow_downloads_from_one_client_leave_room_for_another_and_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // The send timeout is far longer than the test: the slow readers always make some
    // progress, so what drops them is their rate.
    let (server, address) = serve(&data_dir(dir.path()), &["--send-timeout", "300"]);
    // 100 satellites over 2,000 output steps: a CSV of some 30 MB, far more than the
    // socket buffers hold.
    let id = orbit_run(&address, 100, 2000);
    let csv = format!("/api/runs/{id}?format=csv");
    let full = until_ok(&address, &csv).len();
    assert!(full > 20 << 20, "a CSV of {full} bytes");

    let slow = open_past_the_share(&address, &csv, 40);

    // Another client is served whole downloads meanwhile.
    for path in [
        csv.clone(),
        format!("/api/runs/{id}?format=oem"),
        format!("/api/runs/{id}?points=100"),
    ] {
        let response = http(&address, "127.0.0.2", &path, &[]).expect("serve answers");
        assert_eq!(
            response.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert!(!response.body.is_empty());
    }

    // The slow clients read about 1 KB a second each, for longer than the grace
    // (10 s by default) ...
    for stream in &slow {
        stream.set_nonblocking(true).unwrap();
    }
    let mut buffer = [0u8; 1024];
    for _ in 0..20 {
        for mut stream in &slow {
            let _ = stream.read(&mut buffer);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    // ... and then as fast as they can: the server dropped them, so the body stops
    // short of its end (the last chunk of a chunked body).
    for mut stream in slow {
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        assert!(
            !rest.ends_with(b"0\r\n\r\n"),
            "a slow reader was sent the whole body"
        );
    }
    // Their shares came back: the first client is served again.
    let again = http(&address, "127.0.0.1", &csv, &[]).expect("serve answers");
    assert_eq!(again.status, 200);
    drop(server);
}

#[test]
fn two_hundred_and_sixty_idle_streams_from_one_client_leave_room_for_another() {
    raise_fd_limit();
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(&data_dir(dir.path()), &[]);
    let id = orbit_run(&address, 20, 50);
    // The conjunction streams read a kept screening.
    let job = screened(&address, &id, 5.0, &[]);
    assert_eq!(job["state"], "done", "{job}");
    let events = format!("/api/runs/{id}/conjunctions/events?d=5");

    let idle = open_past_the_share(&address, &events, 260);

    // Another address gets a stream and a download.
    let (_stream, status, head) = open_from(&address, "127.0.0.2", &events);
    assert_eq!(status, 200, "{head}");
    let csv = http(
        &address,
        "127.0.0.2",
        &format!("/api/runs/{id}?format=csv"),
        &[],
    )
    .expect("serve answers");
    assert_eq!(csv.status, 200, "{}", String::from_utf8_lossy(&csv.body));
    assert!(csv.body.starts_with(b"t,body,"));
    drop(idle);
    drop(server);
}
