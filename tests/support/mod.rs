//! Fixtures shared by the whole-process tests: the built binary and the golden runs.

#![allow(dead_code)] // each test file uses its own part of the support module

pub mod crossing;
pub mod kepler;
pub mod series;
pub mod tmpfs;

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The tolerance `docs/model.md` grants every float of a golden record.
pub const TOLERANCE: f64 = 1e-9;

/// The `sedaro-nano` binary Cargo built for these tests.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sedaro-nano"))
}

/// Runs the binary with `args` and returns what it did.
pub fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .output()
        .expect("the sedaro-nano binary runs")
}

/// Runs the binary with `args` and returns its stdout, asserting that it succeeded
/// (its stderr is the failure's message).
pub fn stdout_of(args: &[&str]) -> Vec<u8> {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes `text` to `dir/name` (a scenario document, say) and returns its path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The CSV `propagate --scenario` writes for `steps` steps of `scenario`, with the
/// `extra` flags (workers, hostfile, data...).
pub fn propagate_csv(scenario: &str, steps: &str, extra: &[&str]) -> Vec<u8> {
    let args = [
        &[
            "propagate",
            "--scenario",
            scenario,
            "--steps",
            steps,
            "--format",
            "csv",
        ][..],
        extra,
    ]
    .concat();
    stdout_of(&args)
}

/// One golden run from `testdata/golden`: made by an independent implementation of
/// `docs/model.md`.
pub struct Golden {
    pub n: u64,
    pub seed: u64,
    pub path: PathBuf,
}

impl Golden {
    /// The golden document's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).expect("golden files are readable")
    }

    /// The golden document, parsed.
    pub fn document(&self) -> Value {
        serde_json::from_slice(&self.bytes()).expect("golden files are JSON")
    }
}

/// Every golden run shipped with the project, smallest first.
pub fn golden_runs() -> Vec<Golden> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden");
    let mut runs: Vec<Golden> = std::fs::read_dir(&dir)
        .expect("testdata/golden exists")
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter_map(|path| {
            let name = path
                .file_stem()?
                .to_str()?
                .strip_prefix("nano-n")?
                .to_owned();
            let (n, seed) = name.split_once("-seed")?;
            Some(Golden {
                n: n.parse().ok()?,
                seed: seed.parse().ok()?,
                path,
            })
        })
        .collect();
    runs.sort_by_key(|g| g.n);
    assert!(runs.len() >= 3, "the golden runs are missing from {dir:?}");
    runs
}

/// Asserts that `actual` reproduces `golden` as `docs/model.md` demands: the same
/// header, the same record count and order, the same agent and iteration in each
/// record, and every float within [`TOLERANCE`].
pub fn assert_reproduces(actual: &Value, golden: &Value) {
    for field in ["model", "n", "seed", "columns"] {
        assert_eq!(actual[field], golden[field], "header field {field}");
    }
    let (got, want) = (records(actual), records(golden));
    assert_eq!(got.len(), want.len(), "record count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let (g, w) = (g.as_array().unwrap(), w.as_array().unwrap());
        assert_eq!(g.len(), 9, "record {i} has nine values");
        assert_eq!(g[2], w[2], "agent of record {i}");
        assert_eq!(g[8], w[8], "iteration of record {i}");
        for c in [0, 1, 3, 4, 5, 6, 7] {
            let (a, b) = (g[c].as_f64().unwrap(), w[c].as_f64().unwrap());
            assert!(
                (a - b).abs() <= TOLERANCE,
                "record {i}, column {c}: {a} differs from the golden {b}"
            );
        }
    }
}

/// The records of a run document.
pub fn records(doc: &Value) -> &Vec<Value> {
    doc["records"]
        .as_array()
        .expect("a run document has a records array")
}

/// A child process that is killed when the test lets go of it.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A hostfile of `processes` free ports on 127.0.0.1, written into `dir`.
pub fn hostfile(dir: &Path, processes: usize) -> PathBuf {
    let listeners: Vec<_> = (0..processes)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    let text: String = listeners
        .iter()
        .map(|l| format!("127.0.0.1:{}\n", l.local_addr().unwrap().port()))
        .collect();
    let path = dir.join("hosts");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts `sedaro-nano worker` as process `process` of the cluster in `hosts`.
pub fn spawn_worker(hosts: &Path, process: usize, workers: usize) -> Proc {
    Proc(
        bin()
            .args([
                "worker",
                "--hostfile",
                hosts.to_str().unwrap(),
                "--process",
                &process.to_string(),
            ])
            .args(["--workers", &workers.to_string(), "--peer-timeout", "30"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the worker starts"),
    )
}

/// CPU time (user + system) a process has used, in clock ticks, from /proc.
pub fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process is alive");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

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

/// A GET whose body is counted, not kept: the status, the head and the body's bytes
/// (chunk framing included).
pub fn download(address: &str, path: &str) -> (u16, String, u64) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buffer = vec![0u8; 1 << 16];
    let mut head = Vec::new();
    let mut in_body = false;
    let mut body = 0u64;
    loop {
        let read = stream.read(&mut buffer).unwrap();
        if read == 0 {
            break;
        }
        if in_body {
            body += read as u64;
            continue;
        }
        head.extend_from_slice(&buffer[..read]);
        if let Some(split) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            in_body = true;
            body = (head.len() - split - 4) as u64;
            head.truncate(split);
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, body)
}

/// The iterations the service's catalog reports for `seed`.
pub fn logged(address: &str, seed: u64) -> u64 {
    let (_, body) = http_get(address, "/api/runs").expect("the service answers");
    let runs: serde_json::Value = serde_json::from_slice(&body).unwrap();
    runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["seed"] == seed)
        .map_or(0, |r| r["iterations"].as_u64().unwrap())
}

/// The Kubernetes manifests as `kubectl kustomize cluster/k8s` renders them.
pub fn rendered_manifests() -> String {
    let out = Command::new("kubectl")
        .args(["kustomize", "cluster/k8s"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("kubectl runs (.ci/deps installs it)");
    assert!(
        out.status.success(),
        "kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `command` with `input` on its stdin; what it did.
pub fn piped(command: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{command:?} does not start: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
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

/// A tiny HTTP/1.1 GET over loopback: the status and the body.
pub fn http_get(address: &str, path: &str) -> Option<(u16, Vec<u8>)> {
    let response = http(address, "127.0.0.1", path, &[])?;
    Some((response.status, response.body))
}

/// What [`http`] read back.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// The status line and headers, as sent.
    pub head: String,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// An HTTP/1.1 GET of `path` with extra `headers`, from the loopback address `from`
/// (127.0.0.1, 127.0.0.2, ...: the whole 127/8 is loopback), to `address`.
pub fn http(
    address: &str,
    from: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<HttpResponse> {
    http_request(address, from, "GET", path, headers, b"")
}

/// An HTTP/1.1 POST of the JSON `body` to `path` on `address`, from 127.0.0.1.
pub fn http_post(address: &str, path: &str, body: &str) -> Option<HttpResponse> {
    http_request(
        address,
        "127.0.0.1",
        "POST",
        path,
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// A blocking connection to `address` from the loopback address `from` (127.0.0.1,
/// 127.0.0.2, ...: the whole 127/8 is loopback).
pub fn connect_from(address: &str, from: &str) -> Option<std::net::TcpStream> {
    let local: std::net::IpAddr = from.parse().expect("a loopback address");
    assert!(local.is_loopback(), "tests only talk over loopback");
    let remote: std::net::SocketAddr = address.parse().ok()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .ok()?;
    let stream = runtime
        .block_on(async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind((local, 0).into())?;
            socket.connect(remote).await
        })
        .ok()?
        .into_std()
        .ok()?;
    stream.set_nonblocking(false).ok()?;
    Some(stream)
}

/// An HTTP/1.1 request with `method`, extra `headers` and `body` (its length sent),
/// from the loopback address `from`, to `address`.
pub fn http_request(
    address: &str,
    from: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<HttpResponse> {
    use std::io::Write;
    let mut stream = connect_from(address, from)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .ok()?;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{extra}{length}\r\n"
    )
    .ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let mut body = response[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some(HttpResponse { status, head, body })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

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
    let pid = server.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
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

pub fn assert_verified(data: &Path) {
    let verify = run(&["verify", "--data", data.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&verify.stdout).to_string()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.contains("no problems"),
        "{said}"
    );
}

#[allow(unused_imports)] // not every test file uses both
pub use nano_cluster::redis_server::{private_ca, RedisServer};

/// A private redis-server on a free port (killed when dropped), answering PING.
pub fn redis_server() -> RedisServer {
    RedisServer::start(None).expect("redis-server starts (.ci/run installs it)")
}

/// The value of the counter `name` in the service's `/metrics`.
pub fn metric(address: &str, name: &str) -> u64 {
    let (_, body) = http_get(address, "/metrics").expect("the service answers");
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Process 0 of a cluster in this test process, with its peers in the hostfile at
/// `hosts` (started by the caller as `sedaro-nano worker`), no log.
pub fn cluster_engine(hosts: &Path, workers: usize) -> nano_pipeline::engine::Engine {
    use nano_pipeline::engine::{Engine, EngineConfig, Network};
    let hostfile =
        nano_cluster::hostfile::Hostfile::parse(&std::fs::read_to_string(hosts).unwrap()).unwrap();
    let sockets =
        nano_cluster::mesh::connect(&hostfile, 0, workers, Duration::from_secs(30)).unwrap();
    Engine::start(EngineConfig {
        workers,
        network: Some(Network {
            process: 0,
            sockets,
        }),
        block: 1000,
        log: None,
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    })
    .unwrap()
}

/// Asserts that two children write the same bytes to stdout, reading both as they
/// run (the outputs are too large to hold), and that both succeed.
pub fn assert_same_output(mut a: std::process::Child, mut b: std::process::Child) -> u64 {
    let (mut out_a, mut out_b) = (a.stdout.take().unwrap(), b.stdout.take().unwrap());
    let (mut buf_a, mut buf_b) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    let mut total = 0u64;
    loop {
        let n = out_a.read(&mut buf_a).unwrap();
        if n == 0 {
            assert_eq!(
                out_b.read(&mut buf_b[..1]).unwrap(),
                0,
                "the second output is longer, after {total} bytes"
            );
            break;
        }
        out_b
            .read_exact(&mut buf_b[..n])
            .unwrap_or_else(|e| panic!("the second output ends early, after {total} bytes: {e}"));
        assert!(
            buf_a[..n] == buf_b[..n],
            "the outputs differ within bytes {total}..{}",
            total + n as u64
        );
        total += n as u64;
    }
    for (name, child) in [("first", &mut a), ("second", &mut b)] {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            pipe.read_to_string(&mut stderr).unwrap();
        }
        assert!(status.success(), "the {name} run failed: {stderr}");
    }
    total
}

/// Raises this process's open-file limit to its hard limit (the clients' sockets), which
/// the served child inherits.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

/// The peak resident size of process `pid` so far, in bytes (VmHWM).
pub fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("Linux reports VmHWM");
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb << 10
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
