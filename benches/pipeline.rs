//! The dataflow: a logged run against the reference propagator writing the same log,
//! and many runs on one worker against two.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nano_pipeline::engine::{Engine, EngineConfig};
use nano_pipeline::job::JobEvent;
use nano_pipeline::resume::{self, DEFAULT_BLOCK};
use nano_pipeline::{Propagator, RunKey};
use nano_store::{Log, LogOptions};

const LOGGED: u64 = 1_000_000;

fn logged_run(c: &mut Criterion) {
    let records = Propagator::new(7, LOGGED).count() as u64;
    let mut group = c.benchmark_group("logged-run");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(records));
    group.bench_function(BenchmarkId::new("reference", format!("n={LOGGED}")), |b| {
        b.iter_with_setup(
            || tempfile::tempdir().unwrap(),
            |dir| {
                let log = Log::open(dir.path(), LogOptions::default()).unwrap();
                resume::propagate_logged(&log, RunKey::nano(7), LOGGED, DEFAULT_BLOCK, |_| {
                    Ok::<_, nano_pipeline::Error>(())
                })
                .unwrap();
            },
        )
    });
    for workers in [1, 2] {
        group.bench_function(
            BenchmarkId::new(format!("dataflow/workers={workers}"), format!("n={LOGGED}")),
            |b| {
                b.iter_with_setup(
                    || tempfile::tempdir().unwrap(),
                    |dir| {
                        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
                        let engine = Engine::start(EngineConfig {
                            workers,
                            network: None,
                            block: DEFAULT_BLOCK,
                            log: Some(log),
                            blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
                        })
                        .unwrap();
                        let job = engine.submit(RunKey::nano(7), LOGGED, false).unwrap();
                        while !matches!(job.next(), Some(JobEvent::Complete { .. }) | None) {}
                        engine.shutdown().unwrap();
                    },
                )
            },
        );
    }
    group.finish();
}

fn many_runs(c: &mut Criterion) {
    const RUNS: u64 = 64;
    const ITERATIONS: u64 = 100_000;
    let records: u64 = (0..RUNS)
        .map(|s| Propagator::new(s, ITERATIONS).count() as u64)
        .sum();
    let mut group = c.benchmark_group("many-runs");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(records));
    for workers in [1, 2] {
        let engine = Engine::start(EngineConfig {
            workers,
            network: None,
            block: DEFAULT_BLOCK,
            log: None,
            blocks_bytes: nano_pipeline::engine::DEFAULT_BLOCKS_BYTES,
        })
        .unwrap();
        let mut round = 0u64;
        group.bench_function(
            BenchmarkId::new(
                format!("workers={workers}"),
                format!("runs={RUNS}/n={ITERATIONS}"),
            ),
            |b| {
                b.iter(|| {
                    // New seeds each time: a finished run is not computed again.
                    round += 1;
                    let jobs: Vec<_> = (0..RUNS)
                        .map(|s| {
                            engine
                                .submit(RunKey::nano(round * 1000 + s), ITERATIONS, false)
                                .unwrap()
                        })
                        .collect();
                    for job in jobs {
                        while !matches!(job.next(), Some(JobEvent::Complete { .. }) | None) {}
                    }
                })
            },
        );
        engine.shutdown().unwrap();
    }
    group.finish();
}

criterion_group!(benches, logged_run, many_runs);
criterion_main!(benches);
