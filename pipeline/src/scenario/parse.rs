//! Reading a scenario document: each function checks one part of it and names its
//! JSON path in the refusal.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::catalog::{self, CatalogPart, Frame, Selection};
use super::*;
use crate::catalog::{CatalogSource, NoCatalogs};
use crate::orbit::elements::bound_orbit;

/// Where a document's catalogue comes from while it is read.
#[derive(Clone, Copy)]
enum Catalogs<'a> {
    /// The catalogue is looked up and its objects resolved.
    From(&'a dyn CatalogSource),
    /// Only the selection is read (a worker's copy of a logged document).
    Unresolved,
}

impl Scenario {
    /// Reads and checks a scenario document; one naming a catalogue is refused (no
    /// catalogue is at hand: see [`Scenario::parse_with`]).
    pub fn parse(json: &str, limits: &ScenarioLimits) -> Result<Scenario, ScenarioError> {
        Scenario::parse_with(json, limits, &NoCatalogs)
    }

    /// Reads and checks a scenario document, its catalogue (if it names one) from
    /// `catalogs`.
    pub fn parse_with(
        json: &str,
        limits: &ScenarioLimits,
        catalogs: &dyn CatalogSource,
    ) -> Result<Scenario, ScenarioError> {
        let value: Value = serde_json::from_str(json)
            .or_else(|e| refuse("", format!("not a JSON document: {e}")))?;
        Scenario::from_value_with(&value, limits, catalogs)
    }

    /// Reads a document the service accepted before, as the log keeps it (a run's
    /// scenario): its rules of form still hold, but not `limits` nor the sane region's
    /// bounds, which it met when it was accepted or which came after it. A run logged
    /// before a bound stays readable; one that leaves the sane region stops when it is
    /// integrated again ([`crate::orbit::Halt`]). Its catalogue's objects are not
    /// looked up: [`OrbitScenario::catalog`] has the selection only (the engine hands
    /// each worker its objects); [`Scenario::parse_logged_with`] resolves them.
    pub fn parse_logged(json: &str) -> Result<Scenario, ScenarioError> {
        let value: Value = serde_json::from_str(json)
            .or_else(|e| refuse("", format!("not a JSON document: {e}")))?;
        Scenario::read(&value, &unlimited(), false, Catalogs::Unresolved)
    }

    /// [`Scenario::parse_logged`], with the catalogue's objects from `catalogs`.
    pub fn parse_logged_with(
        json: &str,
        catalogs: &dyn CatalogSource,
    ) -> Result<Scenario, ScenarioError> {
        let value: Value = serde_json::from_str(json)
            .or_else(|e| refuse("", format!("not a JSON document: {e}")))?;
        Scenario::read(&value, &unlimited(), false, Catalogs::From(catalogs))
    }

    /// Checks a scenario already read as JSON (the API's request body holds one); one
    /// naming a catalogue is refused (see [`Scenario::from_value_with`]).
    pub fn from_value(value: &Value, limits: &ScenarioLimits) -> Result<Scenario, ScenarioError> {
        Scenario::from_value_with(value, limits, &NoCatalogs)
    }

    /// Checks a scenario already read as JSON, its catalogue from `catalogs`.
    pub fn from_value_with(
        value: &Value,
        limits: &ScenarioLimits,
        catalogs: &dyn CatalogSource,
    ) -> Result<Scenario, ScenarioError> {
        Scenario::read(value, limits, true, Catalogs::From(catalogs))
    }

    /// Reads and checks `value`, within the sane region's bounds if `bounded`.
    fn read(
        value: &Value,
        limits: &ScenarioLimits,
        bounded: bool,
        catalogs: Catalogs<'_>,
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
                let orbit = OrbitScenario::from_doc(doc, limits, catalogs)?;
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
}

fn unlimited() -> ScenarioLimits {
    ScenarioLimits {
        max_bodies: usize::MAX,
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

impl OrbitScenario {
    fn from_doc(
        doc: &Map<String, Value>,
        limits: &ScenarioLimits,
        catalogs: Catalogs<'_>,
    ) -> Result<Self, ScenarioError> {
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
                "catalog",
                "frame",
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
                return refuse(
                    "bodies",
                    format!("must be an array, got {}", json_kind(other)),
                )
            }
        };
        let frame = match doc.get("frame") {
            None => Frame::default(),
            Some(Value::String(name)) => Frame::from_name(name).map_or_else(
                || {
                    refuse(
                        "frame",
                        format!("must be \"EME2000\" or \"TEME\", got \"{name}\""),
                    )
                },
                Ok,
            )?,
            Some(other) => {
                return refuse(
                    "frame",
                    format!("must be \"EME2000\" or \"TEME\", got {}", json_kind(other)),
                )
            }
        };
        let catalog = match doc.get("catalog") {
            None => None,
            Some(v) => {
                let selection = Selection::read(v)?;
                if selection.id.is_none() {
                    return refuse(
                        "catalog.id",
                        "is required (the id POST /api/catalogs answered, or give the file with --catalog)",
                    );
                }
                if central != CentralBody::EARTH {
                    return refuse(
                        "catalog",
                        "catalogue objects are propagated by SGP4 around the Earth: leave central_body at the Earth's",
                    );
                }
                let resolved = match catalogs {
                    Catalogs::Unresolved => None,
                    Catalogs::From(source) => {
                        let own = walker.map_or(0, |w| w.total as usize) + listed.len();
                        let room = limits.max_bodies.saturating_sub(own);
                        Some(Arc::new(catalog::resolve(
                            &selection, source, epoch, frame, room,
                        )?))
                    }
                };
                Some(Box::new(CatalogPart {
                    selection,
                    resolved,
                }))
            }
        };
        if walker.is_none() && listed.is_empty() && catalog.is_none() {
            return refuse(
                "bodies",
                "no bodies: give at least one in `bodies`, a `walker` or a `catalog`",
            );
        }
        let frame_at_epoch = (frame == Frame::Teme).then(|| {
            Box::new(crate::catalog::frame::teme_to_eme2000(
                catalog::unix_seconds(epoch, 0.0),
            ))
        });
        let scenario = OrbitScenario {
            epoch,
            central,
            forces,
            integrator,
            output_step_s,
            walker,
            listed,
            catalog,
            frame,
            frame_at_epoch,
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

/// What kind of JSON value `value` is, as refusals name it ("a string", "null").
pub fn json_kind(value: &Value) -> &'static str {
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
        || {
            refuse(
                path,
                format!("must be a JSON object, got {}", json_kind(value)),
            )
        },
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
                    json_kind(other)
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
                format!("must be a string, got {}", json_kind(other)),
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
