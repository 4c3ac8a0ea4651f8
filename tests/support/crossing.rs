//! Scenarios whose orbits cross: every body on a circular orbit through a point a few
//! km from `(7000, 0, 0)` at one meeting time, each from its own direction, so that
//! the pairs come close at about that time (for screening and its page).

use nano_pipeline::orbit::kepler::Kepler;
use nano_pipeline::orbit::OrbitState;
use nano_pipeline::scenario::EARTH_MU;

#[path = "../../pipeline/tests/support/crossing.rs"]
pub mod meeting;

/// The state at `t = 0` of the circular orbit through `(7000, 0, 0) + offset` at
/// `meet`, its velocity at `angle` in the plane normal to the position.
pub fn crossing(meet: f64, offset: [f64; 3], angle: f64) -> OrbitState {
    Kepler::new(&meeting::at_meeting(meet, offset, angle), EARTH_MU)
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
