//! `sedaro-nano serve` as a process: started on a free port, asked until ready, read
//! from, and stopped as an operator would.

use std::io::BufRead;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::http::{download, http_get};
use crate::process::{bin, run, signal, Proc};

/// Starts `serve` on a free port; returns the process and its address.
pub fn serve(data: &Path, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["--listen", "127.0.0.1:0", "--workers", "2", "--data"];
    args.push(data.to_str().unwrap());
    args.extend_from_slice(extra);
    serve_with(&args, &[]).unwrap_or_else(|said| panic!("serve did not start: {said}"))
}

/// Starts `serve` with exactly these arguments and environment variables (nothing
/// inherited from the test's environment); the process and the address it says it
/// serves on, or everything it wrote to stderr if it exits first.
pub fn serve_with(args: &[&str], env: &[(&str, &str)]) -> Result<(Proc, String), String> {
    let mut command = bin();
    command.arg("serve").args(args).env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let mut child = command
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = String::new();
    let address = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.wait();
            return Err(said);
        };
        if let Some(rest) = line.split("serving on http://").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
        said.push_str(&line);
        said.push('\n');
    };
    // Keep draining stderr so the server never blocks on it.
    std::thread::spawn(move || lines.for_each(drop));
    Ok((Proc(child), address))
}

/// Reads serve's log lines (passing each to `seen`) up to the one that says where it
/// listens; returns that address and the rest of the lines.
pub fn listening_address(
    stderr: std::process::ChildStderr,
    mut seen: impl FnMut(&str),
) -> (
    String,
    std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
) {
    let mut lines = std::io::BufReader::new(stderr).lines();
    for line in lines.by_ref().take(1000) {
        let line = line.expect("stderr is text");
        seen(&line);
        if let Some(rest) = line.split("serving on http://").nth(1) {
            let address = rest.split('/').next().unwrap().to_owned();
            return (address, lines);
        }
    }
    panic!("serve never said where it listens");
}

/// The service's catalog (`GET /api/runs`): an entry a run.
pub fn catalog(address: &str) -> Vec<serde_json::Value> {
    let (_, body) = http_get(address, "/api/runs").expect("the service answers");
    let runs: serde_json::Value = serde_json::from_slice(&body).unwrap();
    runs["runs"]
        .as_array()
        .expect("the catalog lists runs")
        .clone()
}

/// The iterations the service's catalog reports for `seed`.
pub fn logged(address: &str, seed: u64) -> u64 {
    catalog(address)
        .iter()
        .find(|r| r["seed"] == seed)
        .map_or(0, |r| r["iterations"].as_u64().unwrap())
}

/// `tests/memory.rs`'s reads at once: three whole downloads of `csv`, three of
/// `series` and a hundred of `cached`. Each thread's download (a thread that panicked:
/// a download cut off), the six, then the hundred.
#[allow(clippy::type_complexity)] // the two lists of results, as they come
pub fn reads_at_once(
    address: &str,
    csv: &str,
    series: &str,
    cached: &str,
) -> (
    Vec<std::thread::Result<(u16, String, u64)>>,
    Vec<std::thread::Result<(u16, String, u64)>>,
) {
    let spawn = |path: &str| {
        let (address, path) = (address.to_owned(), path.to_owned());
        std::thread::spawn(move || download(&address, &path))
    };
    let readers: Vec<_> = [csv, csv, csv, series, series, series]
        .into_iter()
        .map(spawn)
        .collect();
    let hits: Vec<_> = (0..100).map(|_| spawn(cached)).collect();
    (
        readers.into_iter().map(|r| r.join()).collect(),
        hits.into_iter().map(|h| h.join()).collect(),
    )
}

/// POSTs `request` (a run's JSON) to `/api/runs` on the server at `address`, asserts
/// it was taken (200 or 202), and returns the run's id.
pub fn post_run(address: &str, request: &str) -> String {
    let taken = crate::http::http_post(address, "/api/runs", request).expect("the server answers");
    assert!(
        matches!(taken.status, 200 | 202),
        "{}: {}",
        taken.status,
        String::from_utf8_lossy(&taken.body)
    );
    serde_json::from_slice::<serde_json::Value>(&taken.body).unwrap()["id"]
        .as_str()
        .expect("the answer names the run")
        .to_owned()
}

/// GETs `path` until it answers 200 (within two minutes); returns the body.
pub fn until_ok(address: &str, path: &str) -> Vec<u8> {
    let started = Instant::now();
    loop {
        if let Some((200, body)) = http_get(address, path) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{path} not ready within two minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops a serving process with SIGTERM and waits for it.
pub fn stop(mut server: Proc) {
    signal(&server.0.id().to_string(), "-TERM");
    let started = Instant::now();
    while server.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts that the run served as CSV equals the reference propagator's, byte for byte.
pub fn assert_reference(address: &str, n: u64, seed: u64) {
    let csv = until_ok(
        address,
        &format!("/api/propagate/{n}?seed={seed}&format=csv"),
    );
    let reference = run(&[
        "propagate",
        "--steps",
        &n.to_string(),
        "--seed",
        &seed.to_string(),
        "--format",
        "csv",
        "--engine",
        "reference",
    ])
    .stdout;
    assert_eq!(csv.len(), reference.len(), "records lost or duplicated");
    assert!(
        csv == reference,
        "the served run differs from the reference"
    );
}

/// The value of the counter `name` in the service's `/metrics`.
pub fn metric(address: &str, name: &str) -> u64 {
    let (_, body) = http_get(address, "/metrics").expect("the service answers");
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Waits until every run of `ids` is complete (none stopped, within 300 s).
pub fn until_all_complete(address: &str, ids: &[String]) {
    let started = Instant::now();
    let mut waiting = ids.to_vec();
    while !waiting.is_empty() {
        waiting.retain(|id| {
            let (_, body) = http_get(address, &format!("/api/runs/{id}/status")).unwrap();
            let status: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_ne!(status["status"], "stopped", "{status}");
            status["status"] != "complete"
        });
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "{} of {} runs did not complete",
            waiting.len(),
            ids.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Screens run `id` (its latest version) at `d` km through `POST
/// /api/runs/{id}/screenings` on the server at `address`, with extra `headers` (a
/// token), and waits for the job: the job's final document (`state` done or failed),
/// or the 200's when the log kept one.
pub fn screened(address: &str, id: &str, d: f64, headers: &[(&str, &str)]) -> serde_json::Value {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    let body = serde_json::json!({"d": d}).to_string();
    let path = format!("/api/runs/{id}/screenings");
    let answer =
        crate::http::http_request(address, "127.0.0.1", "POST", &path, &all, body.as_bytes())
            .expect("the server answers");
    let doc: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_else(|_| {
        panic!(
            "{}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )
    });
    if answer.status == 200 {
        return doc;
    }
    assert_eq!(answer.status, 202, "{doc}");
    job_end(address, answer.header("location").expect("a Location"))
}

/// Polls the screening job at `location` until it ends: its final document.
pub fn job_end(address: &str, location: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (status, body) = http_get(address, location).expect("the server answers");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if doc["state"] != "running" {
            return doc;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the screening at {location} did not end: {doc}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
