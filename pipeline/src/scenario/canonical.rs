//! The canonical form: a scenario written with every default filled in, fields in a
//! fixed order and numbers in their shortest round-trip form.

use serde::ser::{SerializeMap, SerializeSeq};

use super::*;

impl Scenario {
    /// The canonical document: defaults filled in, fields in a fixed order, numbers in
    /// their shortest round-trip form, no white space. Parsing it gives back the same
    /// scenario.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.tree().write(&mut out);
        out
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

impl OrbitScenario {
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
        // Written only when the document has them, so that every run named before
        // catalogues keeps its id.
        if let Some(part) = &self.catalog {
            let sel = &part.selection;
            let mut catalog = vec![("id", Json::Str(part.id().to_string()))];
            if let Some(ids) = &sel.norad_ids {
                catalog.push((
                    "norad_ids",
                    Json::Arr(ids.iter().map(|&n| Json::Int(u64::from(n))).collect()),
                ));
            }
            for (name, value) in sel.bounds() {
                if let Some(x) = value {
                    catalog.push((name, Json::Num(x)));
                }
            }
            fields.push(("catalog", Json::Obj(catalog)));
        }
        if self.catalog.is_some() || self.frame != Frame::default() {
            fields.push(("frame", Json::Str(self.frame.name().into())));
        }
        Json::Obj(fields)
    }
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
