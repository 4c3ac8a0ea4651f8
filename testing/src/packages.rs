//! Files of packages installed from public registries, read by the tests where they
//! lie (never copied into the repository: some have no stated licence). `.ci/deps`
//! installs them: PyPI's `sgp4`, `gpconf` and `skyfield` with pip, crates.io's
//! `satellite` by `cargo fetch` of `testing/packages/Cargo.toml`. A missing package
//! fails the test that needs it with a message saying to run `bash .ci/deps`.

use std::path::PathBuf;
use std::process::Command;

/// The directory of an installed python package (`python3 -c 'import NAME'`) whose
/// `__version__` (or, without one, the installed distribution's version) is
/// `version`.
///
/// # Panics
///
/// When python3 or the package is missing, or its version is another: the message
/// says to run `bash .ci/deps`.
pub fn python_package(name: &str, version: &str) -> PathBuf {
    let script = format!(
        "import os, importlib.metadata as m, {name} as p\n\
         v = getattr(p, '__version__', None) or m.version('{name}')\n\
         print(v)\nprint(os.path.dirname(p.__file__))"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap_or_else(|e| panic!("python3 does not run ({e}): run `bash .ci/deps`"));
    assert!(
        out.status.success(),
        "the python package {name} {version} is not installed (run `bash .ci/deps`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("python prints UTF-8");
    let mut lines = text.lines();
    let (found, dir) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
    assert_eq!(
        found, version,
        "python's {name} is {found}, the tests need {version}: run `bash .ci/deps`"
    );
    PathBuf::from(dir)
}

/// The unpacked source of a crates.io package, `NAME-VERSION` under
/// `$CARGO_HOME/registry/src/*/` (`$CARGO_HOME` defaulting to `~/.cargo`).
///
/// # Panics
///
/// When it is not there: the message says to run `bash .ci/deps`.
pub fn crate_source(name: &str, version: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME is set");
    let registry = home.join("registry").join("src");
    let wanted = format!("{name}-{version}");
    let found = std::fs::read_dir(&registry)
        .into_iter()
        .flatten()
        .flatten()
        .map(|index| index.path().join(&wanted))
        .find(|dir| dir.is_dir());
    found.unwrap_or_else(|| {
        panic!(
            "the crate {wanted} is not unpacked under {} (run `bash .ci/deps`, which fetches testing/packages/Cargo.toml)",
            registry.display()
        )
    })
}

/// A file of a package directory, read whole.
///
/// # Panics
///
/// When it cannot be read: the message names it and says to run `bash .ci/deps`.
pub fn read(dir: &std::path::Path, file: &str) -> Vec<u8> {
    let path = dir.join(file);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{} cannot be read ({e}): run `bash .ci/deps`",
            path.display()
        )
    })
}

/// crates.io's `satellite` 0.1.2's `tests/tle.txt`: 25,975 two-line element sets of
/// the public catalogue (epochs 2017-2022).
pub fn satellite_tle_txt() -> Vec<u8> {
    read(&crate_source("satellite", "0.1.2"), "tests/tle.txt")
}

/// Runs `script` with python3, `input` as JSON on its standard input, and reads its
/// standard output as JSON.
///
/// # Panics
///
/// When python3 fails (its standard error is in the message) or prints no JSON.
pub fn python_json(script: &str, input: &serde_json::Value) -> serde_json::Value {
    use std::io::Write;
    use std::process::Stdio;

    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 does not run ({e}): run `bash .ci/deps`"));
    let body = serde_json::to_vec(input).expect("JSON");
    let mut stdin = child.stdin.take().expect("piped");
    // Written from a thread: python may fill its output pipe before reading all.
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().expect("python3 ran");
    writer
        .join()
        .expect("the writer")
        .expect("python3 read its input");
    assert!(
        out.status.success(),
        "python3 failed ({}); if a package is missing run `bash .ci/deps`:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "python3 printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}
