//! A scenario's catalogue part: which catalogue its objects come from, which of them
//! it keeps (the selection), and, once the catalogue is at hand, the kept objects
//! ready for SGP4 with what was dropped and why.
//!
//! The document names a catalogue by its id (`"catalog": {"id": ..}`); the objects
//! themselves come from a [`CatalogSource`] (the log's kept files, or the file given
//! on the command line). A scenario read without one (a worker's copy: the engine
//! hands each worker its objects' element sets) is *unresolved*: it knows the
//! selection, not the objects.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{refuse, Epoch, ScenarioError};
use crate::catalog::{frame, Catalog, CatalogId, CatalogSource, ElementSet, Sgp4, Sgp4Error};

/// The frame a run's states are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Frame {
    /// The mean equator and equinox of J2000 (the scenario's own frame).
    #[default]
    #[serde(rename = "EME2000")]
    Eme2000,
    /// SGP4's true equator, mean equinox of date.
    #[serde(rename = "TEME")]
    Teme,
}

impl Frame {
    /// The name outputs write (`EME2000`, `TEME`).
    pub fn name(self) -> &'static str {
        match self {
            Frame::Eme2000 => "EME2000",
            Frame::Teme => "TEME",
        }
    }

    /// The frame `name` names (`EME2000` or `TEME`, in any case).
    pub fn from_name(name: &str) -> Option<Frame> {
        [Frame::Eme2000, Frame::Teme]
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Display for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which objects of a catalogue a scenario keeps: all of them unless a rule drops
/// some. The bounds are inclusive; altitudes are SGP4's (above WGS-72's radius).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    pub id: Option<CatalogId>,
    /// Only these catalogue numbers (ascending, no repeats).
    pub norad_ids: Option<Vec<u32>>,
    pub min_perigee_km: Option<f64>,
    pub max_perigee_km: Option<f64>,
    pub min_apogee_km: Option<f64>,
    pub max_apogee_km: Option<f64>,
    /// Only element sets at most this many days older than the scenario's epoch.
    pub max_age_days: Option<f64>,
}

/// The selection's fields, in the canonical order.
pub(super) const SELECTION_FIELDS: [&str; 7] = [
    "id",
    "norad_ids",
    "min_perigee_km",
    "max_perigee_km",
    "min_apogee_km",
    "max_apogee_km",
    "max_age_days",
];

impl Selection {
    /// The numeric bounds in canonical order, with their field names.
    pub(super) fn bounds(&self) -> [(&'static str, Option<f64>); 5] {
        [
            ("min_perigee_km", self.min_perigee_km),
            ("max_perigee_km", self.max_perigee_km),
            ("min_apogee_km", self.min_apogee_km),
            ("max_apogee_km", self.max_apogee_km),
            ("max_age_days", self.max_age_days),
        ]
    }

    /// Reads the document's `catalog` object.
    pub(super) fn read(value: &Value) -> Result<Selection, ScenarioError> {
        let Some(map) = value.as_object() else {
            return refuse(
                "catalog",
                format!(
                    "must be an object like {{\"id\": \"<32 hex digits>\"}}, got {}",
                    super::json_kind(value)
                ),
            );
        };
        only(map)?;
        let id = match map.get("id") {
            None => None,
            Some(Value::String(text)) => Some(
                text.parse::<CatalogId>()
                    .or_else(|e| refuse("catalog.id", e.to_string()))?,
            ),
            Some(other) => {
                return refuse(
                    "catalog.id",
                    format!(
                        "must be a catalogue id (a string of 32 hex digits), got {}",
                        super::json_kind(other)
                    ),
                )
            }
        };
        let norad_ids = match map.get("norad_ids") {
            None => None,
            Some(Value::Array(items)) => {
                let mut ids = BTreeSet::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_u64().filter(|&n| (1..=999_999_999).contains(&n)) {
                        Some(n) => ids.insert(n as u32),
                        None => {
                            return refuse(
                                format!("catalog.norad_ids[{i}]"),
                                format!(
                                    "must be a catalogue number (an integer from 1), got {item}"
                                ),
                            )
                        }
                    };
                }
                if ids.is_empty() {
                    return refuse("catalog.norad_ids", "must name at least one catalogue number (leave it out to keep every object)");
                }
                Some(ids.into_iter().collect())
            }
            Some(other) => {
                return refuse(
                    "catalog.norad_ids",
                    format!(
                        "must be an array of catalogue numbers, got {}",
                        super::json_kind(other)
                    ),
                )
            }
        };
        let bound = |key: &str| -> Result<Option<f64>, ScenarioError> {
            match map.get(key) {
                None => Ok(None),
                Some(v) => match v.as_f64() {
                    Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x + 0.0)),
                    _ => refuse(
                        format!("catalog.{key}"),
                        format!("must be a number at least 0, got {v}"),
                    ),
                },
            }
        };
        let selection = Selection {
            id,
            norad_ids,
            min_perigee_km: bound("min_perigee_km")?,
            max_perigee_km: bound("max_perigee_km")?,
            min_apogee_km: bound("min_apogee_km")?,
            max_apogee_km: bound("max_apogee_km")?,
            max_age_days: bound("max_age_days")?,
        };
        for (lo, hi, name) in [
            (
                selection.min_perigee_km,
                selection.max_perigee_km,
                "perigee",
            ),
            (selection.min_apogee_km, selection.max_apogee_km, "apogee"),
        ] {
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    return refuse(
                        format!("catalog.max_{name}_km"),
                        format!("must be at least min_{name}_km ({lo}), got {hi}"),
                    );
                }
            }
        }
        Ok(selection)
    }
}

fn only(map: &Map<String, Value>) -> Result<(), ScenarioError> {
    match map.keys().find(|k| !SELECTION_FIELDS.contains(&k.as_str())) {
        Some(unknown) => refuse(
            format!("catalog.{unknown}"),
            format!(
                "unknown field (known here: {})",
                SELECTION_FIELDS.join(", ")
            ),
        ),
        None => Ok(()),
    }
}

/// One kept catalogue object: its element set, its SGP4, and its state at `t = 0` in
/// the scenario's frame.
#[derive(Debug, Clone)]
pub struct CatalogObject {
    pub elements: ElementSet,
    pub sgp4: Sgp4,
    /// Minutes from the element set's epoch to the scenario's (SGP4's `tsince` at `t = 0`).
    pub offset_min: f64,
    pub state0: [f64; 6],
}

/// An object dropped because SGP4 fails at the scenario's epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedAtStart {
    pub norad_id: u32,
    pub name: String,
    pub code: u8,
    pub message: String,
}

/// What the selection dropped, by rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Dropped {
    /// Objects the file holds that its reader refused.
    pub refused_in_file: usize,
    /// Not among `norad_ids`.
    pub not_listed: usize,
    pub perigee: usize,
    pub apogee: usize,
    /// Element sets older than `max_age_days`.
    pub age: usize,
    /// SGP4 fails at `t = 0`: reported, not run.
    pub sgp4_at_start: Vec<FailedAtStart>,
}

/// The kept objects of a resolved catalogue part.
#[derive(Debug)]
pub struct CatalogObjects {
    pub objects: Vec<CatalogObject>,
    pub dropped: Dropped,
}

/// A scenario's catalogue part: the selection, and the objects once resolved.
#[derive(Debug, Clone)]
pub struct CatalogPart {
    pub selection: Selection,
    pub(super) resolved: Option<Arc<CatalogObjects>>,
}

impl PartialEq for CatalogPart {
    fn eq(&self, other: &Self) -> bool {
        self.selection == other.selection
    }
}

impl CatalogPart {
    /// The kept objects, when the catalogue was at hand.
    pub fn objects(&self) -> Option<&CatalogObjects> {
        self.resolved.as_deref()
    }

    /// The catalogue's id.
    pub fn id(&self) -> CatalogId {
        self.selection
            .id
            .expect("a catalogue part is built with its id")
    }
}

/// The UTC Unix seconds of `t` seconds into a run from `epoch`.
pub fn unix_seconds(epoch: Epoch, t_s: f64) -> f64 {
    epoch.unix_nanos() as f64 * 1e-9 + t_s
}

/// Resolves `selection` against its catalogue from `source`: the kept objects with
/// their states at `epoch` in `frame`, and what was dropped. Refused: an unknown id, a
/// selection that keeps nothing.
pub(super) fn resolve(
    selection: &Selection,
    source: &dyn CatalogSource,
    epoch: Epoch,
    frame: Frame,
    max_bodies: usize,
) -> Result<CatalogObjects, ScenarioError> {
    let id = selection.id.expect("resolved only with an id");
    let catalog = match source.catalog(id) {
        Ok(Some(catalog)) => catalog,
        Ok(None) => {
            return refuse(
                "catalog.id",
                format!("no catalogue {id} is kept: upload it first (POST /api/catalogs, or --catalog FILE)"),
            )
        }
        Err(e) => return refuse("catalog.id", format!("catalogue {id} cannot be read: {e}")),
    };
    select(selection, &catalog, epoch, frame, max_bodies)
}

fn select(
    selection: &Selection,
    catalog: &Catalog,
    epoch: Epoch,
    frame: Frame,
    max_bodies: usize,
) -> Result<CatalogObjects, ScenarioError> {
    let mut dropped = Dropped {
        refused_in_file: catalog.refused.len(),
        ..Dropped::default()
    };
    let rotation = match frame {
        Frame::Eme2000 => Some(frame::teme_to_eme2000(unix_seconds(epoch, 0.0))),
        Frame::Teme => None,
    };
    let mut objects = Vec::new();
    for e in &catalog.objects {
        if let Some(ids) = &selection.norad_ids {
            if ids.binary_search(&e.norad_id).is_err() {
                dropped.not_listed += 1;
                continue;
            }
        }
        let (perigee, apogee) = (e.perigee_km(), e.apogee_km());
        if selection.min_perigee_km.is_some_and(|lo| perigee < lo)
            || selection.max_perigee_km.is_some_and(|hi| perigee > hi)
        {
            dropped.perigee += 1;
            continue;
        }
        if selection.min_apogee_km.is_some_and(|lo| apogee < lo)
            || selection.max_apogee_km.is_some_and(|hi| apogee > hi)
        {
            dropped.apogee += 1;
            continue;
        }
        let offset_min = (epoch.unix_nanos() - e.epoch.unix_nanos()) as f64 / 60e9;
        if selection
            .max_age_days
            .is_some_and(|days| offset_min > days * 1440.0)
        {
            dropped.age += 1;
            continue;
        }
        let failed = |err: Sgp4Error| FailedAtStart {
            norad_id: e.norad_id,
            name: e.display_name(),
            code: err.code,
            message: err.message,
        };
        let sgp4 = match Sgp4::new(e) {
            Ok(sgp4) => sgp4,
            Err(err) => {
                dropped.sgp4_at_start.push(failed(err));
                continue;
            }
        };
        let teme = match sgp4.teme(offset_min) {
            Ok(state) => state,
            Err(err) => {
                dropped.sgp4_at_start.push(failed(err));
                continue;
            }
        };
        let state0 = match &rotation {
            Some(m) => frame::rotate(m, &teme),
            None => teme,
        };
        objects.push(CatalogObject {
            elements: e.clone(),
            sgp4,
            offset_min,
            state0,
        });
    }
    if objects.is_empty() {
        return refuse(
            "catalog",
            format!(
                "the selection keeps none of the catalogue's {} objects ({})",
                catalog.objects.len() + catalog.refused.len(),
                describe(&dropped)
            ),
        );
    }
    if objects.len() > max_bodies {
        return refuse(
            "catalog",
            format!(
                "at most {max_bodies} bodies in all, and the selection keeps {} catalogue objects: narrow it",
                objects.len()
            ),
        );
    }
    Ok(CatalogObjects { objects, dropped })
}

/// What was dropped, in words: `12 not listed, 3 by perigee, ...`.
pub fn describe(d: &Dropped) -> String {
    let mut parts = Vec::new();
    for (n, what) in [
        (d.refused_in_file, "refused in the file"),
        (d.not_listed, "not among norad_ids"),
        (d.perigee, "by perigee"),
        (d.apogee, "by apogee"),
        (d.age, "older than max_age_days"),
        (d.sgp4_at_start.len(), "failing SGP4 at the epoch"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    if parts.is_empty() {
        "none dropped".to_string()
    } else {
        format!("dropped: {}", parts.join(", "))
    }
}

/// The rotations that take states from a body's own frame ([`Frame`]: TEME for SGP4,
/// EME2000 for integrated bodies) into the run's, output time by output time. A
/// rotation costs microseconds (the nutation series), so each is computed once per
/// output time and kept for the other bodies: a block's rotations by index
/// ([`FrameRotations::prepare`]), others in a bounded map.
pub struct FrameRotations {
    epoch: Epoch,
    output_step_s: f64,
    frame: Frame,
    /// The rotations of outputs `first ..`, once asked for.
    first: u64,
    window: Vec<frame::Rotation>,
    /// The outputs `prepare` named, not computed until a body needs one.
    wanted: std::ops::Range<u64>,
    kept: std::collections::HashMap<u64, frame::Rotation>,
}

/// Output times whose rotations a [`FrameRotations`] keeps outside its window (some
/// 5 MB).
const ROTATIONS_KEPT: usize = 1 << 16;

impl FrameRotations {
    /// The rotations of `scenario`'s run.
    pub fn new(scenario: &super::OrbitScenario) -> FrameRotations {
        FrameRotations {
            epoch: scenario.epoch(),
            output_step_s: scenario.output_step_s(),
            frame: scenario.frame(),
            first: 0,
            window: Vec::new(),
            wanted: 0..0,
            kept: std::collections::HashMap::new(),
        }
    }

    /// The next states asked are of outputs `first .. first + count` (a block): their
    /// rotations are computed once, when the first body not in the run's frame asks.
    pub fn prepare(&mut self, first: u64, count: usize) {
        self.wanted = first..first + count as u64;
        if self.first != first || self.window.len() != count {
            self.window.clear();
        }
    }

    fn rotation(&mut self, k: u64) -> frame::Rotation {
        if self.wanted.contains(&k) {
            if self.window.is_empty() {
                self.first = self.wanted.start;
                let (epoch, step) = (self.epoch, self.output_step_s);
                self.window = self
                    .wanted
                    .clone()
                    .map(|k| frame::teme_to_eme2000(unix_seconds(epoch, k as f64 * step)))
                    .collect();
            }
            return self.window[(k - self.first) as usize];
        }
        if self.kept.len() >= ROTATIONS_KEPT {
            self.kept.clear();
        }
        let (epoch, step) = (self.epoch, self.output_step_s);
        *self
            .kept
            .entry(k)
            .or_insert_with(|| frame::teme_to_eme2000(unix_seconds(epoch, k as f64 * step)))
    }

    /// `s`, the state of output `k` in frame `native`, in the run's frame (a missing
    /// state stays missing).
    pub fn to_run_frame(
        &mut self,
        native: Frame,
        k: u64,
        s: &crate::orbit::OrbitState,
    ) -> crate::orbit::OrbitState {
        if native == self.frame || s.is_absent() {
            return *s;
        }
        let m = self.rotation(k);
        match native {
            Frame::Teme => s.rotated(&m),
            Frame::Eme2000 => s.rotated(&frame::transpose(&m)),
        }
    }
}
