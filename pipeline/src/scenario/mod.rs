//! Scenarios: what a run computes, as the JSON document of
//! `docs/orbits.md` ("A scenario"), checked, put in canonical form and named.
//!
//! A run is `(scenario, n)`. [`Scenario::Nano`] is the nano model of `docs/model.md`
//! (named by its seed, as it always was); [`Scenario::Orbit`] is an [`OrbitScenario`]:
//! bodies around one central body, a force model, an integrator and an output step.
//!
//! - [`Scenario::parse`] reads a document and checks every rule; a broken one is a
//!   [`ScenarioError`] naming the field by its JSON path (`bodies[1].elements.e`), the
//!   rule and the value. Unknown fields are refused too: a misspelt `tolerence` would
//!   otherwise silently run with the default.
//! - [`Scenario::canonical`] is the document with every default filled in, fields in a
//!   fixed order and numbers in their shortest round-trip form, so that two documents
//!   that mean the same run are the same text; [`Scenario::run_id`] hashes it.
//! - [`OrbitScenario::body`] and [`OrbitScenario::bodies`] expand the Walker generator
//!   and turn elements into states (the conventions of `docs/orbits.md`).
//!
//! ```
//! use nano_pipeline::scenario::{Scenario, ScenarioLimits};
//!
//! let doc = r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 10,
//!               "bodies": [{"name": "sat-1", "elements": {"a_km": 7200, "e": 0.1}}]}"#;
//! let scenario = Scenario::parse(doc, &ScenarioLimits::default())?;
//! assert_eq!(scenario.run_id().to_string().len(), 32);
//!
//! let broken = doc.replace("0.1", "1.2");
//! let err = Scenario::parse(&broken, &ScenarioLimits::default()).unwrap_err();
//! assert_eq!(err.field, "bodies[0].elements.e");
//! # Ok::<(), nano_pipeline::scenario::ScenarioError>(())
//! ```
//!
//! The document is read in `parse` (each part checked and named by its path) and
//! written in `canonical`; its epoch is an [`Epoch`] (`epoch`). The orbit's own terms
//! (the central body, elements, states, forces and integrators) are defined beside the
//! orbit code ([`crate::orbit`]) and named here too.

mod canonical;
pub mod catalog;
mod epoch;
mod parse;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::orbit::elements::OrbitState;
pub use crate::orbit::elements::{
    check_orbit, CentralBody, Elements, EARTH_J2, EARTH_MU, EARTH_RADIUS_KM, MAX_SEMI_MAJOR_RADII,
};
pub use crate::orbit::force::Forces;
pub use crate::orbit::integrator::Integrator;
pub use catalog::{CatalogObject, CatalogObjects, CatalogPart, Dropped, Frame, Selection};
pub use epoch::Epoch;
pub(crate) use epoch::{civil_from_days, days_from_civil};
pub use parse::json_kind;

/// The smallest `dop853` tolerance accepted: below it the error estimate is rounding
/// noise and the step size would shrink without end (Hairer's code refuses tolerances
/// under ten units of roundoff for the same reason).
pub const MIN_TOLERANCE: f64 = 1e-14;

/// The most fixed steps one output step may take (`output_step_s / step_s`): the work
/// of a run is bounded by its number of outputs, which the service limits, only if
/// each output costs a bounded number of steps. A hundred thousand is far beyond any
/// useful setting (a thousandth of a period per step and a hundred outputs per orbit
/// is ten).
pub const MAX_STEPS_PER_OUTPUT: f64 = 100_000.0;

/// The shortest output step (s): a millisecond, far below any use of an ephemeris.
pub const MIN_OUTPUT_STEP_S: f64 = 1e-3;

/// The longest output step (s): ten days. What one output step costs grows with it
/// (the integrator crosses every orbit in between), and longer samples no longer
/// show an orbit at all.
pub const MAX_OUTPUT_STEP_S: f64 = 864_000.0;

/// The longest run (s), `output_step_s * steps`: a hundred Julian years, beyond any
/// use of a two-body (or J2) model, whose neglected forces dominate long before.
pub const MAX_SPAN_S: f64 = 100.0 * 365.25 * 86_400.0;

/// The central body's largest gravitational parameter (km^3/s^2): above the Sun's
/// 1.327e11.
pub const MAX_MU: f64 = 1e12;

/// The central body's smallest gravitational parameter (km^3/s^2): below a
/// half-kilometre asteroid's (Bennu's is 4.9e-9).
pub const MIN_MU: f64 = 1e-12;

/// The central body's radius bounds (km): from a 100 m asteroid to above the Sun's
/// 695,700 km. With the semi-major axis bound, every position stays within a few
/// billion km of the centre, where `r^5` (J2's term) is still a finite f64.
pub const MIN_RADIUS_KM: f64 = 0.1;
pub const MAX_RADIUS_KM: f64 = 1e6;

/// Bounds a scenario must keep (the service's configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioLimits {
    /// The most bodies a scenario may have, generated and listed together.
    pub max_bodies: usize,
}

impl Default for ScenarioLimits {
    fn default() -> Self {
        ScenarioLimits {
            max_bodies: 100_000,
        }
    }
}

/// A scenario that breaks a rule: the field (a JSON path such as
/// `bodies[1].elements.e`; empty for the document as a whole) and the rule, with the
/// value that broke it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {rule}", if field.is_empty() { "scenario" } else { field.as_str() })]
pub struct ScenarioError {
    pub field: String,
    pub rule: String,
}

fn refuse<T>(field: impl Into<String>, rule: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError {
        field: field.into(),
        rule: rule.into(),
    })
}

/// What a run computes.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// The nano model of `docs/model.md` with seed `seed`.
    Nano { seed: u64 },
    /// Bodies around a central body (`docs/orbits.md`).
    Orbit(OrbitScenario),
}

/// The name of a run: the seed for nano (as runs were always named), for an orbit
/// scenario the first 16 bytes of the SHA-256 of its canonical document, shown as 32
/// lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunId {
    Nano(u64),
    Orbit([u8; 16]),
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunId::Nano(seed) => write!(f, "{seed}"),
            RunId::Orbit(bytes) => bytes.iter().try_for_each(|b| write!(f, "{b:02x}")),
        }
    }
}

/// A run id as [`RunId`]'s `Display` writes it: 32 hex digits for an orbit run (no
/// `u64` has that many decimal digits, so the two forms never collide), otherwise a
/// decimal seed.
impl FromStr for RunId {
    type Err = ScenarioError;

    fn from_str(text: &str) -> Result<Self, ScenarioError> {
        // ASCII first: 32 bytes of multi-byte characters would be sliced inside one.
        if text.len() == 32 && text.is_ascii() {
            let mut bytes = [0u8; 16];
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).or_else(|_| {
                    refuse(
                        "id",
                        format!("must be 32 hex digits or a seed, got '{text}'"),
                    )
                })?;
            }
            if text.bytes().any(|b| b.is_ascii_uppercase()) {
                return refuse("id", format!("hex digits must be lowercase, got '{text}'"));
            }
            return Ok(RunId::Orbit(bytes));
        }
        // Only the form `Display` writes: `u64`'s parser also takes "+5" and "007", and
        // two spellings of one run would be two URLs (and two cache keys) for it.
        let canonical = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'));
        if !canonical {
            return refuse(
                "id",
                format!(
                    "must be 32 lowercase hex digits or a decimal seed without a sign or \
                     leading zeros, got '{text}'"
                ),
            );
        }
        text.parse::<u64>().map(RunId::Nano).or_else(|_| {
            refuse(
                "id",
                format!("a decimal seed must be at most 2^64-1, got '{text}'"),
            )
        })
    }
}

impl Scenario {
    /// The run's key in the log: the model and the run id.
    pub fn run_key(&self) -> nano_store::RunKey {
        match self.run_id() {
            RunId::Nano(seed) => nano_store::RunKey::nano(seed),
            RunId::Orbit(id) => nano_store::RunKey::orbit(nano_store::RunId(id)),
        }
    }

    /// The run's name (see [`RunId`]).
    pub fn run_id(&self) -> RunId {
        match self {
            Scenario::Nano { seed } => RunId::Nano(*seed),
            Scenario::Orbit(_) => {
                let digest = Sha256::digest(self.canonical().as_bytes());
                let mut id = [0u8; 16];
                id.copy_from_slice(&digest[..16]);
                RunId::Orbit(id)
            }
        }
    }
}

/// The default `dop853` tolerance when a document names the method without one.
pub const DEFAULT_TOLERANCE: f64 = 1e-12;

/// How a listed body starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Start {
    Elements(Elements),
    /// `[x, y, z, vx, vy, vz]` in km and km/s.
    State([f64; 6]),
}

/// A body listed in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct BodySpec {
    pub name: String,
    pub start: Start,
}

/// The Walker delta pattern `i: t/p/f` of `docs/orbits.md`: `planes` planes of
/// `total / planes` circular orbits at `altitude_km` above the central body's radius.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Walker {
    pub i_deg: f64,
    pub total: u64,
    pub planes: u64,
    pub phasing: u64,
    pub altitude_km: f64,
}

impl Walker {
    /// Satellite `index` (`k * s + j`): its name `p<k>-s<j>` and elements.
    pub fn satellite(&self, index: u64, central: &CentralBody) -> (String, Elements) {
        let per_plane = self.total / self.planes;
        let (k, j) = (index / per_plane, index % per_plane);
        // docs/orbits.md's formulas in its own order of operations.
        let raan_deg = k as f64 * 360.0 / self.planes as f64;
        let nu_deg = j as f64 * 360.0 / per_plane as f64
            + (k * self.phasing) as f64 * 360.0 / self.total as f64;
        let elements = Elements {
            a_km: central.radius_km + self.altitude_km,
            e: 0.0,
            i_deg: self.i_deg,
            raan_deg,
            argp_deg: 0.0,
            nu_deg,
        };
        (format!("p{k}-s{j}"), elements)
    }
}

/// One body of a scenario, expanded: its name and initial state (in the scenario's
/// frame), and for a catalogue object its catalogue number.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub name: String,
    pub state0: OrbitState,
    pub norad_id: Option<u32>,
}

/// An orbit scenario, checked: every accessor returns values that keep the rules of
/// `docs/orbits.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrbitScenario {
    epoch: Epoch,
    central: CentralBody,
    forces: Forces,
    integrator: Integrator,
    output_step_s: f64,
    walker: Option<Walker>,
    listed: Vec<BodySpec>,
    catalog: Option<Box<CatalogPart>>,
    frame: Frame,
    /// TEME to EME2000 at the epoch, when the frame is TEME (listed and generated
    /// bodies start in EME2000 and are written in TEME).
    frame_at_epoch: Option<Box<crate::catalog::frame::Rotation>>,
}

impl OrbitScenario {
    /// The instant `t = 0` of the run.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The central body's constants.
    pub fn central_body(&self) -> CentralBody {
        self.central
    }

    pub fn forces(&self) -> Forces {
        self.forces
    }

    pub fn integrator(&self) -> Integrator {
        self.integrator
    }

    /// Seconds between output states: the run's states are at `k * output_step_s`.
    pub fn output_step_s(&self) -> f64 {
        self.output_step_s
    }

    /// Whether a run of `steps` output steps stays within [`MAX_SPAN_S`]; else the
    /// refusal, naming `steps` (the scenario alone is fine: its output step is bounded).
    pub fn check_span(&self, steps: u64) -> Result<(), ScenarioError> {
        let span = self.output_step_s * steps as f64;
        if span > MAX_SPAN_S {
            return refuse(
                "steps",
                format!(
                    "output_step_s * steps = {span} s is above {MAX_SPAN_S} s (a hundred years): \
                     at most {} steps of {} s",
                    (MAX_SPAN_S / self.output_step_s).floor(),
                    self.output_step_s
                ),
            );
        }
        Ok(())
    }

    /// The Walker generator, if the document has one.
    pub fn walker(&self) -> Option<Walker> {
        self.walker
    }

    /// The bodies the document lists (after the generated ones in body order).
    pub fn listed(&self) -> &[BodySpec] {
        &self.listed
    }

    /// The catalogue part, if the document names a catalogue.
    pub fn catalog(&self) -> Option<&CatalogPart> {
        self.catalog.as_deref()
    }

    /// The frame the run's states are written in.
    pub fn frame(&self) -> Frame {
        self.frame
    }

    /// How many bodies the scenario has (its catalogue's kept objects counted once
    /// resolved).
    pub fn body_count(&self) -> usize {
        self.own_body_count() + self.catalog_count()
    }

    /// The generated and listed bodies (the catalogue's objects come after them).
    pub fn own_body_count(&self) -> usize {
        self.walker_count() + self.listed.len()
    }

    fn catalog_count(&self) -> usize {
        self.catalog
            .as_deref()
            .and_then(CatalogPart::objects)
            .map_or(0, |c| c.objects.len())
    }

    /// Catalogue object `index` (a body index), when the catalogue is resolved.
    pub fn catalog_object(&self, index: usize) -> Option<&CatalogObject> {
        let i = index.checked_sub(self.own_body_count())?;
        self.catalog.as_ref()?.objects()?.objects.get(i)
    }

    fn walker_count(&self) -> usize {
        // Bounded by max_bodies when parsed, so the cast cannot truncate.
        self.walker.map_or(0, |w| w.total as usize)
    }

    /// Body `index` (generated bodies first, then listed ones), or `None` past the end.
    pub fn body(&self, index: usize) -> Option<Body> {
        self.body_in(index, true)
    }

    /// Body `index` with its initial state in the scenario's own frame, EME2000,
    /// whatever frame the run is written in: where its integration starts.
    pub fn body_eme2000(&self, index: usize) -> Option<Body> {
        self.body_in(index, false)
    }

    fn body_in(&self, index: usize, in_run_frame: bool) -> Option<Body> {
        let mu = self.central.mu;
        let generated = self.walker_count();
        if index >= self.own_body_count() {
            let object = self.catalog_object(index)?;
            let s = object.state0;
            return Some(Body {
                name: object.elements.display_name(),
                state0: OrbitState {
                    t: 0.0,
                    r: [s[0], s[1], s[2]],
                    v: [s[3], s[4], s[5]],
                },
                norad_id: Some(object.elements.norad_id),
            });
        }
        let (name, (r, v)) = if index < generated {
            let walker = self.walker.expect("a generated index implies a walker");
            let (name, elements) = walker.satellite(index as u64, &self.central);
            (name, elements.to_state(mu))
        } else {
            let spec = self.listed.get(index - generated)?;
            let state = match spec.start {
                Start::Elements(elements) => elements.to_state(mu),
                Start::State(s) => ([s[0], s[1], s[2]], [s[3], s[4], s[5]]),
            };
            (spec.name.clone(), state)
        };
        let (r, v) = match &self.frame_at_epoch {
            // Written in TEME: EME2000 to TEME is the transpose.
            Some(m) if in_run_frame => {
                let s = crate::catalog::frame::rotate(
                    &crate::catalog::frame::transpose(m),
                    &[r[0], r[1], r[2], v[0], v[1], v[2]],
                );
                ([s[0], s[1], s[2]], [s[3], s[4], s[5]])
            }
            _ => (r, v),
        };
        Some(Body {
            name,
            state0: OrbitState { t: 0.0, r, v },
            norad_id: None,
        })
    }

    /// Every body, in body order.
    pub fn bodies(&self) -> Vec<Body> {
        (0..self.body_count())
            .map(|i| self.body(i).expect("index below body_count"))
            .collect()
    }
}
