//! The reference propagator reproduces every golden run, from the start and continued
//! from a checkpoint halfway.

use nano_pipeline::{Format, Propagator, RunWriter};
use nano_testing::golden::{assert_reproduces, golden_runs};
use serde_json::Value;

fn export(n: u64, seed: u64, records: impl IntoIterator<Item = nano_pipeline::Record>) -> Value {
    let mut w = RunWriter::begin(Vec::new(), Format::Json, n, seed).unwrap();
    w.records(records).unwrap();
    serde_json::from_slice(&w.finish().unwrap()).unwrap()
}

#[test]
fn the_reference_propagator_reproduces_every_golden_run() {
    for golden in golden_runs() {
        let run = export(
            golden.n,
            golden.seed,
            Propagator::new(golden.seed, golden.n),
        );
        assert_reproduces(&run, &golden.document());
    }
}

#[test]
fn a_run_continued_from_its_half_reproduces_the_golden_run() {
    for golden in golden_runs() {
        let mut first = Propagator::new(golden.seed, golden.n);
        let mut records = Vec::new();
        first.run_until(golden.n / 2, |r| records.push(r));
        let saved = first.checkpoint().expect("stopped between iterations");
        records.extend(Propagator::resume(saved, golden.n));
        assert_reproduces(&export(golden.n, golden.seed, records), &golden.document());
    }
}
