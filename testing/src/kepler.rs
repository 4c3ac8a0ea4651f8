//! The two-body problem solved here, sharing no code with the propagator it checks
//! (`nano_pipeline::orbit`): Kepler's orbit through a state by universal variables
//! (Stumpff's functions, the universal anomaly found by Newton's method), and
//! docs/orbits.md's elements and Walker pattern turned into states, with its constants.

use nano_pipeline::orbit::OrbitState;

/// docs/orbits.md's Earth: `mu` (km^3/s^2) and equatorial radius (km).
pub const MU: f64 = 398600.4418;
pub const RADIUS_KM: f64 = 6378.137;

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

/// The distance between two points (or two velocities).
pub fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    norm([a[0] - b[0], a[1] - b[1], a[2] - b[2]])
}

/// Stumpff's `C(z)` and `S(z)`, by their series near 0 where the closed forms cancel.
fn stumpff(z: f64) -> (f64, f64) {
    if z.abs() < 1e-3 {
        let c = 1.0 / 2.0 - z / 24.0 + z * z / 720.0 - z * z * z / 40320.0;
        let s = 1.0 / 6.0 - z / 120.0 + z * z / 5040.0 - z * z * z / 362880.0;
        (c, s)
    } else if z > 0.0 {
        let x = z.sqrt();
        ((1.0 - x.cos()) / z, (x - x.sin()) / (x * z))
    } else {
        let x = (-z).sqrt();
        ((x.cosh() - 1.0) / -z, (x.sinh() - x) / (x * -z))
    }
}

/// The point-mass orbit through `s0` (around `MU`), at `t`.
pub fn kepler(s0: &OrbitState, t: f64) -> OrbitState {
    let dt = t - s0.t;
    if dt == 0.0 {
        return OrbitState { t, ..*s0 };
    }
    let (r0, v0) = (s0.r, s0.v);
    let rn = norm(r0);
    let sqrt_mu = MU.sqrt();
    let sigma = dot(r0, v0) / sqrt_mu;
    // The reciprocal of the semi-major axis.
    let alpha = 2.0 / rn - dot(v0, v0) / MU;
    // F(x) = sigma x^2 C + (1 - alpha r0) x^3 S + r0 x - sqrt(mu) dt, and F' = r.
    let mut x = sqrt_mu * alpha.abs() * dt;
    if alpha <= 0.0 || x == 0.0 {
        x = sqrt_mu * dt / rn;
    }
    for _ in 0..100 {
        let z = alpha * x * x;
        let (c, s) = stumpff(z);
        let f = sigma * x * x * c + (1.0 - alpha * rn) * x * x * x * s + rn * x - sqrt_mu * dt;
        let df = sigma * x * (1.0 - z * s) + (1.0 - alpha * rn) * x * x * c + rn;
        let step = f / df;
        x -= step;
        if step.abs() <= 1e-15 * x.abs().max(1.0) {
            break;
        }
    }
    let z = alpha * x * x;
    let (c, s) = stumpff(z);
    let f = 1.0 - x * x / rn * c;
    let g = dt - x * x * x / sqrt_mu * s;
    let r: [f64; 3] = std::array::from_fn(|i| f * r0[i] + g * v0[i]);
    let r_now = norm(r);
    let fdot = sqrt_mu / (r_now * rn) * (alpha * x * x * x * s - x);
    let gdot = 1.0 - x * x / r_now * c;
    OrbitState {
        t,
        r,
        v: std::array::from_fn(|i| fdot * r0[i] + gdot * v0[i]),
    }
}

/// A body's states across manoeuvres: Kepler arcs, each from the state just after an
/// impulse (the first from the initial state).
#[derive(Debug, Clone)]
pub struct Arcs(Vec<OrbitState>);

impl Arcs {
    pub fn new(initial: OrbitState) -> Arcs {
        Arcs(vec![initial])
    }

    /// The state at `t`: the Kepler orbit of the latest arc starting at or before `t`.
    pub fn at(&self, t: f64) -> OrbitState {
        let arc = self.0.iter().rev().find(|a| a.t <= t).unwrap_or(&self.0[0]);
        kepler(arc, t)
    }

    /// An impulse `dv` (km/s) at `t`: a new arc from the state then, velocity changed.
    pub fn impulse(&mut self, t: f64, dv: [f64; 3]) {
        let mut s = self.at(t);
        for (v, dv) in s.v.iter_mut().zip(dv) {
            *v += dv;
        }
        self.0.push(s);
    }
}

/// The state at `t = 0` of the circular orbit of `radius_km` at inclination `i_deg`,
/// node `raan_deg` and argument of latitude `u_deg` (docs/orbits.md's elements with `e =
/// 0`, `argp = 0`): the node's direction and the in-plane normal to it, turned by `u`.
pub fn circular(radius_km: f64, i_deg: f64, raan_deg: f64, u_deg: f64) -> OrbitState {
    let (i, raan, u) = (
        i_deg.to_radians(),
        raan_deg.to_radians(),
        u_deg.to_radians(),
    );
    let node = [raan.cos(), raan.sin(), 0.0];
    let normal = [-raan.sin() * i.cos(), raan.cos() * i.cos(), i.sin()];
    let speed = (MU / radius_km).sqrt();
    OrbitState {
        t: 0.0,
        r: std::array::from_fn(|k| radius_km * (u.cos() * node[k] + u.sin() * normal[k])),
        v: std::array::from_fn(|k| speed * (-u.sin() * node[k] + u.cos() * normal[k])),
    }
}

/// The initial states of the Walker delta pattern `i: t/p/f` at `altitude_km`, by
/// body index (`k * s + j`), as docs/orbits.md writes it: `raan = k 360 / p`,
/// `u = j 360 / s + k f 360 / t`, radius `R + altitude`.
pub fn walker(
    i_deg: f64,
    total: u64,
    planes: u64,
    phasing: u64,
    altitude_km: f64,
) -> Vec<OrbitState> {
    let per_plane = total / planes;
    (0..total)
        .map(|index| {
            let (k, j) = ((index / per_plane) as f64, (index % per_plane) as f64);
            let raan = k * 360.0 / planes as f64;
            let u = j * 360.0 / per_plane as f64 + k * phasing as f64 * 360.0 / total as f64;
            circular(RADIUS_KM + altitude_km, i_deg, raan, u)
        })
        .collect()
}
