//! A constellation: Starlink's first shell (Walker 53: 1584/72/1 at 550 km),
//! J2, `dop853` at 1e-10, a 10 s output step (`benches/starlink.json`), through the
//! engine: the compute alone on 1 and 2 workers (no log; the blocks still cross to
//! worker 0 and are gathered, as a run's are), and computed and logged (`--sync
//! batch`, a fresh log each time) on 2.
//!
//! A whole day is 8,640 steps (13.7 M states); the bench samples [`STEPS`] steps (an
//! hour) of all 1,584 bodies, in states per second. The whole day through the command
//! line is measured once by hand (BENCHMARKS.md):
//! `/usr/bin/time -v target/release/sedaro-nano propagate --scenario benches/starlink.json
//! --steps 8640 --data D --workers 2 > /dev/null`.
//!
//! Wall time: "two workers at least 1.7x one" is about the machine's two cores, so
//! the figure is elapsed time, and on a machine shared with other work it says how
//! much of the two cores the bench got as well.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nano_pipeline::engine::{Engine, EngineConfig};
use nano_pipeline::job::JobEvent;
use nano_pipeline::resume::DEFAULT_BLOCK;
use nano_pipeline::scenario::{Scenario, ScenarioLimits};
use nano_store::{Log, LogOptions};

/// One hour at a 10 s output step.
const STEPS: u64 = 360;

fn starlink() -> Scenario {
    Scenario::parse(include_str!("starlink.json"), &ScenarioLimits::default())
        .expect("benches/starlink.json is a valid scenario")
}

/// Submits `steps` steps of `scenario` and waits until they are complete.
fn run(engine: &Engine, scenario: &Scenario, steps: u64) {
    let job = engine.submit_scenario(scenario, steps, false).unwrap();
    loop {
        match job.next() {
            Some(JobEvent::Complete { .. }) => return,
            Some(JobEvent::Failed(reason)) => panic!("the run failed: {reason}"),
            None => panic!("the run's events ended before it completed"),
            Some(_) => {}
        }
    }
}

fn constellation(c: &mut Criterion) {
    let scenario = starlink();
    let Scenario::Orbit(orbit) = &scenario else {
        unreachable!("an orbit scenario")
    };
    let states = STEPS * orbit.body_count() as u64;
    let mut group = c.benchmark_group("starlink");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(states));
    for workers in [1, 2] {
        let engine = Engine::start(EngineConfig {
            workers,
            network: None,
            block: DEFAULT_BLOCK,
            log: None,
            blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
        })
        .unwrap();
        group.bench_function(
            BenchmarkId::new(
                format!("compute/workers={workers}"),
                format!("steps={STEPS}"),
            ),
            |b| b.iter(|| run(&engine, &scenario, STEPS)),
        );
        engine.shutdown().unwrap();
    }
    group.bench_function(
        BenchmarkId::new("logged/workers=2", format!("steps={STEPS}")),
        |b| {
            b.iter_with_setup(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
                    let engine = Engine::start(EngineConfig {
                        workers: 2,
                        network: None,
                        block: DEFAULT_BLOCK,
                        log: Some(log),
                        blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
                    })
                    .unwrap();
                    run(&engine, &scenario, STEPS);
                    engine.shutdown().unwrap();
                },
            )
        },
    );
    group.finish();
}

criterion_group!(benches, constellation);
criterion_main!(benches);
