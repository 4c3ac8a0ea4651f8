//! The screening as a differential-dataflow computation over a grid of cells.
//!
//! # Why no pair is lost
//!
//! A segment is a body's two consecutive samples, `k` and `k + 1`; its *home* is the
//! cell of its position `p` at `t_k`, and its *reach* `R` bounds how far it strays from
//! `p` before `t_{k+1}` ([`reach`]). Its *envelope* is the box around the convex hull
//! of its Hermite cubic's Bezier points, which holds the whole cubic. If two segments
//! of one interval come within `D` of each other, a point of `b`'s envelope lies
//! within `D` of a point of `a`'s path, which lies within `R_a` of `p_a`: so, with every
//! reach at most `max_reach`, `p_a` lies in `b`'s envelope grown by `D + max_reach` on
//! every side, and `b` *visits* every cell that grown box touches. `a` and `b` meet in
//! `a`'s home even when the closest approach straddles cells, and each pair meets once:
//! it is kept only where the home's body index is the lower (`a < b`), and `b` visits
//! each cell at most once.
//!
//! # What it costs, and the prefilter
//!
//! The cells are [`CELL_FACTOR`] times `2 max_reach + D` wide, so a segment visits
//! about two cells on each axis it moves along and one or two on the others. The
//! homes and the visitors carry only the body and the envelope (rounded outwards to
//! `f32`), each marked whether it is the segment's home; the cells are joined with
//! themselves, and where a home meets a visitor, two envelopes further apart than `D`
//! on some axis cannot hold a conjunction and are dropped before anything else is
//! looked up. Only the pairs left fetch their four samples (`by_id`, the one
//! arrangement of whole states, each state once) and are refined by
//! [`closest_approaches`].
//!
//! # Why a segment visits at most eight cells, whatever the states
//!
//! The screening's memory is its samples and their visits, so the visits per segment
//! must not depend on how the bodies move. [`Grid::admits`] (which the screener checks
//! every sample against before the grid sees it) keeps every position within
//! [`MAX_POSITION_KM`] and within [`PRECISION_CELLS`] cells of the origin, and every
//! reach within the grid's; [`Grid::for_states`] makes the reach at least
//! `|r| / 2^21` for the largest position (so the cells are at least `|r| / 2^18`) so that no admitted run is refused for its
//! size. Then, on each axis: the envelope lies within `R` of `p`, so its exact width
//! is at most `2 R`; rounding its corners outwards to `f32` adds at most one `f32`
//! step (`2^-23` of the corner, under `cell / 32` given the bound) on each side; the
//! box a segment visits adds `D + max_reach` on each side. Its width is at most
//! `4 max_reach + 2 D + cell / 16`, under half a cell plus a sixteenth, so it touches
//! at most two cells per axis: eight in all. Without the bounds, a body whose speed
//! diverged (near `1e42` km/s) had envelopes of infinite `f32` corners, and one
//! segment visited every cell from `i32::MIN` to `i32::MAX` on each axis.

use differential_dataflow::lattice::Lattice;
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use timely::progress::Timestamp;

use crate::orbit::OrbitState;

use super::approach::closest_approaches;
use super::{bezier, reach, Conjunction, Sample};

/// A body's samples at outputs `k` and `k + 1`.
pub type Segment = (Sample, Sample);

/// The cells' edge in units of `2 max_reach + D`: measured on Starlink shell 1
/// (BENCHMARKS.md), larger cells visit fewer cells and meet more neighbours.
pub const CELL_FACTOR: f64 = 4.0;

/// The screening distance and the cell size that follows from the segments' reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// `D` (km).
    pub distance_km: f64,
    /// The largest reach any segment may have (km); [`super::screener`] refuses
    /// samples that exceed it.
    pub max_reach_km: f64,
}

/// The farthest a screened position may be from the central body (km): some 6,700
/// astronomical units, beyond any orbit the service propagates, and far inside
/// `f32`'s range, so that envelopes stay finite.
pub const MAX_POSITION_KM: f64 = 1e12;

/// How many cells from the origin a position may be (`2^18`): beyond, the `f32`
/// envelope's rounding would no longer be small beside a cell (see the module docs).
pub const PRECISION_CELLS: f64 = (1u64 << 18) as f64;

/// The most cells one segment visits (two per axis; see the module docs).
pub const MAX_VISITS: usize = 8;

/// A cell: the interval's index and the cell's coordinates.
pub type Cell = (u32, [i32; 3]);

/// A box holding a segment's whole path, its corners rounded outwards to `f32` (kept
/// as bits, so envelopes compare exactly and can be records).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Envelope {
    lo: [u32; 3],
    hi: [u32; 3],
}

impl Envelope {
    /// The box of the Bezier points of the segment's Hermite cubic.
    pub fn of((s0, s1): &Segment) -> Envelope {
        Envelope::between(&s0.state(), &s1.state())
    }

    /// The box of the Hermite cubic between states `a` and `b`.
    pub fn between(a: &OrbitState, b: &OrbitState) -> Envelope {
        let points = bezier(a, b);
        let lo = std::array::from_fn(|i| points.iter().map(|p| p[i]).fold(f64::INFINITY, f64::min));
        let hi = std::array::from_fn(|i| {
            points
                .iter()
                .map(|p| p[i])
                .fold(f64::NEG_INFINITY, f64::max)
        });
        Envelope {
            lo: lo.map(|x| down(x).to_bits()),
            hi: hi.map(|x| up(x).to_bits()),
        }
    }

    /// Whether two paths in these boxes may come within `d` of each other (false
    /// only when some axis keeps them further apart).
    pub fn near(&self, other: &Envelope, d: f64) -> bool {
        let (lo, hi, other_lo, other_hi) = (self.lo(), self.hi(), other.lo(), other.hi());
        (0..3).all(|i| lo[i] - d <= other_hi[i] && other_lo[i] - d <= hi[i])
    }

    /// The lower corner (km).
    pub fn lo(&self) -> [f64; 3] {
        self.lo.map(|b| f64::from(f32::from_bits(b)))
    }

    /// The upper corner (km).
    pub fn hi(&self) -> [f64; 3] {
        self.hi.map(|b| f64::from(f32::from_bits(b)))
    }
}

/// The largest `f32` at most `x`.
fn down(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) > x {
        f.next_down()
    } else {
        f
    }
}

/// The smallest `f32` at least `x`.
fn up(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) < x {
        f.next_up()
    } else {
        f
    }
}

impl Grid {
    /// The grid for screening `bodies` (each body's states at the shared output
    /// times) at `distance_km`: its reach the largest any of their segments has (and
    /// at least the largest position's `2^-21`, see the module docs), so that no
    /// admissible segment is refused and the cells are no larger than the motion
    /// needs. Values past [`MAX_POSITION_KM`] or not finite do not size the grid:
    /// [`Grid::admits`] refuses them.
    pub fn for_states(bodies: &[Vec<OrbitState>], distance_km: f64) -> Grid {
        let sane = |x: f64| if x <= MAX_POSITION_KM { x } else { 0.0 };
        let reach = bodies
            .iter()
            .flat_map(|b| b.windows(2).map(|w| sane(reach(&w[0], &w[1]))))
            .fold(0.0, f64::max);
        let farthest = bodies
            .iter()
            .flat_map(|b| b.iter().flat_map(|s| s.r.map(|x| sane(x.abs()))))
            .fold(0.0, f64::max);
        Grid {
            distance_km,
            max_reach_km: reach.max(farthest / (2.0 * CELL_FACTOR * PRECISION_CELLS)),
        }
    }

    /// Why the segment from `s0` to `s1` cannot be screened on this grid, if it
    /// cannot: a value not finite, a position too far ([`MAX_POSITION_KM`], or so far
    /// in cells that `f32` envelopes would span many), or a reach past the grid's.
    /// Everything the grid is given passes this, which bounds its visits
    /// ([`MAX_VISITS`]).
    pub fn admits(
        &self,
        s0: &OrbitState,
        s1: &OrbitState,
    ) -> Result<(), (&'static str, f64, String)> {
        for s in [s0, s1] {
            if let Some(x) = s.r.iter().chain(&s.v).find(|x| !x.is_finite()) {
                return Err(("r, v", *x, "must be finite".into()));
            }
            let limit = MAX_POSITION_KM.min(PRECISION_CELLS * self.cell_km());
            if let Some(x) = s.r.iter().find(|x| x.abs() > limit) {
                return Err((
                    "r",
                    *x,
                    format!("must be within {limit:e} km of the central body to be screened"),
                ));
            }
        }
        let r = reach(s0, s1);
        if r.is_nan() || r > self.max_reach_km {
            return Err((
                "reach_km",
                r,
                format!(
                    "must be at most the grid's max_reach_km {}",
                    self.max_reach_km
                ),
            ));
        }
        Ok(())
    }

    /// The cells' edge (km).
    pub fn cell_km(&self) -> f64 {
        CELL_FACTOR * (2.0 * self.max_reach_km + self.distance_km)
    }

    /// The cell coordinate of `x`; far outside any orbit, the last cell (which
    /// merges cells, so meets more pairs, never fewer).
    fn cell(&self, x: f64) -> i32 {
        let c = (x / self.cell_km()).floor();
        c.clamp(f64::from(i32::MIN), f64::from(i32::MAX)) as i32
    }

    /// The segment's interval and home cell.
    pub fn home(&self, (s0, _): &Segment) -> Cell {
        let r = s0.state().r;
        (s0.k, r.map(|x| self.cell(x)))
    }

    /// The interval and every cell the segment visits (its home among them), given
    /// its envelope.
    pub fn visits(&self, (s0, _): &Segment, envelope: &Envelope) -> impl Iterator<Item = Cell> {
        let w = self.distance_km + self.max_reach_km;
        let (elo, ehi) = (envelope.lo(), envelope.hi());
        let lo: [i32; 3] = std::array::from_fn(|i| self.cell(elo[i] - w));
        let hi: [i32; 3] = std::array::from_fn(|i| self.cell(ehi[i] + w));
        let k = s0.k;
        (lo[0]..=hi[0]).flat_map(move |i| {
            (lo[1]..=hi[1]).flat_map(move |j| (lo[2]..=hi[2]).map(move |l| (k, [i, j, l])))
        })
    }
}

/// The conjunctions below `grid.distance_km` of the bodies whose samples are
/// `samples` and whose segments (consecutive samples) are `segments`, kept current by
/// differential as both come and go.
///
/// Only the samples are kept whole (one arrangement by body and output); the
/// segments flow through to the cells, which keep each visit as a body and an
/// envelope. The cells are joined with themselves: a record marked as its segment's
/// home meets the other visitors of its cell.
pub fn conjunctions<'scope, T>(
    samples: VecCollection<'scope, T, Sample>,
    segments: VecCollection<'scope, T, Segment>,
    grid: Grid,
) -> VecCollection<'scope, T, Conjunction>
where
    T: Timestamp + Lattice + Ord,
{
    let d = grid.distance_km;
    let by_id = samples.map(|s| ((s.body, s.k), s)).arrange_by_key();
    let visitors = segments
        .flat_map(move |seg| {
            let envelope = Envelope::of(&seg);
            let (body, home) = (seg.0.body, grid.home(&seg));
            grid.visits(&seg, &envelope)
                .map(move |cell| (cell, (body, envelope, cell == home)))
        })
        .arrange_by_key();
    type Visit = (u32, Envelope, bool);
    let pairs = visitors.clone().join_core(
        visitors,
        move |&(k, _): &Cell, &(a, ea, home): &Visit, &(b, eb, _): &Visit| {
            (home && a < b && ea.near(&eb, d)).then_some(((a, k), b))
        },
    );
    // The four samples of the pair's two segments, one lookup each.
    let a0 = pairs.join_core(by_id.clone(), |&(a, k), &b: &u32, s: &Sample| {
        Some(((a, k + 1), (b, *s)))
    });
    let a1 = a0.join_core(
        by_id.clone(),
        |&(_, k1), &(b, a0): &(u32, Sample), s: &Sample| Some(((b, k1 - 1), (a0, *s))),
    );
    let b0 = a1.join_core(
        by_id.clone(),
        |&(b, k), a: &(Sample, Sample), s: &Sample| Some(((b, k + 1), (a.0, a.1, *s))),
    );
    b0.join_core(
        by_id,
        move |_, a: &(Sample, Sample, Sample), b1: &Sample| {
            let (a0, a1, b0) = *a;
            closest_approaches(
                a0.body,
                (&a0.state(), &a1.state()),
                b0.body,
                (&b0.state(), &b1.state()),
                d,
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orbit::hermite;
    use crate::screening::screen;
    use proptest::prelude::*;

    /// Any `f64`, weighted towards the wild: NaN, infinities, speeds and positions near
    /// `1e42`, and values of every magnitude.
    fn wild() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            (-50i32..50, any::<bool>()).prop_map(|(e, neg)| {
                let x = 10f64.powi(e);
                if neg {
                    -x
                } else {
                    x
                }
            }),
            -1e4f64..1e4,
            Just(f64::NAN),
            Just(1e42),
        ]
    }

    fn states(values: &[f64], step: f64) -> Vec<OrbitState> {
        values
            .chunks(6)
            .enumerate()
            .map(|(k, y)| OrbitState {
                t: k as f64 * step,
                r: [y[0], y[1], y[2]],
                v: [y[3], y[4], y[5]],
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever the states, a segment the grid admits visits at most eight cells,
        /// and the grid's own sizing admits every segment of finite, near states.
        #[test]
        fn an_admitted_segment_visits_at_most_eight_cells_whatever_the_states(
            a in prop::collection::vec(wild(), 18),
            b in prop::collection::vec(wild(), 18),
            offset in wild(),
            step in prop_oneof![Just(1e-3), Just(60.0), Just(1e7)],
            d in prop_oneof![Just(1e-3), Just(5.0), Just(100.0)],
        ) {
            // A third body moves slowly, `offset` away on every axis: its segments
            // are short, however far (or not finite) its positions are.
            let moved: Vec<OrbitState> = (0..3)
                .map(|k| {
                    let t = k as f64 * step;
                    OrbitState {
                        t,
                        r: [7000.0 + t * 1e-3, 0.0, 0.0].map(|x| x + offset),
                        v: [1e-3, 0.0, 0.0],
                    }
                })
                .collect();
            let bodies = vec![states(&a, step), states(&b, step), moved];
            let grid = Grid::for_states(&bodies, d);
            prop_assert!(grid.cell_km().is_finite() && grid.max_reach_km <= MAX_POSITION_KM);
            for (body, track) in bodies.iter().enumerate() {
                for (k, w) in track.windows(2).enumerate() {
                    let seg = (Sample::new(body as u32, k as u32, &w[0]), Sample::new(body as u32, k as u32 + 1, &w[1]));
                    let sane = [&w[0], &w[1]].iter().all(|s| {
                        s.r.iter().chain(&s.v).all(|x| x.is_finite())
                            && s.r.iter().all(|x| x.abs() <= MAX_POSITION_KM)
                    }) && reach(&w[0], &w[1]) <= MAX_POSITION_KM;
                    match grid.admits(&w[0], &w[1]) {
                        Ok(()) => {
                            let visits = grid.visits(&seg, &Envelope::of(&seg)).take(MAX_VISITS + 1).count();
                            prop_assert!(visits <= MAX_VISITS, "{visits} cells: {w:?} on {grid:?}");
                        }
                        Err((field, value, rule)) => {
                            prop_assert!(!sane, "refused {field} = {value} {rule}: {w:?} on {grid:?}");
                        }
                    }
                }
            }
        }
    }

    /// The states of a diverging orbit (speeds near `1e42` km/s, positions past
    /// `f32`'s range), NaN, and a far but finite body: the screening refuses the first
    /// two by name and screens the third, without a panic or an unbounded grid.
    #[test]
    fn wild_states_are_refused_by_name_and_far_ones_screened() {
        let circle = |phase: f64| -> Vec<OrbitState> {
            (0..50)
                .map(|k| {
                    let t = k as f64 * 60.0;
                    let a = phase + t * 1e-3;
                    OrbitState {
                        t,
                        r: [7000.0 * a.cos(), 7000.0 * a.sin(), 0.0],
                        v: [-7.0 * a.sin(), 7.0 * a.cos(), 0.0],
                    }
                })
                .collect()
        };
        let mut diverging = circle(0.0);
        for (k, s) in diverging.iter_mut().enumerate().skip(40) {
            let speed = 10f64.powi(k as i32);
            s.v = [speed, -speed, speed];
            s.r = [speed * 60.0, 1e3, -speed * 60.0];
        }
        let err = screen(vec![diverging, circle(1.0)], 5.0, 2, None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("body 0") && text.contains("must be within"),
            "{text}"
        );

        let mut nan = circle(0.5);
        nan[7].v[1] = f64::NAN;
        let text = screen(vec![circle(1.0), nan], 5.0, 1, None)
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("body 1, state 6") && text.contains("must be finite"),
            "{text}"
        );

        // A body 1e9 km out, screened at 1 m: the cells grow with the positions.
        let far: Vec<OrbitState> = circle(0.0)
            .into_iter()
            .map(|s| OrbitState {
                r: s.r.map(|x| x + 1e9),
                ..s
            })
            .collect();
        // The second passes the first at 0.5 m at t = 1,500 s.
        let near = far
            .iter()
            .map(|s| OrbitState {
                r: [s.r[0] + (s.t - 1500.0) * 1e-5, s.r[1] + 0.0005, s.r[2]],
                v: [s.v[0] + 1e-5, s.v[1], s.v[2]],
                ..*s
            })
            .collect();
        let found = screen(vec![far, near], 0.001, 1, None).unwrap();
        assert!(!found.is_empty());
    }

    #[test]
    fn the_envelope_holds_the_whole_path_and_near_is_conservative() {
        // The path bulges out in x and z: beyond the box of its two ends.
        let s0 = OrbitState {
            t: 10.0,
            r: [7000.123456789, -20.5, 3.25],
            v: [1.0, 7.4, -0.8],
        };
        let s1 = OrbitState {
            t: 20.0,
            r: [7000.123456789, 53.7, 3.25],
            v: [-1.0, 7.3, 0.9],
        };
        let seg = (Sample::new(0, 1, &s0), Sample::new(0, 2, &s1));
        let e = Envelope::of(&seg);
        let (lo, hi) = (e.lo(), e.hi());
        for j in 0..=1000 {
            let p = hermite(&s0, &s1, 10.0 + j as f64 / 100.0).r;
            assert!(
                (0..3).all(|i| lo[i] <= p[i] && p[i] <= hi[i]),
                "{p:?} outside {e:?}"
            );
        }
        // A box just over D away on x is not near; just under D it is.
        let shifted = |dx: f64| {
            let mut a = s0;
            let mut b = s1;
            a.r[0] += dx;
            b.r[0] += dx;
            Envelope::of(&(Sample::new(1, 1, &a), Sample::new(1, 2, &b)))
        };
        let width = hi[0] - lo[0];
        assert!(!e.near(&shifted(width + 5.01), 5.0));
        assert!(e.near(&shifted(width + 4.99), 5.0));
    }
}
