//! The model: records per second of the reference propagator, and of the JSON and CSV
//! encodings.

use std::hint::black_box;
use std::io;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nano_pipeline::{Format, Propagator, Record, RunWriter};

const ITERATIONS: u64 = 100_000;

fn records(n: u64) -> Vec<Record> {
    Propagator::new(42, n).collect()
}

fn propagator(c: &mut Criterion) {
    let count = records(ITERATIONS).len() as u64;
    let mut group = c.benchmark_group("propagator");
    group.throughput(Throughput::Elements(count));
    group.bench_function(
        BenchmarkId::new("records", format!("n={ITERATIONS}")),
        |b| b.iter(|| Propagator::new(black_box(42), ITERATIONS).fold(0.0, |acc, r| acc + r.t1)),
    );
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let run = records(ITERATIONS);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(run.len() as u64));
    for (format, name) in Format::ALL {
        group.bench_function(
            BenchmarkId::new(name, format!("records={}", run.len())),
            |b| {
                b.iter(|| {
                    let mut w = RunWriter::begin(io::sink(), format, ITERATIONS, 42).unwrap();
                    for r in &run {
                        w.record(r).unwrap();
                    }
                    w.finish().unwrap()
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, propagator, encoding);
criterion_main!(benches);
