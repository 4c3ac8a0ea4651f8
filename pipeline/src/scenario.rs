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

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::ser::{SerializeMap, SerializeSeq};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::orbit::OrbitState;

/// Earth's gravitational parameter (km^3/s^2), `docs/orbits.md`.
pub const EARTH_MU: f64 = 398_600.441_8;
/// Earth's equatorial radius (km), `docs/orbits.md`.
pub const EARTH_RADIUS_KM: f64 = 6378.137;
/// Earth's J2 (dimensionless), `docs/orbits.md`.
pub const EARTH_J2: f64 = 1.082_626_68e-3;

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

/// The largest semi-major axis, in radii of the central body: the Moon orbits the
/// Earth at 60 and the Earth's sphere of influence ends near 145, so a thousand
/// leaves every orbit the two-body model describes and keeps positions (at most two
/// thousand radii from the centre) far from overflow.
pub const MAX_SEMI_MAJOR_RADII: f64 = 1000.0;

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
    /// Reads and checks a scenario document.
    pub fn parse(json: &str, limits: &ScenarioLimits) -> Result<Scenario, ScenarioError> {
        let value: Value = serde_json::from_str(json)
            .or_else(|e| refuse("", format!("not a JSON document: {e}")))?;
        Scenario::from_value(&value, limits)
    }

    /// Reads a document the service accepted before, as the log keeps it (a run's
    /// scenario): its rules of form still hold, but not `limits` nor the sane region's
    /// bounds, which it met when it was accepted or which came after it. A run logged
    /// before a bound stays readable; one that leaves the sane region stops when it is
    /// integrated again ([`crate::orbit::Halt`]).
    pub fn parse_logged(json: &str) -> Result<Scenario, ScenarioError> {
        let value: Value = serde_json::from_str(json)
            .or_else(|e| refuse("", format!("not a JSON document: {e}")))?;
        let limits = ScenarioLimits {
            max_bodies: usize::MAX,
        };
        Scenario::read(&value, &limits, false)
    }

    /// Checks a scenario already read as JSON (the API's request body holds one).
    pub fn from_value(value: &Value, limits: &ScenarioLimits) -> Result<Scenario, ScenarioError> {
        Scenario::read(value, limits, true)
    }

    /// Reads and checks `value`, within the sane region's bounds if `bounded`.
    fn read(
        value: &Value,
        limits: &ScenarioLimits,
        bounded: bool,
    ) -> Result<Scenario, ScenarioError> {
        let doc = object(value, "")?;
        let model = match doc.get("model") {
            None => return refuse("model", "is required: \"nano\" or \"orbit\""),
            Some(Value::String(model)) => model.as_str(),
            Some(other) => {
                return refuse(
                    "model",
                    format!("must be \"nano\" or \"orbit\", got {other}"),
                )
            }
        };
        match model {
            "nano" => {
                only_fields(doc, "", &["model", "seed"])?;
                let seed = match doc.get("seed") {
                    None => return refuse("seed", "is required (a non-negative integer)"),
                    Some(v) => integer(v, "seed")?,
                };
                Ok(Scenario::Nano { seed })
            }
            "orbit" => {
                let orbit = OrbitScenario::from_doc(doc, limits)?;
                if bounded {
                    check_bounds(&orbit)?;
                }
                Ok(Scenario::Orbit(orbit))
            }
            other => refuse(
                "model",
                format!("must be \"nano\" or \"orbit\", got \"{other}\""),
            ),
        }
    }

    /// The canonical document: defaults filled in, fields in a fixed order, numbers in
    /// their shortest round-trip form, no white space. Parsing it gives back the same
    /// scenario.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.tree().write(&mut out);
        out
    }

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

    fn tree(&self) -> Json {
        match self {
            Scenario::Nano { seed } => Json::Obj(vec![
                ("model", Json::Str("nano".into())),
                ("seed", Json::Int(*seed)),
            ]),
            Scenario::Orbit(orbit) => orbit.tree(),
        }
    }
}

/// Serialises the canonical document (the same fields, order and numbers as
/// [`Scenario::canonical`]).
impl serde::Serialize for Scenario {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.tree().serialize(serializer)
    }
}

/// Reads a document with the default [`ScenarioLimits`]; where the limits are
/// configured, use [`Scenario::from_value`].
impl<'de> serde::Deserialize<'de> for Scenario {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Scenario::from_value(&value, &ScenarioLimits::default()).map_err(serde::de::Error::custom)
    }
}

/// The body everything orbits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CentralBody {
    /// Gravitational parameter, km^3/s^2.
    pub mu: f64,
    /// Equatorial radius, km (J2's reference radius, and the Walker shell's base).
    pub radius_km: f64,
    /// Second zonal harmonic.
    pub j2: f64,
}

impl CentralBody {
    /// The Earth of `docs/orbits.md`.
    pub const EARTH: CentralBody = CentralBody {
        mu: EARTH_MU,
        radius_km: EARTH_RADIUS_KM,
        j2: EARTH_J2,
    };
}

/// The force model: the central body's point mass, and its J2 if `j2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forces {
    pub j2: bool,
}

/// The integrator and its one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Integrator {
    /// Dormand-Prince 8(5,3), adaptive; `tolerance` is both the relative and the
    /// absolute tolerance of Hairer's error norm.
    Dop853 { tolerance: f64 },
    /// Yoshida's fourth-order symplectic composition, fixed step.
    Yoshida4 { step_s: f64 },
    /// The classical Runge-Kutta method, fixed step.
    Rk4 { step_s: f64 },
}

impl Integrator {
    /// The method's name in the document.
    pub const fn method(&self) -> &'static str {
        match self {
            Integrator::Dop853 { .. } => "dop853",
            Integrator::Yoshida4 { .. } => "yoshida4",
            Integrator::Rk4 { .. } => "rk4",
        }
    }
}

/// The default `dop853` tolerance when a document names the method without one.
pub const DEFAULT_TOLERANCE: f64 = 1e-12;

/// Classical orbital elements (`docs/orbits.md`): `a` in km, angles in degrees, `nu`
/// the true anomaly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Elements {
    pub a_km: f64,
    pub e: f64,
    pub i_deg: f64,
    pub raan_deg: f64,
    pub argp_deg: f64,
    pub nu_deg: f64,
}

impl Elements {
    /// Position (km) and velocity (km/s) in the inertial frame, as `docs/orbits.md`
    /// defines them: the perifocal state rotated by `R3(-raan) R1(-i) R3(-argp)`.
    pub fn to_state(&self, mu: f64) -> ([f64; 3], [f64; 3]) {
        let p = self.a_km * (1.0 - self.e * self.e);
        let (sin_nu, cos_nu) = self.nu_deg.to_radians().sin_cos();
        let r = p / (1.0 + self.e * cos_nu);
        let rp = [r * cos_nu, r * sin_nu];
        let speed = (mu / p).sqrt();
        let vp = [-speed * sin_nu, speed * (self.e + cos_nu)];

        let (so, co) = self.raan_deg.to_radians().sin_cos();
        let (si, ci) = self.i_deg.to_radians().sin_cos();
        let (sw, cw) = self.argp_deg.to_radians().sin_cos();
        // The first two columns of R3(-raan) R1(-i) R3(-argp): the perifocal x and y
        // axes seen from the inertial frame.
        let px = [co * cw - so * sw * ci, so * cw + co * sw * ci, sw * si];
        let qx = [-co * sw - so * cw * ci, -so * sw + co * cw * ci, cw * si];
        let rotate = |u: [f64; 2]| std::array::from_fn(|k| px[k] * u[0] + qx[k] * u[1]);
        (rotate(rp), rotate(vp))
    }
}

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

/// One body of a scenario, expanded: its name and initial state.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub name: String,
    pub state0: OrbitState,
}

/// An instant in UTC, to the nanosecond: the epoch times inside a run are counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch {
    /// Seconds since 1970-01-01T00:00:00Z (leap seconds not counted, as
    /// `docs/orbits.md` says).
    unix_s: i64,
    nanos: u32,
}

impl Epoch {
    /// Reads `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC, up to nanoseconds).
    pub fn parse(text: &str) -> Result<Epoch, String> {
        let rule = || format!("must be a UTC instant like 2026-01-01T00:00:00Z, got \"{text}\"");
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
            return Err(rule());
        }
        if b[13] != b':' || b[16] != b':' || *b.last().unwrap_or(&0) != b'Z' {
            return Err(rule());
        }
        let digits = |from: usize, to: usize| -> Result<i64, String> {
            let part = &text[from..to];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse::<i64>().map_err(|_| rule())
            } else {
                Err(rule())
            }
        };
        let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
        let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
        let nanos = match &text[19..text.len() - 1] {
            "" => 0,
            fraction
                if fraction.len() >= 2 && fraction.len() <= 10 && fraction.starts_with('.') =>
            {
                let d = &fraction[1..];
                if !d.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(rule());
                }
                d.parse::<u32>().map_err(|_| rule())? * 10u32.pow(9 - d.len() as u32)
            }
            _ => return Err(rule()),
        };
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(format!("{}: no such date", rule()));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(format!("{}: no such time of day", rule()));
        }
        let days = days_from_civil(year, month, day);
        Ok(Epoch {
            unix_s: days * 86_400 + hour * 3600 + minute * 60 + second,
            nanos,
        })
    }

    /// The instant `t_s` seconds after the epoch as `YYYY-MM-DDTHH:MM:SS.fff...` with
    /// `decimals` digits (at most 9) and no zone letter, the form CCSDS messages use
    /// for UTC epochs.
    pub fn iso_at(&self, t_s: f64, decimals: u32) -> String {
        let decimals = decimals.min(9);
        let unit = 10i128.pow(decimals);
        let ticks = (t_s * unit as f64).round() as i128
            + self.unix_s as i128 * unit
            + self.nanos as i128 / 10i128.pow(9 - decimals);
        let (secs, frac) = (ticks.div_euclid(unit), ticks.rem_euclid(unit));
        let mut out = civil_text(secs as i64);
        if decimals > 0 {
            let _ = write!(out, ".{frac:0width$}", width = decimals as usize);
        }
        out
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&civil_text(self.unix_s))?;
        if self.nanos != 0 {
            let digits = format!("{:09}", self.nanos);
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

fn civil_text(unix_s: i64) -> String {
    let (days, secs) = (unix_s.div_euclid(86_400), unix_s.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
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

    /// How many bodies the scenario has.
    pub fn body_count(&self) -> usize {
        self.walker_count() + self.listed.len()
    }

    fn walker_count(&self) -> usize {
        // Bounded by max_bodies when parsed, so the cast cannot truncate.
        self.walker.map_or(0, |w| w.total as usize)
    }

    /// Body `index` (generated bodies first, then listed ones), or `None` past the end.
    pub fn body(&self, index: usize) -> Option<Body> {
        let mu = self.central.mu;
        let generated = self.walker_count();
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
        Some(Body {
            name,
            state0: OrbitState { t: 0.0, r, v },
        })
    }

    /// Every body, in body order.
    pub fn bodies(&self) -> Vec<Body> {
        (0..self.body_count())
            .map(|i| self.body(i).expect("index below body_count"))
            .collect()
    }

    fn from_doc(doc: &Map<String, Value>, limits: &ScenarioLimits) -> Result<Self, ScenarioError> {
        only_fields(
            doc,
            "",
            &[
                "model",
                "epoch",
                "central_body",
                "forces",
                "integrator",
                "output_step_s",
                "walker",
                "bodies",
            ],
        )?;
        let epoch = match doc.get("epoch") {
            None => {
                return refuse(
                    "epoch",
                    "is required (a UTC instant like 2026-01-01T00:00:00Z)",
                )
            }
            Some(Value::String(text)) => {
                Epoch::parse(text).or_else(|rule| refuse("epoch", rule))?
            }
            Some(other) => {
                return refuse(
                    "epoch",
                    format!("must be a string like \"2026-01-01T00:00:00Z\", got {other}"),
                )
            }
        };
        let central = match doc.get("central_body") {
            None => CentralBody::EARTH,
            Some(v) => central_body(v)?,
        };
        let forces = match doc.get("forces") {
            None => Forces { j2: false },
            Some(v) => forces(v)?,
        };
        let integrator = match doc.get("integrator") {
            None => Integrator::Dop853 {
                tolerance: DEFAULT_TOLERANCE,
            },
            Some(v) => integrator(v)?,
        };
        let output_step_s = match doc.get("output_step_s") {
            None => return refuse("output_step_s", "is required (seconds between states, > 0)"),
            Some(v) => positive(v, "output_step_s")?,
        };

        if let Integrator::Yoshida4 { step_s } | Integrator::Rk4 { step_s } = integrator {
            if output_step_s / step_s > MAX_STEPS_PER_OUTPUT {
                return refuse(
                    "integrator.step_s",
                    format!(
                        "must be at least output_step_s / {MAX_STEPS_PER_OUTPUT} = {} s \
                         (at most {MAX_STEPS_PER_OUTPUT} steps per output), got {step_s}",
                        output_step_s / MAX_STEPS_PER_OUTPUT
                    ),
                );
            }
        }
        let walker = doc.get("walker").map(walker).transpose()?;
        if let Some(w) = walker {
            if w.total > limits.max_bodies as u64 {
                return refuse(
                    "walker.total",
                    format!("at most {} bodies, got {}", limits.max_bodies, w.total),
                );
            }
        }
        let listed = match doc.get("bodies") {
            None => Vec::new(),
            Some(Value::Array(items)) => {
                let first = walker.map_or(0, |w| w.total);
                let room = limits.max_bodies as u64;
                if first + items.len() as u64 > room {
                    return refuse(
                        "bodies",
                        format!(
                            "at most {room} bodies in all (generated and listed), got {}",
                            first + items.len() as u64
                        ),
                    );
                }
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| body_spec(item, i, first as usize + i, &central))
                    .collect::<Result<Vec<_>, _>>()?
            }
            Some(other) => {
                return refuse("bodies", format!("must be an array, got {}", kind(other)))
            }
        };
        if walker.is_none() && listed.is_empty() {
            return refuse(
                "bodies",
                "no bodies: give at least one in `bodies`, or a `walker`",
            );
        }
        let scenario = OrbitScenario {
            epoch,
            central,
            forces,
            integrator,
            output_step_s,
            walker,
            listed,
        };
        scenario.check_names()?;
        Ok(scenario)
    }

    /// Names identify bodies in exported files (OEM's OBJECT_NAME): they must differ.
    fn check_names(&self) -> Result<(), ScenarioError> {
        let mut seen = std::collections::HashSet::with_capacity(self.listed.len());
        let walker = self.walker.map(|w| (w.planes, w.total / w.planes));
        for (i, spec) in self.listed.iter().enumerate() {
            let generated = walker.is_some_and(|(planes, per_plane)| {
                walker_name_index(&spec.name).is_some_and(|(k, j)| k < planes && j < per_plane)
            });
            if generated || !seen.insert(spec.name.as_str()) {
                return refuse(
                    format!("bodies[{i}].name"),
                    format!(
                        "must differ from every other body's name, \"{}\" is taken",
                        spec.name
                    ),
                );
            }
        }
        Ok(())
    }

    fn tree(&self) -> Json {
        let c = &self.central;
        let mut forces = vec![Json::Str("point_mass".into())];
        if self.forces.j2 {
            forces.push(Json::Str("j2".into()));
        }
        let integrator = match self.integrator {
            Integrator::Dop853 { tolerance } => Json::Obj(vec![
                ("method", Json::Str("dop853".into())),
                ("tolerance", Json::Num(tolerance)),
            ]),
            Integrator::Yoshida4 { step_s } | Integrator::Rk4 { step_s } => Json::Obj(vec![
                ("method", Json::Str(self.integrator.method().into())),
                ("step_s", Json::Num(step_s)),
            ]),
        };
        let mut fields = vec![
            ("model", Json::Str("orbit".into())),
            ("epoch", Json::Str(self.epoch.to_string())),
            (
                "central_body",
                Json::Obj(vec![
                    ("mu_km3_s2", Json::Num(c.mu)),
                    ("radius_km", Json::Num(c.radius_km)),
                    ("j2", Json::Num(c.j2)),
                ]),
            ),
            ("forces", Json::Arr(forces)),
            ("integrator", integrator),
            ("output_step_s", Json::Num(self.output_step_s)),
        ];
        if let Some(w) = self.walker {
            fields.push((
                "walker",
                Json::Obj(vec![
                    ("i_deg", Json::Num(w.i_deg)),
                    ("total", Json::Int(w.total)),
                    ("planes", Json::Int(w.planes)),
                    ("phasing", Json::Int(w.phasing)),
                    ("altitude_km", Json::Num(w.altitude_km)),
                ]),
            ));
        }
        let bodies = self
            .listed
            .iter()
            .map(|spec| {
                let start = match spec.start {
                    Start::Elements(el) => (
                        "elements",
                        Json::Obj(vec![
                            ("a_km", Json::Num(el.a_km)),
                            ("e", Json::Num(el.e)),
                            ("i_deg", Json::Num(el.i_deg)),
                            ("raan_deg", Json::Num(el.raan_deg)),
                            ("argp_deg", Json::Num(el.argp_deg)),
                            ("nu_deg", Json::Num(el.nu_deg)),
                        ]),
                    ),
                    Start::State(s) => (
                        "state",
                        Json::Arr(s.iter().map(|&x| Json::Num(x)).collect()),
                    ),
                };
                Json::Obj(vec![("name", Json::Str(spec.name.clone())), start])
            })
            .collect();
        fields.push(("bodies", Json::Arr(bodies)));
        Json::Obj(fields)
    }
}

/// `p<k>-s<j>` read back into `(k, j)`.
fn walker_name_index(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix('p')?;
    let (k, j) = rest.split_once("-s")?;
    let plain = |s: &str| {
        !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    (plain(k) && plain(j)).then(|| Some((k.parse().ok()?, j.parse().ok()?)))?
}

// ---- reading the document: each function checks one part and names its path ----

fn path_of(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ScenarioError> {
    value.as_object().map_or_else(
        || refuse(path, format!("must be a JSON object, got {}", kind(value))),
        Ok,
    )
}

fn only_fields(
    map: &Map<String, Value>,
    path: &str,
    allowed: &[&str],
) -> Result<(), ScenarioError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => refuse(
            path_of(path, unknown),
            format!("unknown field (known here: {})", allowed.join(", ")),
        ),
        None => Ok(()),
    }
}

/// A finite number (JSON has no NaN or infinity; a literal too large for f64 is refused
/// by the JSON reader already). `-0` is read as `0` so that it names the same run.
fn number(value: &Value, path: &str) -> Result<f64, ScenarioError> {
    match value.as_f64() {
        Some(x) if x.is_finite() => Ok(x + 0.0),
        _ => refuse(path, format!("must be a finite number, got {value}")),
    }
}

fn positive(value: &Value, path: &str) -> Result<f64, ScenarioError> {
    let x = number(value, path)?;
    if x > 0.0 {
        Ok(x)
    } else {
        refuse(path, format!("must be greater than 0, got {x}"))
    }
}

fn integer(value: &Value, path: &str) -> Result<u64, ScenarioError> {
    value.as_u64().map_or_else(
        || refuse(path, format!("must be a non-negative integer, got {value}")),
        Ok,
    )
}

fn required<'a>(
    map: &'a Map<String, Value>,
    path: &str,
    key: &str,
    what: &str,
) -> Result<&'a Value, ScenarioError> {
    map.get(key).map_or_else(
        || refuse(path_of(path, key), format!("is required ({what})")),
        Ok,
    )
}

fn inclination(value: &Value, path: &str) -> Result<f64, ScenarioError> {
    let i = number(value, path)?;
    if (0.0..=180.0).contains(&i) {
        Ok(i)
    } else {
        refuse(path, format!("must be between 0 and 180 degrees, got {i}"))
    }
}

fn central_body(value: &Value) -> Result<CentralBody, ScenarioError> {
    let path = "central_body";
    let map = object(value, path)?;
    only_fields(map, path, &["mu_km3_s2", "radius_km", "j2"])?;
    let earth = CentralBody::EARTH;
    let get = |key: &str, default: f64| -> Result<f64, ScenarioError> {
        map.get(key)
            .map_or(Ok(default), |v| number(v, &path_of(path, key)))
    };
    let central = CentralBody {
        mu: get("mu_km3_s2", earth.mu)?,
        radius_km: get("radius_km", earth.radius_km)?,
        j2: get("j2", earth.j2)?,
    };
    if central.mu <= 0.0 {
        return refuse(
            "central_body.mu_km3_s2",
            format!("must be greater than 0, got {}", central.mu),
        );
    }
    if central.radius_km <= 0.0 {
        return refuse(
            "central_body.radius_km",
            format!("must be greater than 0, got {}", central.radius_km),
        );
    }

    if central.j2.abs() >= 1.0 {
        return refuse(
            "central_body.j2",
            format!(
                "must be below 1 in size (a small oblateness), got {}",
                central.j2
            ),
        );
    }
    Ok(central)
}

fn forces(value: &Value) -> Result<Forces, ScenarioError> {
    let items = match value {
        Value::Array(items) => items,
        other => {
            return refuse(
                "forces",
                format!(
                    "must be an array such as [\"point_mass\", \"j2\"], got {}",
                    kind(other)
                ),
            )
        }
    };
    let (mut point_mass, mut j2) = (false, false);
    for (i, item) in items.iter().enumerate() {
        let path = format!("forces[{i}]");
        let seen = match item.as_str() {
            Some("point_mass") => &mut point_mass,
            Some("j2") => &mut j2,
            _ => {
                return refuse(
                    path,
                    format!("unknown force {item} (known: \"point_mass\", \"j2\")"),
                )
            }
        };
        if *seen {
            return refuse(path, format!("{item} is listed twice"));
        }
        *seen = true;
    }
    if !point_mass {
        return refuse(
            "forces",
            "must include \"point_mass\" (the central body's attraction)",
        );
    }
    Ok(Forces { j2 })
}

fn integrator(value: &Value) -> Result<Integrator, ScenarioError> {
    let path = "integrator";
    let map = object(value, path)?;
    let method = match map.get("method") {
        None => {
            return refuse(
                "integrator.method",
                "is required: \"dop853\", \"yoshida4\" or \"rk4\"",
            )
        }
        Some(m) => m,
    };
    let fixed = |map: &Map<String, Value>| -> Result<f64, ScenarioError> {
        only_fields(map, path, &["method", "step_s"])?;
        let step = required(
            map,
            path,
            "step_s",
            "a fixed-step method needs its step in seconds, > 0",
        )?;
        positive(step, "integrator.step_s")
    };
    match method.as_str() {
        Some("dop853") => {
            only_fields(map, path, &["method", "tolerance"])?;
            let tolerance = match map.get("tolerance") {
                None => DEFAULT_TOLERANCE,
                Some(v) => number(v, "integrator.tolerance")?,
            };
            if !(MIN_TOLERANCE..1.0).contains(&tolerance) {
                return refuse(
                    "integrator.tolerance",
                    format!("must be at least {MIN_TOLERANCE:e} and below 1, got {tolerance:e}"),
                );
            }
            Ok(Integrator::Dop853 { tolerance })
        }
        Some("yoshida4") => Ok(Integrator::Yoshida4 {
            step_s: fixed(map)?,
        }),
        Some("rk4") => Ok(Integrator::Rk4 {
            step_s: fixed(map)?,
        }),
        _ => refuse(
            "integrator.method",
            format!("unknown method {method} (known: \"dop853\", \"yoshida4\", \"rk4\")"),
        ),
    }
}

fn walker(value: &Value) -> Result<Walker, ScenarioError> {
    let path = "walker";
    let map = object(value, path)?;
    only_fields(
        map,
        path,
        &["i_deg", "total", "planes", "phasing", "altitude_km"],
    )?;
    let get = |key: &str, what: &str| required(map, path, key, what);
    let i_deg = inclination(get("i_deg", "the inclination in degrees")?, "walker.i_deg")?;
    let total = integer(get("total", "the number of satellites")?, "walker.total")?;
    let planes = integer(get("planes", "the number of planes")?, "walker.planes")?;
    let phasing = integer(
        get("phasing", "the phasing f, 0 <= f < planes")?,
        "walker.phasing",
    )?;
    let altitude_km = positive(
        get(
            "altitude_km",
            "the altitude above the central body's radius",
        )?,
        "walker.altitude_km",
    )?;
    if total == 0 {
        return refuse("walker.total", "must be at least 1, got 0");
    }
    if planes == 0 {
        return refuse("walker.planes", "must be at least 1, got 0");
    }
    if total % planes != 0 {
        return refuse(
            "walker.total",
            format!("must be a multiple of planes ({planes}), got {total}"),
        );
    }
    if phasing >= planes {
        return refuse(
            "walker.phasing",
            format!("must be below planes ({planes}), got {phasing}"),
        );
    }
    Ok(Walker {
        i_deg,
        total,
        planes,
        phasing,
        altitude_km,
    })
}

const MAX_NAME: usize = 64;

fn body_spec(
    value: &Value,
    i: usize,
    index: usize,
    central: &CentralBody,
) -> Result<BodySpec, ScenarioError> {
    let path = format!("bodies[{i}]");
    let map = object(value, &path)?;
    only_fields(map, &path, &["name", "elements", "state"])?;
    let name = match map.get("name") {
        None => format!("body-{index}"),
        Some(Value::String(name)) => {
            let fine = |c: char| c.is_ascii_alphanumeric() || " -_.:+()/".contains(c);
            if name.is_empty()
                || name.len() > MAX_NAME
                || !name.chars().all(fine)
                || name.trim() != name
            {
                return refuse(
                    path_of(&path, "name"),
                    format!(
                        "must be 1 to {MAX_NAME} characters of letters, digits, space and -_.:+()/ \
                         (no leading or trailing space), got \"{}\"",
                        name.escape_default()
                    ),
                );
            }
            name.clone()
        }
        Some(other) => {
            return refuse(
                path_of(&path, "name"),
                format!("must be a string, got {}", kind(other)),
            )
        }
    };
    let start = match (map.get("elements"), map.get("state")) {
        (Some(el), None) => Start::Elements(elements(el, &path_of(&path, "elements"))?),
        (None, Some(st)) => Start::State(state(st, &path_of(&path, "state"), central.mu)?),
        (Some(_), Some(_)) => return refuse(path, "give either `elements` or `state`, not both"),
        (None, None) => return refuse(path, "needs `elements` or `state`"),
    };
    Ok(BodySpec { name, start })
}

fn elements(value: &Value, path: &str) -> Result<Elements, ScenarioError> {
    let map = object(value, path)?;
    only_fields(
        map,
        path,
        &["a_km", "e", "i_deg", "raan_deg", "argp_deg", "nu_deg"],
    )?;
    let field = |key: &str| path_of(path, key);
    let angle = |key: &str| -> Result<f64, ScenarioError> {
        map.get(key).map_or(Ok(0.0), |v| number(v, &field(key)))
    };
    let a_km = number(
        required(map, path, "a_km", "the semi-major axis in km, > 0")?,
        &field("a_km"),
    )?;
    let e = number(
        required(map, path, "e", "the eccentricity, 0 <= e < 1")?,
        &field("e"),
    )?;
    if a_km <= 0.0 {
        return refuse(
            field("a_km"),
            format!("must be greater than 0 (an elliptic orbit), got {a_km}"),
        );
    }
    if !(0.0..1.0).contains(&e) {
        return refuse(
            field("e"),
            format!("must be at least 0 and below 1 (an elliptic orbit), got {e}"),
        );
    }
    let i_deg = match map.get("i_deg") {
        None => 0.0,
        Some(v) => inclination(v, &field("i_deg"))?,
    };
    Ok(Elements {
        a_km,
        e,
        i_deg,
        raan_deg: angle("raan_deg")?,
        argp_deg: angle("argp_deg")?,
        nu_deg: angle("nu_deg")?,
    })
}

fn state(value: &Value, path: &str, mu: f64) -> Result<[f64; 6], ScenarioError> {
    let items = match value {
        Value::Array(items) if items.len() == 6 => items,
        other => {
            return refuse(
                path,
                format!("must be [x, y, z, vx, vy, vz] (km, km/s), got {other}"),
            )
        }
    };
    let mut s = [0.0; 6];
    for (k, item) in items.iter().enumerate() {
        s[k] = number(item, &format!("{path}[{k}]"))?;
    }
    let (r, v) = ([s[0], s[1], s[2]], [s[3], s[4], s[5]]);
    bound_orbit(&r, &v, mu).or_else(|rule| refuse(path, rule))?;
    Ok(s)
}

/// Whether the state `(r, v)` is on a bound orbit that does not fall into the centre
/// (the rules a listed state always had); else the rule it breaks, with its figures.
/// For finite input every number is finite or an overflow to infinity, which reads as
/// unbound.
fn bound_orbit(r: &[f64; 3], v: &[f64; 3], mu: f64) -> Result<(), String> {
    let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
    let v2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    if rn == 0.0 {
        return Err("the position must not be the central body's centre".into());
    }
    if v2 / 2.0 - mu / rn >= 0.0 {
        return Err(format!(
            "must be a bound (elliptic) orbit: speed {:.6} km/s is at or above the escape speed {:.6} km/s at r = {rn} km",
            v2.sqrt(),
            (2.0 * mu / rn).sqrt()
        ));
    }
    let h = cross(r, v);
    let h_norm = (h[0] * h[0] + h[1] * h[1] + h[2] * h[2]).sqrt();
    if h_norm <= 1e-12 * rn * v2.sqrt() {
        return Err(
            "must not be a radial orbit (position and velocity parallel: it falls into the centre)"
                .into(),
        );
    }
    Ok(())
}

fn cross(a: &[f64; 3], b: &[f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Whether the state `(r, v)` is on an orbit the service integrates: bound, not
/// radial, not inside the central body, its semi-major axis at most
/// [`MAX_SEMI_MAJOR_RADII`] radii and its periapsis at or above the central body's
/// radius (the sane region of the README's "Orbits"); else the rule it breaks, with
/// its figures. The speed needs no bound of its own: a bound orbit whose periapsis is
/// above the surface is slower than the escape speed there.
pub fn check_orbit(r: &[f64; 3], v: &[f64; 3], central: &CentralBody) -> Result<(), String> {
    let (mu, radius) = (central.mu, central.radius_km);
    bound_orbit(r, v, mu)?;
    let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
    if rn < radius {
        return Err(format!(
            "the position is inside the central body: |r| = {rn} km is below its radius {radius} km"
        ));
    }
    let v2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
    let energy = v2 / 2.0 - mu / rn;
    let a = -mu / (2.0 * energy);
    let largest = MAX_SEMI_MAJOR_RADII * radius;
    if a > largest {
        return Err(format!(
            "its semi-major axis {a} km is above {largest} km ({MAX_SEMI_MAJOR_RADII} radii of the central body)"
        ));
    }
    // The periapsis as p / (1 + e), which keeps its precision when e is near 1.
    let h = cross(r, v);
    let h2 = h[0] * h[0] + h[1] * h[1] + h[2] * h[2];
    let e = (1.0 + 2.0 * energy * h2 / (mu * mu)).max(0.0).sqrt();
    let periapsis = h2 / mu / (1.0 + e);
    if periapsis < radius {
        return Err(format!(
            "its periapsis {periapsis} km is below the central body's radius {radius} km (the orbit meets it; e = {e})"
        ));
    }
    Ok(())
}

/// The sane region of `docs/orbits.md`'s scenarios (the README's "The sane region"): the
/// central body's size and mass, the output step, and every body's orbit clear of the
/// central body and at most [`MAX_SEMI_MAJOR_RADII`] radii across. A refusal names
/// the field as the document's other rules do.
fn check_bounds(scenario: &OrbitScenario) -> Result<(), ScenarioError> {
    let c = scenario.central;
    if !(MIN_MU..=MAX_MU).contains(&c.mu) {
        return refuse(
            "central_body.mu_km3_s2",
            format!(
                "must be from {MIN_MU:e} to {MAX_MU:e} km^3/s^2 (a small asteroid to above the Sun), got {}",
                c.mu
            ),
        );
    }
    if !(MIN_RADIUS_KM..=MAX_RADIUS_KM).contains(&c.radius_km) {
        return refuse(
            "central_body.radius_km",
            format!(
                "must be from {MIN_RADIUS_KM} to {MAX_RADIUS_KM:e} km (a small asteroid to above the Sun), got {}",
                c.radius_km
            ),
        );
    }
    let step = scenario.output_step_s;
    if !(MIN_OUTPUT_STEP_S..=MAX_OUTPUT_STEP_S).contains(&step) {
        return refuse(
            "output_step_s",
            format!(
                "must be from {MIN_OUTPUT_STEP_S} s to {MAX_OUTPUT_STEP_S} s (ten days), got {step}"
            ),
        );
    }
    let largest = MAX_SEMI_MAJOR_RADII * c.radius_km;
    if let Some(w) = scenario.walker {
        if c.radius_km + w.altitude_km > largest {
            return refuse(
                "walker.altitude_km",
                format!(
                    "must be at most {} km (an orbit of {MAX_SEMI_MAJOR_RADII} radii of the central body), got {}",
                    largest - c.radius_km,
                    w.altitude_km
                ),
            );
        }
    }
    for (i, spec) in scenario.listed.iter().enumerate() {
        match spec.start {
            Start::Elements(el) => check_elements(&el, &format!("bodies[{i}].elements"), &c)?,
            Start::State(s) => check_orbit(&[s[0], s[1], s[2]], &[s[3], s[4], s[5]], &c)
                .or_else(|rule| refuse(format!("bodies[{i}].state"), rule))?,
        }
    }
    Ok(())
}

/// Elements within the sane region: `a` from the central body's radius to
/// [`MAX_SEMI_MAJOR_RADII`] of them, the periapsis `a (1 - e)` clear of the surface.
fn check_elements(el: &Elements, path: &str, c: &CentralBody) -> Result<(), ScenarioError> {
    let (a_km, e, radius) = (el.a_km, el.e, c.radius_km);
    if a_km < radius {
        return refuse(
            path_of(path, "a_km"),
            format!(
                "must be at least the central body's radius {radius} km (the orbit would lie inside it), got {a_km}"
            ),
        );
    }
    let largest = MAX_SEMI_MAJOR_RADII * radius;
    if a_km > largest {
        return refuse(
            path_of(path, "a_km"),
            format!(
                "must be at most {largest} km ({MAX_SEMI_MAJOR_RADII} radii of the central body), got {a_km}"
            ),
        );
    }
    let periapsis = a_km * (1.0 - e);
    if periapsis < radius {
        return refuse(
            path_of(path, "e"),
            format!(
                "puts the periapsis a (1 - e) = {periapsis} km below the central body's radius {radius} km \
                 (the orbit meets it): with a = {a_km} km, e must be at most {}, got {e}",
                1.0 - radius / a_km
            ),
        );
    }
    Ok(())
}

// ---- the canonical form ----

/// A JSON tree with its fields in a fixed order: written as the canonical text, and
/// serialised (serde) in the same order.
enum Json {
    Num(f64),
    Int(u64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    fn write(&self, out: &mut String) {
        match self {
            Json::Num(x) => out.push_str(ryu::Buffer::new().format_finite(*x)),
            Json::Int(n) => out.push_str(itoa::Buffer::new().format(*n)),
            Json::Str(s) => {
                out.push_str(&serde_json::to_string(s).expect("a string always serialises"))
            }
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (key, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(key);
                    out.push_str("\":");
                    item.write(out);
                }
                out.push('}');
            }
        }
    }
}

impl serde::Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Num(x) => serializer.serialize_f64(*x),
            Json::Int(n) => serializer.serialize_u64(*n),
            Json::Str(s) => serializer.serialize_str(s),
            Json::Arr(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                items
                    .iter()
                    .try_for_each(|item| seq.serialize_element(item))?;
                seq.end()
            }
            Json::Obj(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                fields
                    .iter()
                    .try_for_each(|(k, v)| map.serialize_entry(k, v))?;
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/orbits.md`'s document. Its sat-1 is at 7,200 km: at the 7,000 km it once
    /// had, its periapsis (6,300 km) is inside the Earth, which the sane region refuses
    /// (see `the_old_reference_document_meets_the_earth`).
    const DOC: &str = r#"{
      "model": "orbit",
      "epoch": "2026-01-01T00:00:00Z",
      "forces": ["point_mass"],
      "integrator": {"method": "dop853", "tolerance": 1e-12},
      "output_step_s": 10.0,
      "bodies": [
        {"name": "sat-1", "elements": {"a_km": 7200.0, "e": 0.1, "i_deg": 53.0,
                                       "raan_deg": 0.0, "argp_deg": 0.0, "nu_deg": 0.0}},
        {"name": "sat-2", "state": [7000.0, 0.0, 0.0, 0.0, 7.546, 0.0]}
      ]
    }"#;

    fn parse(doc: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(doc, &ScenarioLimits::default())
    }

    fn orbit(doc: &str) -> OrbitScenario {
        match parse(doc).unwrap() {
            Scenario::Orbit(o) => o,
            other => panic!("not an orbit scenario: {other:?}"),
        }
    }

    /// The example document of `docs/orbits.md` with one JSON pointer replaced (or
    /// removed with `None`).
    fn edit(pointer: &str, value: Option<Value>) -> String {
        let mut doc: Value = serde_json::from_str(DOC).unwrap();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = doc.pointer_mut(parent).unwrap();
        match (target, value) {
            (Value::Object(map), Some(v)) => {
                map.insert(key.to_string(), v);
            }
            (Value::Object(map), None) => {
                map.remove(key);
            }
            (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v,
            (t, v) => panic!("cannot edit {t} with {v:?}"),
        }
        doc.to_string()
    }

    #[test]
    fn the_reference_document_parses() {
        let o = orbit(DOC);
        assert_eq!(o.epoch().to_string(), "2026-01-01T00:00:00Z");
        assert_eq!(o.integrator(), Integrator::Dop853 { tolerance: 1e-12 });
        assert_eq!(o.forces(), Forces { j2: false });
        assert_eq!(o.output_step_s(), 10.0);
        assert_eq!(o.central_body(), CentralBody::EARTH);
        let bodies = o.bodies();
        assert_eq!(bodies.len(), 2);
        assert_eq!(bodies[1].name, "sat-2");
        assert_eq!(bodies[1].state0.r, [7000.0, 0.0, 0.0]);
        assert_eq!(bodies[1].state0.v, [0.0, 7.546, 0.0]);
    }

    #[test]
    fn broken_documents_name_their_field() {
        use serde_json::json;
        let walker = |w: Value| edit("/walker", Some(w));
        let cases: Vec<(String, &str, &str)> = vec![
            ("not json".into(), "", "not a JSON document"),
            ("[1, 2]".into(), "", "must be a JSON object"),
            (r#"{"seed": 1}"#.into(), "model", "is required"),
            (r#"{"model": "planets"}"#.into(), "model", "\"planets\""),
            (r#"{"model": "nano"}"#.into(), "seed", "is required"),
            (r#"{"model": "nano", "seed": -1}"#.into(), "seed", "non-negative integer"),
            (r#"{"model": "nano", "seed": 1, "x": 2}"#.into(), "x", "unknown field"),
            (edit("/tolerence", Some(json!(1e-9))), "tolerence", "unknown field"),
            (edit("/epoch", None), "epoch", "is required"),
            (edit("/epoch", Some(json!("2026-02-30T00:00:00Z"))), "epoch", "no such date"),
            (edit("/epoch", Some(json!("2026-01-01 00:00:00"))), "epoch", "2026-01-01 00:00:00"),
            (edit("/epoch", Some(json!("2026-01-01T24:00:00Z"))), "epoch", "no such time"),
            (edit("/epoch", Some(json!(5))), "epoch", "must be a string"),
            (edit("/forces", Some(json!(["point_mass", "drag"]))), "forces[1]", "unknown force \"drag\""),
            (edit("/forces", Some(json!(["j2"]))), "forces", "point_mass"),
            (edit("/forces", Some(json!(["point_mass", "point_mass"]))), "forces[1]", "twice"),
            (edit("/forces", Some(json!("j2"))), "forces", "must be an array"),
            (edit("/integrator", Some(json!({"method": "euler"}))), "integrator.method", "unknown method \"euler\""),
            (edit("/integrator", Some(json!({"tolerance": 1e-9}))), "integrator.method", "is required"),
            (edit("/integrator", Some(json!({"method": "dop853", "tolerance": 0}))), "integrator.tolerance", "got 0e0"),
            (edit("/integrator", Some(json!({"method": "dop853", "tolerance": 1}))), "integrator.tolerance", "below 1"),
            (edit("/integrator", Some(json!({"method": "dop853", "tolerance": 1e-20}))), "integrator.tolerance", "at least 1e-14"),
            (edit("/integrator", Some(json!({"method": "dop853", "step_s": 1}))), "integrator.step_s", "unknown field"),
            (edit("/integrator", Some(json!({"method": "rk4"}))), "integrator.step_s", "is required"),
            (edit("/integrator", Some(json!({"method": "rk4", "step_s": -1.0}))), "integrator.step_s", "greater than 0, got -1"),
            (edit("/integrator", Some(json!({"method": "yoshida4", "step_s": 0}))), "integrator.step_s", "greater than 0"),
            (edit("/integrator", Some(json!({"method": "yoshida4", "step_s": 1e-5}))), "integrator.step_s", "at most 100000 steps per output"),
            (edit("/output_step_s", Some(json!(0))), "output_step_s", "greater than 0"),
            (edit("/output_step_s", Some(json!(-10.0))), "output_step_s", "got -10"),
            (edit("/output_step_s", Some(json!("10"))), "output_step_s", "finite number"),
            (edit("/output_step_s", None), "output_step_s", "is required"),
            (edit("/bodies", Some(json!([]))), "bodies", "no bodies"),
            (edit("/bodies", None), "bodies", "no bodies"),
            (edit("/bodies", Some(json!({}))), "bodies", "must be an array"),
            (edit("/bodies/0/elements/e", Some(json!(1.0))), "bodies[0].elements.e", "below 1"),
            (edit("/bodies/0/elements/e", Some(json!(1.5))), "bodies[0].elements.e", "got 1.5"),
            (edit("/bodies/0/elements/e", Some(json!(-0.1))), "bodies[0].elements.e", "at least 0"),
            (edit("/bodies/0/elements/a_km", Some(json!(0))), "bodies[0].elements.a_km", "greater than 0"),
            (edit("/bodies/0/elements/a_km", Some(json!(-7000))), "bodies[0].elements.a_km", "got -7000"),
            (edit("/bodies/0/elements/a_km", None), "bodies[0].elements.a_km", "is required"),
            (edit("/bodies/0/elements/i_deg", Some(json!(181))), "bodies[0].elements.i_deg", "between 0 and 180"),
            (edit("/bodies/0/elements/nu_deg", Some(json!(null))), "bodies[0].elements.nu_deg", "finite number"),
            (edit("/bodies/0/elements/M_deg", Some(json!(3))), "bodies[0].elements.M_deg", "unknown field"),
            (edit("/bodies/1/state", Some(json!([7000, 0, 0, 0, 7.5]))), "bodies[1].state", "[x, y, z, vx, vy, vz]"),
            (edit("/bodies/1/state", Some(json!([7000, 0, 0, 0, 11, 0]))), "bodies[1].state", "escape speed"),
            (edit("/bodies/1/state", Some(json!([0, 0, 0, 0, 1, 0]))), "bodies[1].state", "centre"),
            (edit("/bodies/1/state", Some(json!([7000, 0, 0, 1, 0, 0]))), "bodies[1].state", "radial"),
            (edit("/bodies/1/state", Some(json!([7000, 0, 0, 0, "7.5", 0]))), "bodies[1].state[4]", "finite number"),
            (edit("/bodies/1", Some(json!({"name": "x"}))), "bodies[1]", "needs `elements` or `state`"),
            (edit("/bodies/1/elements", Some(json!({"a_km": 7000, "e": 0}))), "bodies[1]", "not both"),
            (edit("/bodies/1/name", Some(json!("sat-1"))), "bodies[1].name", "\"sat-1\" is taken"),
            (edit("/bodies/1/name", Some(json!("a\nb"))), "bodies[1].name", "a\\nb"),
            (edit("/bodies/1/name", Some(json!(""))), "bodies[1].name", "1 to 64 characters"),
            (walker(json!({"i_deg": 53, "total": 10, "planes": 3, "phasing": 1, "altitude_km": 550})), "walker.total", "multiple of planes (3), got 10"),
            (walker(json!({"i_deg": 53, "total": 9, "planes": 3, "phasing": 3, "altitude_km": 550})), "walker.phasing", "below planes (3), got 3"),
            (walker(json!({"i_deg": 53, "total": 9, "planes": 0, "phasing": 0, "altitude_km": 550})), "walker.planes", "at least 1"),
            (walker(json!({"i_deg": 53, "total": 0, "planes": 1, "phasing": 0, "altitude_km": 550})), "walker.total", "at least 1"),
            (walker(json!({"i_deg": 53, "total": 9, "planes": 3, "phasing": 1, "altitude_km": -5})), "walker.altitude_km", "greater than 0"),
            (walker(json!({"i_deg": 53, "total": 9, "planes": 3, "phasing": 1})), "walker.altitude_km", "is required"),
            (walker(json!({"i_deg": 53, "total": 9.5, "planes": 3, "phasing": 1, "altitude_km": 550})), "walker.total", "non-negative integer"),
            (walker(json!({"i_deg": 53, "total": 200000, "planes": 1, "phasing": 0, "altitude_km": 550})), "walker.total", "at most 100000"),
            (walker(json!({"i_deg": 53, "total": 4, "planes": 2, "phasing": 0, "altitude_km": 550, "shells": 2})), "walker.shells", "unknown field"),
            (edit("/bodies/1/name", Some(json!("p1-s0"))).replace("\"model\"", r#""walker": {"i_deg": 53, "total": 4, "planes": 2, "phasing": 0, "altitude_km": 550}, "model""#), "bodies[1].name", "\"p1-s0\" is taken"),
            (edit("/central_body", Some(json!({"mu_km3_s2": 0}))), "central_body.mu_km3_s2", "greater than 0"),
            (edit("/central_body", Some(json!({"radius": 6000}))), "central_body.radius", "unknown field"),
            (r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 1, "bodies": [{"elements": {"a_km": 7000, "e": 1e400}}]}"#.into(), "", "not a JSON document"),
        ];
        for (doc, field, rule) in cases {
            match parse(&doc) {
                Ok(s) => {
                    panic!("accepted a broken document (expected {field}: {rule}): {doc}\n{s:?}")
                }
                Err(err) => {
                    assert_eq!(err.field, field, "document: {doc}\nerror: {err}");
                    assert!(
                        err.rule.contains(rule),
                        "rule '{}' lacks '{rule}' (document: {doc})",
                        err.rule
                    );
                    assert!(err.to_string().contains(&err.rule));
                }
            }
        }
    }

    #[test]
    fn the_old_reference_document_meets_the_earth() {
        let verbatim = DOC.replace("7200.0", "7000.0");
        let err = parse(&verbatim).unwrap_err();
        assert_eq!(err.field, "bodies[0].elements.e");
        assert!(err.rule.contains("6300"), "{err}");
        // The log's documents are read without the bounds.
        assert!(Scenario::parse_logged(&verbatim).is_ok());
    }

    #[test]
    fn the_sane_region_is_refused_by_field() {
        use serde_json::json;
        let state = |s: Value| edit("/bodies/1/state", Some(s));
        let walker = |altitude: f64| {
            edit(
                "/walker",
                Some(
                    json!({"i_deg": 53, "total": 2, "planes": 1, "phasing": 0, "altitude_km": altitude}),
                ),
            )
        };
        let cases: Vec<(String, &str, &str)> = vec![
            (
                edit("/bodies/0/elements/a_km", Some(json!(1e308))),
                "bodies[0].elements.a_km",
                "at most 6378137",
            ),
            (
                edit("/bodies/0/elements/a_km", Some(json!(1e-300))),
                "bodies[0].elements.a_km",
                "at least the central body's radius",
            ),
            (
                edit("/bodies/0/elements/a_km", Some(json!(1e-3))),
                "bodies[0].elements.a_km",
                "inside it",
            ),
            (
                edit("/bodies/0/elements/e", Some(json!(0.999999))),
                "bodies[0].elements.e",
                "must be at most 0.114",
            ),
            (
                edit("/output_step_s", Some(json!(1e308))),
                "output_step_s",
                "ten days",
            ),
            (
                edit("/output_step_s", Some(json!(1e12))),
                "output_step_s",
                "got 1000000000000",
            ),
            (
                edit("/output_step_s", Some(json!(1e-300))),
                "output_step_s",
                "from 0.001 s",
            ),
            (
                state(json!([1e-3, 0, 0, 0, 0.1, 0])),
                "bodies[1].state",
                "inside the central body",
            ),
            (
                state(json!([6400, 0, 0, 0, 7.0, 0])),
                "bodies[1].state",
                "periapsis",
            ),
            (
                state(json!([7000, 0, 0, 0, 10.67, 0])),
                "bodies[1].state",
                "semi-major axis",
            ),
            (
                state(json!([1e300, 0, 0, 0, 1e300, 0])),
                "bodies[1].state",
                "escape speed",
            ),
            (walker(1e9), "walker.altitude_km", "at most"),
            (
                edit("/central_body", Some(json!({"mu_km3_s2": 1e300}))),
                "central_body.mu_km3_s2",
                "1e12",
            ),
            (
                edit("/central_body", Some(json!({"radius_km": 1e-9}))),
                "central_body.radius_km",
                "0.1",
            ),
        ];
        for (doc, field, rule) in cases {
            let err = parse(&doc).expect_err(&doc);
            assert_eq!(err.field, field, "{doc}: {err}");
            assert!(
                err.rule.contains(rule),
                "{doc}: rule '{}' lacks '{rule}'",
                err.rule
            );
        }
        // Within the bounds: a Molniya orbit, a geostationary one, a 200 km circle, a
        // Walker shell at 550 km, a state on a low ellipse.
        for doc in [
            edit(
                "/bodies/0/elements",
                Some(json!({"a_km": 26_600, "e": 0.74, "i_deg": 63.4})),
            ),
            edit("/bodies/0/elements", Some(json!({"a_km": 42_164, "e": 0}))),
            edit(
                "/bodies/0/elements",
                Some(json!({"a_km": 6578.137, "e": 0})),
            ),
            walker(550.0),
            state(json!([6600, 0, 0, 0, 8.0, 0])),
            edit("/output_step_s", Some(json!(864_000))),
        ] {
            parse(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
        }
        // The span: a hundred years of output steps, and not one more.
        let o = orbit(&edit("/output_step_s", Some(json!(864_000))));
        assert!(o.check_span(3652).is_ok());
        let err = o.check_span(3653).unwrap_err();
        assert_eq!(err.field, "steps");
        assert!(err.rule.contains("at most 3652 steps"), "{err}");
    }

    #[test]
    fn more_bodies_than_the_limit_are_refused() {
        let limits = ScenarioLimits { max_bodies: 1 };
        let err = Scenario::parse(DOC, &limits).unwrap_err();
        assert_eq!(err.field, "bodies");
        assert!(err.rule.contains("at most 1 bodies"), "{err}");
        let with_walker = DOC.replace(
            "\"model\"",
            r#""walker": {"i_deg": 53, "total": 2, "planes": 1, "phasing": 0, "altitude_km": 550}, "model""#,
        );
        let err = Scenario::parse(&with_walker, &ScenarioLimits { max_bodies: 3 }).unwrap_err();
        assert_eq!(err.field, "bodies");
        assert!(err.rule.contains("got 4"), "{err}");
        assert!(Scenario::parse(&with_walker, &ScenarioLimits { max_bodies: 4 }).is_ok());
    }

    #[test]
    fn canonical_form_fills_defaults_and_is_stable() {
        let terse = r#"{"bodies":[{"elements":{"e":0,"a_km":7000}}],"output_step_s":10,
                        "epoch":"2026-01-01T00:00:00.000Z","model":"orbit"}"#;
        let full = r#"{"model":"orbit","epoch":"2026-01-01T00:00:00Z","forces":["point_mass"],
            "integrator":{"method":"dop853","tolerance":1e-12},"output_step_s":10.0,
            "central_body":{"j2":1.08262668e-3,"mu_km3_s2":398600.4418,"radius_km":6378.137},
            "bodies":[{"name":"body-0","elements":{"a_km":7000.0,"e":-0.0,"i_deg":0,
            "raan_deg":0,"argp_deg":0,"nu_deg":0}}]}"#;
        let (a, b) = (parse(terse).unwrap(), parse(full).unwrap());
        assert_eq!(a, b);
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.run_id(), b.run_id());
        assert_eq!(
            a.canonical(),
            concat!(
                r#"{"model":"orbit","epoch":"2026-01-01T00:00:00Z","#,
                r#""central_body":{"mu_km3_s2":398600.4418,"radius_km":6378.137,"j2":0.00108262668},"#,
                r#""forces":["point_mass"],"integrator":{"method":"dop853","tolerance":1e-12},"#,
                r#""output_step_s":10.0,"bodies":[{"name":"body-0","elements":{"a_km":7000.0,"#,
                r#""e":0.0,"i_deg":0.0,"raan_deg":0.0,"argp_deg":0.0,"nu_deg":0.0}}]}"#
            )
        );
        // The canonical text reads back to the same scenario, and is its own canonical form.
        let again = parse(&a.canonical()).unwrap();
        assert_eq!(again, a);
        assert_eq!(again.canonical(), a.canonical());
        // serde writes the same document.
        assert_eq!(serde_json::to_string(&a).unwrap(), a.canonical());
        let back: Scenario = serde_json::from_str(&a.canonical()).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn run_ids_are_sha256_of_the_canonical_form() {
        let s = parse(DOC).unwrap();
        let digest = Sha256::digest(s.canonical().as_bytes());
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(s.run_id().to_string(), hex);
        assert_eq!(hex.parse::<RunId>().unwrap(), s.run_id());
        // Any change of meaning changes the id.
        let other = parse(&edit("/output_step_s", Some(serde_json::json!(10.5)))).unwrap();
        assert_ne!(other.run_id(), s.run_id());
        let j2 = parse(&edit(
            "/forces",
            Some(serde_json::json!(["j2", "point_mass"])),
        ))
        .unwrap();
        assert_ne!(j2.run_id(), s.run_id());
        // Nano keeps its seed.
        let nano = parse(r#"{"model":"nano","seed":42}"#).unwrap();
        assert_eq!(nano.run_id(), RunId::Nano(42));
        assert_eq!(nano.canonical(), r#"{"model":"nano","seed":42}"#);
        assert_eq!("42".parse::<RunId>().unwrap(), RunId::Nano(42));
        assert!("xyz".parse::<RunId>().is_err());
        assert_eq!("0".parse::<RunId>().unwrap(), RunId::Nano(0));
        assert_eq!(
            "18446744073709551615".parse::<RunId>().unwrap(),
            RunId::Nano(u64::MAX)
        );
        for other_spelling in [
            "00",
            "042",
            &"0".repeat(31),
            "+42",
            "",
            "18446744073709551616",
        ] {
            let e = other_spelling.parse::<RunId>().unwrap_err();
            assert_eq!(e.field, "id", "{other_spelling}");
        }
        assert!(hex.to_uppercase().parse::<RunId>().is_err());
    }

    #[test]
    fn epochs_read_and_write_utc() {
        let e = Epoch::parse("2024-02-29T23:59:59.25Z").unwrap();
        assert_eq!(e.to_string(), "2024-02-29T23:59:59.25Z");
        assert_eq!(e.iso_at(0.75, 3), "2024-03-01T00:00:00.000");
        assert_eq!(e.iso_at(86_400.0 * 366.0, 2), "2025-03-01T23:59:59.25");
        let j2000 = Epoch::parse("2000-01-01T12:00:00Z").unwrap();
        assert_eq!(j2000.unix_s, 946_728_000);
        assert_eq!(j2000.iso_at(-43_200.5, 1), "1999-12-31T23:59:59.5");
        assert!(Epoch::parse("2023-02-29T00:00:00Z").is_err());
        assert!(Epoch::parse("2026-01-01T00:00:60Z").is_err());
        assert!(Epoch::parse("2026-01-01T00:00:00.Z").is_err());
        assert!(Epoch::parse("2026-01-01T00:00:00+01:00").is_err());
    }

    /// Elements from a state by the textbook formulas, written apart from
    /// [`Elements::to_state`]: (a, e, i, raan, argp, nu) in km and degrees.
    fn elements_of(r: [f64; 3], v: [f64; 3], mu: f64) -> [f64; 6] {
        let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        let cross = |a: [f64; 3], b: [f64; 3]| {
            [
                a[1] * b[2] - a[2] * b[1],
                a[2] * b[0] - a[0] * b[2],
                a[0] * b[1] - a[1] * b[0],
            ]
        };
        let rn = dot(r, r).sqrt();
        let energy = dot(v, v) / 2.0 - mu / rn;
        let a = -mu / (2.0 * energy);
        let h = cross(r, v);
        let hn = dot(h, h).sqrt();
        let vxh = cross(v, h);
        let ev: [f64; 3] = std::array::from_fn(|k| vxh[k] / mu - r[k] / rn);
        let e = dot(ev, ev).sqrt();
        let i = (h[2] / hn).acos().to_degrees();
        let node = [-h[1], h[0], 0.0];
        let nn = dot(node, node).sqrt();
        let raan = h[0].atan2(-h[1]).to_degrees().rem_euclid(360.0);
        let mut argp = (dot(node, ev) / (nn * e))
            .clamp(-1.0, 1.0)
            .acos()
            .to_degrees();
        if ev[2] < 0.0 {
            argp = 360.0 - argp;
        }
        let mut nu = (dot(ev, r) / (e * rn)).clamp(-1.0, 1.0).acos().to_degrees();
        if dot(r, v) < 0.0 {
            nu = 360.0 - nu;
        }
        [a, e, i, raan, argp, nu]
    }

    #[test]
    fn elements_to_state_agrees_with_the_textbook_inverse() {
        let mu = EARTH_MU;
        for (a, e, i, raan, argp, nu) in [
            (7000.0, 0.1, 53.0, 20.0, 30.0, 40.0),
            (26_560.0, 0.7, 63.4, 300.0, 270.0, 200.0),
            (42_164.0, 0.3, 120.0, 100.0, 10.0, 350.0),
            (8000.0, 0.01, 98.0, 190.0, 150.0, 95.0),
        ] {
            let el = Elements {
                a_km: a,
                e,
                i_deg: i,
                raan_deg: raan,
                argp_deg: argp,
                nu_deg: nu,
            };
            let (r, v) = el.to_state(mu);
            let got = elements_of(r, v, mu);
            let want = [a, e, i, raan, argp, nu];
            for (k, (g, w)) in got.iter().zip(want).enumerate() {
                let tol = if k == 0 { 1e-9 * a } else { 1e-9 };
                assert!((g - w).abs() < tol, "element {k} of {want:?}: got {g}");
            }
            // Vis-viva and h = sqrt(mu p), independently of the angles.
            let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
            let v2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
            assert!((v2 - mu * (2.0 / rn - 1.0 / a)).abs() < 1e-12 * v2);
        }
    }

    #[test]
    fn walker_bodies_follow_orbits_md() {
        let doc = DOC.replace(
            "\"model\"",
            r#""walker": {"i_deg": 53, "total": 12, "planes": 4, "phasing": 1, "altitude_km": 550}, "model""#,
        );
        let o = orbit(&doc);
        assert_eq!(o.body_count(), 14);
        let bodies = o.bodies();
        let names: Vec<&str> = bodies.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(&names[..4], ["p0-s0", "p0-s1", "p0-s2", "p1-s0"]);
        assert_eq!(&names[11..], ["p3-s2", "sat-1", "sat-2"]);
        let w = o.walker().unwrap();
        for (index, body) in bodies.iter().take(12).enumerate() {
            let (k, j) = (index / 3, index % 3);
            let el = elements_of(body.state0.r, body.state0.v, EARTH_MU);
            assert!((el[0] - (EARTH_RADIUS_KM + 550.0)).abs() < 1e-8, "{el:?}");
            assert!(el[1] < 1e-12, "circular: {el:?}");
            assert!((el[2] - 53.0).abs() < 1e-9);
            let raan = 90.0 * k as f64;
            assert!(
                (el[3] - raan).abs() < 1e-9 || (el[3] - raan).abs() > 359.999_999,
                "{el:?}"
            );
            // On a circular orbit the argument of latitude is the angle from the node.
            let node = [raan.to_radians().cos(), raan.to_radians().sin(), 0.0];
            let r = body.state0.r;
            let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
            let cos_u = (r[0] * node[0] + r[1] * node[1]) / rn;
            let mut u = cos_u.clamp(-1.0, 1.0).acos().to_degrees();
            if r[2] < 0.0 {
                u = 360.0 - u;
            }
            let want = (120.0 * j as f64 + 30.0 * k as f64) % 360.0;
            let diff = (u - want).abs();
            assert!(
                diff < 1e-7 || (360.0 - diff) < 1e-7,
                "body {index}: u = {u}, want {want}"
            );
            assert_eq!(w.satellite(index as u64, &CentralBody::EARTH).0, body.name);
        }
        assert_eq!(o.body(14), None);
    }
}
