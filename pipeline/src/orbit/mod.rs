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
//! - [`elements`]: the terms an orbit is described in (central body, elements,
//!   [`OrbitState`]) and the check of the sane region's orbits; [`integrator`]: which
//!   method a scenario picks.
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
//! # The sane region and the work bound
//!
//! The scenario's checks ([`crate::scenario`]) admit only orbits that are bound,
//! clear of the central body and of a sane size. Integration checks again, at every
//! output: a state that is not finite, below the central body's radius (an impact),
//! unbound in the whole field (an escape: [`ForceModel::energy`](force::ForceModel::energy)
//! at or above 0) or beyond [`MAX_RADIUS_RADII`] radii stops the body with a
//! [`Halt`], as does an output that would take more than [`MAX_SUBSTEPS_PER_OUTPUT`]
//! steps of `dop853` (the work bound; the fixed-step methods are bounded by the
//! scenario's own check of `output_step_s / step_s`). [`BodyPropagator::advance`]
//! then returns [`Stopped`], which names the body, the time and the cause; every
//! state it gave before is the integrator's own and in the sane region, and none
//! after is given: no output ever holds a non-finite number.
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
//!               "bodies": [{"elements": {"a_km": 7200, "e": 0.1}}]}"#;
//! let Scenario::Orbit(scenario) = Scenario::parse(doc, &ScenarioLimits::default())? else {
//!     unreachable!()
//! };
//! let mut body = BodyPropagator::new(&scenario, 0);
//! let mut states = Vec::new();
//! body.advance(10, &mut states)?;
//! assert_eq!(states.len(), 10);
//! assert_eq!(states[9].t, 600.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod accuracy;
pub mod dop853;
pub mod elements;
pub mod fixed_step;
pub mod force;
pub mod integrator;
pub mod interpolant;
pub mod kepler;
pub mod manoeuvre;

pub use interpolant::hermite;

use crate::catalog::{ElementSet, ResonanceState, Sgp4};
use crate::scenario::{Frame, OrbitScenario};
use dop853::Dop853;
pub use elements::OrbitState;
use fixed_step::{FixedStep, Method};
use force::ForceModel;
use integrator::Integrator;

/// The most `dop853` steps (accepted and rejected) one output step may take: a
/// hundred thousand, some 0.2 s of a worker (measured: 2 us a step), where a ten-day
/// output step of a 200 km orbit at the tightest tolerance (1e-14), the longest the
/// scenario's checks allow, takes some 30 ms and ordinary scenarios a handful of
/// steps. Past it the body stops with [`Halt::Work`], so no output step can hold a
/// worker for good.
pub const MAX_SUBSTEPS_PER_OUTPUT: u64 = 100_000;

/// How far from the centre a body may go, in radii of the central body: twice the
/// farthest apoapsis the scenario's semi-major axis bound allows
/// ([`elements::MAX_SEMI_MAJOR_RADII`]), so only a state gone wrong reaches it.
pub const MAX_RADIUS_RADII: f64 = 4.0 * elements::MAX_SEMI_MAJOR_RADII;

/// Why a body's integration stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Halt {
    /// It passed below the central body's surface.
    #[error("it struck the central body (r = {r_km} km, below its radius {radius_km} km)")]
    Impact { r_km: f64, radius_km: f64 },
    /// Its energy in the whole field reached 0: it is no longer bound.
    #[error("it escaped the central body (specific energy {energy} km^2/s^2, at or above 0)")]
    Escape { energy: f64 },
    /// It went beyond [`MAX_RADIUS_RADII`] radii.
    #[error("it left the sane region (r = {r_km} km, beyond {limit_km} km)")]
    Beyond { r_km: f64, limit_km: f64 },
    /// Its state or the integrator's error estimate stopped being a number.
    #[error("its state is no longer finite")]
    NonFinite,
    /// One output step needed more than [`MAX_SUBSTEPS_PER_OUTPUT`] steps.
    #[error("one output step needed more than {limit} integrator steps (the work bound)")]
    Work { limit: u64 },
}

/// A body stopped: which (its index), at which output and time, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("body {body} stopped at output {output} (t = {t_s} s): {halt}")]
pub struct Stopped {
    pub body: u64,
    /// The output it could not give (the last one given is `output - 1`).
    pub output: u64,
    pub t_s: f64,
    pub halt: Halt,
}

impl Stopped {
    /// The message with the body's name from `scenario`: `body 3 (sat-4) stopped ...`.
    pub fn describe(&self, scenario: &OrbitScenario) -> String {
        let name = scenario
            .body(self.body as usize)
            .map_or_else(String::new, |b| format!(" ({})", b.name));
        format!(
            "body {}{name} stopped at output {} (t = {} s): {}",
            self.body, self.output, self.t_s, self.halt
        )
    }
}

/// Whether `y` is in the sane region of `force`'s field (see the module docs).
fn sane(force: &ForceModel, y: &[f64; 6]) -> Result<(), Halt> {
    if !y.iter().all(|x| x.is_finite()) {
        return Err(Halt::NonFinite);
    }
    let r_km = (y[0] * y[0] + y[1] * y[1] + y[2] * y[2]).sqrt();
    let radius_km = force.radius_km();
    if r_km < radius_km {
        return Err(Halt::Impact { r_km, radius_km });
    }
    let limit_km = MAX_RADIUS_RADII * radius_km;
    if r_km > limit_km {
        return Err(Halt::Beyond { r_km, limit_km });
    }
    let energy = force.energy(y);
    // NaN only where an overflow met another (the checks above leave it unlikely).
    if energy.is_nan() || energy >= 0.0 {
        return Err(Halt::Escape { energy });
    }
    Ok(())
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
    Sgp4(Sgp4Body),
}

/// A catalogue object's SGP4 (`docs/orbits.md`, "Catalogues"): its state at `t` is
/// SGP4 at `offset_min + t / 60` minutes from its element set's epoch, in TEME. Once
/// SGP4 fails the object has no states: each later output is [`NO_STATE`].
#[derive(Clone)]
struct Sgp4Body {
    sgp4: Sgp4,
    /// The resonance integrator, carried from output to output (not checkpointed: from
    /// the epoch again, it lands on the same numbers).
    resonance: Option<ResonanceState>,
    offset_min: f64,
    /// The first output SGP4 could not give, and its error code.
    stopped: Option<(u64, u8)>,
}

impl std::fmt::Debug for Sgp4Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sgp4Body")
            .field("sgp4", &self.sgp4)
            .field("offset_min", &self.offset_min)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Sgp4Body {
    fn eq(&self, other: &Self) -> bool {
        self.offset_min.to_bits() == other.offset_min.to_bits() && self.stopped == other.stopped
    }
}

/// The state an output holds after its catalogue object's SGP4 failed: every number
/// NaN (never a state an integrator or SGP4 gives). Readers skip it
/// ([`OrbitState::is_absent`]).
pub const NO_STATE: [f64; 6] = [f64::NAN; 6];

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

    /// The state at `t` (in the engine's own time, from 0), at or after the last asked,
    /// checked to be in the sane region; at most [`MAX_SUBSTEPS_PER_OUTPUT`] steps of
    /// `dop853` (a fixed-step method's count is bounded by the scenario's check).
    fn advance_to(&mut self, force: &ForceModel, t: f64) -> Result<[f64; 6], Halt> {
        let y = match self {
            Engine::Dop853(dop) => {
                let before = dop.stats.steps + dop.stats.rejected;
                while dop.time() < t {
                    if dop.stats.steps + dop.stats.rejected - before >= MAX_SUBSTEPS_PER_OUTPUT {
                        return Err(Halt::Work {
                            limit: MAX_SUBSTEPS_PER_OUTPUT,
                        });
                    }
                    dop.step(force, t)?;
                }
                dop.at(t)
            }
            Engine::Fixed(fixed) => fixed.advance_to(force, t),
            Engine::Sgp4(_) => unreachable!("SGP4 bodies advance by their own rule"),
        };
        sane(force, &y)?;
        Ok(y)
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
        if let Some(object) = scenario.catalog_object(body) {
            return Self::sgp4(scenario, body, object.sgp4.clone(), object.offset_min);
        }
        let start = scenario
            .body_eme2000(body)
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

    /// Catalogue object `body` of `scenario` from its element set, when the scenario
    /// at hand is not resolved (a worker's copy: the engine hands it the element
    /// sets). The element set passed SGP4's initialisation when the scenario was
    /// resolved, so it passes here.
    pub fn for_object(scenario: &OrbitScenario, body: usize, elements: &ElementSet) -> Self {
        let sgp4 = Sgp4::new(elements)
            .expect("the scenario's resolution kept only element sets SGP4 initialises");
        let offset_min =
            (scenario.epoch().unix_nanos() - elements.epoch.unix_nanos()) as f64 / 60e9;
        Self::sgp4(scenario, body, sgp4, offset_min)
    }

    fn sgp4(scenario: &OrbitScenario, body: usize, sgp4: Sgp4, offset_min: f64) -> Self {
        BodyPropagator {
            force: ForceModel::new(&scenario.central_body(), scenario.forces()),
            output_step_s: scenario.output_step_s(),
            body: body as u64,
            k: 0,
            engine: Engine::Sgp4(Sgp4Body {
                resonance: sgp4.resonance(),
                sgp4,
                offset_min,
                stopped: None,
            }),
        }
    }

    /// The frame of the states [`BodyPropagator::advance`] gives: TEME for SGP4, the
    /// scenario's EME2000 for integrated bodies. The caller rotates them into the
    /// run's frame ([`crate::scenario::OrbitScenario::frame`]).
    pub fn native_frame(&self) -> Frame {
        match self.engine {
            Engine::Sgp4(_) => Frame::Teme,
            _ => Frame::Eme2000,
        }
    }

    /// The output index `k` of the latest state (0 before any `advance`).
    pub fn steps_done(&self) -> u64 {
        self.k
    }

    /// Pushes the states at `t_k = k * output_step_s` for `k` in
    /// `steps_done() + 1 ..= k_end` onto `out` (nothing if `k_end <= steps_done()`).
    /// A body that leaves the sane region, or whose output passes the work bound,
    /// stops there: the states before are pushed, the error says where and why, and
    /// the propagator is not to be advanced again (see the module docs).
    pub fn advance(&mut self, k_end: u64, out: &mut Vec<OrbitState>) -> Result<(), Stopped> {
        out.reserve(k_end.saturating_sub(self.k) as usize);
        if let Engine::Sgp4(body) = &mut self.engine {
            // An object SGP4 cannot propagate has no states from there on; the run
            // goes on (docs/orbits.md).
            while self.k < k_end {
                let k = self.k + 1;
                let t = k as f64 * self.output_step_s;
                let y = match body.stopped {
                    Some(_) => NO_STATE,
                    None => match body
                        .sgp4
                        .teme_tracked(body.offset_min + t / 60.0, &mut body.resonance)
                    {
                        Ok(y) => y,
                        Err(e) => {
                            body.stopped = Some((k, e.code));
                            NO_STATE
                        }
                    },
                };
                out.push(OrbitState::from_y(t, y));
                self.k = k;
            }
            return Ok(());
        }
        while self.k < k_end {
            let k = self.k + 1;
            let t = k as f64 * self.output_step_s;
            let y = self
                .engine
                .advance_to(&self.force, t)
                .map_err(|halt| Stopped {
                    body: self.body,
                    output: k,
                    t_s: t,
                    halt,
                })?;
            out.push(OrbitState::from_y(t, y));
            self.k = k;
        }
        Ok(())
    }

    /// Counters of the work done so far.
    pub fn stats(&self) -> Stats {
        match &self.engine {
            Engine::Sgp4(_) => Stats::default(),
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
            Engine::Sgp4(_) => 4,
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
            // SGP4 needs only k (its elements are the scenario's) and where it stopped.
            Engine::Sgp4(body) => {
                let (output, code) = body.stopped.unwrap_or((0, 0));
                out.extend_from_slice(&output.to_le_bytes());
                out.push(code);
            }
        }
        out
    }

    /// A catalogue object's checkpoint read back onto `me`, its propagator at output 0.
    fn resume_sgp4(mut me: Self, bytes: &[u8]) -> Result<Self, crate::Error> {
        let body = me.body as usize;
        let refuse = |reason: String| crate::Error::Checkpoint { body, reason };
        if bytes.len() != HEADER + 9 || bytes[..4] != MAGIC || bytes[4] != 4 {
            return Err(refuse(format!(
                "not a checkpoint of a catalogue object ({} bytes, expected {} of method 4)",
                bytes.len(),
                HEADER + 9
            )));
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if word(8) != me.body {
            return Err(refuse(format!("the checkpoint is of body {}", word(8))));
        }
        me.k = word(16);
        let (output, code) = (word(HEADER), bytes[HEADER + 8]);
        if let Engine::Sgp4(sgp4) = &mut me.engine {
            sgp4.stopped = (output > 0).then_some((output, code));
        }
        Ok(me)
    }

    /// [`BodyPropagator::for_object`] resumed from its checkpoint.
    pub fn resume_object(
        scenario: &OrbitScenario,
        body: usize,
        elements: &ElementSet,
        bytes: &[u8],
    ) -> Result<Self, crate::Error> {
        Self::resume_sgp4(Self::for_object(scenario, body, elements), bytes)
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
        if matches!(me.engine, Engine::Sgp4(_)) {
            return Self::resume_sgp4(me, bytes);
        }
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
                "bodies": [{{"elements": {{"a_km": 7200, "e": 0.1, "i_deg": 53, "nu_deg": 10}}}},
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
                BodyPropagator::new(&sc, body)
                    .advance(700, &mut whole)
                    .unwrap();
                assert_eq!(whole.len(), 700);
                for (k, s) in whole.iter().enumerate() {
                    assert_eq!(s.t, (k + 1) as f64 * sc.output_step_s());
                }
                let mut pieces = Vec::new();
                let mut p = BodyPropagator::new(&sc, body);
                for end in [1, 2, 3, 50, 50, 51, 333, 699, 700] {
                    p.advance(end, &mut pieces).unwrap();
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
            straight.advance(600, &mut whole).unwrap();
            for cut in [0, 1, 17, 299] {
                let mut first = BodyPropagator::new(&sc, 1);
                let mut out = Vec::new();
                first.advance(cut, &mut out).unwrap();
                let saved = first.checkpoint();
                assert_eq!(saved.len(), BodyPropagator::checkpoint_len(sc.integrator()));
                let mut resumed = BodyPropagator::resume(&sc, 1, &saved).unwrap();
                assert_eq!(resumed, first);
                assert_eq!(resumed.steps_done(), cut);
                resumed.advance(600, &mut out).unwrap();
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
        p.advance(5, &mut Vec::new()).unwrap();
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
        r.advance(5, &mut Vec::new()).unwrap();
        assert!(BodyPropagator::resume(&yos, 0, &r.checkpoint()).is_err());
        assert!(BodyPropagator::resume(&rk4, 0, &r.checkpoint()).is_ok());
    }

    fn parsed(doc: &str) -> OrbitScenario {
        match Scenario::parse(doc, &ScenarioLimits::default()).unwrap() {
            Scenario::Orbit(o) => o,
            Scenario::Nano { .. } => unreachable!(),
        }
    }

    /// A town-sized body with the Sun's mass: a two-kilometre orbit takes 18 us, so an
    /// output step of a second crosses 56,000 orbits, which the scenario's checks allow
    /// and the work bound stops, at the first output, with nothing given.
    #[test]
    fn the_work_bound_stops_an_output_that_needs_too_many_steps() {
        let sc = parsed(
            r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 1,
                "central_body": {"mu_km3_s2": 1e12, "radius_km": 1, "j2": 0},
                "bodies": [{"elements": {"a_km": 2, "e": 0}}]}"#,
        );
        let mut p = BodyPropagator::new(&sc, 0);
        let mut out = Vec::new();
        let stopped = p.advance(3, &mut out).unwrap_err();
        assert!(out.is_empty());
        assert_eq!(
            stopped,
            Stopped {
                body: 0,
                output: 1,
                t_s: 1.0,
                halt: Halt::Work {
                    limit: MAX_SUBSTEPS_PER_OUTPUT
                }
            }
        );
        let steps = p.stats().steps + p.stats().rejected;
        assert!(steps <= MAX_SUBSTEPS_PER_OUTPUT, "{steps} steps");
        assert!(stopped
            .describe(&sc)
            .starts_with("body 0 (body-0) stopped at output 1"));
    }

    /// `rk4` at a third of an orbit per step is a scenario the checks allow whose
    /// integration leaves the sane region: it stops there, every state given before is
    /// finite and above the surface, and none after.
    #[test]
    fn a_body_that_leaves_the_sane_region_stops_with_the_cause() {
        let sc = parsed(
            r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 2000,
                "integrator": {"method": "rk4", "step_s": 2000},
                "bodies": [{"elements": {"a_km": 7000, "e": 0}}]}"#,
        );
        let mut out = Vec::new();
        let stopped = BodyPropagator::new(&sc, 0)
            .advance(3000, &mut out)
            .unwrap_err();
        assert_eq!(stopped.output, out.len() as u64 + 1);
        assert!(
            matches!(
                stopped.halt,
                Halt::Impact { .. } | Halt::Escape { .. } | Halt::Beyond { .. } | Halt::NonFinite
            ),
            "{stopped}"
        );
        for s in &out {
            let r = (s.r[0] * s.r[0] + s.r[1] * s.r[1] + s.r[2] * s.r[2]).sqrt();
            assert!(r >= crate::scenario::EARTH_RADIUS_KM, "{s:?}");
            assert!(s.r.iter().chain(&s.v).all(|x| x.is_finite()));
        }
    }

    /// A state that is not a number makes `dop853`'s error estimate NaN: no smaller
    /// step can mend it, so the step stops instead of retrying forever.
    #[test]
    fn a_state_that_is_not_a_number_stops_the_integrator() {
        let force = ForceModel::new(
            &crate::scenario::CentralBody::EARTH,
            crate::scenario::Forces { j2: true },
        );
        let mut dop = Dop853::new(&force, [f64::NAN, 0.0, 0.0, 0.0, 7.5, 0.0], 1e-12);
        assert_eq!(dop.step(&force, 10.0), Err(Halt::NonFinite));
        let mut engine = Engine::start(
            Integrator::Rk4 { step_s: 1.0 },
            &force,
            [7000.0, 0.0, 0.0, 0.0, f64::INFINITY, 0.0],
        );
        assert_eq!(engine.advance_to(&force, 10.0), Err(Halt::NonFinite));
    }
}
