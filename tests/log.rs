//! The log through the command line: crash and resume, replay, the catalog, verify.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use nano_testing::golden::golden_runs;
use nano_testing::process::{assert_same_output, assert_verified, bin, run, until_committed};
use nano_testing::server::{assert_reference, serve, stop};

fn data_arg(dir: &Path) -> String {
    dir.to_str().expect("temporary paths are UTF-8").to_owned()
}

fn spawn(args: &[&str]) -> Child {
    bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sedaro-nano binary starts")
}

#[test]
fn a_run_killed_mid_way_verifies_shows_partial_and_resumes_to_the_fresh_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let steps = "5000000";
    let mut doomed = bin()
        .args(["propagate", "--steps", steps, "--data", &data])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some blocks are logged (the catalog exists), then a little more.
    until_committed(dir.path(), Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(1000));
    doomed.kill().unwrap(); // SIGKILL
    let status = doomed.wait().unwrap();
    assert!(
        !status.success(),
        "the run finished before it could be killed"
    );

    let verify = run(&["verify", "--data", &data]);
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success(),
        "verify after SIGKILL: {report}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    assert!(report.contains("no problems"), "{report}");

    let runs = run(&["runs", "--data", &data, "--json"]);
    assert!(runs.status.success());
    let catalog: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    let entry = &catalog[0];
    assert_eq!(entry["seed"], 0);
    assert_eq!(entry["complete"], false, "{entry}");
    assert_eq!(entry["target"], 5_000_000);
    let logged = entry["iterations"].as_u64().unwrap();
    assert!(logged > 0 && logged < 5_000_000, "{entry}");

    let resumed = spawn(&["propagate", "--steps", steps, "--data", &data]);
    let fresh = spawn(&["propagate", "--steps", steps]);
    let bytes = assert_same_output(resumed, fresh);
    assert!(
        bytes > 1_000_000_000,
        "{bytes} bytes is too little for 5,000,000 iterations"
    );

    let runs = run(&["runs", "--data", &data, "--json"]);
    let catalog: serde_json::Value = serde_json::from_slice(&runs.stdout).unwrap();
    assert_eq!(catalog[0]["complete"], true);
    assert_eq!(catalog[0]["iterations"], 5_000_000);
    assert!(run(&["verify", "--data", &data]).status.success());
}

#[test]
fn resuming_says_so_and_replay_of_a_prefix_equals_the_golden_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let first = run(&[
        "propagate",
        "--steps",
        "6000",
        "--seed",
        "42",
        "--data",
        &data,
        "--block",
        "1000",
    ]);
    assert!(first.status.success());
    assert!(String::from_utf8_lossy(&first.stderr).contains("computing"));
    let longer = run(&[
        "propagate",
        "--steps",
        "10000",
        "--seed",
        "42",
        "--data",
        &data,
    ]);
    assert!(longer.status.success());
    let said = String::from_utf8_lossy(&longer.stderr);
    assert!(
        said.contains("replaying the 6000 iterations") && said.contains("computing the rest"),
        "{said}"
    );
    assert_eq!(
        longer.stdout,
        run(&["propagate", "--steps", "10000", "--seed", "42"]).stdout
    );

    let golden = golden_runs()
        .into_iter()
        .find(|g| (g.n, g.seed) == (2000, 42))
        .unwrap();
    let replay = run(&["replay", "--steps", "2000", "--seed", "42", "--data", &data]);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(
        replay.stdout == golden.bytes(),
        "replay of (2000, 42) is not the golden file"
    );

    let again = run(&[
        "propagate",
        "--steps",
        "2000",
        "--seed",
        "42",
        "--data",
        &data,
    ]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("replaying 2000 of the 10000"));
    assert!(again.stdout == golden.bytes());
}

#[test]
fn replay_of_a_run_the_log_lacks_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    assert!(run(&[
        "propagate",
        "--steps",
        "100",
        "--seed",
        "5",
        "--data",
        &data
    ])
    .status
    .success());
    for (steps, seed) in [("101", "5"), ("10", "6")] {
        let out = run(&["replay", "--steps", steps, "--seed", seed, "--data", &data]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("but {steps} were asked for")),
            "{stderr}"
        );
        assert!(stderr.contains(&format!("seed {seed}")), "{stderr}");
        assert!(out.stdout.is_empty(), "a refused replay wrote output");
    }
}

#[test]
fn a_log_a_running_service_holds_is_refused_as_in_use_and_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let (server, address) = serve(dir.path(), &[]);
    assert_reference(&address, 300, 4);
    for args in [
        &["propagate", "--steps", "10", "--data", &data][..],
        &["verify", "--data", &data],
        &["runs", "--data", &data],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("is in use by another process"), "{stderr}");
        assert!(out.stdout.is_empty(), "{args:?} wrote output");
    }
    stop(server);
    assert_verified(dir.path());
    let replay = run(&["replay", "--steps", "300", "--seed", "4", "--data", &data]);
    assert!(replay.status.success());
}

#[test]
fn runs_lists_the_catalog_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let empty = run(&["runs", "--data", &data]);
    assert!(String::from_utf8_lossy(&empty.stdout).contains("no runs logged"));
    for seed in ["3", "1"] {
        assert!(run(&[
            "propagate",
            "--steps",
            "300",
            "--seed",
            seed,
            "--data",
            &data
        ])
        .status
        .success());
    }
    let table = String::from_utf8(run(&["runs", "--data", &data]).stdout).unwrap();
    let lines: Vec<_> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].contains("SEED") && lines[0].contains("STATUS"));
    assert!(
        lines[1].contains(" 1 ") && lines[1].contains("complete"),
        "{table}"
    );
    assert!(lines[2].contains(" 3 "), "{table}");
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["runs", "--data", &data, "--json"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["iterations"], 300);
}

/// Copies the files of a log directory.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn verify_reports_a_damaged_log_and_replay_never_serves_wrong_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    let data = data_arg(&pristine);
    assert!(run(&[
        "propagate",
        "--steps",
        "20000",
        "--seed",
        "9",
        "--data",
        &data
    ])
    .status
    .success());
    let truth = run(&["propagate", "--steps", "20000", "--seed", "9"]).stdout;
    let mut detected = 0;
    let trials = 8;
    for trial in 0..trials {
        // A fresh copy, damaged at a different place each time (damage that lands in
        // space sled no longer uses harms nothing, and verify rightly passes).
        let copy = dir.path().join(format!("trial-{trial}"));
        copy_dir(&pristine, &copy);
        let db = copy.join("db");
        let mut bytes = std::fs::read(&db).unwrap();
        let at = bytes.len() * (2 * trial + 1) / (2 * trials);
        let end = (at + 64).min(bytes.len());
        bytes[at..end].iter_mut().for_each(|b| *b ^= 0xFF);
        std::fs::write(&db, bytes).unwrap();

        let data = data_arg(&copy);
        let verify = run(&["verify", "--data", &data]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        let replay = run(&["replay", "--steps", "20000", "--seed", "9", "--data", &data]);
        if verify.status.success() {
            assert!(said.contains("no problems"), "trial {trial}: {said}");
            assert!(
                replay.status.success() && replay.stdout == truth,
                "trial {trial}: verify passed, so replay must serve it all"
            );
            continue;
        }
        detected += 1;
        assert_eq!(verify.status.code(), Some(1), "trial {trial}: {said}");
        assert!(
            said.contains("corrupt") || said.contains("PROBLEMS"),
            "trial {trial}: {said}"
        );
        // A replay that succeeds served the run, all of it and exactly. One that
        // fails streamed: what it wrote before meeting the damage is a true prefix of
        // the run, shorter than the run, and it stopped there with status 1.
        if replay.status.success() {
            assert!(
                replay.stdout == truth,
                "trial {trial}: replay succeeded with {} bytes of {} (or wrong bytes)",
                replay.stdout.len(),
                truth.len()
            );
        } else {
            assert_eq!(replay.status.code(), Some(1), "trial {trial}");
            assert!(
                replay.stdout.len() < truth.len(),
                "trial {trial}: replay failed after writing the whole run"
            );
            assert!(
                truth.starts_with(&replay.stdout),
                "trial {trial}: a damaged log served wrong bytes"
            );
        }
    }
    assert!(detected > 0, "none of {trials} damaged copies was detected");
}

/// One chunk in the middle of a logged run is damaged beneath the store (sled itself
/// is intact, so the log opens). A replay streams the run: it writes the records
/// before the damage, which are a true prefix of the run, then stops with status 1
/// and a message naming the block; it never ends as if the run were whole.
#[test]
fn a_damaged_chunk_stops_a_replay_with_status_1_after_a_true_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_arg(dir.path());
    let (steps, seed, block) = (20_000u64, 9u64, 4096u64);
    let written = run(&[
        "propagate",
        "--steps",
        &steps.to_string(),
        "--seed",
        &seed.to_string(),
        "--block",
        &block.to_string(),
        "--data",
        &data,
    ]);
    assert!(written.status.success());
    {
        // sled lets go of its lock a moment after the process exits.
        let started = std::time::Instant::now();
        let db = loop {
            match sled::open(dir.path()) {
                Ok(db) => break db,
                Err(e) if started.elapsed() < Duration::from_secs(5) => {
                    assert!(e.to_string().contains("lock"), "{e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("{e}"),
            }
        };
        let tree = db.open_tree("log").unwrap();
        let key = nano_store::encoding::chunk_key(nano_store::RunKey::nano(seed), 2 * block, 1, 0);
        let mut value = tree
            .get(key)
            .unwrap()
            .expect("the third block's chunk")
            .to_vec();
        value[40] ^= 0x01;
        tree.insert(key, value).unwrap();
        db.flush().unwrap();
    }
    let truth = run(&[
        "propagate",
        "--steps",
        &steps.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .stdout;
    let replay = run(&[
        "replay",
        "--steps",
        &steps.to_string(),
        "--seed",
        &seed.to_string(),
        "--data",
        &data,
    ]);
    let said = String::from_utf8_lossy(&replay.stderr);
    assert_eq!(replay.status.code(), Some(1), "{said}");
    assert!(
        said.contains(&format!("block from iteration {}", 2 * block)),
        "{said}"
    );
    assert!(
        !replay.stdout.is_empty() && replay.stdout.len() < truth.len(),
        "{} of {} bytes written",
        replay.stdout.len(),
        truth.len()
    );
    assert!(
        truth.starts_with(&replay.stdout),
        "the replay wrote wrong bytes"
    );
}
