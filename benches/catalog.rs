//! Catalogues: SGP4 states of a sample of the public catalogue (crates.io's
//! `satellite` 0.1.2 `tests/tle.txt`, read from the package `bash .ci/deps` fetched),
//! ours (`Sgp4::teme`: the `sgp4` crate behind our types, with the decay check; and
//! `Sgp4::teme_tracked`, times in order, as a run evaluates them) against
//! the `sgp4` crate called directly with the same constants (improved mode, WGS-72,
//! IAU sidereal time), in states per second on one core; and reading the whole file
//! (`Catalog::read`, 25,975 TLEs), in bytes per second.
//!
//! "On one core" is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), as
//! in `benches/orbit.rs`: on a shared machine the wall clock would count the waits.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nano_pipeline::catalog::{Catalog, CatalogFormat, Sgp4};
use nano_testing::packages;

/// Objects taken evenly from the file, and the minutes each is evaluated at (a day
/// every 24 minutes).
const OBJECTS: usize = 200;
const TIMES: usize = 60;

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

/// The `sgp4` crate's own constants for a TLE: its parser, then the improved mode's
/// parts (WGS-72 and the IAU sidereal time; `Constants::from_elements` would pair
/// the improved mode with WGS-84).
fn crate_constants(line1: &str, line2: &str) -> Option<sgp4::Constants> {
    let e = sgp4::Elements::from_tle(None, line1.as_bytes(), line2.as_bytes()).ok()?;
    let deg = std::f64::consts::PI / 180.0;
    let orbit = sgp4::Orbit::from_kozai_elements(
        &sgp4::WGS72,
        e.inclination * deg,
        e.right_ascension * deg,
        e.eccentricity,
        e.argument_of_perigee * deg,
        e.mean_anomaly * deg,
        e.mean_motion * (std::f64::consts::PI / 720.0),
    )
    .ok()?;
    sgp4::Constants::new(
        sgp4::WGS72,
        sgp4::iau_epoch_to_sidereal_time,
        e.epoch(),
        e.drag_term,
        orbit,
    )
    .ok()
}

fn catalog(c: &mut Criterion<ThreadCpuTime>) {
    let bytes = packages::satellite_tle_txt();
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}'))
        .collect();
    let pairs: Vec<(&str, &str)> = lines
        .windows(2)
        .filter(|w| w[0].starts_with("1 ") && w[1].starts_with("2 "))
        .map(|w| (w[0], w[1]))
        .collect();
    // Objects both can propagate over the whole day, so both compute the same states.
    let times: Vec<f64> = (0..TIMES).map(|i| i as f64 * 24.0).collect();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for (l1, l2) in pairs.iter().step_by(pairs.len() / (OBJECTS + 20)) {
        let read = Catalog::read(format!("{l1}\n{l2}\n").as_bytes(), Some(CatalogFormat::Tle));
        let (Ok(read), Some(constants)) = (read, crate_constants(l1, l2)) else {
            continue;
        };
        let Ok(sgp4) = Sgp4::new(&read.objects[0]) else {
            continue;
        };
        if times.iter().all(|t| sgp4.teme(*t).is_ok()) && ours.len() < OBJECTS {
            ours.push(sgp4);
            theirs.push(constants);
        }
    }
    assert_eq!(ours.len(), OBJECTS);

    let mut group = c.benchmark_group("catalog/sgp4");
    group.throughput(Throughput::Elements((OBJECTS * TIMES) as u64));
    let id = format!("objects={OBJECTS},times={TIMES}");
    group.bench_function(BenchmarkId::new("ours", &id), |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for s in &ours {
                for &t in &times {
                    sum += s.teme(black_box(t)).map_or(0.0, |r| r[0]);
                }
            }
            sum
        })
    });
    // As a run evaluates an object: its times in order, the deep-space resonance
    // integrator carried from one to the next.
    group.bench_function(BenchmarkId::new("ours_tracked", &id), |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for s in &ours {
                let mut resonance = s.resonance();
                for &t in &times {
                    sum += s
                        .teme_tracked(black_box(t), &mut resonance)
                        .map_or(0.0, |r| r[0]);
                }
            }
            sum
        })
    });
    group.bench_function(BenchmarkId::new("sgp4_crate", &id), |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for k in &theirs {
                for &t in &times {
                    sum += k
                        .propagate(sgp4::MinutesSinceEpoch(black_box(t)))
                        .map_or(0.0, |p| p.position[0]);
                }
            }
            sum
        })
    });
    group.finish();

    let mut group = c.benchmark_group("catalog/read");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(20);
    group.bench_function(BenchmarkId::new("tle", "objects=25975"), |b| {
        b.iter(|| Catalog::read(black_box(&bytes), None).map(|c| c.objects.len()))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpuTime(WallTime));
    targets = catalog
}
criterion_main!(benches);
