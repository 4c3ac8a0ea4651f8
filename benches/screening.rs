//! Conjunction screening against its performance targets (below): Walker 53 shells at
//! 550 km with J2, six hours at a 10 s output step (2,161 states a satellite), `D` = 5
//! km, on 2 worker threads.
//!
//! - `screening/first/N`: a whole first screening of N satellites (500, 1,584 =
//!   Starlink shell 1, 5,000): the dataflow started, every state inserted, the answer
//!   read, the workers stopped. Target at 1,584: under 10 s.
//! - `screening/manoeuvre/1584`: one satellite of the screened shell 1 manoeuvres at
//!   the run's middle (+1 m/s along track) and back, each an incremental update of the
//!   conjunction set. Target: median under 100 ms, and at least 50x faster than
//!   `first/1584`.
//! - Peak memory: `SCREENING_PEAK_RSS=N` makes this binary screen N satellites once in
//!   a fresh process and print its peak resident set (VmHWM), the states included;
//!   the bench runs that child for 1,584 and prints the figure. Target: under 2 GB.
//!
//! The states are computed once per size, before any timing, by one `BodyPropagator`
//! per satellite on two threads.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion};
use nano_pipeline::orbit::{BodyPropagator, OrbitState};
use nano_pipeline::scenario::{OrbitScenario, Scenario, ScenarioLimits};
use nano_pipeline::screening::grid::Grid;
use nano_pipeline::screening::screener::Screener;

const STEPS: u64 = 6 * 360;
const D_KM: f64 = 5.0;
const WORKERS: usize = 2;
/// `(satellites, planes)` of the shells: phasing 1, 53 degrees, 550 km.
const SHELLS: [(u64, u64); 3] = [(500, 20), (1584, 72), (5000, 100)];

fn shell(total: u64, planes: u64) -> OrbitScenario {
    let doc = format!(
        r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass", "j2"],
            "integrator": {{"method": "dop853", "tolerance": 1e-10}}, "output_step_s": 10.0,
            "walker": {{"i_deg": 53, "total": {total}, "planes": {planes}, "phasing": 1,
                        "altitude_km": 550}}}}"#
    );
    let limits = ScenarioLimits {
        max_bodies: usize::MAX,
    };
    match Scenario::parse(&doc, &limits).expect("a valid scenario") {
        Scenario::Orbit(o) => o,
        Scenario::Nano { .. } => unreachable!("an orbit document"),
    }
}

/// Every satellite's states at k * 10 s, k = 0..=STEPS.
fn states(scenario: &OrbitScenario) -> Vec<Vec<OrbitState>> {
    let n = scenario.body_count();
    let mut bodies: Vec<Vec<OrbitState>> = vec![Vec::new(); n];
    std::thread::scope(|s| {
        for (part, chunk) in bodies.chunks_mut(n.div_ceil(2)).enumerate() {
            let first = part * n.div_ceil(2);
            s.spawn(move || {
                for (i, out) in chunk.iter_mut().enumerate() {
                    let body = first + i;
                    let mut p = BodyPropagator::new(scenario, body);
                    out.push(scenario.body(body).expect("a body").state0);
                    p.advance(STEPS, out).unwrap();
                }
            });
        }
    });
    bodies
}

fn first_screening(bodies: &[Vec<OrbitState>]) -> usize {
    let grid = Grid::for_states(bodies, D_KM);
    let mut screener = Screener::start(WORKERS, grid).expect("the workers start");
    screener
        .insert(bodies.to_vec())
        .expect("the states fit the grid");
    let found = screener.conjunctions().len();
    screener.shutdown().expect("the workers stop");
    found
}

/// Body `body`'s states from output `from` on after an impulse of `dv_kms` along its
/// velocity there, stamped with the run's own output times.
fn manoeuvred(states: &[OrbitState], from: usize, dv_kms: f64) -> Vec<OrbitState> {
    let s = states[from];
    let speed = (s.v[0] * s.v[0] + s.v[1] * s.v[1] + s.v[2] * s.v[2]).sqrt();
    let v = s.v.map(|x| x * (1.0 + dv_kms / speed));
    let doc = format!(
        r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass", "j2"],
            "integrator": {{"method": "dop853", "tolerance": 1e-10}}, "output_step_s": 10.0,
            "bodies": [{{"name": "m", "state": [{:?}, {:?}, {:?}, {:?}, {:?}, {:?}]}}]}}"#,
        s.r[0], s.r[1], s.r[2], v[0], v[1], v[2]
    );
    let Scenario::Orbit(one) =
        Scenario::parse(&doc, &ScenarioLimits::default()).expect("a valid scenario")
    else {
        unreachable!("an orbit document")
    };
    let mut out = vec![one.body(0).expect("one body").state0];
    BodyPropagator::new(&one, 0)
        .advance((states.len() - 1 - from) as u64, &mut out)
        .unwrap();
    // The same dynamics from t = 0: restamped at the run's times.
    for (state, original) in out.iter_mut().zip(&states[from..]) {
        state.t = original.t;
    }
    out
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

fn screening(c: &mut Criterion) {
    let mut group = c.benchmark_group("screening");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    let mut starlink = None;
    for (total, planes) in SHELLS {
        let bodies = states(&shell(total, planes));
        group.bench_with_input(BenchmarkId::new("first", total), &bodies, |b, bodies| {
            b.iter(|| black_box(first_screening(bodies)))
        });
        if total == 1584 {
            starlink = Some(bodies);
        }
    }
    let bodies = starlink.expect("shell 1 is among the shells");
    let grid = Grid::for_states(&bodies, D_KM);
    // Room for the manoeuvred track's slightly longer steps.
    let grid = Grid {
        max_reach_km: grid.max_reach_km * 1.01,
        ..grid
    };
    let mut screener = Screener::start(WORKERS, grid).expect("the workers start");
    screener
        .insert(bodies.clone())
        .expect("the states fit the grid");
    let (body, from) = (700, STEPS as usize / 2);
    let tracks = [
        manoeuvred(&bodies[body], from, 0.001),
        bodies[body][from..].to_vec(),
    ];
    let mut turn = 0;
    group.bench_function(BenchmarkId::new("manoeuvre", 1584), |b| {
        b.iter(|| {
            let changes = screener
                .replace(body as u32, from, tracks[turn % 2].clone())
                .expect("the manoeuvre fits the grid");
            turn += 1;
            black_box(changes)
        })
    });
    group.finish();
    screener.shutdown().expect("the workers stop");

    let child = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .env("SCREENING_PEAK_RSS", "1584")
        .output()
        .expect("the child runs");
    eprintln!(
        "screening/peak_rss/1584: {}",
        String::from_utf8_lossy(&child.stdout).trim()
    );
}

criterion_group!(benches, screening);

fn main() {
    if let Ok(n) = std::env::var("SCREENING_PEAK_RSS") {
        let n: u64 = n.parse().expect("a number of satellites");
        let (total, planes) = SHELLS
            .into_iter()
            .find(|&(t, _)| t == n)
            .expect("one of the shells");
        let start = std::time::Instant::now();
        let bodies = states(&shell(total, planes));
        let propagated = start.elapsed();
        let found = first_screening(&bodies);
        println!(
            "{} MB peak, {found} conjunctions, states in {:.1} s, screened in {:.1} s",
            peak_rss_kb() / 1024,
            propagated.as_secs_f64(),
            (start.elapsed() - propagated).as_secs_f64()
        );
        return;
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
