//! The sled log as a whole: round trips, range queries against the in-memory store,
//! refusal of bad blocks and other format versions, and corruption never served.

use std::path::Path;
use std::time::Duration;

use nano_store::{
    Block, Error, Log, LogOptions, MemoryRangeStore, QRangeStore, Record, RunId, RunKey,
};
use nano_testing::lcg::Lcg;
use proptest::prelude::*;

/// The checkpoint a synthetic run "needs" after `iterations`: bytes the store must
/// keep as they are (one slot per body, of different lengths).
fn checkpoint(seed: u64, iterations: u64, bodies: u32) -> Vec<Vec<u8>> {
    (0..bodies)
        .map(|b| {
            let mut bytes = iterations.to_le_bytes().to_vec();
            bytes.extend(seed.to_le_bytes());
            bytes.resize(16 + b as usize, b as u8);
            bytes
        })
        .collect()
}

/// A synthetic run of `iterations` iterations of two bodies: in each, each body steps
/// (by 0.01 to 0.1) or, now and then, waits. The store does not know the model; any
/// records that tile each body's timeline will do.
fn synthetic_run(seed: u64, iterations: u64) -> Vec<Record> {
    synthetic_bodies(seed, iterations, 2, 0.2)
}

/// A synthetic run of `bodies` bodies, each waiting in a fraction `wait` of the
/// iterations.
/// [`synthetic_bodies`] for an orbit run kept as chunks: its times start a little after
/// 0, so that no first block is ever whole rounds at an output step (one body's first
/// record `[0, t1)` is one, at step `t1`), which would keep the run as frames and
/// refuse its later, uneven blocks.
fn synthetic_chunked_orbit(seed: u64, iterations: u64, bodies: u32, wait: f64) -> Vec<Record> {
    let mut records = synthetic_bodies(seed, iterations, bodies, wait);
    for r in &mut records {
        r.t0 += 0.003;
        r.t1 += 0.003;
    }
    records
}

fn synthetic_bodies(seed: u64, iterations: u64, bodies: u32, wait: f64) -> Vec<Record> {
    let mut rng = Lcg(seed);
    let mut ends = vec![0.0f64; bodies as usize];
    let mut records = Vec::new();
    for iteration in 0..iterations {
        for body in 0..bodies {
            if rng.uniform() < wait {
                continue;
            }
            let t0 = ends[body as usize];
            let t1 = t0 + 0.01 + 0.09 * rng.uniform();
            let u = rng.uniform();
            records.push(Record {
                t0,
                t1,
                body,
                iteration,
                state: [u, -t1, t1 * u, 1.0 - u, 0.01 + u / 10.0, 0.0],
            });
            ends[body as usize] = t1;
        }
    }
    records
}

/// Appends `records` of a two-body run of `target` iterations to `log` in blocks of
/// `block` iterations from `from`.
fn append_run(log: &Log, run: RunKey, records: &[Record], target: u64, from: u64, block: u64) {
    append_bodies(log, run, 2, records, target, from, block)
}

fn append_bodies(
    log: &Log,
    run: RunKey,
    bodies: u32,
    records: &[Record],
    target: u64,
    from: u64,
    block: u64,
) {
    let mut start = from;
    while start < target {
        let end = (start + block).min(target);
        let lo = records.partition_point(|r| r.iteration < start);
        let hi = records.partition_point(|r| r.iteration < end);
        log.append(&[Block {
            run,
            bodies,
            target,
            first_iteration: start,
            end,
            records: &records[lo..hi],
            checkpoint: &checkpoint(run.seed().unwrap_or(0), end, bodies),
            document: None,
        }])
        .unwrap();
        start = end;
    }
}

fn open(dir: &Path) -> Log {
    Log::open(dir, LogOptions::default()).unwrap()
}

fn replay_all(
    log: &Log,
    run: RunKey,
    iterations: std::ops::Range<u64>,
) -> Result<Vec<Record>, Error> {
    log.replay(run, iterations)?.collect()
}

#[test]
fn runs_round_trip_whole_by_iterations_and_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let (a, b) = (RunKey::nano(1), RunKey::nano(2));
    let records_a = synthetic_run(1, 1000);
    let records_b = synthetic_run(2, 300);
    append_run(&log, a, &records_a, 1000, 0, 64);
    append_run(&log, b, &records_b, 300, 0, 1);

    assert_eq!(replay_all(&log, a, 0..1000).unwrap(), records_a);
    assert_eq!(replay_all(&log, b, 0..300).unwrap(), records_b);
    let middle: Vec<_> = records_a
        .iter()
        .filter(|r| (100..777).contains(&r.iteration))
        .copied()
        .collect();
    assert_eq!(replay_all(&log, a, 100..777).unwrap(), middle);
    assert_eq!(replay_all(&log, a, 5..5).unwrap(), vec![]);

    let (from, to) = (3.3, 7.25);
    let window: Vec<_> = records_a
        .iter()
        .filter(|r| r.t1 > from && r.t0 < to)
        .copied()
        .collect();
    let by_time: Vec<_> = log
        .replay_times(a, from, to)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!window.is_empty());
    assert_eq!(by_time, window);

    let entry = log.entry(a).unwrap().unwrap();
    assert_eq!(
        (entry.iterations, entry.records, entry.target),
        (1000, records_a.len() as u64, 1000)
    );
    assert!(entry.complete());
    assert_eq!(entry.bodies, 2);
    assert_eq!(log.checkpoint(a).unwrap(), checkpoint(1, 1000, 2));
    let catalog = log.catalog().unwrap();
    assert_eq!(
        catalog.iter().map(|e| e.run).collect::<Vec<_>>(),
        vec![a, b]
    );

    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        (report.runs, report.records),
        (2, (records_a.len() + records_b.len()) as u64)
    );
}

#[test]
fn runs_of_many_bodies_keep_their_records_checkpoint_and_document() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let run = RunKey::orbit(RunId([5; 16]));
    let bodies = 300;
    let mut records = synthetic_bodies(5, 40, bodies, 0.0);
    // Orbit states have six words: the sixth survives too.
    records.iter_mut().for_each(|r| r.state[5] = r.t1 * 3.0);
    let document = r#"{"model":"orbit","bodies":"..."}"#;
    for (first, end) in [(0, 7), (7, 30), (30, 40)] {
        let lo = records.partition_point(|r| r.iteration < first);
        let hi = records.partition_point(|r| r.iteration < end);
        log.append(&[Block {
            run,
            bodies,
            target: 40,
            first_iteration: first,
            end,
            records: &records[lo..hi],
            checkpoint: &checkpoint(0, end, bodies),
            document: Some(if first == 0 { document } else { "not kept" }),
        }])
        .unwrap();
    }
    assert_eq!(replay_all(&log, run, 0..40).unwrap(), records);
    let some = &records[records.len() / 2];
    let at = log.get(run, (some.t0 + some.t1) / 2.0).unwrap();
    assert_eq!(at.len(), bodies as usize);
    assert!(at.contains(some));
    let entry = log.entry(run).unwrap().unwrap();
    assert_eq!(
        (entry.bodies, entry.iterations, entry.records),
        (bodies, 40, records.len() as u64)
    );
    assert_eq!(log.checkpoint(run).unwrap(), checkpoint(0, 40, bodies));
    assert_eq!(log.document(run).unwrap().as_deref(), Some(document));
    assert_eq!(log.document(RunKey::nano(5)).unwrap(), None);
    assert!(log.checkpoint(RunKey::nano(5)).unwrap().is_empty());
    assert_eq!(
        log.catalog().unwrap()[0].summary().id,
        Some("05".repeat(16))
    );
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.records, records.len() as u64);

    // A block of another number of bodies does not continue the run.
    let err = log
        .append(&[Block {
            run,
            bodies: bodies + 1,
            target: 41,
            first_iteration: 40,
            end: 41,
            records: &[],
            checkpoint: &[],
            document: None,
        }])
        .unwrap_err();
    assert!(err.to_string().contains("bodies"), "{err}");
}

#[test]
fn the_log_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunKey::nano(9);
    let records = synthetic_run(9, 500);
    {
        let log = open(dir.path());
        append_run(&log, run, &records[..], 250, 0, 100);
    }
    let log = open(dir.path());
    let entry = log.entry(run).unwrap().unwrap();
    assert_eq!(entry.iterations, 250);
    // Continue where it stopped, as a resumed job would.
    append_run(&log, run, &records, 500, 250, 100);
    assert_eq!(replay_all(&log, run, 0..500).unwrap(), records);
    assert!(log.verify().unwrap().is_ok());
}

#[test]
fn replay_past_the_logged_iterations_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let run = RunKey::nano(4);
    let records = synthetic_run(4, 100);
    append_run(&log, run, &records, 100, 0, 30);
    let err = log.replay(run, 0..101).err().unwrap();
    assert!(
        matches!(
            err,
            Error::NotLogged {
                logged: 100,
                requested: 101,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the log holds 100 iterations of run nano seed 4, but 101 were asked for"
    );
    assert!(matches!(
        log.replay(RunKey::nano(5), 0..1),
        Err(Error::NotLogged { logged: 0, .. })
    ));
}

#[test]
fn blocks_that_do_not_continue_their_run_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let run = RunKey::nano(6);
    let records = synthetic_run(6, 100);
    append_run(&log, run, &records, 50, 0, 50);
    let after = |i: u64| records.partition_point(|r| r.iteration < i);
    // A block of iterations `first..end` of the run, with their checkpoint: refused.
    let refused = |first: u64, end: u64, records: &[Record]| {
        log.append(&[Block {
            run,
            target: 100,
            bodies: 2,
            first_iteration: first,
            end,
            records,
            checkpoint: &checkpoint(6, end, 2),
            document: None,
        }])
        .unwrap_err()
    };

    // Starting anywhere but where the log ends.
    let err = refused(60, 70, &records[after(60)..after(70)]);
    assert!(
        matches!(
            err,
            Error::OutOfOrder {
                logged: 50,
                first_iteration: 60,
                ..
            }
        ),
        "{err}"
    );

    // A record that does not start where its body stands.
    let mut shifted = records[after(50)..after(60)].to_vec();
    shifted[0].t0 += 1e-9;
    let err = refused(50, 60, &shifted);
    assert!(matches!(err, Error::InvalidBlock { .. }), "{err}");

    // Records out of order.
    let mut swapped = records[after(50)..after(60)].to_vec();
    swapped.swap(0, 3);
    let err = refused(50, 60, &swapped);
    assert!(matches!(err, Error::InvalidBlock { .. }), "{err}");

    assert_eq!(log.entry(run).unwrap().unwrap().iterations, 50);
    assert_eq!(replay_all(&log, run, 0..50).unwrap(), records[..after(50)]);
    assert!(log.verify().unwrap().is_ok());
}

#[test]
fn a_log_another_handle_holds_is_reported_as_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let holder = open(dir.path());
    let err = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(matches!(err, Error::InUse { .. }), "{err}");
    assert!(err.to_string().contains("in use"), "{err}");
    // Once the holder is gone the log opens, with what the holder left in it.
    let run = RunKey::nano(3);
    let records = synthetic_run(3, 20);
    append_run(&holder, run, &records, 20, 0, 10);
    drop(holder);
    let log = open(dir.path());
    assert_eq!(replay_all(&log, run, 0..20).unwrap(), records);
}

#[test]
fn a_log_of_another_format_version_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let db = raw_sled(dir.path());
        db.insert(nano_store::encoding::VERSION_KEY, &7u32.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::FormatVersion {
                found: 7,
                supported: nano_store::encoding::FORMAT_VERSION,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("format version 7")
            && message.contains(&format!(
                "versions 1 to {}",
                nano_store::encoding::FORMAT_VERSION
            )),
        "{message}"
    );
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
}

#[cfg(unix)]
#[test]
fn the_log_directory_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh/log");
    drop(open(&path));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{mode:o}");
}

/// Rewrites the value under the first key of the log with `prefix`, through sled.
/// The log's sled database, opened beneath the store to damage it. sled lets go of
/// its lock a moment after the last handle drops, so a held lock is waited for.
fn raw_sled(dir: &Path) -> sled::Db {
    let started = std::time::Instant::now();
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if started.elapsed() < Duration::from_secs(2) => {
                assert!(e.to_string().contains("could not acquire lock"), "{e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot open {}: {e}", dir.display()),
        }
    }
}

fn damage_value(dir: &Path, prefix: &[u8], damage: impl Fn(&mut Vec<u8>)) {
    let db = raw_sled(dir);
    let tree = db.open_tree("log").unwrap();
    let (key, value) = tree.scan_prefix(prefix).next().unwrap().unwrap();
    let mut bytes = value.to_vec();
    damage(&mut bytes);
    tree.insert(key, bytes).unwrap();
    db.flush().unwrap();
}

#[test]
fn a_damaged_chunk_is_reported_by_verify_and_by_reads_and_never_served() {
    let run = RunKey::nano(12);
    let records = synthetic_run(12, 400);
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage); 3] = [
        ("a flipped bit", |v| v[40] ^= 0x10),
        ("a truncated value", |v| v.truncate(v.len() - 7)),
        ("a zeroed value", |v| v.iter_mut().for_each(|b| *b = 0)),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        append_run(&open(dir.path()), run, &records, 400, 0, 100);
        // The chunk of body 0's records in the block from iteration 100.
        let key = nano_store::encoding::chunk_key(run, 100, 0, 0);
        damage_value(dir.path(), &key, damage);

        let log = open(dir.path());
        let report = log.verify().unwrap();
        assert!(!report.is_ok(), "{what}: verify found nothing");
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("nano seed 12") && p.contains("iteration 100")),
            "{what}: {report}"
        );
        let err = replay_all(&log, run, 0..400).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err}");
        assert!(
            err.to_string().contains("block from iteration 100"),
            "{what}: {err}"
        );
        // Reads before the damage still work; a read inside it fails.
        assert_eq!(
            replay_all(&log, run, 0..100).unwrap(),
            records[..records.partition_point(|r| r.iteration < 100)]
        );
        let inside = records
            .iter()
            .find(|r| r.iteration >= 150 && r.body == 0)
            .unwrap();
        assert!(inside.iteration < 200);
        assert!(
            log.get(run, (inside.t0 + inside.t1) / 2.0).is_err(),
            "{what}"
        );
    }
}

#[test]
fn a_damaged_catalog_entry_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunKey::nano(13);
    let records = synthetic_run(13, 50);
    append_run(&open(dir.path()), run, &records, 50, 0, 10);
    damage_value(dir.path(), &nano_store::encoding::catalog_key(run), |v| {
        v[12] ^= 1
    });
    let log = open(dir.path());
    assert!(matches!(log.entry(run), Err(Error::Corrupt { .. })));
    assert!(log.replay(run, 0..50).is_err());
    let report = log.verify().unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("catalog entry")),
        "{report}"
    );
}

#[test]
fn a_kept_series_survives_reopening_and_is_read_without_a_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunKey::nano(31);
    let records = synthetic_run(31, 600);
    let log = open(dir.path());
    append_run(&log, run, &records, 600, 0, 200);
    // Several parts, the last one short.
    let series: Vec<u8> = (0..3 * nano_store::encoding::SERIES_PART_BYTES + 17)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    assert!(log.series(run, 600, 50).unwrap().is_none());
    // Of iterations the log does not hold: refused.
    assert!(matches!(
        log.put_series(run, 601, 50, &series),
        Err(Error::NotLogged {
            logged: 600,
            requested: 601,
            ..
        })
    ));
    log.put_series(run, 600, 50, &series).unwrap();
    log.put_series(run, 300, 50, b"a shorter prefix's").unwrap();
    // Replaced whole by a shorter one under the same key, then by the long one again.
    log.put_series(run, 600, 10, &series).unwrap();
    log.put_series(run, 600, 10, b"short").unwrap();
    drop(log);

    let log = open(dir.path());
    assert_eq!(
        log.series(run, 600, 50).unwrap().as_deref(),
        Some(&series[..])
    );
    assert_eq!(
        log.series(run, 300, 50).unwrap().as_deref(),
        Some(&b"a shorter prefix's"[..])
    );
    assert_eq!(
        log.series(run, 600, 10).unwrap().as_deref(),
        Some(&b"short"[..])
    );
    assert!(log.series(run, 600, 51).unwrap().is_none());
    assert!(log.series(RunKey::nano(32), 600, 50).unwrap().is_none());
    assert_eq!(
        log.chunks_read(),
        0,
        "reading a series read chunks of the run"
    );
    // The counter does count the chunks a replay reads: it can fail.
    assert_eq!(replay_all(&log, run, 0..600).unwrap(), records);
    assert!(log.chunks_read() >= 3 * 2, "{}", log.chunks_read());
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.series, 3);
}

#[test]
fn a_damaged_or_incomplete_series_is_reported_and_never_served() {
    let run = RunKey::nano(33);
    let records = synthetic_run(33, 100);
    let series = vec![7u8; 2 * nano_store::encoding::SERIES_PART_BYTES + 5];
    let prepare = || {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        append_run(&log, run, &records, 100, 0, 50);
        log.put_series(run, 100, 20, &series).unwrap();
        log.flush().unwrap();
        dir
    };
    // A flipped bit in a part.
    let dir = prepare();
    let second = nano_store::encoding::series_key(run, 100, 20, 1);
    damage_value(dir.path(), &second, |v| v[30] ^= 4);
    let log = open(dir.path());
    let err = log.series(run, 100, 20).unwrap_err();
    assert!(
        err.to_string()
            .contains("part 1 of its series of 20 points over 100 iterations"),
        "{err}"
    );
    let report = log.verify().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("part 1") && p.contains("checksum")),
        "{report}"
    );
    drop(log);

    // A part gone.
    let dir = prepare();
    {
        let db = raw_sled(dir.path());
        db.open_tree("log").unwrap().remove(second).unwrap();
        db.flush().unwrap();
    }
    let log = open(dir.path());
    assert!(matches!(
        log.series(run, 100, 20),
        Err(Error::Corrupt { .. })
    ));
    let report = log.verify().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("do not follow each other")),
        "{report}"
    );
    drop(log);

    // The last part gone: the parts left are whole in themselves, the length is not.
    let dir = prepare();
    {
        let db = raw_sled(dir.path());
        db.open_tree("log")
            .unwrap()
            .remove(nano_store::encoding::series_key(run, 100, 20, 2))
            .unwrap();
        db.flush().unwrap();
    }
    let log = open(dir.path());
    let err = log.series(run, 100, 20).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    let report = log.verify().unwrap();
    assert!(
        report.problems.iter().any(|p| p.contains("bytes of")),
        "{report}"
    );
}

/// Flips bytes all over sled's own files. Whatever sled makes of it, the log must
/// refuse (on open, on verify, on read) or serve exactly and all of what was written:
/// never wrong records, and never a shortened history as if it were whole. A read
/// that succeeds is held to the records written, whatever verify said; and at least
/// one of the damaged files must be refused, or the damage never reached anything.
#[test]
fn bytes_flipped_in_the_database_files_are_never_served() {
    let run = RunKey::nano(21);
    let iterations = 3000;
    let records = synthetic_run(21, iterations);
    let trials = 24;
    let mut refused = 0;
    for trial in 0..trials {
        let dir = tempfile::tempdir().unwrap();
        append_run(&open(dir.path()), run, &records, iterations, 0, 500);
        let db_file = dir.path().join("db");
        let mut bytes = std::fs::read(&db_file).unwrap();
        // Spread the damage over the file: 16 bytes at a different place each trial.
        let at = (bytes.len() / trials) * trial + 7;
        let end = (at + 16).min(bytes.len());
        for b in &mut bytes[at..end] {
            *b ^= 0xA5;
        }
        std::fs::write(&db_file, &bytes).unwrap();

        let log = match Log::open(dir.path(), LogOptions::default()) {
            Ok(log) => log,
            Err(e) => {
                assert!(
                    matches!(e, Error::Corrupt { .. } | Error::Open { .. }),
                    "trial {trial}: {e}"
                );
                refused += 1;
                continue;
            }
        };
        let report = log.verify();
        // The whole run, as written; the catalog's own count is not trusted here, so
        // a catalog that came back shorter cannot make a prefix look whole.
        let entry = log.entry(run);
        let served = replay_all(&log, run, 0..iterations);
        if let Ok(served) = &served {
            assert!(
                *served == records,
                "trial {trial}: a replay succeeded with {} records, {} were written, \
                 or with different values",
                served.len(),
                records.len()
            );
            assert!(
                matches!(&entry, Ok(Some(e)) if e.iterations == iterations),
                "trial {trial}: the run was served whole but its catalog entry is {entry:?}"
            );
        }
        match (report, served) {
            (Ok(report), Ok(_)) if report.is_ok() => {}
            (Ok(report), Err(_)) => {
                assert!(
                    !report.is_ok(),
                    "trial {trial}: a read failed but verify passed"
                );
                refused += 1;
            }
            _ => refused += 1,
        }
    }
    eprintln!("{refused} of {trials} damaged files refused or reported");
    assert!(
        refused > 0,
        "none of {trials} damaged files was refused: the damage never reached the data"
    );
}

/// sled cuts its log at damaged data and comes back consistent but shorter, with no
/// error. Here that is done deterministically: the database files are put back as
/// they were after the first block, while the commit mark remembers two blocks. The
/// log refuses to open, says why, and leaves the files as it found them.
#[test]
fn a_database_with_fewer_commits_than_marked_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let earlier = tempfile::tempdir().unwrap();
    let run = RunKey::nano(31);
    let records = synthetic_run(31, 200);
    {
        let log = open(dir.path());
        append_run(&log, run, &records, 100, 0, 100);
    }
    // sled's files after the first block (the mark beside them is not sled's).
    let sled_files = |from: &Path, to: &Path| {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() != "commit.mark" && entry.file_type().unwrap().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    };
    // sled lets go of its lock a moment after the handle drops.
    drop(raw_sled(dir.path()));
    sled_files(dir.path(), earlier.path());
    {
        let log = open(dir.path());
        append_run(&log, run, &records, 200, 100, 100);
        assert_eq!(log.entry(run).unwrap().unwrap().iterations, 200);
    }
    drop(raw_sled(dir.path()));
    let marked = std::fs::read(dir.path().join("commit.mark")).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "commit.mark" && entry.file_type().unwrap().is_file() {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    sled_files(earlier.path(), dir.path());
    let db_before = std::fs::read(dir.path().join("db")).unwrap();

    let err = Log::open(dir.path(), LogOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("came back at commit")
            && message.contains("had been made durable")
            && message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    // Refused again on a second try: nothing was rewritten to hide the loss.
    assert!(Log::open(dir.path(), LogOptions::default()).is_err());
    assert_eq!(
        std::fs::read(dir.path().join("commit.mark")).unwrap(),
        marked
    );
    assert!(std::fs::read(dir.path().join("db")).unwrap() == db_before);
}

/// `body`'s records of `records` in iterations `wanted`: what `Log::track` must read.
fn body_track(records: &[Record], body: u32, wanted: std::ops::Range<u64>) -> Vec<Record> {
    records
        .iter()
        .filter(|r| r.body == body && wanted.contains(&r.iteration))
        .copied()
        .collect()
}

/// The chunks (parts) of `body` in the blocks of `block` iterations that overlap
/// `wanted`: the most `Log::track` may read, with one more read to see past the end.
fn body_parts(records: &[Record], body: u32, block: u64, wanted: &std::ops::Range<u64>) -> u64 {
    let first = wanted.start / block * block;
    let mut parts = 0;
    let mut start = first;
    while start < wanted.end {
        let count = records
            .iter()
            .filter(|r| r.body == body && (start..start + block).contains(&r.iteration))
            .count();
        parts += count.div_ceil(nano_store::encoding::PART_RECORDS) as u64;
        start += block;
    }
    parts
}

fn track_all(
    log: &Log,
    run: RunKey,
    body: u32,
    wanted: std::ops::Range<u64>,
) -> Result<Vec<Record>, Error> {
    log.track(run, body, wanted)?.collect()
}

#[test]
fn a_track_is_the_replay_of_one_body_and_reads_only_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let run = RunKey::orbit(RunId([8; 16]));
    let bodies = 60;
    let (iterations, block) = (700, 300);
    // Blocks of 300 iterations: three parts of 112 records per body and block.
    let records = synthetic_bodies(8, iterations, bodies, 0.0);
    append_bodies(&log, run, bodies, &records, iterations, 0, block);
    let replayed = replay_all(&log, run, 0..iterations).unwrap();
    assert_eq!(replayed, records);

    let total_chunks = bodies as u64 * (3 + 3 + 1);
    for body in [0, 1, 31, bodies - 1] {
        for wanted in [
            0..700,
            0..1,
            111..113,
            112..336,
            250..650,
            299..301,
            699..700,
            400..400,
        ] {
            let before = log.chunks_read();
            let track = track_all(&log, run, body, wanted.clone()).unwrap();
            let read = log.chunks_read() - before;
            let from_replay: Vec<_> = replayed
                .iter()
                .filter(|r| r.body == body && wanted.contains(&r.iteration))
                .copied()
                .collect();
            assert_eq!(track, from_replay, "body {body}, iterations {wanted:?}");
            assert_eq!(track.len() as u64, wanted.end - wanted.start);
            let most = body_parts(&records, body, block, &wanted) + 1;
            assert!(
                read <= most && read < total_chunks / 10,
                "body {body}, {wanted:?}: {read} chunks read, at most {most} of its own expected"
            );
        }
    }
    // A body the run does not have has no track.
    assert_eq!(track_all(&log, run, bodies, 0..700).unwrap(), vec![]);
    // Iterations the log does not hold are refused, naming what it holds.
    let err = log.track(run, 3, 600..701).err().unwrap();
    assert!(
        matches!(
            err,
            Error::NotLogged {
                logged: 700,
                requested: 701,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_track_of_a_body_that_waits_skips_the_blocks_it_is_absent_from() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let run = RunKey::nano(21);
    // Blocks of one or two iterations in which a body often waits: its index has no
    // entry in many blocks, and a track must still start at the right record.
    let records = synthetic_bodies(21, 300, 3, 0.5);
    append_bodies(&log, run, 3, &records, 300, 0, 2);
    for body in 0..3 {
        for wanted in [0..300, 1..2, 37..211, 298..300, 150..151] {
            assert_eq!(
                track_all(&log, run, body, wanted.clone()).unwrap(),
                body_track(&records, body, wanted.clone()),
                "body {body}, {wanted:?}"
            );
        }
    }
}

#[test]
fn a_damaged_chunk_stops_a_track_that_reaches_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunKey::nano(22);
    let records = synthetic_run(22, 400);
    append_run(&open(dir.path()), run, &records, 400, 0, 100);
    damage_value(
        dir.path(),
        &nano_store::encoding::chunk_key(run, 200, 1, 0),
        |v| v[30] ^= 0x01,
    );
    let log = open(dir.path());
    let err = track_all(&log, run, 1, 0..400).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("body 1 (part 0) of the block from iteration 200"),
        "{err}"
    );
    // Before the damage, and the other body, read as they were written.
    assert_eq!(
        track_all(&log, run, 1, 0..200).unwrap(),
        body_track(&records, 1, 0..200)
    );
    assert_eq!(
        track_all(&log, run, 0, 0..400).unwrap(),
        body_track(&records, 0, 0..400)
    );
}

/// What `Log::states_at(t)` must find, from the records themselves: each body's record
/// containing `t` and the state of the body's record before it.
fn windows_at(records: &[Record], bodies: u32, t: f64) -> Vec<nano_store::Window> {
    (0..bodies)
        .filter_map(|body| {
            let mine: Vec<_> = records.iter().filter(|r| r.body == body).collect();
            let i = mine.iter().position(|r| r.t0 <= t && t < r.t1)?;
            Some(nano_store::Window {
                record: *mine[i],
                start: i.checked_sub(1).map(|p| mine[p].state),
            })
        })
        .collect()
}

#[test]
fn states_at_a_time_give_every_body_its_record_and_the_state_it_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let run = RunKey::orbit(RunId([9; 16]));
    let bodies = 40;
    let records = synthetic_bodies(9, 500, bodies, 0.1);
    append_bodies(&log, run, bodies, &records, 500, 0, 130);
    let mut out = Vec::new();
    let mut times: Vec<f64> = vec![0.0, 1e-9, 3.3, 11.0, 24.9, -1.0, 1e9];
    // Exact starts of records, among them the first of chunks (parts of 112 records
    // and blocks of 130 iterations), whose start state is in the chunk before.
    times.extend(records.iter().step_by(97).map(|r| r.t0));
    times.extend(
        records
            .iter()
            .filter(|r| r.iteration % 130 == 0)
            .take(20)
            .map(|r| r.t0),
    );
    times.extend(
        records
            .iter()
            .filter(|r| r.body == 7)
            .skip(111)
            .step_by(112)
            .map(|r| r.t0),
    );
    let mut served = 0;
    for t in times {
        log.states_at(run, t, &mut out).unwrap();
        let expected = windows_at(&records, bodies, t);
        assert_eq!(out, expected, "t = {t}");
        served += out.len();
    }
    assert!(served > 1000, "{served} windows compared");
    let first = records.iter().find(|r| r.body == 3).unwrap();
    log.states_at(run, first.t0, &mut out).unwrap();
    assert_eq!(
        out.iter().find(|w| w.record.body == 3).unwrap().start,
        None,
        "a body's first record starts from the scenario's initial state"
    );
    // Reading every body costs at most two chunks a body.
    let before = log.chunks_read();
    log.states_at(run, 7.7, &mut out).unwrap();
    assert!(log.chunks_read() - before <= 2 * bodies as u64);
    assert_eq!(out.len(), bodies as usize);
}

fn memory_store(records: &[Record]) -> MemoryRangeStore<Record> {
    let mut store = MemoryRangeStore::new();
    for r in records {
        store.insert(r.t0, r.t1, *r).unwrap();
    }
    store
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn range_queries_agree_with_the_in_memory_store(
        seed in any::<u64>(),
        bodies in 1u32..5,
        nano in any::<bool>(),
        iterations in 1u64..400,
        block in 1u64..90,
        queries in prop::collection::vec(-0.5f64..30.0, 1..60),
        exact in prop::collection::vec(any::<prop::sample::Index>(), 1..20),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        let run = if nano { RunKey::nano(seed) } else { RunKey::orbit(RunId([seed as u8; 16])) };
        let mut records = if nano {
            synthetic_bodies(seed, iterations, bodies, 0.2)
        } else {
            synthetic_chunked_orbit(seed, iterations, bodies, 0.2)
        };
        if !nano {
            records.iter_mut().for_each(|r| r.state[5] = r.t0 * 0.5);
        }
        append_bodies(&log, run, bodies, &records, iterations, 0, block);
        let memory = memory_store(&records);
        // Random times, and the exact ends of random records (the edges of ranges).
        let edges = exact.iter().filter(|_| !records.is_empty()).flat_map(|i| {
            let r = i.get(&records);
            [r.t0, r.t1]
        });
        for t in queries.into_iter().chain(edges) {
            match (log.get(run, t), memory.get(t)) {
                (Ok(found), Ok(expected)) => prop_assert_eq!(found, expected),
                (Err(Error::NotFound { .. }), Err(Error::NotFound { .. })) => {}
                (found, expected) => prop_assert!(false, "t = {}: log {:?}, memory {:?}", t, found, expected),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn tracks_and_windows_agree_with_the_records(
        seed in any::<u64>(),
        bodies in 1u32..6,
        iterations in 1u64..400,
        block in 1u64..150,
        wait in 0.0f64..0.6,
        from in 0u64..400,
        length in 0u64..400,
        times in prop::collection::vec(-0.5f64..30.0, 1..20),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        let run = RunKey::orbit(RunId([seed as u8; 16]));
        let records = synthetic_chunked_orbit(seed, iterations, bodies, wait);
        append_bodies(&log, run, bodies, &records, iterations, 0, block);
        let from = from.min(iterations);
        let wanted = from..(from + length).min(iterations);
        for body in 0..bodies {
            prop_assert_eq!(
                track_all(&log, run, body, wanted.clone()).unwrap(),
                body_track(&records, body, wanted.clone())
            );
        }
        let mut out = Vec::new();
        let edges = records.iter().step_by(7).map(|r| r.t0);
        for t in times.into_iter().chain(edges) {
            log.states_at(run, t, &mut out).unwrap();
            prop_assert_eq!(&out, &windows_at(&records, bodies, t), "t = {}", t);
        }
    }
}

fn version(version: u32, body: u32, from_output: u64, states: u64) -> nano_store::Version {
    nano_store::Version {
        version,
        parent: version - 1,
        body,
        t: from_output as f64 * 10.0 - 2.5,
        dv_kms: [0.1, -0.2, 0.3 * f64::from(version)],
        from_output,
        states,
    }
}

fn version_track(version: u32, states: u64) -> Vec<[f64; 6]> {
    (0..states)
        .map(|i| std::array::from_fn(|w| f64::from(version) * 1e6 + i as f64 * 10.0 + w as f64))
        .collect()
}

#[test]
fn versions_follow_each_other_survive_reopening_and_read_by_range() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunKey::orbit(RunId([7; 16]));
    let records = synthetic_run(7, 400);
    {
        let log = open(dir.path());
        // Not before the run is logged.
        let one = version(1, 1, 11, 390);
        let refused = log.put_version(run, &one, version_track(1, 390));
        assert!(
            matches!(refused, Err(Error::InvalidVersion { .. })),
            "{refused:?}"
        );
        append_run(&log, run, &records, 400, 0, 100);
        assert!(log.versions(run).unwrap().is_empty());
        log.put_version(run, &one, version_track(1, 390)).unwrap();
        // Out of order, from the wrong parent, or with the wrong count: refused, and
        // nothing written.
        for (v, states) in [
            (version(3, 0, 5, 396), 396),
            (
                nano_store::Version {
                    parent: 0,
                    ..version(2, 0, 5, 396)
                },
                396,
            ),
            (version(2, 0, 5, 396), 395),
            (version(1, 0, 5, 396), 396),
        ] {
            let refused = log.put_version(run, &v, version_track(2, states));
            assert!(
                matches!(refused, Err(Error::InvalidVersion { .. })),
                "{v:?}"
            );
        }
        log.put_version(run, &version(2, 0, 5, 396), version_track(2, 396))
            .unwrap();
    }
    let log = open(dir.path());
    let versions = log.versions(run).unwrap();
    assert_eq!(
        versions,
        vec![version(1, 1, 11, 390), version(2, 0, 5, 396)]
    );
    let whole = version_track(1, 390);
    for range in [0..390, 0..1, 149..151, 150..300, 389..390, 7..7] {
        assert_eq!(
            log.version_states(run, &versions[0], range.clone())
                .unwrap(),
            whole[range.start as usize..range.end as usize],
            "{range:?}"
        );
    }
    assert!(log.version_states(run, &versions[0], 380..391).is_err());
    // Version 0 is untouched.
    assert_eq!(replay_all(&log, run, 0..400).unwrap(), records);
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.versions, 2);
}

#[test]
fn a_version_written_in_parts_is_invisible_until_whole_and_an_interrupted_one_is_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunKey::orbit(RunId([6; 16]));
    let per_write =
        (nano_store::encoding::VERSION_PART_STATES * nano_store::VERSION_WRITE_PARTS) as u64;
    // Several writes' worth of states, so that the parts are written in pieces.
    let states = 3 * per_write + 17;
    {
        let log = open(dir.path());
        append_run(&log, run, &synthetic_run(6, 200), 200, 0, 100);
        // The states' source dies after two writes of parts: as a process killed
        // part-way leaves it, the parts are in the log and the metadata is not.
        let dying = version_track(1, states)
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                assert!((i as u64) < 2 * per_write + 5, "the process dies here");
                s
            });
        assert!(log
            .put_version(run, &version(1, 0, 2, states), dying)
            .is_err());
        assert!(log.versions(run).unwrap().is_empty());
    }
    let log = open(dir.path());
    assert!(
        log.versions(run).unwrap().is_empty(),
        "no version is visible"
    );
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.interrupted_versions, 1, "{report}");
    // Written again, shorter: whole, and nothing of the interrupted write is left.
    log.put_version(run, &version(1, 0, 2, 300), version_track(1, 300))
        .unwrap();
    let versions = log.versions(run).unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(
        log.version_states(run, &versions[0], 0..300).unwrap(),
        version_track(1, 300)
    );
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.interrupted_versions, 0, "{report}");
    // And one of several writes, whole.
    log.put_version(run, &version(2, 1, 3, states), version_track(2, states))
        .unwrap();
    let v2 = &log.versions(run).unwrap()[1];
    assert_eq!(
        log.version_states(run, v2, states - 3..states).unwrap(),
        version_track(2, states)[states as usize - 3..]
    );
    assert!(log.verify().unwrap().is_ok());
}

#[test]
fn screenings_are_kept_per_version_and_distance_and_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunKey::orbit(RunId([8; 16]));
    let log = open(dir.path());
    append_run(&log, run, &synthetic_run(8, 100), 100, 0, 100);
    log.put_version(run, &version(1, 0, 3, 98), version_track(1, 98))
        .unwrap();
    let d5 = 5.0f64.to_bits();
    assert!(log.screening(run, 0, d5).unwrap().is_none());
    let long: Vec<u8> = (0..2 * nano_store::encoding::SERIES_PART_BYTES + 24)
        .map(|i| (i % 253) as u8)
        .collect();
    log.put_screening(run, 0, d5, &long).unwrap();
    log.put_screening(run, 1, d5, &[]).unwrap();
    log.put_screening(run, 1, 1.5f64.to_bits(), &long[..48])
        .unwrap();
    assert_eq!(log.screening(run, 0, d5).unwrap().unwrap(), long);
    // Kept and empty is not "none kept".
    assert_eq!(log.screening(run, 1, d5).unwrap(), Some(Vec::new()));
    assert_eq!(
        log.screening(run, 1, 1.5f64.to_bits()).unwrap().unwrap(),
        long[..48]
    );
    // Replaced whole by a shorter one: no part of the old one stays.
    log.put_screening(run, 0, d5, &long[..24]).unwrap();
    assert_eq!(log.screening(run, 0, d5).unwrap().unwrap(), long[..24]);
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.screenings, 3);
    assert!(report
        .to_string()
        .contains("1 versions, 3 screenings: no problems"));
}

#[test]
fn a_damaged_version_or_screening_is_reported_by_verify_and_by_reads_and_never_served() {
    for (tag, what) in [
        (0x17u8, "version 1"),
        (0x18, "version 1's states"),
        (0x19, "screening"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let run = RunKey::orbit(RunId([9; 16]));
        {
            let log = open(dir.path());
            append_run(&log, run, &synthetic_run(9, 200), 200, 0, 100);
            log.put_version(run, &version(1, 1, 2, 199), version_track(1, 199))
                .unwrap();
            log.put_screening(run, 1, 5.0f64.to_bits(), &[1; 48])
                .unwrap();
            assert!(log.verify().unwrap().is_ok());
        }
        let mut prefix = vec![tag, run.model as u8];
        prefix.extend_from_slice(&run.id.0);
        damage_value(dir.path(), &prefix, |bytes| {
            let last = bytes.len() - 1;
            bytes[last] ^= 0x10;
        });
        let log = open(dir.path());
        let report = log.verify().unwrap();
        assert!(!report.is_ok(), "{tag:x}: {report}");
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains(what) && p.contains("checksum")),
            "{tag:x}: {report}"
        );
        let read = match tag {
            0x17 => log.versions(run).map(|_| ()),
            0x18 => {
                let v = log.versions(run).unwrap()[0];
                log.version_states(run, &v, 0..199).map(|_| ())
            }
            _ => log.screening(run, 1, 5.0f64.to_bits()).map(|_| ()),
        };
        assert!(
            matches!(&read, Err(Error::Corrupt { position, .. }) if position.contains(what)),
            "{tag:x}: {read:?}"
        );
    }
}

/// An orbit run as the orbit model writes it: whole rounds of `bodies` bodies, the
/// record of iteration `k` over `[k step, (k + 1) step)`, which the log keeps as frames.
fn orbit_rounds(seed: u64, iterations: u64, bodies: u32, step: f64) -> Vec<Record> {
    let mut rng = Lcg(seed);
    (0..iterations)
        .flat_map(|k| (0..bodies).map(move |body| (k, body)))
        .map(|(k, body)| {
            let u = rng.uniform();
            Record {
                t0: k as f64 * step,
                t1: (k + 1) as f64 * step,
                body,
                iteration: k,
                state: [7000.0 * u, -u, u * u, 7.5 - u, 1e-3 * u, body as f64 + u],
            }
        })
        .collect()
}

/// Appends `records` of an orbit run in blocks of the given lengths, each with a
/// checkpoint of slots of `slot_bytes(end)` bytes.
fn append_rounds(
    log: &Log,
    run: RunKey,
    bodies: u32,
    records: &[Record],
    blocks: &[u64],
    slot_bytes: impl Fn(u64) -> usize,
) {
    let mut start = 0;
    for length in blocks {
        let end = start + length;
        let lo = records.partition_point(|r| r.iteration < start);
        let hi = records.partition_point(|r| r.iteration < end);
        let slots: Vec<Vec<u8>> = (0..bodies)
            .map(|b| vec![(b as u64 + end) as u8; slot_bytes(end)])
            .collect();
        log.append(&[Block {
            run,
            bodies,
            target: records.last().map_or(0, |r| r.iteration + 1),
            first_iteration: start,
            end,
            records: &records[lo..hi],
            checkpoint: &slots,
            document: None,
        }])
        .unwrap();
        start = end;
    }
}

/// The keys of the log whose first byte is `tag`.
fn keys_tagged(dir: &Path, tag: u8) -> usize {
    let db = raw_sled(dir);
    let tree = db.open_tree("log").unwrap();
    tree.scan_prefix([tag]).count()
}

#[test]
fn orbit_rounds_are_kept_as_frames_and_read_back_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunKey::orbit(RunId([0x1a; 16]));
    let (bodies, step) = (21, 0.1);
    // Blocks across frames' ends (18 steps a frame): 7, 30 (18 + 12), 1, 40, 19, 36.
    let blocks = [7, 30, 1, 40, 19, 36];
    let n: u64 = blocks.iter().sum();
    let records = orbit_rounds(26, n, bodies, step);
    {
        let log = open(dir.path());
        // Slots of 700 bytes fill three packs, then of 100 bytes one: the packs past
        // it go.
        append_rounds(&log, run, bodies, &records, &blocks, |end| {
            if end < n {
                700
            } else {
                100
            }
        });
    }
    // Three groups of bodies (8, 8, 5) a frame each per 18 steps of each block; no
    // chunk, time-index entry or per-body checkpoint slot.
    let frames: u64 = blocks.iter().map(|b| 3 * b.div_ceil(18)).sum();
    assert_eq!(keys_tagged(dir.path(), 0x1a) as u64, frames);
    assert_eq!(keys_tagged(dir.path(), 0x1b), 1);
    for tag in [0x12, 0x13, 0x14] {
        assert_eq!(keys_tagged(dir.path(), tag), 0, "tag {tag:02x}");
    }
    let log = open(dir.path());
    assert_eq!(replay_all(&log, run, 0..n).unwrap(), records);
    for wanted in [5..77, 36..37, 37..38, 0..1, 132..133, 54..90] {
        let expected: Vec<_> = records
            .iter()
            .filter(|r| wanted.contains(&r.iteration))
            .copied()
            .collect();
        assert_eq!(replay_all(&log, run, wanted.clone()).unwrap(), expected);
    }
    for body in [0, 7, 8, 15, 16, 20] {
        for wanted in [0..n, 0..1, 17..19, 36..38, 38..78, 100..133, 60..60] {
            let before = log.chunks_read();
            let track = track_all(&log, run, body, wanted.clone()).unwrap();
            assert_eq!(
                track,
                body_track(&records, body, wanted.clone()),
                "body {body}, {wanted:?}"
            );
            // One frame per 18 steps of a block at most, plus the blocks' ends.
            let most = (wanted.end - wanted.start).div_ceil(18) + blocks.len() as u64;
            assert!(
                log.chunks_read() - before <= most,
                "body {body}, {wanted:?}"
            );
        }
    }
    assert_eq!(track_all(&log, run, bodies, 0..n).unwrap(), vec![]);
    let memory = memory_store(&records);
    let mut times: Vec<f64> = vec![0.0, 1e-12, 0.05, 3.75, -1.0, -0.0, 1e9, f64::NAN];
    times.extend(records.iter().step_by(bodies as usize * 3).map(|r| r.t0));
    times.extend((0..=n).map(|k| k as f64 * step));
    times.extend((0..n).map(|k| (k as f64 + 0.5) * step));
    let mut out = Vec::new();
    for t in times {
        log.states_at(run, t, &mut out).unwrap();
        assert_eq!(out, windows_at(&records, bodies, t), "t = {t}");
        match (log.get(run, t), memory.get(t)) {
            (Ok(found), Ok(expected)) => assert_eq!(found, expected, "t = {t}"),
            (Err(Error::NotFound { .. }), Err(Error::NotFound { .. })) => {}
            (found, expected) => panic!("t = {t}: log {found:?}, memory {expected:?}"),
        }
        if let Some(r) = records
            .iter()
            .find(|r| r.body == 9 && r.t0 <= t && t < r.t1)
        {
            assert_eq!(log.get_body(run, 9, t).unwrap(), Some(*r));
        }
    }
    // Every body at a time is a frame per group, two at a frame's first step.
    let before = log.chunks_read();
    log.states_at(run, 38.0 * step, &mut out).unwrap();
    assert_eq!(out.len(), bodies as usize);
    assert!(log.chunks_read() - before <= 6);
    let from_times: Vec<_> = log
        .replay_times(run, 3.65, 5.0)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<_> = records
        .iter()
        .filter(|r| r.t1 > 3.65 && r.t0 < 5.0)
        .copied()
        .collect();
    assert_eq!(from_times, expected);
    let slots: Vec<Vec<u8>> = (0..bodies)
        .map(|b| vec![(b as u64 + n) as u8; 100])
        .collect();
    assert_eq!(log.checkpoint(run).unwrap(), slots);
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(
        (report.records, report.blocks),
        (records.len() as u64, blocks.len() as u64)
    );

    // A run kept as frames takes only whole rounds at its step.
    let mut late = orbit_rounds(26, n + 2, bodies, step)[records.len()..].to_vec();
    late[5].t1 += 1e-9;
    let err = log
        .append(&[Block {
            run,
            bodies,
            target: n + 2,
            first_iteration: n,
            end: n + 2,
            records: &late,
            checkpoint: &slots,
            document: None,
        }])
        .unwrap_err();
    assert!(matches!(err, Error::InvalidBlock { .. }), "{err}");
    assert!(err.to_string().contains("frames"), "{err}");
    assert_eq!(log.entry(run).unwrap().unwrap().iterations, n);
    assert!(log.verify().unwrap().is_ok());
}

#[test]
fn a_damaged_or_missing_frame_is_reported_and_never_served() {
    let run = RunKey::orbit(RunId([0x2b; 16]));
    let (bodies, step) = (20, 60.0);
    let records = orbit_rounds(27, 60, bodies, step);
    // The frame of bodies 8..16 in the block from iteration 20, its second part
    // (iterations 38 and 39).
    let key = nano_store::encoding::frame_key(run, 20, 8, 1);
    type Damage = fn(&Path, &[u8]);
    let damages: [(&str, Damage); 3] = [
        ("a flipped bit", |dir, key| {
            damage_value(dir, key, |v| v[40] ^= 0x10)
        }),
        ("a truncated value", |dir, key| {
            damage_value(dir, key, |v| v.truncate(v.len() - 8))
        }),
        ("a missing frame", |dir, key| {
            let db = raw_sled(dir);
            db.open_tree("log").unwrap().remove(key).unwrap().unwrap();
            db.flush().unwrap();
        }),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        append_rounds(
            &open(dir.path()),
            run,
            bodies,
            &records,
            &[20, 20, 20],
            |_| 8,
        );
        damage(dir.path(), &key);
        let log = open(dir.path());
        let report = log.verify().unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("bodies 8..16") && p.contains("iteration 20")),
            "{what}: {report}"
        );
        let err = replay_all(&log, run, 0..60).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err}");
        let mut out = Vec::new();
        assert!(log.states_at(run, 38.5 * step, &mut out).is_err(), "{what}");
        // The frame's first step is the next frame's start state.
        assert!(log.states_at(run, 40.0 * step, &mut out).is_err(), "{what}");
        assert!(track_all(&log, run, 9, 0..60).is_err(), "{what}");
        // What the damage does not touch reads as written.
        assert_eq!(
            track_all(&log, run, 16, 0..60).unwrap(),
            body_track(&records, 16, 0..60)
        );
        assert_eq!(
            replay_all(&log, run, 0..20).unwrap(),
            records[..20 * bodies as usize]
        );
        log.states_at(run, 37.5 * step, &mut out).unwrap();
        assert_eq!(out, windows_at(&records, bodies, 37.5 * step), "{what}");
    }
}

/// Writes `records` of `run` into `dir` as format version 2 did: a chunk per body and
/// block (parts of 112 records), a time-index entry per chunk, a checkpoint slot per
/// body, and the catalog entry; `frames_of_first` writes the first block as version 3
/// frames instead (a conversion cut short after it).
fn write_version_2(
    dir: &Path,
    run: RunKey,
    bodies: u32,
    records: &[Record],
    blocks: &[u64],
    frames_of_first: bool,
) {
    use nano_store::encoding as e;
    drop(open(dir));
    let db = raw_sled(dir);
    db.insert(e::VERSION_KEY, &2u32.to_be_bytes()).unwrap();
    let tree = db.open_tree("log").unwrap();
    let mut start = 0;
    for (i, length) in blocks.iter().enumerate() {
        let end = start + length;
        let in_block: Vec<_> = records
            .iter()
            .filter(|r| (start..end).contains(&r.iteration))
            .collect();
        if i == 0 && frames_of_first {
            for group in (0..bodies).step_by(e::GROUP_BODIES as usize) {
                let n = e::GROUP_BODIES.min(bodies - group);
                for part in 0..length.div_ceil(e::FRAME_STEPS) {
                    let key = e::frame_key(run, start, group, part as u16);
                    let from = part * e::FRAME_STEPS;
                    let rows: Vec<Vec<Record>> = (from..(from + e::FRAME_STEPS).min(*length))
                        .map(|k| {
                            (group..group + n)
                                .map(|b| *in_block[(k * bodies as u64 + b as u64) as usize])
                                .collect()
                        })
                        .collect();
                    let mut value = Vec::new();
                    let step = records[0].t1;
                    e::encode_frame(
                        &key,
                        6,
                        step,
                        end,
                        n,
                        rows.iter().map(|r| &r[..]),
                        &mut value,
                    );
                    tree.insert(key, value).unwrap();
                }
            }
        } else {
            for body in 0..bodies {
                let mine: Vec<&Record> = in_block
                    .iter()
                    .filter(|r| r.body == body)
                    .copied()
                    .collect();
                for (part, records) in mine.chunks(e::PART_RECORDS).enumerate() {
                    let key = e::chunk_key(run, start, body, part as u16);
                    let mut value = Vec::new();
                    e::encode_chunk(&key, 6, start, end, records.iter().copied(), &mut value);
                    tree.insert(key, value).unwrap();
                    let index = e::index_key(run, body, records[0].t0);
                    tree.insert(index, &e::encode_index(&index, start, part as u16)[..])
                        .unwrap();
                }
            }
        }
        start = end;
    }
    for body in 0..bodies {
        let key = e::checkpoint_key(run, body);
        tree.insert(key, e::encode_sealed(&key, &[body as u8; 40]))
            .unwrap();
    }
    let entry = nano_store::CatalogEntry {
        run,
        bodies,
        target: start,
        iterations: start,
        records: records.len() as u64,
        created_ms: 1,
        updated_ms: 2,
    };
    tree.insert(e::catalog_key(run), e::encode_catalog(&entry))
        .unwrap();
    db.flush().unwrap();
}

#[test]
fn a_version_2_log_is_converted_to_frames_on_open_even_when_cut_short() {
    let (bodies, step) = (11, 30.0);
    let blocks = [25, 3, 130];
    let n = blocks.iter().sum();
    let records = orbit_rounds(28, n, bodies, step);
    // A run of other shapes (bodies that wait, times not at a step) stays as chunks.
    let other = RunKey::orbit(RunId([0x2c; 16]));
    let waits = synthetic_bodies(29, 150, 3, 0.3);
    for cut_short in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let run = RunKey::orbit(RunId([0x2d; 16]));
        write_version_2(dir.path(), run, bodies, &records, &blocks, cut_short);
        {
            let log = open(dir.path());
            append_bodies(&log, other, 3, &waits, 150, 0, 40);
        }
        // `open` wrote `other` as version 3; mark the log version 2 again, with
        // `other`'s checkpoint as version 2 kept it.
        {
            use nano_store::encoding as e;
            let db = raw_sled(dir.path());
            db.insert(e::VERSION_KEY, &2u32.to_be_bytes()).unwrap();
            let tree = db.open_tree("log").unwrap();
            for item in tree.scan_prefix(e::pack_prefix(other)) {
                tree.remove(item.unwrap().0).unwrap();
            }
            for (slot, bytes) in checkpoint(0, 150, 3).iter().enumerate() {
                let key = e::checkpoint_key(other, slot as u32);
                tree.insert(key, e::encode_sealed(&key, bytes)).unwrap();
            }
            db.flush().unwrap();
        }
        let log = open(dir.path());
        let what = if cut_short { "cut short" } else { "whole" };
        assert_eq!(replay_all(&log, run, 0..n).unwrap(), records, "{what}");
        assert_eq!(replay_all(&log, other, 0..150).unwrap(), waits, "{what}");
        assert_eq!(
            log.checkpoint(run).unwrap(),
            (0..bodies).map(|b| vec![b as u8; 40]).collect::<Vec<_>>()
        );
        assert_eq!(log.checkpoint(other).unwrap(), checkpoint(0, 150, 3));
        let report = log.verify().unwrap();
        assert!(report.is_ok(), "{what}: {report}");
        let mut out = Vec::new();
        log.states_at(run, 27.5 * step, &mut out).unwrap();
        assert_eq!(out, windows_at(&records, bodies, 27.5 * step));
        drop(log);
        let frames: u64 = blocks.iter().map(|b| 2 * b.div_ceil(18)).sum();
        assert_eq!(keys_tagged(dir.path(), 0x1a) as u64, frames, "{what}");
        // Only `other`'s chunks and index entries are left; no slot of either run.
        assert_eq!(keys_tagged(dir.path(), 0x14), 0, "{what}");
        let db = raw_sled(dir.path());
        let tree = db.open_tree("log").unwrap();
        let mut chunk = nano_store::encoding::chunk_prefix(run).to_vec();
        assert_eq!(tree.scan_prefix(&chunk).count(), 0);
        chunk[0] = 0x13;
        assert_eq!(tree.scan_prefix(&chunk).count(), 0);
        assert!(
            tree.scan_prefix(nano_store::encoding::chunk_prefix(other))
                .count()
                > 0
        );
        let version = db.get(nano_store::encoding::VERSION_KEY).unwrap().unwrap();
        assert_eq!(version.as_ref(), &3u32.to_be_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn frames_read_back_as_written(
        seed in any::<u64>(),
        bodies in 1u32..20,
        blocks in prop::collection::vec(1u64..45, 1..6),
        step in prop::sample::select(vec![0.1, 1.0, 10.0, 60.0, 0.3]),
        from in 0u64..200,
        length in 0u64..200,
        times in prop::collection::vec(-1.0f64..3000.0, 1..20),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        let run = RunKey::orbit(RunId([seed as u8; 16]));
        let n: u64 = blocks.iter().sum();
        let records = orbit_rounds(seed, n, bodies, step);
        append_rounds(&log, run, bodies, &records, &blocks, |_| 50);
        prop_assert_eq!(&replay_all(&log, run, 0..n).unwrap(), &records);
        let from = from.min(n);
        let wanted = from..(from + length).min(n);
        for body in 0..bodies {
            prop_assert_eq!(
                track_all(&log, run, body, wanted.clone()).unwrap(),
                body_track(&records, body, wanted.clone())
            );
        }
        let mut out = Vec::new();
        let edges = (0..=n).map(|k| k as f64 * step);
        for t in times.into_iter().map(|t| t * step / 10.0).chain(edges) {
            log.states_at(run, t, &mut out).unwrap();
            prop_assert_eq!(&out, &windows_at(&records, bodies, t), "t = {}", t);
        }
        prop_assert!(log.verify().unwrap().is_ok());
    }
}

/// A file of `len` bytes that differ part to part (so that a part swapped or
/// repeated is a different file).
fn element_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut lcg = Lcg(seed);
    (0..len).map(|_| (lcg.uniform() * 256.0) as u8).collect()
}

#[test]
fn element_files_round_trip_survive_reopening_and_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ([1u8; 16], element_bytes(3, 1)),
        (
            [2u8; 16],
            element_bytes(nano_store::encoding::SERIES_PART_BYTES, 2),
        ),
        ([3u8; 16], element_bytes(700_001, 3)),
        ([4u8; 16], Vec::new()),
    ];
    {
        let log = open(dir.path());
        for (id, bytes) in &files {
            assert!(log.keep_element_file(*id, bytes).unwrap());
        }
        assert_eq!(log.element_file([9; 16]).unwrap(), None);
    }
    let log = open(dir.path());
    for (id, bytes) in &files {
        assert_eq!(log.element_file(*id).unwrap().as_ref(), Some(bytes));
    }
    let listed = log.element_files().unwrap();
    let want: Vec<([u8; 16], u64)> = files.iter().map(|(id, b)| (*id, b.len() as u64)).collect();
    assert_eq!(listed, want);
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.element_files, 4);
}

#[test]
fn an_element_file_of_64_mib_is_kept_in_small_parts_and_one_above_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let max = nano_store::encoding::ELEMENT_FILE_MAX_BYTES;
    let bytes = element_bytes(max, 64);
    let id = [0x64; 16];
    {
        let log = open(dir.path());
        assert!(log.keep_element_file(id, &bytes).unwrap());
        let above = vec![b'1'; max + 1];
        let err = log.keep_element_file([0x65; 16], &above).unwrap_err();
        assert!(matches!(err, Error::ElementFile { .. }), "{err}");
        assert!(err.to_string().contains(&(max + 1).to_string()), "{err}");
        assert_eq!(log.element_files().unwrap(), vec![(id, max as u64)]);
    }
    let db = raw_sled(dir.path());
    let tree = db.open_tree("log").unwrap();
    let mut parts = 0;
    let mut largest = 0;
    for item in tree.scan_prefix(nano_store::encoding::element_part_prefix(id)) {
        let (_, value) = item.unwrap();
        parts += 1;
        largest = largest.max(value.len());
    }
    assert!(largest <= 8 << 10, "a part of {largest} bytes");
    assert_eq!(parts, max.div_ceil(nano_store::encoding::SERIES_PART_BYTES));
    drop((tree, db));
    let log = open(dir.path());
    assert!(log.element_file(id).unwrap() == Some(bytes));
    assert!(log.verify().unwrap().is_ok());
}

#[test]
fn keeping_an_element_file_again_writes_nothing_and_other_bytes_under_its_id_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let bytes = element_bytes(20_000, 5);
    assert!(log.keep_element_file([5; 16], &bytes).unwrap());
    let size = log.size_on_disk().unwrap();
    for _ in 0..3 {
        assert!(!log.keep_element_file([5; 16], &bytes).unwrap());
    }
    assert_eq!(log.size_on_disk().unwrap(), size);
    // Other bytes under a kept id (a keeper's mistake) never replace the kept file.
    for other in [element_bytes(20_000, 6), element_bytes(19_999, 5)] {
        let err = log.keep_element_file([5; 16], &other).unwrap_err();
        assert!(matches!(err, Error::ElementFile { .. }), "{err}");
        assert!(err.to_string().contains("0505050505"), "{err}");
    }
    assert_eq!(log.element_file([5; 16]).unwrap(), Some(bytes));
    assert_eq!(log.element_files().unwrap().len(), 1);
}

#[test]
fn a_damaged_or_incomplete_element_file_is_reported_by_verify_and_by_reading() {
    let id = [7u8; 16];
    let bytes = element_bytes(3 * nano_store::encoding::SERIES_PART_BYTES + 11, 7);
    let prepare = || {
        let dir = tempfile::tempdir().unwrap();
        let log = open(dir.path());
        assert!(log.keep_element_file(id, &bytes).unwrap());
        assert!(log.keep_element_file([8; 16], &bytes[..100]).unwrap());
        dir
    };
    let part = |p| nano_store::encoding::element_part_key(id, p);
    let check = |dir: &tempfile::TempDir, what: &str, reading: &str, verifying: &str| {
        let log = open(dir.path());
        let err = log.element_file(id).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err}");
        assert!(
            err.to_string().contains("element-set file 0707"),
            "{what}: {err}"
        );
        assert!(err.to_string().contains(reading), "{what}: {err}");
        let report = log.verify().unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("element-set file 0707") && p.contains(verifying)),
            "{what}: {report}"
        );
        // The other file is untouched.
        assert_eq!(log.element_file([8; 16]).unwrap().unwrap(), bytes[..100]);
        log
    };

    let dir = prepare();
    damage_value(dir.path(), &part(1), |v| v[30] ^= 4);
    check(&dir, "a flipped bit", "part 1", "checksum");

    let dir = prepare();
    damage_value(
        dir.path(),
        &nano_store::encoding::element_file_key(id),
        |v| v[6] ^= 1,
    );
    let log = check(&dir, "damaged metadata", "checksum", "checksum");
    // What is kept under a damaged id is never written over.
    assert!(matches!(
        log.keep_element_file(id, &bytes),
        Err(Error::Corrupt { .. })
    ));
    drop(log);

    // A part gone from the middle, and the last part gone.
    for (missing, reading) in [(1, "do not follow"), (3, "missing")] {
        let dir = prepare();
        {
            let db = raw_sled(dir.path());
            db.open_tree("log").unwrap().remove(part(missing)).unwrap();
            db.flush().unwrap();
        }
        check(&dir, "a part gone", reading, "parts");
    }

    // Two parts swapped, each still whole under the other's key? Their checksums
    // cover their keys; swapped with their values re-sealed by hand, the file's own
    // checksum still sees it.
    let dir = prepare();
    {
        let db = raw_sled(dir.path());
        let tree = db.open_tree("log").unwrap();
        let (a, b) = (
            tree.get(part(0)).unwrap().unwrap(),
            tree.get(part(1)).unwrap().unwrap(),
        );
        let reseal = |key: &[u8], value: &[u8]| {
            let mut v = value.to_vec();
            let mut h = crc32fast::Hasher::new();
            h.update(key);
            h.update(&v[4..]);
            v[..4].copy_from_slice(&h.finalize().to_le_bytes());
            v
        };
        tree.insert(part(0), reseal(&part(0), &b)).unwrap();
        tree.insert(part(1), reseal(&part(1), &a)).unwrap();
        db.flush().unwrap();
    }
    check(&dir, "two parts swapped", "checksum", "checksum");
}

#[test]
fn parts_of_an_element_file_never_committed_are_not_kept_and_are_replaced_by_the_next_keep() {
    let dir = tempfile::tempdir().unwrap();
    let id = [0x0a; 16];
    let bytes = element_bytes(4 * nano_store::encoding::SERIES_PART_BYTES, 10);
    {
        let log = open(dir.path());
        log.keep_element_file(id, &bytes).unwrap();
    }
    {
        // A keep cut short: its parts written, its metadata not.
        let db = raw_sled(dir.path());
        let tree = db.open_tree("log").unwrap();
        tree.remove(nano_store::encoding::element_file_key(id))
            .unwrap();
        db.flush().unwrap();
    }
    let log = open(dir.path());
    assert_eq!(log.element_file(id).unwrap(), None);
    assert!(log.element_files().unwrap().is_empty());
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.interrupted_element_files, 1);
    let shorter = &bytes[..bytes.len() / 2];
    assert!(log.keep_element_file(id, shorter).unwrap());
    assert_eq!(log.element_file(id).unwrap().as_deref(), Some(shorter));
    let report = log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.interrupted_element_files, 0);
}
