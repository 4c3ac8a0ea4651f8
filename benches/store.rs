//! The log: batched append, range queries (with sled's default page cache and a
//! 64 MB one), and replay. Bytes on disk per record: `benches/process.py`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nano_pipeline::resume::{self, DEFAULT_BLOCK};
use nano_pipeline::{Propagator, Record, RunKey};
use nano_store::{Log, LogOptions, Sync};

/// Iterations of the run the query and replay benchmarks read (about 1.6 M records).
const LOGGED: u64 = 1_000_000;

fn log_run(dir: &std::path::Path, iterations: u64, sync: Sync) -> Log {
    let log = Log::open(
        dir,
        LogOptions {
            sync,
            ..LogOptions::default()
        },
    )
    .unwrap();
    resume::propagate_logged(&log, RunKey::nano(7), iterations, DEFAULT_BLOCK, |_| {
        Ok::<_, nano_pipeline::Error>(())
    })
    .unwrap();
    log
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("append");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    let iterations = 200_000;
    let records = Propagator::new(7, iterations).count() as u64;
    let compute = Propagator::new(7, iterations).count();
    black_box(compute);
    group.throughput(Throughput::Elements(records));
    for sync in [Sync::Batch, Sync::Never] {
        group.bench_function(
            BenchmarkId::new(format!("sync={sync}"), format!("block={DEFAULT_BLOCK}")),
            |b| {
                b.iter_with_setup(
                    || tempfile::tempdir().unwrap(),
                    |dir| log_run(dir.path(), iterations, sync),
                )
            },
        );
    }
    group.finish();
}

fn query_and_replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = log_run(dir.path(), LOGGED, Sync::Batch);
    let run = RunKey::nano(7);
    let entry = log.entry(run).unwrap().unwrap();
    let end = nano_pipeline::model::logged_checkpoint(&log, 7)
        .unwrap()
        .agents[0]
        .time();

    // A quasi-random walk over the run's whole span, with sled's default page cache
    // (the run fits in it) and with a 64 MB one, smaller than the run's log.
    let mut group = c.benchmark_group("query");
    let walk = |log: &Log, cache: &str, group: &mut criterion::BenchmarkGroup<_>| {
        let mut t = 0.0f64;
        group.bench_function(
            BenchmarkId::new(
                format!("get/cache={cache}"),
                format!("records={}", entry.records),
            ),
            |b| {
                b.iter(|| {
                    t = (t + end * 0.618_033_988_749_895) % end;
                    black_box(log.get(run, t).unwrap())
                })
            },
        );
    };
    walk(&log, "256MB", &mut group);
    drop(log);
    let small = Log::open(
        dir.path(),
        LogOptions {
            cache_bytes: 64 << 20,
            ..LogOptions::default()
        },
    )
    .unwrap();
    walk(&small, "64MB", &mut group);
    drop(small);
    group.finish();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();

    let mut group = c.benchmark_group("replay");
    group.sample_size(10);
    group.throughput(Throughput::Elements(entry.records));
    group.bench_function(
        BenchmarkId::new("decode", format!("records={}", entry.records)),
        |b| {
            b.iter(|| {
                nano_pipeline::model::replay(&log, 7, 0..LOGGED)
                    .unwrap()
                    .map(|r| r.unwrap())
                    .fold(0.0, |acc, r: Record| acc + r.t1)
            })
        },
    );
    group.finish();
}

criterion_group!(benches, append, query_and_replay);
criterion_main!(benches);
