//! The dataflow engine in one process: the same records as the reference propagator
//! on any number of workers, many runs at once, single flight, and the log.

use std::time::Duration;

use nano_pipeline::engine::{Engine, EngineConfig};
use nano_pipeline::job::{JobEvent, JobHandle};
use nano_pipeline::{Propagator, Record, RunKey};
use nano_store::{Log, LogOptions};

fn engine(workers: usize, block: u64, log: Option<Log>) -> Engine {
    Engine::start(EngineConfig {
        workers,
        network: None,
        block,
        log,
        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
    })
    .unwrap()
}

/// Follows a job to its end: its records (if asked for) and its last event.
fn follow(job: &JobHandle) -> (Vec<Record>, JobEvent, Vec<u64>) {
    let (mut records, mut progress) = (Vec::new(), Vec::new());
    loop {
        let event = job
            .next_timeout(Duration::from_secs(120))
            .expect("the job made no progress for two minutes")
            .expect("the job ended without completing");
        match event {
            JobEvent::Records(block) => records.extend(
                block
                    .iter()
                    .map(|r| Record::from_stored(r).expect("a nano record")),
            ),
            JobEvent::Progress { iterations, .. } => progress.push(iterations),
            last => return (records, last, progress),
        }
    }
}

fn reference(seed: u64, n: u64) -> Vec<Record> {
    Propagator::new(seed, n).collect()
}

#[test]
fn any_number_of_workers_gives_the_reference_records() {
    for workers in [1, 2, 4] {
        let engine = engine(workers, 700, None);
        let job = engine.submit(RunKey::nano(42), 2000, true).unwrap();
        let (records, last, progress) = follow(&job);
        assert_eq!(last, JobEvent::Complete { iterations: 2000 });
        assert_eq!(records, reference(42, 2000), "{workers} workers");
        assert_eq!(progress, vec![700, 1400, 2000], "{workers} workers");
        engine.shutdown().unwrap();
    }
}

#[test]
fn sixty_four_runs_at_once_each_equal_their_reference() {
    let engine = engine(2, 500, None);
    let jobs: Vec<_> = (0..64u64)
        .map(|i| {
            (
                i,
                engine
                    .submit(RunKey::nano(i * 7919), 1000 + i * 10, true)
                    .unwrap(),
            )
        })
        .collect();
    // Readers of records read as they come, each on its own thread.
    std::thread::scope(|s| {
        for (i, job) in jobs {
            s.spawn(move || {
                let (records, last, _) = follow(&job);
                assert_eq!(
                    last,
                    JobEvent::Complete {
                        iterations: 1000 + i * 10
                    }
                );
                assert_eq!(
                    records,
                    reference(i * 7919, 1000 + i * 10),
                    "seed {}",
                    i * 7919
                );
            });
        }
    });
    assert_eq!(engine.in_flight(), 0);
    engine.shutdown().unwrap();
}

#[test]
fn a_short_run_completes_while_a_long_one_is_still_running() {
    let engine = engine(1, 1000, None);
    let long = engine.submit(RunKey::nano(1), 5_000_000, false).unwrap();
    let short = engine.submit(RunKey::nano(2), 3000, true).unwrap();
    let (records, last, _) = follow(&short);
    assert_eq!(last, JobEvent::Complete { iterations: 3000 });
    assert_eq!(records, reference(2, 3000));
    // The long run is still going: what it has reported so far is far from its end.
    let mut latest = 0;
    while let Ok(Some(JobEvent::Progress { iterations, .. })) = long.next_timeout(Duration::ZERO) {
        latest = iterations;
        if latest >= 5_000_000 {
            break;
        }
    }
    assert!(
        latest < 1_000_000,
        "the long run got to {latest} before the short one ended"
    );
    drop(long);
}

#[test]
fn requests_for_a_run_in_flight_share_one_job_and_extend_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let engine = engine(2, 1000, Some(log.clone()));
    let first = engine.submit(RunKey::nano(5), 20_000, true).unwrap();
    let second = engine.submit(RunKey::nano(5), 10_000, true).unwrap();
    let third = engine.submit(RunKey::nano(5), 30_000, true).unwrap();
    std::thread::scope(|s| {
        for (job, n) in [(first, 20_000), (second, 10_000), (third, 30_000)] {
            let log = &log;
            s.spawn(move || {
                let (records, last, _) = follow(&job);
                assert_eq!(last, JobEvent::Complete { iterations: n });
                // A request that joined late gets the records after it joined; the log
                // holds the earlier ones.
                let mut all: Vec<Record> = nano_pipeline::model::replay(log, 5, 0..job.joined_at)
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                all.extend(records);
                assert_eq!(all, reference(5, n), "the request for {n}");
            });
        }
    });
    let entry = log.entry(RunKey::nano(5)).unwrap().unwrap();
    assert_eq!((entry.iterations, entry.target), (30_000, 30_000));
    assert!(log.verify().unwrap().is_ok());
    engine.shutdown().unwrap();
}

#[test]
fn unfinished_runs_in_the_log_resume_when_the_engine_starts() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    // A run that stopped at 3000 of 8000 iterations, as a crash would leave it.
    nano_pipeline::resume::propagate_logged(&log, RunKey::nano(9), 3000, 1000, |_| {
        Ok::<_, nano_pipeline::Error>(())
    })
    .unwrap();
    log.raise_target(RunKey::nano(9), 8000).unwrap();
    assert!(!log.entry(RunKey::nano(9)).unwrap().unwrap().complete());

    let engine = engine(2, 1000, Some(log.clone()));
    // Joining the resumed job: it is in flight already.
    let job = engine.submit(RunKey::nano(9), 8000, false).unwrap();
    assert!(job.joined_at >= 3000);
    let (_, last, _) = follow(&job);
    assert_eq!(last, JobEvent::Complete { iterations: 8000 });
    let replayed: Vec<_> = nano_pipeline::model::replay(&log, 9, 0..8000)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(replayed, reference(9, 8000));
    assert!(log.entry(RunKey::nano(9)).unwrap().unwrap().complete());
    engine.shutdown().unwrap();
}

#[test]
fn a_run_the_log_holds_completes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    nano_pipeline::resume::propagate_logged(&log, RunKey::nano(4), 5000, 1000, |_| {
        Ok::<_, nano_pipeline::Error>(())
    })
    .unwrap();
    let engine = engine(1, 1000, Some(log));
    let job = engine.submit(RunKey::nano(4), 2000, true).unwrap();
    assert_eq!(job.joined_at, 2000);
    assert_eq!(job.next(), Some(JobEvent::Complete { iterations: 5000 }));
    engine.shutdown().unwrap();
}

/// A reader that does not read holds the engine back: an orbit run's blocks are whole
/// rounds of its bodies (tens of thousands of records each), and the records waiting
/// for their reader stay within the engine's bound, counted in records (some 426,000,
/// plus the rounds already open), not in blocks (64 such blocks would be 4 million).
/// Once the reader reads, the run completes.
#[test]
fn an_orbit_run_waits_for_a_reader_that_does_not_read() {
    use nano_pipeline::scenario::{Scenario, ScenarioLimits};
    const STEPS: u64 = 20_000;
    let scenario = Scenario::parse(
        r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
            "integrator": {"method": "rk4", "step_s": 10}, "output_step_s": 10,
            "walker": {"i_deg": 53, "total": 200, "planes": 10, "phasing": 1, "altitude_km": 550}}"#,
        &ScenarioLimits::default(),
    )
    .unwrap();
    let engine = engine(2, 4096, None);
    let job = engine.submit_scenario(&scenario, STEPS, true).unwrap();
    // Wait until the engine stops: the count of committed steps holds still.
    let mut committed = engine.iterations_committed();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = engine.iterations_committed();
        if now == committed {
            break;
        }
        committed = now;
    }
    let held = committed * 200;
    assert!(
        committed < STEPS && held <= 1_200_000,
        "{committed} of {STEPS} steps ({held} records) went to a reader that read none"
    );
    let mut records = 0u64;
    loop {
        match job.next_timeout(Duration::from_secs(120)) {
            Ok(Some(JobEvent::Records(block))) => records += block.len() as u64,
            Ok(Some(JobEvent::Complete { iterations })) => {
                assert_eq!(iterations, STEPS);
                break;
            }
            Ok(Some(JobEvent::Progress { .. })) => {}
            other => panic!("the run did not complete once read: {other:?}"),
        }
    }
    assert_eq!(records, STEPS * 200);
}

/// A 64-satellite Walker shell at altitude `altitude_km`, cheap to propagate.
fn shell(altitude_km: u64) -> nano_pipeline::scenario::Scenario {
    use nano_pipeline::scenario::{Scenario, ScenarioLimits};
    Scenario::parse(
        &format!(
            r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
                "integrator": {{"method": "rk4", "step_s": 10}}, "output_step_s": 10,
                "walker": {{"i_deg": 53, "total": 64, "planes": 8, "phasing": 1, "altitude_km": {altitude_km}}}}}"#
        ),
        &ScenarioLimits::default(),
    )
    .unwrap()
}

#[test]
fn orbit_jobs_beyond_the_blocks_bound_wait_or_take_shorter_epochs_and_stay_within_it() {
    use nano_pipeline::admission::HELD_ROUNDS;
    const BLOCK: u64 = 256;
    const JOBS: u64 = 6;
    // An orbit round is at most 32 x block records (fewer here: whole chunk parts),
    // each a stored record; each job admitted is charged three of its rounds (the
    // engine's floor: one round ahead, the one being committed counted twice more).
    // The bound leaves room for two whole jobs: the others wait, or start with
    // shorter epochs in what is left.
    let round = 32 * BLOCK * std::mem::size_of::<nano_store::Record>() as u64;
    let bound = 2 * HELD_ROUNDS * round;
    let engine = Engine::start(EngineConfig {
        workers: 1,
        network: None,
        block: BLOCK,
        log: None,
        blocks_bytes: bound,
    })
    .unwrap();
    let jobs: Vec<_> = (0..JOBS)
        .map(|j| {
            engine
                .submit_scenario(&shell(550 + 10 * j), 2_000, true)
                .unwrap()
        })
        .collect();
    assert!(
        engine.jobs_waiting() > 0,
        "{JOBS} jobs fit in room for two: none waited"
    );
    assert!(engine.blocks_charged() <= bound);
    for (j, job) in jobs.iter().enumerate() {
        let mut records = 0u64;
        loop {
            match job.next_timeout(Duration::from_secs(120)) {
                Ok(Some(JobEvent::Records(block))) => records += block.len() as u64,
                Ok(Some(JobEvent::Progress { .. })) => {}
                Ok(Some(JobEvent::Complete { iterations })) => {
                    assert_eq!(iterations, 2_000);
                    break;
                }
                other => panic!("job {j} did not complete: {other:?}"),
            }
        }
        assert_eq!(records, 2_000 * 64, "job {j}");
    }
    let held = engine.peak_blocks_held();
    assert!(held > 0, "the commit stage reported no records held");
    assert!(
        held <= bound,
        "the commit stage held {held} bytes of records at once, over the blocks' bound of {bound}"
    );
    assert_eq!(engine.blocks_charged(), 0, "every job gave its charge back");
    engine.shutdown().unwrap();
}

#[test]
fn a_job_whose_smallest_round_could_never_fit_is_refused() {
    let engine = Engine::start(EngineConfig {
        workers: 1,
        network: None,
        block: 256,
        log: None,
        // Two steps of 64 bodies, less than the three a job is charged at least.
        blocks_bytes: 2 * 64 * std::mem::size_of::<nano_store::Record>() as u64,
    })
    .unwrap();
    let refused = engine
        .submit_scenario(&shell(550), 100, false)
        .err()
        .expect("refused");
    let message = refused.to_string();
    assert!(
        matches!(refused, nano_pipeline::Error::OverMemory { .. }),
        "{message}"
    );
    assert!(message.contains("one step of its 64 bodies"), "{message}");
    assert_eq!(engine.in_flight(), 0, "nothing was registered for it");
    engine.shutdown().unwrap();
}
