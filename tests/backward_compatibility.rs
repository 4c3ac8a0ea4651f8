//! A log of format version 1 (before orbit scenarios), as a SIGKILL left it, with what
//! that build printed from it (`testdata/log-v1`, made as its README says): this build
//! opens it (converting it to the current format), verifies it clean, replays the bytes
//! that build replayed, lists the same catalog, and continues its cut-short run to the
//! fresh run's output, as redb tests its old files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nano_testing::process::{run, stdout_of};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/log-v1")
}

/// A copy of the version-1 log: opening converts it in place.
fn copy_of_v1_log() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(testdata().join("data")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn arg(dir: &Path) -> &str {
    dir.to_str().expect("temporary paths are UTF-8")
}

fn expected(name: &str) -> Vec<u8> {
    std::fs::read(testdata().join(name)).unwrap()
}

/// The log's sled database, opened beneath the store. sled lets go of its lock a
/// moment after the process that held it exits.
fn raw_sled(dir: &Path) -> sled::Db {
    let started = Instant::now();
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if started.elapsed() < Duration::from_secs(5) => {
                assert!(e.to_string().contains("lock"), "{e}");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

fn format_version(dir: &Path) -> u32 {
    let db = raw_sled(dir);
    let v = db.get(nano_store::encoding::VERSION_KEY).unwrap().unwrap();
    u32::from_be_bytes(v.as_ref().try_into().unwrap())
}

/// Replays both runs and lists the catalog: each as that build printed it.
fn assert_reads_as_version_1_did(data: &str) {
    let seven = stdout_of(&["replay", "--steps", "300", "--seed", "7", "--data", data]);
    assert!(
        seven == expected("replay-seed7-300.json"),
        "seed 7 replays other bytes"
    );
    let eight = stdout_of(&[
        "replay", "--steps", "450", "--seed", "8", "--format", "csv", "--data", data,
    ]);
    assert!(
        eight == expected("replay-seed8-450.csv"),
        "seed 8 replays other bytes"
    );
    let runs = stdout_of(&["runs", "--json", "--data", data]);
    assert_eq!(
        String::from_utf8(runs).unwrap(),
        String::from_utf8(expected("runs.json")).unwrap()
    );
}

#[test]
fn a_version_1_log_opens_verifies_clean_and_replays_the_bytes_it_replayed_then() {
    let dir = copy_of_v1_log();
    let data = arg(dir.path());
    assert_eq!(format_version(dir.path()), 1);
    let report = String::from_utf8(stdout_of(&["verify", "--data", data])).unwrap();
    assert!(
        report.contains("checked 2 runs, 19 blocks, 1198 records, 0 series: no problems"),
        "{report}"
    );
    // The first open converted it.
    assert_eq!(
        format_version(dir.path()),
        nano_store::encoding::FORMAT_VERSION
    );
    assert_reads_as_version_1_did(data);
    // A version-1 key is left nowhere.
    let db = raw_sled(dir.path());
    let tree = db.open_tree("log").unwrap();
    assert_eq!(tree.range(..&nano_store::encoding::v1::END[..]).count(), 0);
}

#[test]
fn a_conversion_cut_short_is_finished_by_the_next_open() {
    let dir = copy_of_v1_log();
    {
        // Convert the first 40 of its 86 keys as the store does, and stop, as a crash
        // would.
        let db = raw_sled(dir.path());
        let tree = db.open_tree("log").unwrap();
        let keys: Vec<_> = tree
            .range(..&nano_store::encoding::v1::END[..])
            .take(40)
            .map(|kv| kv.unwrap())
            .collect();
        assert_eq!(keys.len(), 40);
        let mut batch = sled::Batch::default();
        for (key, value) in keys {
            for (k, v) in nano_store::encoding::v1::convert(&key, &value).unwrap() {
                batch.insert(k, v);
            }
            batch.remove(key);
        }
        tree.apply_batch(batch).unwrap();
        db.flush().unwrap();
        assert_eq!(tree.range(..&nano_store::encoding::v1::END[..]).count(), 46);
    }
    let data = arg(dir.path());
    let report = String::from_utf8(stdout_of(&["verify", "--data", data])).unwrap();
    assert!(
        report.contains("1198 records, 0 series: no problems"),
        "{report}"
    );
    assert_reads_as_version_1_did(data);
}

#[test]
fn a_run_cut_short_in_a_version_1_log_continues_to_the_fresh_runs_output() {
    let propagate = [
        "propagate",
        "--steps",
        "20000",
        "--seed",
        "8",
        "--format",
        "csv",
    ];
    let fresh = stdout_of(&propagate);
    for engine in ["reference", "dataflow"] {
        let dir = copy_of_v1_log();
        let data = arg(dir.path());
        let out = run(&[&propagate[..], &["--engine", engine, "--data", data]].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == fresh,
            "{engine}: the continued run differs from a fresh one"
        );
        if engine == "reference" {
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(
                said.contains("replaying the 450 iterations logged"),
                "{said}"
            );
        }
        let report = String::from_utf8(stdout_of(&["verify", "--data", data])).unwrap();
        assert!(report.contains("no problems"), "{engine}: {report}");
        let replayed = stdout_of(&[
            "replay", "--steps", "20000", "--seed", "8", "--format", "csv", "--data", data,
        ]);
        assert!(replayed == fresh, "{engine}: the log replays other bytes");
        let runs: serde_json::Value =
            serde_json::from_slice(&stdout_of(&["runs", "--json", "--data", data])).unwrap();
        assert_eq!(runs[1]["iterations"], 20000, "{runs}");
        assert_eq!(runs[1]["complete"], true, "{runs}");
    }
}
