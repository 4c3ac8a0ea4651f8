//! Orbits that cross: a circular orbit through a point a few km from `(7000, 0, 0)` at
//! a meeting time, from a direction of its own, so that bodies given other directions
//! come close to it there; scenarios of such bodies (for screening and its page); and
//! pairs of circular orbits whose closest approach is known in closed form.

use nano_pipeline::orbit::kepler::Kepler;
use nano_pipeline::orbit::OrbitState;
use nano_pipeline::scenario::EARTH_MU;

/// The state at `meet` of the circular orbit through `(7000, 0, 0) + offset` then, its
/// velocity at `angle` in the plane normal to the position.
pub fn at_meeting(meet: f64, offset: [f64; 3], angle: f64) -> OrbitState {
    let norm = |a: [f64; 3]| (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt();
    let r = [7000.0 + offset[0], offset[1], offset[2]];
    let rn = norm(r);
    let u = r.map(|x| x / rn);
    // Two unit vectors normal to u: e1 = u x z (normalised), e2 = u x e1.
    let e1 = {
        let c = [u[1], -u[0], 0.0];
        let n = norm(c);
        c.map(|x| x / n)
    };
    let e2 = [
        u[1] * e1[2] - u[2] * e1[1],
        u[2] * e1[0] - u[0] * e1[2],
        u[0] * e1[1] - u[1] * e1[0],
    ];
    let speed = (EARTH_MU / rn).sqrt();
    let v: [f64; 3] = std::array::from_fn(|i| speed * (angle.cos() * e1[i] + angle.sin() * e2[i]));
    OrbitState { t: meet, r, v }
}

/// The state at `t` of the circular orbit of radius `radius_km` that passes the
/// direction `(cos node, sin node, 0)` at `meet`, its plane turned by `tilt` (rad)
/// from the equator about that direction. Two such orbits of radii `r < r + m`
/// through one direction at `meet` are never closer than `m` (their distance is at
/// least the difference of their radii), and are exactly `m` apart then: a close
/// approach known in closed form.
pub fn on_circle(radius_km: f64, node: f64, tilt: f64, meet: f64, t: f64) -> OrbitState {
    let u = [node.cos(), node.sin(), 0.0];
    // In the plane, normal to u, ahead of it.
    let w = [
        -tilt.cos() * node.sin(),
        tilt.cos() * node.cos(),
        tilt.sin(),
    ];
    let rate = (EARTH_MU / radius_km.powi(3)).sqrt();
    let angle = rate * (t - meet);
    let (sin, cos) = angle.sin_cos();
    OrbitState {
        t,
        r: std::array::from_fn(|i| radius_km * (cos * u[i] + sin * w[i])),
        v: std::array::from_fn(|i| radius_km * rate * (-sin * u[i] + cos * w[i])),
    }
}

/// Four bodies meeting in pairs at `meet` on circular orbits (`on_circle`): bodies 0
/// and 1 along +x, `below` km apart; bodies 2 and 3 along -x, `above` km apart; every
/// other pair stays far apart for a fraction of a period around `meet`.
pub fn threshold_pairs(below: f64, above: f64, meet: f64, t: f64) -> [OrbitState; 4] {
    let pi = std::f64::consts::PI;
    [
        on_circle(7000.0, 0.0, 0.9, meet, t),
        on_circle(7000.0 + below, 0.0, 0.1, meet, t),
        on_circle(7000.0, pi, 0.3, meet, t),
        on_circle(7000.0 + above, pi, 1.4, meet, t),
    ]
}

/// The state at `t = 0` of the circular orbit through `(7000, 0, 0) + offset` at
/// `meet`, its velocity at `angle` in the plane normal to the position.
pub fn crossing(meet: f64, offset: [f64; 3], angle: f64) -> OrbitState {
    Kepler::new(&at_meeting(meet, offset, angle), EARTH_MU)
        .unwrap()
        .at(0.0)
}

/// A point-mass scenario (dop853 at 1e-12, an output every `step` s) of `n` bodies
/// named `c-0`, `c-1`, ..., body `i` through the meeting point offset by `offset(i)`
/// at `meet`, heading at `0.39 i` rad.
pub fn scenario(n: usize, meet: f64, step: f64, offset: impl Fn(usize) -> [f64; 3]) -> String {
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            let s = crossing(meet, offset(i), i as f64 * 0.39);
            format!(
                r#"{{"name": "c-{i}", "state": [{:?}, {:?}, {:?}, {:?}, {:?}, {:?}]}}"#,
                s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]
            )
        })
        .collect();
    format!(
        r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": ["point_mass"],
  "integrator": {{"method": "dop853", "tolerance": 1e-12}}, "output_step_s": {step},
  "bodies": [{}]}}"#,
        bodies.join(",\n")
    )
}
