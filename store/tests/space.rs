//! Disk space: a log whose last snapshot was interrupted still opens, the ballast is
//! kept, a run past the quota is refused before it starts, and runs admitted together hold it.

use nano_store::space::{BALLAST_BYTES, BALLAST_NAME, BYTES_PER_ITERATION, BYTES_PER_STATE};
use nano_store::{Block, Error, Log, LogOptions, Record, RunKey};

/// Logs one iteration of seed 7 (one record of body 0).
fn log_one_record(log: &Log) -> Record {
    let record = Record {
        t0: 0.0,
        t1: 0.5,
        body: 0,
        iteration: 0,
        state: [1.0, 2.0, 0.0, 0.0, 0.1, 0.0],
    };
    log.append(&[Block {
        run: RunKey::nano(7),
        bodies: 2,
        target: 1,
        first_iteration: 0,
        end: 1,
        records: &[record],
        checkpoint: &[vec![1, 2, 3]],
        document: None,
    }])
    .unwrap();
    record
}

#[test]
fn a_log_left_with_an_empty_interrupted_snapshot_opens_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let record = {
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        log_one_record(&log)
    };
    // What sled 0.34 leaves when its snapshot write fails on a full volume; sled alone
    // then refuses every open with "Read corrupted data".
    let stale = dir.path().join("snap.00000000FFFFFFFF.generating");
    std::fs::write(&stale, b"").unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.get(RunKey::nano(7), 0.25).unwrap(), vec![record]);
    assert!(!stale.exists());
    assert!(log.verify().unwrap().is_ok());
}

#[test]
fn the_log_keeps_a_ballast_and_refuses_runs_past_its_quota() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        max_bytes: Some(1 << 20),
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), options).unwrap();
    log_one_record(&log);
    let ballast = std::fs::metadata(dir.path().join(BALLAST_NAME)).unwrap();
    assert_eq!(ballast.len(), BALLAST_BYTES);
    assert!(log.read_only().unwrap().is_none());
    let admitted = log.admit(nano(), 2, 1_000).unwrap();
    assert_eq!(admitted.bytes(), 1_000 * BYTES_PER_ITERATION);
    match log.admit(nano(), 2, 1_000_000) {
        Err(e @ Error::QuotaReached { .. }) => {
            assert!(e.to_string().contains("--max-log-gb"), "{e}")
        }
        other => panic!("a million iterations past a 1 MiB quota: {other:?}"),
    }
}

#[test]
fn runs_admitted_together_hold_the_quota_until_they_end() {
    let dir = tempfile::tempdir().unwrap();
    // Room for exactly three runs of 100,000 iterations beside what the log holds (its
    // size changes as sled opens it, but stays under 1 MiB, a fraction of a run).
    let run = 100_000 * BYTES_PER_ITERATION;
    let options = LogOptions {
        max_bytes: Some((1 << 20) + 3 * run + run / 2),
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), options).unwrap();
    assert!(log.size_on_disk().unwrap() < 1 << 20);
    let mut held: Vec<_> = (0..3)
        .map(|_| log.admit(nano(), 2, 100_000).unwrap())
        .collect();
    assert_eq!(log.reserved(), 3 * run);
    match log.admit(nano(), 2, 100_000) {
        Err(e @ Error::QuotaReached { .. }) => {
            assert!(e.to_string().contains("more reserved"), "{e}")
        }
        other => panic!("a fourth run beside three in flight: {other:?}"),
    }
    // A run that ends gives its room back; a resumed run takes room unchecked.
    held.pop();
    assert_eq!(log.reserved(), 2 * run);
    held.push(log.admit(nano(), 2, 100_000).unwrap());
    let resumed = log.reserve(nano(), 2, 100_000);
    assert_eq!(log.reserved(), 4 * run);
    assert!(log.admit(nano(), 2, 1).is_err());
    drop((held, resumed));
    assert_eq!(log.reserved(), 0);
}

fn nano() -> RunKey {
    RunKey::nano(1)
}

#[test]
fn an_orbit_runs_estimate_counts_its_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        max_bytes: Some(1 << 30),
        ..LogOptions::default()
    };
    let log = Log::open(dir.path(), options).unwrap();
    let shell = RunKey::orbit(nano_store::RunId([7; 16]));
    // 100,000 steps of one body fit in 1 GiB; of a shell of 100,000 bodies, not.
    let one = log.admit(shell, 1, 100_000).unwrap();
    assert_eq!(one.bytes(), 100_000 * BYTES_PER_STATE);
    drop(one);
    match log.admit(shell, 100_000, 100_000) {
        Err(e @ Error::QuotaReached { .. }) => {
            let text = e.to_string();
            let estimate = (100_000u64 * 100_000 * BYTES_PER_STATE).to_string();
            assert!(
                text.contains("of 100000 bodies")
                    && text.contains(&estimate)
                    && text.contains("quota of 1073741824 bytes"),
                "{text}"
            );
        }
        other => panic!("a shell of 100,000 bodies x 100,000 steps under 1 GiB: {other:?}"),
    }
    assert_eq!(log.reserved(), 0);
}
