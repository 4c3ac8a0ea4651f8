//! The subcommands' bodies. Each takes its parsed flags, checks what they ask for
//! against the scenario and the log (a request that cannot be done is a
//! [`Usage`] error), and runs it, writing its output to stdout.

pub mod accuracy;
pub mod log;
pub mod process;
pub mod propagate;
pub mod replay;
pub mod screen;

use std::io;
use std::path::Path;

use anyhow::Context;
use nano_pipeline::scenario::{OrbitScenario, Scenario, ScenarioLimits};
use nano_store::{Log, LogOptions, Sync};

use crate::cli::Usage;

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

/// The orbit scenario in `file`, checked; one that breaks a rule is a [`Usage`] error
/// naming the field and the rule.
fn read_orbit_scenario(
    file: &Path,
    max_bodies: usize,
) -> anyhow::Result<(Scenario, OrbitScenario)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the scenario {}", file.display()))?;
    let limits = ScenarioLimits { max_bodies };
    let scenario = Scenario::parse(&text, &limits)
        .map_err(|e| Usage(format!("--scenario {}: {e}", file.display())))?;
    let Scenario::Orbit(orbit) = &scenario else {
        return Err(Usage(format!(
            "--scenario {}: a nano scenario runs as `propagate --seed S`",
            file.display()
        ))
        .into());
    };
    let orbit = orbit.clone();
    Ok((scenario, orbit))
}
