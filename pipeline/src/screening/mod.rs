//! Conjunction screening (`docs/orbits.md`, "Conjunctions"): every local minimum of the
//! distance between two bodies' Hermite interpolants that is below a screening distance
//! `D`, as the pair (lower body index first), the time of closest approach and the miss
//! distance; kept current as manoeuvres replace a body's states. `docs/design.md` ("The
//! screening dataflow") tells the whole in a page.
//!
//! # The parts
//!
//! - [`approach`]: the exact minima of one pair over one interval between output
//!   times, shared by everything below, so each answers the same question.
//! - [`oracle`]: the brute force over every pair and every interval, the reference the
//!   dataflow is tested against.
//! - [`grid`]: the differential-dataflow computation over a body's samples and its
//!   segments (two consecutive samples): each segment visits the `(interval, spatial
//!   cell)`s it could come within `D` of another's home in, keeping only its body and
//!   envelope there; a home meets the visitors of its cell, pairs whose envelopes are
//!   further apart than `D` are dropped, and the rest fetch their four samples and are
//!   refined by [`approach`]. Written as one generic function over collections, so
//!   differential keeps it current when a body's samples and segments are retracted
//!   and new ones inserted.
//! - [`screener`]: a small driver running [`grid`] on `N` worker threads (and on the
//!   workers of a cluster's other processes, over its TCP mesh): it inserts a run's
//!   samples, applies manoeuvres (a body's samples from some output on replaced)
//!   and reports each change as the conjunctions added and removed.
//!
//! - [`sweep`]: one interval screened whole, every body against every other, the
//!   kernel of the [`windows`] of a screening made once (nothing retracted).
//! - [`refine`]: a pair of catalogue objects' minima found again on SGP4 itself.
//! - [`report`]: the answer sorted by miss distance, written as JSON or CSV.
//! - [`screen`]: one screening of a whole run, start to finish.
//!
//! Output times are shared: all bodies have their `k`-th state at the same `t_k`.

pub mod approach;
pub mod grid;
pub mod oracle;
mod pool;
pub mod refine;
pub mod report;
pub mod screener;
pub mod sweep;
pub mod windows;

use std::cmp::Ordering;

use nano_store::ScreenedPair;
use serde::{Deserialize, Serialize};

use crate::network::Network;
use crate::orbit::OrbitState;

use screener::ScreeningError;

/// A close approach of bodies `a < b`: at `tca_s` (seconds since the epoch) their
/// interpolated distance has a local minimum `miss_km` below the screening distance;
/// there `b` moves at `rel_speed_kms` relative to `a`, and lies at `ric_km` from it in
/// `a`'s radial, in-track and cross-track directions ([`approach::encounter`]).
///
/// Ordered (and equal) by the bits of the pair, the time and the miss, so it can be a
/// record of a differential collection; the order is by pair, then time. The
/// encounter's numbers follow from the same two cubics at the same time, so they add
/// nothing to its identity. Kept screenings made before they were written have them
/// NaN.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Conjunction {
    pub a: u32,
    pub b: u32,
    pub tca_s: f64,
    pub miss_km: f64,
    #[serde(default = "unknown")]
    pub rel_speed_kms: f64,
    #[serde(default = "unknown_ric")]
    pub ric_km: [f64; 3],
}

fn unknown() -> f64 {
    f64::NAN
}

fn unknown_ric() -> [f64; 3] {
    [f64::NAN; 3]
}

impl Conjunction {
    fn key(&self) -> (u32, u32, u64, u64) {
        (self.a, self.b, order(self.tca_s), order(self.miss_km))
    }
}

/// A conjunction as the log keeps it in a screening ([`nano_store::encoding::encode_screening`]).
impl From<&Conjunction> for ScreenedPair {
    fn from(c: &Conjunction) -> ScreenedPair {
        ScreenedPair {
            a: c.a,
            b: c.b,
            tca_s: c.tca_s,
            miss_km: c.miss_km,
            rel_speed_kms: c.rel_speed_kms,
            ric_km: c.ric_km,
        }
    }
}

/// A conjunction read back from a kept screening.
impl From<ScreenedPair> for Conjunction {
    fn from(p: ScreenedPair) -> Conjunction {
        Conjunction {
            a: p.a,
            b: p.b,
            tca_s: p.tca_s,
            miss_km: p.miss_km,
            rel_speed_kms: p.rel_speed_kms,
            ric_km: p.ric_km,
        }
    }
}

/// `f64` bits mapped so that integer order is numeric order (total_cmp's order).
fn order(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

impl std::hash::Hash for Conjunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for Conjunction {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Conjunction {}
impl PartialOrd for Conjunction {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Conjunction {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// One body's state at output `k`, as a record of the dataflow's input: the state's
/// seven numbers kept as bits, so samples compare and hash exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Sample {
    pub body: u32,
    pub k: u32,
    state: [u64; 7],
}

impl Sample {
    pub fn new(body: u32, k: u32, s: &OrbitState) -> Sample {
        let y = [s.t, s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]];
        Sample {
            body,
            k,
            state: y.map(f64::to_bits),
        }
    }

    pub fn state(&self) -> OrbitState {
        let y = self.state.map(f64::from_bits);
        OrbitState {
            t: y[0],
            r: [y[1], y[2], y[3]],
            v: [y[4], y[5], y[6]],
        }
    }
}

/// The Bezier points of the Hermite cubic from `s0` to `s1` (km): `r0`, `r0 + h v0 / 3`,
/// `r1 - h v1 / 3`, `r1`. The cubic lies in their convex hull.
pub fn bezier(s0: &OrbitState, s1: &OrbitState) -> [[f64; 3]; 4] {
    let h = s1.t - s0.t;
    [
        s0.r,
        std::array::from_fn(|i| s0.r[i] + h * s0.v[i] / 3.0),
        std::array::from_fn(|i| s1.r[i] - h * s1.v[i] / 3.0),
        s1.r,
    ]
}

/// How far a body can be from its position at `s0.t` while between `s0` and `s1` (km):
/// the Hermite cubic lies in the convex hull of its [`bezier`] points, so the farthest
/// of them from `r0` bounds it.
pub fn reach(s0: &OrbitState, s1: &OrbitState) -> f64 {
    let [p0, p1, p2, p3] = bezier(s0, s1);
    let d = |p: [f64; 3]| {
        ((p[0] - p0[0]).powi(2) + (p[1] - p0[1]).powi(2) + (p[2] - p0[2]).powi(2)).sqrt()
    };
    d(p1).max(d(p2)).max(d(p3))
}

/// What [`screen`] lets a window of its dataflow hold (bytes): the states it is given
/// are the caller's.
pub const WINDOW_BYTES: u64 = 256 << 20;

/// Screens `bodies` (each body's states at the run's shared output times) once at
/// `distance_km` on `workers` worker threads, and on every worker of the other
/// processes of `network` (which run [`windows::run_peer`]), in windows of
/// [`WINDOW_BYTES`] ([`windows`]): every conjunction, closest first.
pub fn screen(
    bodies: Vec<Vec<OrbitState>>,
    distance_km: f64,
    workers: usize,
    network: Option<Network>,
) -> Result<Vec<Conjunction>, crate::Error> {
    let window = windows::window_for(bodies.len() as u32, WINDOW_BYTES, windows::BYTES_PER_SAMPLE);
    screen_in_windows(&bodies, distance_km, window, workers, network, |_| {})
}

/// [`screen`] with windows of `window` intervals, telling `progress` the outputs
/// screened so far.
pub fn screen_in_windows(
    bodies: &[Vec<OrbitState>],
    distance_km: f64,
    window: usize,
    workers: usize,
    network: Option<Network>,
    progress: impl FnMut(usize),
) -> Result<Vec<Conjunction>, crate::Error> {
    let outputs = bodies.first().map_or(0, Vec::len);
    for (body, states) in bodies.iter().enumerate() {
        if states.len() != outputs {
            return Err(ScreeningError::Body {
                body: body as u32,
                rule: format!(
                    "has {} states, the run has {outputs} output times",
                    states.len()
                ),
            }
            .into());
        }
    }
    windows::screen_windows(
        outputs,
        distance_km,
        window,
        workers,
        network,
        |range| Ok(bodies.iter().map(|b| b[range.clone()].to_vec()).collect()),
        progress,
    )
}
