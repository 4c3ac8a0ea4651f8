//! The subcommands' bodies. Each takes its parsed flags, checks what they ask for
//! against the scenario and the log (a request that cannot be done is a
//! [`Usage`] error), and runs it, writing its output to stdout.

pub mod accuracy;
pub mod catalog;
pub mod log;
pub mod process;
pub mod propagate;
pub mod replay;
pub mod screen;

use std::io;
use std::path::Path;

use std::sync::Arc;

use anyhow::Context;
use nano_pipeline::catalog::{Catalog, CatalogFormat, CatalogId, LogCatalogs, NoCatalogs};
use nano_pipeline::scenario::{OrbitScenario, Scenario, ScenarioLimits};
use nano_store::{Log, LogOptions, Sync};
use serde_json::{Map, Value};

use crate::cli::{BodyLimit, CatalogArgs, Usage};

/// Stdout, buffered for output written a record at a time.
fn stdout() -> io::BufWriter<io::StdoutLock<'static>> {
    io::BufWriter::with_capacity(1 << 16, io::stdout().lock())
}

/// The log in `dir`, flushed as `sync` says.
fn open_log(dir: &Path, sync: Sync) -> anyhow::Result<Log> {
    let options = LogOptions {
        sync,
        ..LogOptions::default()
    };
    Ok(Log::open(dir, options)?)
}

/// An orbit scenario read from its file, checked, with the catalogue file it takes
/// its objects from (`--catalog`), if any: its bytes, to keep in the log.
pub(crate) struct OrbitInput {
    pub scenario: Scenario,
    pub orbit: OrbitScenario,
    pub catalog_file: Option<(CatalogId, Vec<u8>)>,
}

/// The orbit scenario in `file`, checked; one that breaks a rule is a [`Usage`] error
/// naming the field and the rule. Its catalogue comes from `--catalog` (whose id then
/// fills the scenario's `catalog.id`), else from `log`'s kept files; `--frame` sets
/// its frame.
fn read_orbit_scenario(
    file: &Path,
    bodies: &BodyLimit,
    catalogs: &CatalogArgs,
    log: Option<&Log>,
) -> anyhow::Result<OrbitInput> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the scenario {}", file.display()))?;
    let limits = ScenarioLimits {
        max_bodies: bodies.max_bodies,
    };
    let usage = |e: String| Usage(format!("--scenario {}: {e}", file.display()));
    let mut doc: Value = serde_json::from_str(&text)
        .map_err(|e| usage(format!("scenario: not a JSON document: {e}")))?;
    let catalog = match &catalogs.catalog {
        Some(path) => Some(read_catalog(path, None)?),
        None => None,
    };
    if let (Some((catalog, _)), Some(fields)) = (&catalog, doc.as_object_mut()) {
        let id = catalog.id.to_string();
        let part = fields
            .entry("catalog")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(part) = part.as_object_mut() {
            match part.get("id") {
                Some(Value::String(named)) if *named != id => {
                    return Err(usage(format!(
                        "catalog.id is {named}, and --catalog {} is catalogue {id}: name the same one, or leave catalog.id out",
                        catalogs.catalog.as_deref().unwrap_or(file).display()
                    ))
                    .into())
                }
                _ => {
                    part.insert("id".into(), Value::String(id));
                }
            }
        }
    }
    if let (Some(frame), Some(fields)) = (catalogs.frame, doc.as_object_mut()) {
        fields.insert("frame".into(), Value::String(frame.name().into()));
    }
    let scenario = match (&catalog, log) {
        (Some((catalog, _)), _) => Scenario::from_value_with(&doc, &limits, catalog),
        (None, Some(log)) => {
            Scenario::from_value_with(&doc, &limits, &LogCatalogs::new(log.clone()))
        }
        (None, None) => Scenario::from_value_with(&doc, &limits, &NoCatalogs),
    }
    .map_err(|e| usage(e.to_string()))?;
    let Scenario::Orbit(orbit) = &scenario else {
        return Err(usage("a nano scenario runs as `propagate --seed S`".into()).into());
    };
    let orbit = orbit.clone();
    if let Some(part) = orbit.catalog() {
        if let Some(objects) = part.objects() {
            eprintln!(
                "sedaro-nano: catalogue {}: {} objects kept ({})",
                part.id(),
                objects.objects.len(),
                nano_pipeline::scenario::catalog::describe(&objects.dropped)
            );
            for failed in &objects.dropped.sgp4_at_start {
                eprintln!(
                    "sedaro-nano: catalogue object {} ({}) dropped: SGP4 error {} at the epoch: {}",
                    failed.norad_id, failed.name, failed.code, failed.message
                );
            }
        }
    }
    Ok(OrbitInput {
        scenario,
        orbit,
        catalog_file: catalog.map(|(c, bytes)| (c.id, bytes)),
    })
}

/// Whether the scenario in `file` names a catalogue (its `catalog` field), as far as
/// a quick look tells; the full check is [`read_orbit_scenario`]'s.
fn names_catalog(file: &Path) -> bool {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .is_some_and(|doc| doc.get("catalog").is_some())
}

/// Reads the catalogue file `path` (in `format`, else recognised); one that is no
/// catalogue is a [`Usage`] error naming the file.
fn read_catalog(
    path: &Path,
    format: Option<CatalogFormat>,
) -> anyhow::Result<(Arc<Catalog>, Vec<u8>)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the catalogue {}", path.display()))?;
    if bytes.len() > nano_store::ELEMENT_FILE_MAX_BYTES {
        return Err(Usage(format!(
            "--catalog {}: {} bytes, above the {} MiB a catalogue may have",
            path.display(),
            bytes.len(),
            nano_store::ELEMENT_FILE_MAX_BYTES >> 20
        ))
        .into());
    }
    let catalog = Catalog::read(&bytes, format)
        .map_err(|e| Usage(format!("--catalog {}: {e}", path.display())))?;
    Ok((Arc::new(catalog), bytes))
}
