//! Orbits: `dop853` at tolerance 1e-12 on the LEO orbit of the example scenario of
//! `docs/orbits.md` (a = 7,000 km, e = 0.1), in orbits per second on one core: the
//! integration alone (one output per orbit), and with the states sampled every 10 s
//! (about 580 per orbit).
//!
//! "On one core" is measured as the benchmark thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on a machine shared with other work the
//! wall clock counts the time the thread waits for a core, and the figure would say
//! more about the neighbours than about the integrator.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nano_pipeline::orbit::{BodyPropagator, OrbitState};
use nano_pipeline::scenario::{OrbitScenario, Scenario, ScenarioLimits, EARTH_MU};

const ORBITS: u64 = 100;
const A_KM: f64 = 7200.0;

fn scenario(output_step_s: f64) -> OrbitScenario {
    let doc = format!(
        r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
            "integrator": {{"method": "dop853", "tolerance": 1e-12}}, "output_step_s": {output_step_s},
            "bodies": [{{"name": "sat-1", "elements": {{"a_km": {A_KM}, "e": 0.1, "i_deg": 53}}}}]}}"#
    );
    match Scenario::parse(&doc, &ScenarioLimits::default()).expect("a valid scenario") {
        Scenario::Orbit(o) => o,
        Scenario::Nano { .. } => unreachable!("an orbit document"),
    }
}

/// The calling thread's CPU time, formatted as durations.
struct ThreadCpuTime(WallTime);

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux has.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        self.0.formatter()
    }
}

fn dop853(c: &mut Criterion<ThreadCpuTime>) {
    let period = std::f64::consts::TAU * (A_KM * A_KM * A_KM / EARTH_MU).sqrt();
    let mut group = c.benchmark_group("dop853");
    group.throughput(Throughput::Elements(ORBITS));
    for (name, step) in [("integration", period), ("sampled", 10.0)] {
        let sc = scenario(step);
        let outputs = (ORBITS as f64 * period / step).round() as u64;
        let mut out: Vec<OrbitState> = Vec::with_capacity(outputs as usize);
        group.bench_function(
            BenchmarkId::new(
                name,
                format!("tol=1e-12,e=0.1,output_step_s={step:.0},orbits={ORBITS}"),
            ),
            |b| {
                b.iter(|| {
                    out.clear();
                    let mut body = BodyPropagator::new(black_box(&sc), 0);
                    body.advance(outputs, &mut out).unwrap();
                    out.last().map(|s| s.r[0])
                })
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime(WallTime));
    targets = dop853
}
criterion_main!(benches);
