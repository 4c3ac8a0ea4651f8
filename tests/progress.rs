//! Progress bars: `propagate`, `replay` and `verify` draw a progress bar on stderr
//! when it is a terminal, and write none of it when it is not. The terminal is a real
//! pseudo-terminal: the binary runs under util-linux's `script`.

use std::process::Command;

use nano_testing::process::{bin, run};

/// Runs `args` with stdout discarded and stderr on a pseudo-terminal; returns what the
/// terminal showed.
fn on_terminal(args: &[&str]) -> String {
    let exe = env!("CARGO_BIN_EXE_sedaro-nano");
    let line = format!("{exe} {} > /dev/null", args.join(" "));
    let out = Command::new("script")
        .args(["-qfec", &line, "/dev/null"])
        .output()
        .expect("util-linux's script runs (.ci/deps installs it)");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{line}: {shown}");
    shown
}

fn assert_no_bar(what: &str, stderr: &[u8]) {
    let text = String::from_utf8_lossy(stderr);
    assert!(
        !text.contains('\r') && !text.contains("/s") && !text.contains("elapsed"),
        "{what}: bar bytes on a stderr that is not a terminal: {text:?}"
    );
}

#[test]
fn propagate_and_replay_draw_a_bar_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();

    let shown = on_terminal(&["propagate", "--steps", "300000", "--seed", "5"]);
    assert!(
        shown.contains("propagate [") && shown.contains("100% 300000/300000 iterations"),
        "{shown:?}"
    );
    assert!(
        shown.contains("/s") && shown.contains("left"),
        "rate and time left: {shown:?}"
    );

    let quiet = run(&["propagate", "--steps", "300000", "--seed", "5"]);
    assert!(quiet.status.success());
    assert!(
        quiet.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    let seed_6 = ["--steps", "200000", "--seed", "6", "--data", data];
    let logged = run(&[&["propagate"], &seed_6[..]].concat());
    assert!(logged.status.success());
    assert_no_bar("propagate --data", &logged.stderr);

    let shown = on_terminal(&[&["replay"], &seed_6[..]].concat());
    assert!(
        shown.contains("replay [") && shown.contains("200000/200000 iterations"),
        "{shown:?}"
    );
    let quiet = run(&[&["replay"], &seed_6[..]].concat());
    assert!(quiet.status.success());
    assert_no_bar("replay", &quiet.stderr);

    let shown = on_terminal(&[
        "propagate",
        "--steps",
        "200000",
        "--seed",
        "7",
        "--data",
        data,
    ]);
    assert!(
        shown.contains("propagate [") && shown.contains("200000/200000"),
        "{shown:?}"
    );
}

#[test]
fn verify_shows_its_time_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let logged = run(&["propagate", "--steps", "1000", "--data", data]);
    assert!(logged.status.success());

    let shown = on_terminal(&["verify", "--data", data]);
    assert!(
        shown.contains("verify ") && shown.contains("elapsed"),
        "{shown:?}"
    );

    let quiet = bin().args(["verify", "--data", data]).output().unwrap();
    assert!(quiet.status.success());
    assert_no_bar("verify", &quiet.stderr);
}

/// Twelve satellites for a day at a 10 s step: some 100,000 records, long enough for
/// the bar to draw more than once on a slow machine, and short for a test.
const SHELL: &str = r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z",
  "forces": ["point_mass", "j2"], "integrator": {"method": "dop853", "tolerance": 1e-10},
  "output_step_s": 10.0,
  "walker": {"i_deg": 53, "total": 12, "planes": 3, "phasing": 1, "altitude_km": 550}}"#;

#[test]
fn orbit_propagate_data_and_replay_draw_a_bar_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("log");
    let data = data.to_str().unwrap();
    let scenario = dir.path().join("shell.json");
    std::fs::write(&scenario, SHELL).unwrap();
    let scenario = scenario.to_str().unwrap();

    let steps = ["--steps", "8640", "--scenario", scenario, "--data", data];
    let shown = on_terminal(&[&["propagate"], &steps[..]].concat());
    assert!(
        shown.contains("propagate [") && shown.contains("100% 8640/8640 steps"),
        "{shown:?}"
    );
    assert!(
        shown.contains("/s") && shown.contains("left"),
        "rate and time left: {shown:?}"
    );
    let shown = on_terminal(&[&["replay"], &steps[..]].concat());
    assert!(
        shown.contains("replay [") && shown.contains("100% 8640/8640 steps"),
        "{shown:?}"
    );

    // Not a terminal: the same commands (the run now logged, and a new one) write
    // nothing but the log's own lines to stderr.
    for args in [
        [&["replay"], &steps[..]].concat(),
        [&["propagate"], &steps[..]].concat(),
        [
            &["propagate", "--workers", "2"],
            &["--steps", "100", "--scenario", scenario, "--data", data][..],
        ]
        .concat(),
    ] {
        let quiet = run(&args);
        assert!(quiet.status.success(), "{args:?}: {quiet:?}");
        assert_no_bar(&args.join(" "), &quiet.stderr);
    }
}
