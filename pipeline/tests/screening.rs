//! The screening core: the differential-dataflow screening against the tests' own
//! brute force over every pair (`nano_testing::conjunctions`: their own Hermite cubic,
//! sampled densely and refined, sharing no code with the screening; pairs equal, TCA
//! within 1 ms, miss within 1 m), kept current under manoeuvres, on 1, 2 and 4
//! workers; the exact-minimum code against a dense sampling of the tests' cubic; and
//! the edges (a minimum exactly at an output time, an approach straddling cells, a
//! miss just under and just over the screening distance).

use nano_pipeline::orbit::kepler::Kepler;
use nano_pipeline::orbit::OrbitState;
use nano_pipeline::scenario::EARTH_MU;
use nano_pipeline::screening::approach::closest_approaches;
use nano_pipeline::screening::grid::Grid;
use nano_pipeline::screening::screener::Screener;
use nano_pipeline::screening::{reach, screen_in_windows, Conjunction, Sample};
use nano_testing::conjunctions::{assert_misses, assert_same, cubic, screen_by_sampling};
use nano_testing::crossing;
use proptest::prelude::*;

const STEP: f64 = 10.0;
const OUTPUTS: usize = 61;
/// Every crossing body passes near the meeting point at this time.
const MEET: f64 = 305.0;
/// Cases of the property tests.
const SCREENING_CASES: u32 = 32;
const EXACT_CASES: u32 = 256;

fn norm(a: [f64; 3]) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

/// The states at the output times of the point-mass orbit through `s`.
fn track(s: &OrbitState, from: usize) -> Vec<OrbitState> {
    let orbit = Kepler::new(s, EARTH_MU).unwrap();
    (from..OUTPUTS).map(|k| orbit.at(k as f64 * STEP)).collect()
}

/// The track of a circular orbit through `P + offset` at `MEET`, its velocity at
/// `angle` in the plane normal to the position.
fn crossing(offset: [f64; 3], angle: f64) -> Vec<OrbitState> {
    track(&crossing::at_meeting(MEET, offset, angle), 0)
}

fn grid_for(bodies: &[Vec<OrbitState>], distance_km: f64) -> Grid {
    let most = bodies
        .iter()
        .flat_map(|b| b.windows(2).map(|w| reach(&w[0], &w[1])))
        .fold(0.0, f64::max);
    // Room for the manoeuvres' changed speeds.
    Grid {
        distance_km,
        max_reach_km: 1.2 * most,
    }
}

#[derive(Debug, Clone)]
struct Case {
    bodies: Vec<([f64; 3], f64)>,
    manoeuvres: Vec<(usize, usize, [f64; 3])>,
}

fn cases() -> impl Strategy<Value = Case> {
    let body = (
        prop::array::uniform3(-30.0..30.0f64),
        0.0..std::f64::consts::TAU,
    );
    let manoeuvre = (
        0..64usize,
        1..OUTPUTS - 1,
        prop::array::uniform3(-0.05..0.05f64),
    );
    (
        prop::collection::vec(body, 12..30),
        prop::collection::vec(manoeuvre, 3),
    )
        .prop_map(|(bodies, manoeuvres)| Case { bodies, manoeuvres })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: SCREENING_CASES, ..ProptestConfig::default() })]

    /// In windows of any size (one interval, a few, more than the run), on 1 and 2
    /// workers: the brute force's answer, and exactly the one-dataflow screener's.
    #[test]
    fn windowed_screening_equals_the_brute_force_and_the_whole_run_at_once(
        case in cases(),
        window in prop_oneof![Just(1usize), 2..9usize, Just(OUTPUTS + 5)],
    ) {
        const D: f64 = 20.0;
        let bodies: Vec<Vec<OrbitState>> =
            case.bodies.iter().map(|&(offset, angle)| crossing(offset, angle)).collect();
        let want = screen_by_sampling(&bodies, D);
        prop_assert!(!want.is_empty(), "the case has no conjunction to find");
        let mut whole = Screener::start(1, grid_for(&bodies, D)).unwrap();
        whole.insert(bodies.clone()).unwrap();
        let whole = whole.conjunctions();
        for workers in [1, 2] {
            let mut told = Vec::new();
            let mut found =
                screen_in_windows(&bodies, D, window, workers, None, |k| told.push(k)).unwrap();
            // Progress: every window told, ascending, ending at the run's end.
            prop_assert_eq!(told.len(), (OUTPUTS - 1).div_ceil(window));
            prop_assert!(told.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(told.last().copied(), Some(OUTPUTS));
            found.sort();
            assert_same(&found, &want, "windowed screening");
            prop_assert_eq!(&found, &whole);
        }
    }
}

proptest! {
    // Each case screens a constellation on 1, 2 and 4 workers, four times each.
    #![proptest_config(ProptestConfig { cases: SCREENING_CASES, ..ProptestConfig::default() })]

    #[test]
    fn dataflow_screening_equals_the_brute_force_and_follows_manoeuvres(case in cases()) {
        const D: f64 = 20.0;
        let initial: Vec<Vec<OrbitState>> =
            case.bodies.iter().map(|&(offset, angle)| crossing(offset, angle)).collect();
        let grid = grid_for(&initial, D);
        let mut finals = Vec::new();
        for workers in [1, 2, 4] {
            let mut bodies = initial.clone();
            let mut screener = Screener::start(workers, grid).unwrap();
            let first = screener.insert(bodies.clone()).unwrap();
            let want = screen_by_sampling(&bodies, D);
            prop_assert!(!want.is_empty(), "the case has no conjunction to find");
            assert_same(&screener.conjunctions(), &want, "first screening");
            prop_assert!(first.removed.is_empty());
            assert_same(&first.added, &want, "first screening's additions");
            for &(body, from, dv) in &case.manoeuvres {
                let body = body % bodies.len();
                let mut s = bodies[body][from];
                for (v, dv) in s.v.iter_mut().zip(dv) {
                    *v += dv;
                }
                let new = track(&s, from);
                let old_set = screener.conjunctions();
                let changes = screener.replace(body as u32, from, new.clone()).unwrap();
                bodies[body].truncate(from);
                bodies[body].extend(new);
                let want = screen_by_sampling(&bodies, D);
                assert_same(&screener.conjunctions(), &want, "after a manoeuvre");
                // The reported changes turn the old set into the new one.
                let mut applied: Vec<Conjunction> = old_set
                    .into_iter()
                    .filter(|c| !changes.removed.contains(c))
                    .chain(changes.added.iter().copied())
                    .collect();
                applied.sort();
                assert_same(&applied, &want, "old set with the changes applied");
            }
            finals.push(screener.conjunctions());
            screener.shutdown().unwrap();
        }
        prop_assert_eq!(&finals[0], &finals[1], "1 and 2 workers differ");
        prop_assert_eq!(&finals[0], &finals[2], "1 and 4 workers differ");
    }
}

proptest! {
    // One pair, ten intervals: cheap, so many cases.
    #![proptest_config(ProptestConfig { cases: EXACT_CASES, ..ProptestConfig::default() })]

    #[test]
    fn exact_minima_match_a_dense_sampling(
        a in (prop::array::uniform3(-30.0..30.0f64), 0.0..std::f64::consts::TAU),
        b in (prop::array::uniform3(-30.0..30.0f64), 0.0..std::f64::consts::TAU),
    ) {
        // Independent of the root finding: the distance of the tests' own cubics
        // sampled every millisecond over the intervals around the meeting; its
        // discrete minima against the exact ones.
        const D: f64 = 100.0;
        let (ta, tb) = (crossing(a.0, a.1), crossing(b.0, b.1));
        for k in 25..35 {
            let exact: Vec<Conjunction> =
                closest_approaches(0, (&ta[k], &ta[k + 1]), 1, (&tb[k], &tb[k + 1]), D)
                    .into_iter()
                    .collect();
            let n = 10_000;
            let dist = |j: usize| {
                let t = ta[k].t + STEP * j as f64 / n as f64;
                let (p, q) = (cubic(&ta[k], &ta[k + 1], t), cubic(&tb[k], &tb[k + 1], t));
                (t, norm([p.r[0] - q.r[0], p.r[1] - q.r[1], p.r[2] - q.r[2]]))
            };
            let sampled: Vec<(f64, f64)> = (1..n)
                .filter(|&j| dist(j).1 < dist(j - 1).1 && dist(j).1 <= dist(j + 1).1)
                .map(dist)
                .filter(|&(_, d)| d < D)
                .collect();
            // A minimum within a sample of the interval's ends may fall on either side
            // of the sampling; compare the rest. An exact minimum and its sample, a
            // millisecond apart at most, may also fall either side of that band: such
            // a pair is left out of both.
            let inside = |t: f64| t - ta[k].t > 2e-3 && ta[k + 1].t - t > 2e-3;
            let straddles = |t: f64, u: f64| inside(t) != inside(u) && (t - u).abs() <= 1e-3;
            let exact_in: Vec<_> = exact
                .iter()
                .filter(|c| inside(c.tca_s) && !sampled.iter().any(|s| straddles(c.tca_s, s.0)))
                .collect();
            let sampled_in: Vec<_> = sampled
                .iter()
                .filter(|s| inside(s.0) && !exact.iter().any(|c| straddles(c.tca_s, s.0)))
                .collect();
            prop_assert_eq!(exact_in.len(), sampled_in.len(), "interval {}: {:?} against {:?}", k, exact, sampled);
            for (c, s) in exact_in.iter().zip(sampled_in) {
                prop_assert!((c.tca_s - s.0).abs() <= 1e-3, "TCA {} against {}", c.tca_s, s.0);
                // Not above a sample, but for the two cubics' rounding at 7,000 km.
                prop_assert!(c.miss_km <= s.1 + 1e-9, "miss {} above the sampled {}", c.miss_km, s.1);
                prop_assert!(s.1 - c.miss_km < 1e-3, "miss {} against the sampled {}", c.miss_km, s.1);
            }
        }
    }
}

#[test]
fn a_minimum_exactly_at_an_output_time_is_reported_once() {
    // At t = 300 (output 30) the pair is 1 km apart along z and its relative velocity
    // has no z part, so the distance's derivative is exactly zero there.
    let k = 30;
    let t = k as f64 * STEP;
    let a = OrbitState {
        t,
        r: [7000.0, 0.0, 0.0],
        v: [0.0, 7.5, 0.0],
    };
    let b = OrbitState {
        t,
        r: [7000.0, 0.0, 1.0],
        v: [0.0, 7.4, 0.0],
    };
    let mut bodies = vec![track(&a, 0), track(&b, 0)];
    bodies[0][k] = a;
    bodies[1][k] = b;
    let want = screen_by_sampling(&bodies, 5.0);
    assert_eq!(want.len(), 1, "{want:?}");
    assert!((want[0].tca_s - t).abs() < 1e-3, "{want:?}");
    assert!((want[0].miss_km - 1.0).abs() < 1e-9, "{want:?}");
    let mut screener = Screener::start(2, grid_for(&bodies, 5.0)).unwrap();
    screener.insert(bodies).unwrap();
    let found = screener.conjunctions();
    assert_same(&found, &want, "a minimum at an output time");
    // Exactly there, as the samples say: the distance and its derivative at t_30.
    assert_eq!(found[0].tca_s, t);
    assert_eq!(found[0].miss_km, 1.0);
}

#[test]
fn an_approach_straddling_cells_is_found() {
    // Two bodies meet at a corner of the grid's cells, each coming from a different
    // cell: their segments' homes differ in every axis.
    let grid = Grid {
        distance_km: 10.0,
        max_reach_km: 100.0,
    };
    let c = grid.cell_km();
    let corner = [(7000.0 / c).round() * c, 3.0 * c, -2.0 * c];
    // At output 30 they sit half a kilometre either side of the corner on every axis,
    // and pass each other along y a fraction of a second later.
    let t = 30.0 * STEP;
    let a = OrbitState {
        t,
        r: corner.map(|x| x - 0.5),
        v: [0.0, 7.5, 1.5],
    };
    let b = OrbitState {
        t,
        r: corner.map(|x| x + 0.5),
        v: [0.0, -7.5, 1.6],
    };
    let bodies = vec![track(&a, 0), track(&b, 0)];
    let want = screen_by_sampling(&bodies, 10.0);
    assert_eq!(want.len(), 1, "{want:?}");
    // The segments of the interval holding the approach have different homes.
    let k = (want[0].tca_s / STEP).ceil() as usize - 1;
    let home = |b: usize, body: &[OrbitState]| {
        grid.home(&(
            Sample::new(b as u32, k as u32, &body[k]),
            Sample::new(b as u32, k as u32 + 1, &body[k + 1]),
        ))
        .1
    };
    let (ha, hb) = (home(0, &bodies[0]), home(1, &bodies[1]));
    assert_eq!(k, 30);
    assert!((0..3).all(|i| ha[i] != hb[i]), "homes {ha:?} and {hb:?}");
    let mut screener = Screener::start(1, grid).unwrap();
    screener.insert(bodies).unwrap();
    assert_same(&screener.conjunctions(), &want, "across cells");
}

#[test]
fn samples_beyond_the_grids_reach_are_refused() {
    let bodies = vec![crossing([0.0; 3], 0.3), crossing([1.0, 0.0, 0.0], 1.0)];
    let grid = Grid {
        distance_km: 5.0,
        max_reach_km: 1.0,
    };
    let mut screener = Screener::start(1, grid).unwrap();
    let err = screener.insert(bodies).unwrap_err().to_string();
    assert!(
        err.contains("body 0") && err.contains("reach_km") && err.contains("max_reach_km 1"),
        "{err}"
    );
}

#[test]
fn a_miss_just_under_the_distance_is_reported_and_one_just_over_is_not() {
    // Bodies 0 and 1 meet at MEET 4.99 km apart, bodies 2 and 3 5.01 km apart (exact
    // circular orbits, their closest approach known in closed form: the difference of
    // their radii); their tracks are the exact states at the output times.
    let bodies: Vec<Vec<OrbitState>> = (0..4)
        .map(|b| {
            (0..OUTPUTS)
                .map(|k| crossing::threshold_pairs(4.99, 5.01, MEET, k as f64 * STEP)[b])
                .collect()
        })
        .collect();
    for (d, misses) in [
        (5.0, &[(0, 1, 4.99)][..]),
        (5.02, &[(0, 1, 4.99), (2, 3, 5.01)][..]),
    ] {
        assert_misses(
            &screen_by_sampling(&bodies, d),
            misses,
            MEET,
            "the brute force",
        );
        for workers in [1, 2] {
            let mut screener = Screener::start(workers, grid_for(&bodies, d)).unwrap();
            screener.insert(bodies.clone()).unwrap();
            let what = format!("D = {d}, {workers} workers");
            assert_misses(&screener.conjunctions(), misses, MEET, &what);
            screener.shutdown().unwrap();
        }
    }
}
