//! The physics of orbit scenarios: forces, integrators, the Kepler oracle, and
//! [`BodyPropagator`], which gives one body's states at the run's output times.
//!
//! # Conventions (`docs/orbits.md`)
//!
//! Kilometres, seconds, km/s, in an inertial frame centred on the central body. A
//! state is [`OrbitState`] `{ t, r, v }`, `t` in seconds since the scenario's epoch.
//! Output `k` is the state at `t_k = k * output_step_s`, computed as that product (never
//! accumulated), so output times never depend on the integrator's steps, and output 0
//! is the initial state.
//!
//! # The parts
//!
//! - [`force`]: the point mass and the J2 term of `docs/orbits.md`.
//! - [`dop853`]: Dormand-Prince 8(5,3), adaptive, with Hairer's error norm
//!   (`rtol = atol = tolerance`), his step-size controller and his seventh-order dense
//!   output, which gives the states at the output times from the steps around them. The
//!   steps never bend to the output times or to where a caller stops: the step sequence
//!   is a function of the scenario alone. It is written here from Hairer's published
//!   coefficients rather than taken from `ode_solvers` (0.6 pins nalgebra 0.34 against
//!   our 0.35, collects every output into a `Vec`, accumulates its output times as
//!   `x += dx`, and keeps its state private, so it could not checkpoint); ours is six
//!   numbers per stage on the stack, with no allocation per step.
//! - [`fixed_step`]: `yoshida4` (symplectic) and `rk4`, on a grid of `j * step_s`; a
//!   step that would cross an output time is cut short to land on it (see the module).
//! - [`kepler`]: the exact two-body solution, independent of all the above: the oracle
//!   of the tests and the accuracy report.
//! - [`accuracy`]: the accuracy report (every integrator against the oracle).
//! - [`interpolant`]: [`hermite`], a body's state between two output times.
//! - [`manoeuvre`]: an impulse on one body and its states after it, propagated anew.
//!
//! # One body at a time
//!
//! Bodies do not interact, so each has its own [`BodyPropagator`], and the dataflow can
//! put them anywhere. Its output does not depend on how the run is cut:
//! `advance(10)` then `advance(20)` gives the same bytes as `advance(20)`, and a
//! propagator resumed from [`BodyPropagator::checkpoint`] continues bit for bit. Both
//! hold because the integrator's steps depend on nothing but the scenario, and the
//! checkpoint is the integrator's whole state (for `dop853` including the last step's
//! dense output, which the next output times may still need).
//!
//! ```
//! use nano_pipeline::orbit::BodyPropagator;
//! use nano_pipeline::scenario::{Scenario, ScenarioLimits};
//!
//! let doc = r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 60,
//!               "bodies": [{"elements": {"a_km": 7000, "e": 0.1}}]}"#;
//! let Scenario::Orbit(scenario) = Scenario::parse(doc, &ScenarioLimits::default())? else {
//!     unreachable!()
//! };
//! let mut body = BodyPropagator::new(&scenario, 0);
//! let mut states = Vec::new();
//! body.advance(10, &mut states);
//! assert_eq!(states.len(), 10);
//! assert_eq!(states[9].t, 600.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod accuracy;
pub mod dop853;
pub mod fixed_step;
pub mod force;
pub mod interpolant;
pub mod kepler;
pub mod manoeuvre;

pub use interpolant::hermite;

use crate::scenario::{Integrator, OrbitScenario};
use dop853::Dop853;
use fixed_step::{FixedStep, Method};
use force::ForceModel;

/// One body's state at time `t`: position `r` (km) and velocity `v` (km/s) in the
/// inertial frame centred on the central body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrbitState {
    pub t: f64,
    pub r: [f64; 3],
    pub v: [f64; 3],
}

impl OrbitState {
    fn from_y(t: f64, y: [f64; 6]) -> Self {
        OrbitState {
            t,
            r: [y[0], y[1], y[2]],
            v: [y[3], y[4], y[5]],
        }
    }
}

/// What an integrator did, for the accuracy report.
pub use dop853::Stats;

// Not boxed: dop853's state (568 bytes) is what most runs hold, one per body, and a
// box would put a pointer chase in front of every step.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
enum Engine {
    Dop853(Dop853),
    Fixed(FixedStep),
}

impl Engine {
    /// `integrator` at its time 0 in state `y0`.
    fn start(integrator: Integrator, force: &ForceModel, y0: [f64; 6]) -> Engine {
        match integrator {
            Integrator::Dop853 { tolerance } => Engine::Dop853(Dop853::new(force, y0, tolerance)),
            Integrator::Yoshida4 { step_s } => {
                Engine::Fixed(FixedStep::new(Method::Yoshida4, step_s, y0))
            }
            Integrator::Rk4 { step_s } => Engine::Fixed(FixedStep::new(Method::Rk4, step_s, y0)),
        }
    }

    /// The state at `t` (in the engine's own time, from 0), at or after the last asked.
    fn advance_to(&mut self, force: &ForceModel, t: f64) -> [f64; 6] {
        match self {
            Engine::Dop853(dop) => {
                while dop.time() < t {
                    dop.step(force, t);
                }
                dop.at(t)
            }
            Engine::Fixed(fixed) => fixed.advance_to(force, t),
        }
    }
}

/// One body of an orbit scenario, integrated from output to output.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyPropagator {
    force: ForceModel,
    output_step_s: f64,
    body: u64,
    /// The output index of the latest state given.
    k: u64,
    engine: Engine,
}

/// The checkpoint's first bytes: a mark and the layout's version, then the method.
const MAGIC: [u8; 4] = *b"ORB1";
const HEADER: usize = 4 + 4 + 8 + 8;

impl BodyPropagator {
    /// Body `body` of `scenario` at output 0 (its initial state).
    ///
    /// # Panics
    /// If `body` is not below `scenario.body_count()`: the caller chose a body the
    /// scenario does not have.
    pub fn new(scenario: &OrbitScenario, body: usize) -> Self {
        let start = scenario
            .body(body)
            .unwrap_or_else(|| panic!("body {body} of a scenario with {}", scenario.body_count()));
        let s = start.state0;
        let y0 = [s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]];
        let force = ForceModel::new(&scenario.central_body(), scenario.forces());
        let engine = Engine::start(scenario.integrator(), &force, y0);
        BodyPropagator {
            force,
            output_step_s: scenario.output_step_s(),
            body: body as u64,
            k: 0,
            engine,
        }
    }

    /// The output index `k` of the latest state (0 before any `advance`).
    pub fn steps_done(&self) -> u64 {
        self.k
    }

    /// Pushes the states at `t_k = k * output_step_s` for `k` in
    /// `steps_done() + 1 ..= k_end` onto `out` (nothing if `k_end <= steps_done()`).
    pub fn advance(&mut self, k_end: u64, out: &mut Vec<OrbitState>) {
        out.reserve(k_end.saturating_sub(self.k) as usize);
        while self.k < k_end {
            let k = self.k + 1;
            let t = k as f64 * self.output_step_s;
            let y = self.engine.advance_to(&self.force, t);
            out.push(OrbitState::from_y(t, y));
            self.k = k;
        }
    }

    /// Counters of the work done so far.
    pub fn stats(&self) -> Stats {
        match &self.engine {
            Engine::Dop853(dop) => dop.stats,
            Engine::Fixed(fixed) => Stats {
                steps: fixed.steps,
                rejected: 0,
                evaluations: fixed.steps * fixed.method().evaluations(),
            },
        }
    }

    fn method_tag(&self) -> u8 {
        match &self.engine {
            Engine::Dop853(_) => 1,
            Engine::Fixed(f) if f.method() == Method::Yoshida4 => 2,
            Engine::Fixed(_) => 3,
        }
    }

    /// The length of every checkpoint of a run with `integrator`.
    pub fn checkpoint_len(integrator: Integrator) -> usize {
        HEADER
            + match integrator {
                Integrator::Dop853 { .. } => Dop853::BYTES,
                Integrator::Yoshida4 { .. } | Integrator::Rk4 { .. } => FixedStep::BYTES,
            }
    }

    /// The whole state, as bytes of a fixed width per method
    /// ([`BodyPropagator::checkpoint_len`]): `ORB1`, the method, three zero bytes, the
    /// body index and `k` (u64), then the integrator's numbers, little-endian.
    pub fn checkpoint(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + Dop853::BYTES);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&[self.method_tag(), 0, 0, 0]);
        out.extend_from_slice(&self.body.to_le_bytes());
        out.extend_from_slice(&self.k.to_le_bytes());
        match &self.engine {
            Engine::Dop853(dop) => dop.write(&mut out),
            Engine::Fixed(fixed) => fixed.write(&mut out),
        }
        out
    }

    /// Body `body` of `scenario` as [`BodyPropagator::checkpoint`] saved it; refused if
    /// the bytes are not a checkpoint of that body under that scenario's integrator.
    pub fn resume(
        scenario: &OrbitScenario,
        body: usize,
        bytes: &[u8],
    ) -> Result<Self, crate::Error> {
        let refuse = |reason: String| crate::Error::Checkpoint { body, reason };
        let mut me = BodyPropagator::new(scenario, body);
        let want = Self::checkpoint_len(scenario.integrator());
        if bytes.len() != want || bytes[..4] != MAGIC {
            return Err(refuse(format!(
                "not a checkpoint of this scenario's integrator ({} bytes, expected {want} starting with ORB1)",
                bytes.len()
            )));
        }
        if bytes[4] != me.method_tag() {
            return Err(refuse(format!(
                "the checkpoint is of method {}, the scenario uses {}",
                bytes[4],
                me.method_tag()
            )));
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if word(8) != body as u64 {
            return Err(refuse(format!("the checkpoint is of body {}", word(8))));
        }
        me.k = word(16);
        let rest = &bytes[HEADER..];
        me.engine = match (&me.engine, scenario.integrator()) {
            (Engine::Dop853(_), Integrator::Dop853 { tolerance }) => match Dop853::read(rest) {
                Some(dop) if dop.tolerance() == tolerance => Engine::Dop853(dop),
                _ => return Err(refuse("damaged, or of another tolerance".into())),
            },
            (Engine::Fixed(f), Integrator::Yoshida4 { step_s } | Integrator::Rk4 { step_s }) => {
                match FixedStep::read(f.method(), rest) {
                    Some(fixed) if fixed.step_s() == step_s => Engine::Fixed(fixed),
                    _ => return Err(refuse("damaged, or of another step".into())),
                }
            }
            _ => return Err(refuse("of another integrator".into())),
        };
        Ok(me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Scenario, ScenarioLimits};

    fn scenario(integrator: &str, forces: &str, output_step_s: f64) -> OrbitScenario {
        let doc = format!(
            r#"{{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "forces": {forces},
                "integrator": {integrator}, "output_step_s": {output_step_s},
                "bodies": [{{"elements": {{"a_km": 7000, "e": 0.1, "i_deg": 53, "nu_deg": 10}}}},
                           {{"elements": {{"a_km": 23333.3, "e": 0.7, "i_deg": 20, "raan_deg": 40}}}}]}}"#
        );
        match Scenario::parse(&doc, &ScenarioLimits::default()).unwrap() {
            Scenario::Orbit(o) => o,
            Scenario::Nano { .. } => unreachable!(),
        }
    }

    fn all_scenarios() -> Vec<OrbitScenario> {
        let mut out = Vec::new();
        for integrator in [
            r#"{"method": "dop853", "tolerance": 1e-10}"#,
            r#"{"method": "yoshida4", "step_s": 7}"#,
            r#"{"method": "rk4", "step_s": 3}"#,
        ] {
            for forces in [r#"["point_mass"]"#, r#"["point_mass", "j2"]"#] {
                out.push(scenario(integrator, forces, 10.0));
                out.push(scenario(integrator, forces, 0.1));
            }
        }
        out
    }

    fn bytes(states: &[OrbitState]) -> Vec<u8> {
        states
            .iter()
            .flat_map(|s| [s.t, s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]])
            .flat_map(f64::to_le_bytes)
            .collect()
    }

    #[test]
    fn output_does_not_depend_on_how_the_run_is_cut() {
        for sc in all_scenarios() {
            for body in 0..2 {
                let mut whole = Vec::new();
                BodyPropagator::new(&sc, body).advance(700, &mut whole);
                assert_eq!(whole.len(), 700);
                for (k, s) in whole.iter().enumerate() {
                    assert_eq!(s.t, (k + 1) as f64 * sc.output_step_s());
                }
                let mut pieces = Vec::new();
                let mut p = BodyPropagator::new(&sc, body);
                for end in [1, 2, 3, 50, 50, 51, 333, 699, 700] {
                    p.advance(end, &mut pieces);
                    assert_eq!(p.steps_done(), end);
                }
                assert_eq!(
                    bytes(&pieces),
                    bytes(&whole),
                    "{:?} body {body}",
                    sc.integrator()
                );
            }
        }
    }

    #[test]
    fn resumed_from_a_checkpoint_continues_bit_for_bit() {
        for sc in all_scenarios() {
            let mut whole = Vec::new();
            let mut straight = BodyPropagator::new(&sc, 1);
            straight.advance(600, &mut whole);
            for cut in [0, 1, 17, 299] {
                let mut first = BodyPropagator::new(&sc, 1);
                let mut out = Vec::new();
                first.advance(cut, &mut out);
                let saved = first.checkpoint();
                assert_eq!(saved.len(), BodyPropagator::checkpoint_len(sc.integrator()));
                let mut resumed = BodyPropagator::resume(&sc, 1, &saved).unwrap();
                assert_eq!(resumed, first);
                assert_eq!(resumed.steps_done(), cut);
                resumed.advance(600, &mut out);
                assert_eq!(
                    bytes(&out),
                    bytes(&whole),
                    "{:?} cut at {cut}",
                    sc.integrator()
                );
                assert_eq!(resumed.stats(), straight.stats());
            }
        }
    }

    #[test]
    fn foreign_checkpoints_are_refused() {
        let dop = scenario(
            r#"{"method": "dop853", "tolerance": 1e-10}"#,
            r#"["point_mass"]"#,
            10.0,
        );
        let other_tol = scenario(
            r#"{"method": "dop853", "tolerance": 1e-9}"#,
            r#"["point_mass"]"#,
            10.0,
        );
        let rk4 = scenario(
            r#"{"method": "rk4", "step_s": 3}"#,
            r#"["point_mass"]"#,
            10.0,
        );
        let yos = scenario(
            r#"{"method": "yoshida4", "step_s": 3}"#,
            r#"["point_mass"]"#,
            10.0,
        );
        let mut p = BodyPropagator::new(&dop, 0);
        p.advance(5, &mut Vec::new());
        let saved = p.checkpoint();
        assert!(BodyPropagator::resume(&dop, 0, &saved).is_ok());
        for (sc, body, bytes) in [
            (&dop, 1, saved.clone()),
            (&other_tol, 0, saved.clone()),
            (&rk4, 0, saved.clone()),
            (&dop, 0, saved[..saved.len() - 1].to_vec()),
            (&dop, 0, [b"XXXX".as_slice(), &saved[4..]].concat()),
        ] {
            let err = BodyPropagator::resume(sc, body, &bytes).unwrap_err();
            assert!(err.to_string().contains(&format!("body {body}")), "{err}");
        }
        let mut r = BodyPropagator::new(&rk4, 0);
        r.advance(5, &mut Vec::new());
        assert!(BodyPropagator::resume(&yos, 0, &r.checkpoint()).is_err());
        assert!(BodyPropagator::resume(&rk4, 0, &r.checkpoint()).is_ok());
    }
}
