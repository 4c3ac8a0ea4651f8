//! The built `sedaro-nano` binary and the processes the tests start from it.

use std::ffi::OsStr;
use std::fmt::Debug;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nano_pipeline::orbit::OrbitState;

/// The `sedaro-nano` binary Cargo built for the test running: the path Cargo gives a
/// test of the binary's package, or else the binary beside the test's own directory
/// (`target/release/deps/TEST` beside `target/release/sedaro-nano`).
pub fn bin() -> Command {
    Command::new(binary_path())
}

fn binary_path() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_BIN_EXE_sedaro-nano") {
        return PathBuf::from(path);
    }
    let test = std::env::current_exe().expect("the test knows its own path");
    let path = test
        .parent()
        .and_then(Path::parent)
        .expect("a test runs from target/PROFILE/deps")
        .join("sedaro-nano");
    assert!(
        path.is_file(),
        "{path:?} is not built (cargo build --release)"
    );
    path
}

/// Runs the binary with `args` and returns what it did.
pub fn run(args: &[impl AsRef<OsStr>]) -> Output {
    bin()
        .args(args)
        .output()
        .expect("the sedaro-nano binary runs")
}

/// Runs the binary with `args` and returns its stdout, asserting that it succeeded
/// (its stderr is the failure's message).
pub fn stdout_of(args: &[impl AsRef<OsStr> + Debug]) -> Vec<u8> {
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
    let args = scenario_args("propagate", scenario, steps, "csv");
    stdout_of(&[&args[..], extra].concat())
}

/// Each body's states from the CSV `propagate` writes (`t,body,x,y,z,vx,vy,vz`, by
/// time then body), indexed by body.
pub fn states_of_csv(csv: &[u8]) -> Vec<Vec<OrbitState>> {
    let text = std::str::from_utf8(csv).expect("propagate writes UTF-8");
    let mut bodies: Vec<Vec<OrbitState>> = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
        let body = f[1] as usize;
        if bodies.len() <= body {
            bodies.resize(body + 1, Vec::new());
        }
        bodies[body].push(OrbitState {
            t: f[0],
            r: [f[2], f[3], f[4]],
            v: [f[5], f[6], f[7]],
        });
    }
    bodies
}

/// The arguments of `command --scenario scenario --steps steps --format format`
/// (`propagate`, `replay`).
pub fn scenario_args<'a>(
    command: &'a str,
    scenario: &'a str,
    steps: &'a str,
    format: &'a str,
) -> [&'a str; 7] {
    [
        command,
        "--scenario",
        scenario,
        "--steps",
        steps,
        "--format",
        format,
    ]
}

/// A child process that is killed when the test lets go of it.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether process `pid` is running: it exists and has not ended (a zombie, not yet
/// waited for, has).
pub fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

/// Sends `signal` (as `kill` takes it: `-9`, `-TERM`) to process `pid`, asserting it
/// was sent.
pub fn signal(pid: &str, signal: &str) {
    let sent = Command::new("kill")
        .args([signal, pid])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill {signal} {pid}");
}

/// Waits until the log at `data` has made an epoch durable (its commit mark exists),
/// for at most `within`.
pub fn until_committed(data: &Path, within: Duration) {
    let started = Instant::now();
    while !data.join("commit.mark").exists() {
        assert!(
            started.elapsed() < within,
            "nothing was committed to {data:?} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// CPU time (user + system) a process has used, in clock ticks, from /proc.
pub fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process is alive");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
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

/// Asserts that `sedaro-nano verify` finds no problems in the log at `data`.
pub fn assert_verified(data: &Path) {
    let verify = run(&["verify", "--data", data.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&verify.stdout).to_string()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.contains("no problems"),
        "{said}"
    );
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

/// The bytes of every file under `dir`, recursively.
pub fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
