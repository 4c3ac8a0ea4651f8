//! A manoeuvre: an impulse `dv` (km/s, inertial frame) on one body at time `T`, and
//! that body's states at the output times after it, which make the run's next version
//! (`docs/orbits.md`, "Manoeuvres and versions").
//!
//! The body's state at `T` is the one at output `t_floor = floor(T / h) h` when `T` is
//! that output time; otherwise it is integrated from `t_floor` to `T` with the run's
//! force model and integrator. The impulse adds `dv` to its velocity, and the result
//! is integrated again, from `T`, to every later output time. The states replaced
//! start at output [`Start::from_output`]: `k` when `T = t_k` (the state at `t_k`
//! becomes the post-impulse state), otherwise `ceil(T / h)`.
//!
//! Each leg starts a fresh integrator at its own time 0 (`T - t_floor`, then `t_k -
//! T`): the forces do not depend on time, so this is the same problem; a fixed-step
//! integrator's grid starts at the leg's start, and its steps are cut to land on each
//! output time as [`super::fixed_step`] says.

use super::force::ForceModel;
use super::{Engine, OrbitState};
use crate::scenario::OrbitScenario;

/// An impulse on one body: `dv_kms` added to its velocity at `t` (seconds since the
/// run's epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impulse {
    pub t: f64,
    pub dv_kms: [f64; 3],
}

/// Where a manoeuvre at `t` meets the run's output times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// The latest output `k` with `t_k <= t`: the state the manoeuvre starts from.
    pub floor: u64,
    /// The first output whose state the manoeuvre replaces.
    pub from_output: u64,
}

/// Where a manoeuvre at `t` (finite, at least 0) meets the outputs every `step_s`
/// seconds. Output times are `k * step_s` as products, as the run computes them, so
/// `t` is an output time when it equals one of those products exactly.
pub fn start(t: f64, step_s: f64) -> Start {
    let mut k = (t / step_s).floor().max(0.0) as u64;
    // The quotient may round across an output time: settle on the products.
    while k > 0 && k as f64 * step_s > t {
        k -= 1;
    }
    while (k + 1) as f64 * step_s <= t {
        k += 1;
    }
    let exact = k as f64 * step_s == t;
    Start {
        floor: k,
        from_output: if exact { k } else { k + 1 },
    }
}

/// Why a manoeuvre's track cannot be computed: the impulse puts the body on an orbit
/// the scenario's checks would refuse (unbound, through the central body, too
/// large), or its integration left the sane region on the way (see [`super::Halt`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refused {
    #[error("the orbit after the impulse is refused: {0}")]
    Orbit(String),
    #[error("the manoeuvred body stopped at t = {t_s} s: {halt}")]
    Stopped { t_s: f64, halt: super::Halt },
    /// What a run cannot manoeuvre: a catalogue object (SGP4 reads its element set,
    /// not an integrated state), or any body of a run written in TEME.
    #[error("{0}")]
    NotManoeuvrable(String),
}

/// The states of a body of `scenario` at outputs `from_output ..= last_output` after
/// `impulse`, from its state `at_floor` at output [`Start::floor`] of the impulse's
/// time (empty when `from_output > last_output`); refused when the orbit after the
/// impulse is not one a scenario may start on, or its integration stops.
pub fn after_impulse(
    scenario: &OrbitScenario,
    at_floor: &OrbitState,
    impulse: &Impulse,
    last_output: u64,
) -> Result<Vec<OrbitState>, Refused> {
    track(scenario, at_floor, impulse, last_output)?.collect()
}

/// [`after_impulse`]'s states one output at a time, integrated as they are asked for:
/// a version of a long run is written to the log in bounded parts, never held whole.
/// Refused at once when the orbit after the impulse is; an output whose integration
/// stops is the track's last item, an error.
pub fn track(
    scenario: &OrbitScenario,
    at_floor: &OrbitState,
    impulse: &Impulse,
    last_output: u64,
) -> Result<Track, Refused> {
    let step_s = scenario.output_step_s();
    let Start { from_output, .. } = start(impulse.t, step_s);
    let force = ForceModel::new(&scenario.central_body(), scenario.forces());
    let integrator = scenario.integrator();
    let y0 = [
        at_floor.r[0],
        at_floor.r[1],
        at_floor.r[2],
        at_floor.v[0],
        at_floor.v[1],
        at_floor.v[2],
    ];
    let mut y = if impulse.t > at_floor.t {
        Engine::start(integrator, &force, y0)
            .advance_to(&force, impulse.t - at_floor.t)
            .map_err(|halt| Refused::Stopped {
                t_s: impulse.t,
                halt,
            })?
    } else {
        y0
    };
    for (v, dv) in y[3..].iter_mut().zip(impulse.dv_kms) {
        *v += dv;
    }
    super::elements::check_orbit(
        &[y[0], y[1], y[2]],
        &[y[3], y[4], y[5]],
        &scenario.central_body(),
    )
    .map_err(Refused::Orbit)?;
    let engine = Engine::start(integrator, &force, y);
    Ok(Track {
        force,
        engine,
        y,
        impulse_t: impulse.t,
        step_s,
        next: from_output,
        last: last_output,
    })
}

/// The states after an impulse, output by output (see [`track`]).
pub struct Track {
    force: ForceModel,
    engine: Engine,
    /// The state just after the impulse.
    y: [f64; 6],
    impulse_t: f64,
    step_s: f64,
    next: u64,
    last: u64,
}

impl Iterator for Track {
    type Item = Result<OrbitState, Refused>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next > self.last {
            return None;
        }
        let t = self.next as f64 * self.step_s;
        self.next += 1;
        if t == self.impulse_t {
            return Some(Ok(OrbitState::from_y(t, self.y)));
        }
        match self.engine.advance_to(&self.force, t - self.impulse_t) {
            Ok(yk) => Some(Ok(OrbitState::from_y(t, yk))),
            Err(halt) => {
                // Nothing follows a stop.
                self.next = self.last + 1;
                Some(Err(Refused::Stopped { t_s: t, halt }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orbit::kepler::Kepler;
    use crate::orbit::BodyPropagator;
    use crate::scenario::{Scenario, ScenarioLimits};

    fn scenario(integrator: &str, forces: &str) -> OrbitScenario {
        let doc = format!(
            r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": {forces},
                "integrator": {integrator}, "output_step_s": 60,
                "bodies": [{{"elements": {{"a_km": 7200, "e": 0.1, "i_deg": 53, "nu_deg": 10}}}}]}}"#
        );
        match Scenario::parse(&doc, &ScenarioLimits::default()).unwrap() {
            Scenario::Orbit(o) => o,
            Scenario::Nano { .. } => unreachable!(),
        }
    }

    fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    }

    #[test]
    fn the_start_is_the_output_at_or_before_the_impulse() {
        assert_eq!(
            start(0.0, 60.0),
            Start {
                floor: 0,
                from_output: 0
            }
        );
        assert_eq!(
            start(59.9, 60.0),
            Start {
                floor: 0,
                from_output: 1
            }
        );
        assert_eq!(
            start(600.0, 60.0),
            Start {
                floor: 10,
                from_output: 10
            }
        );
        // 0.1 * 3 is 0.30000000000000004: 0.3 is not the product, so not an output.
        assert_eq!(
            start(0.3, 0.1),
            Start {
                floor: 2,
                from_output: 3
            }
        );
        let t = 3.0 * 0.1;
        assert_eq!(
            start(t, 0.1),
            Start {
                floor: 3,
                from_output: 3
            }
        );
    }

    /// The two-body problem has an exact solution: the Kepler orbit through the state
    /// at `T`, velocity changed. Every integrator, from an exact state at `t_floor`,
    /// lands within its accuracy of it at every later output.
    #[test]
    fn after_an_impulse_the_track_follows_the_exact_kepler_orbit() {
        let point_mass = r#"["point_mass"]"#;
        for (integrator, bound_km) in [
            (r#"{"method": "dop853", "tolerance": 1e-12}"#, 1e-5),
            (r#"{"method": "yoshida4", "step_s": 1}"#, 1e-5),
            (r#"{"method": "rk4", "step_s": 1}"#, 1e-5),
        ] {
            let sc = scenario(integrator, point_mass);
            let mu = ForceModel::new(&sc.central_body(), sc.forces()).mu();
            let s0 = sc.body(0).unwrap().state0;
            let before = Kepler::new(&s0, mu).unwrap();
            for (t, dv) in [
                (1234.5, [0.05, -0.02, 0.01]),
                (600.0, [-0.1, 0.0, 0.03]),
                (0.0, [0.0, 0.2, 0.0]),
            ] {
                let Start { floor, from_output } = start(t, 60.0);
                let at_floor = before.at(floor as f64 * 60.0);
                let impulse = Impulse { t, dv_kms: dv };
                let track = after_impulse(&sc, &at_floor, &impulse, 200).unwrap();
                assert_eq!(track.len() as u64, 201 - from_output);
                let mut hit = before.at(t);
                for (v, dv) in hit.v.iter_mut().zip(dv) {
                    *v += dv;
                }
                let after = Kepler::new(&hit, mu).unwrap();
                let mut worst: f64 = 0.0;
                for (i, s) in track.iter().enumerate() {
                    let k = from_output + i as u64;
                    assert_eq!(s.t, k as f64 * 60.0);
                    let exact = after.at(s.t);
                    worst = worst.max(distance(s.r, exact.r));
                    // Velocity: a thousandth of the position bound per second.
                    assert!(
                        distance(s.v, exact.v) < bound_km * 1e-2,
                        "{integrator}: t = {t}, k = {k}"
                    );
                }
                assert!(
                    worst < bound_km,
                    "{integrator}: t = {t}: {worst} km off the Kepler orbit"
                );
                // The impulse shows: the new track is not the old one.
                let last = track.last().unwrap();
                assert!(distance(last.r, before.at(last.t).r) > 1.0);
            }
        }
    }

    /// With no impulse, a manoeuvre at an output time continues the body as the run
    /// did, to the integrator's accuracy (the legs restart the integrator, so not bit
    /// for bit).
    #[test]
    fn a_zero_impulse_continues_the_run() {
        let sc = scenario(
            r#"{"method": "dop853", "tolerance": 1e-12}"#,
            r#"["point_mass", "j2"]"#,
        );
        let mut run = vec![sc.body(0).unwrap().state0];
        BodyPropagator::new(&sc, 0).advance(100, &mut run).unwrap();
        let impulse = Impulse {
            t: 1234.5,
            dv_kms: [0.0; 3],
        };
        let track = after_impulse(&sc, &run[20], &impulse, 100).unwrap();
        assert_eq!(track.len(), 80);
        for (s, logged) in track.iter().zip(&run[21..]) {
            assert_eq!(s.t, logged.t);
            assert!(distance(s.r, logged.r) < 1e-6, "{s:?} {logged:?}");
        }
    }
}
