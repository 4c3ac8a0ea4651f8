//! The `propagate` command as a user runs it: output, formats, errors and pipes.

use std::io::Read;
use std::process::Stdio;

use nano_testing::golden::{assert_reproduces, golden_runs, records};
use nano_testing::process::{bin, run};

#[test]
fn propagate_writes_every_golden_run_byte_for_byte() {
    for golden in golden_runs() {
        let out = run(&[
            "propagate",
            "--steps",
            &golden.n.to_string(),
            "--seed",
            &golden.seed.to_string(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc = serde_json::from_slice(&out.stdout).expect("propagate writes JSON");
        assert_reproduces(&doc, &golden.document());
        assert!(
            out.stdout == golden.bytes(),
            "n={} seed={}: not byte for byte",
            golden.n,
            golden.seed
        );
    }
}

#[test]
fn csv_holds_the_same_records_as_json() {
    let json = run(&["propagate", "--steps", "500", "--seed", "3"]);
    let csv = run(&[
        "propagate",
        "--steps",
        "500",
        "--seed",
        "3",
        "--format",
        "csv",
    ]);
    assert!(json.status.success() && csv.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let text = String::from_utf8(csv.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("t0,t1,agent,x,y,vx,vy,nextTimeStep,iteration")
    );
    let rows: Vec<_> = lines.collect();
    let json_rows = records(&doc);
    assert_eq!(rows.len(), json_rows.len());
    for (line, row) in rows.iter().zip(json_rows) {
        let fields: Vec<&str> = line.split(',').collect();
        let values = row.as_array().unwrap();
        assert_eq!(fields.len(), values.len());
        for (field, value) in fields.iter().zip(values) {
            match value {
                serde_json::Value::String(agent) => assert_eq!(field, agent),
                number => assert_eq!(field.parse::<f64>().unwrap(), number.as_f64().unwrap()),
            }
        }
    }
}

#[test]
fn the_default_seed_is_zero() {
    let default = run(&["propagate", "--steps", "50"]);
    let zero = run(&["propagate", "--steps", "50", "--seed", "0"]);
    assert!(default.status.success());
    assert_eq!(default.stdout, zero.stdout);
}

#[test]
fn bad_arguments_are_named_and_exit_with_status_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["propagate", "--steps", "abc"], "--steps"),
        (&["propagate", "--steps", "0"], "--steps"),
        (&["propagate", "--steps", "-5"], "--steps"),
        (&["propagate", "--steps", "1.5"], "--steps"),
        (
            &["propagate", "--steps", "99999999999999999999999"],
            "--steps",
        ),
        (&["propagate"], "--steps"),
        (&["propagate", "--steps", "3", "--seed", "-1"], "--seed"),
        (&["propagate", "--steps", "3", "--seed", "x"], "--seed"),
        (
            &["propagate", "--steps", "3", "--format", "xml"],
            "--format",
        ),
        (&["propagate", "--steps", "3", "--bogus"], "--bogus"),
        (&["transmogrify"], "transmogrify"),
    ];
    for (args, named) in cases {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(named),
            "{args:?} should name {named}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} wrote to stdout");
    }
}

#[test]
fn a_reader_that_stops_early_ends_the_run_quietly() {
    // The reference propagator's broken pipe is an io::Error; the dataflow's is the
    // pipeline's Output error, whose source is the io::Error.
    for engine in [&["reference"][..], &["dataflow", "--workers", "2"]] {
        let mut child = bin()
            .args([
                "propagate",
                "--steps",
                "10000000",
                "--format",
                "csv",
                "--engine",
            ])
            .args(engine)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 4096];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut head)
            .unwrap();
        drop(child.stdout.take());
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "{engine:?}: exit {status}: {stderr}");
        // Nothing but the engine's log line for the job it stopped.
        let said: Vec<_> = stderr
            .lines()
            .filter(|l| !l.contains("job ended"))
            .collect();
        assert!(said.is_empty(), "{engine:?}: {said:?}");
        assert!(head.starts_with(b"t0,t1,agent,"));
    }
}

#[test]
fn help_explains_every_flag() {
    let out = run(&["propagate", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--steps", "--seed", "--format", "json", "csv"] {
        assert!(
            help.contains(flag),
            "--help does not mention {flag}:\n{help}"
        );
    }
}
