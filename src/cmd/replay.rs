//! `replay`: a logged run written to stdout without computing anything.

use std::io::Write;
use std::path::Path;

use nano_pipeline::ephemeris::{self, EphemerisWriter, OrbitFormat};
use nano_pipeline::scenario::OrbitScenario;
use nano_pipeline::RunKey;
use nano_store::{Log, Sync};

use super::propagate::write_nano_run;
use super::{open_log, read_orbit_scenario};
use crate::cli::{ReplayArgs, Usage};
use crate::progress::Progress;

/// `replay`: the logged nano run of --seed, or with --scenario an orbit run (a body, a
/// window or a version of it).
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    if let Some(file) = &args.scenario {
        return replay_scenario(args, file);
    }
    let run = &args.run;
    let log = open_log(&args.data.data, Sync::Never)?;
    // Refuse before the first byte of output, so a missing run prints no half document.
    run.nano_format()?;
    let mut records = nano_pipeline::model::replay(&log, run.seed, 0..run.steps)?;
    write_nano_run(run, "replay", |sink| {
        records.try_for_each(|r| anyhow::Ok(sink(&r?)?))
    })
}

/// `replay --scenario`: a logged orbit run, by time then body, computing nothing.
fn replay_scenario(args: &ReplayArgs, file: &Path) -> anyhow::Result<()> {
    let log = open_log(&args.data.data, Sync::Never)?;
    let input = read_orbit_scenario(file, &args.bodies, &args.catalogs, Some(&log))?;
    let (scenario, orbit) = (input.scenario, input.orbit);
    let steps = args.run.steps;
    // The OEM of every body is read body by body; one body's (--body) is its window.
    let every_body_oem = args.run.format == OrbitFormat::Oem && args.body.is_none();
    if every_body_oem && (args.from.is_some() || args.to.is_some()) {
        return Err(Usage(
            "--format oem of every body covers the whole run: drop --from and --to, or give --body"
                .into(),
        )
        .into());
    }
    let end = steps as f64 * orbit.output_step_s();
    if let Some(body) = args.body.filter(|&b| b as usize >= orbit.body_count()) {
        return Err(Usage(format!(
            "--body {body}: the scenario has {} bodies, 0 to {}",
            orbit.body_count(),
            orbit.body_count().saturating_sub(1)
        ))
        .into());
    }
    if let Some(to) = args.to.filter(|&to| to > end) {
        return Err(Usage(format!(
            "--to {to}: the run ends at t = {end} s (--steps {steps} of {} s)",
            orbit.output_step_s()
        ))
        .into());
    }
    let (from, to) = (args.from.unwrap_or(0.0), args.to.unwrap_or(end));
    if from > to {
        return Err(Usage(format!("--from {from} is after --to {to}")).into());
    }
    let run = scenario.run_key();
    let times = ephemeris::output_steps(from, to, orbit.output_step_s(), steps);
    // The record of iteration k - 1 holds the state at t_k; t_0 is the scenario's.
    let iterations = match &times {
        Some(times) => times.start().max(&1) - 1..*times.end(),
        None => 0..0,
    };
    let with_initial = times.is_some_and(|times| *times.start() == 0);
    // Refused before the first byte of output when the log lacks the steps.
    let logged = log.entry(run)?.map_or(0, |e| e.iterations);
    if logged < steps {
        return Err(nano_store::Error::NotLogged {
            run,
            logged,
            requested: steps,
        }
        .into());
    }
    if let Some(version) = args.version.filter(|&v| v > 0) {
        let mut versions = log.versions(run)?;
        let latest = versions.len();
        if version as usize > latest {
            return Err(Usage(format!(
                "--version {version}: the log holds versions 0 to {latest} of this run"
            ))
            .into());
        }
        versions.truncate(version as usize);
        return write_logged(&log, run, &orbit, steps, args.run.format, versions);
    }
    if every_body_oem {
        return write_logged(&log, run, &orbit, steps, OrbitFormat::Oem, Vec::new());
    }
    // The bar counts the steps of the window replayed.
    let window = iterations.clone();
    let records: Box<dyn Iterator<Item = nano_store::Result<nano_store::Record>>> = match args.body
    {
        Some(body) => Box::new(log.track(run, body, iterations)?),
        None => Box::new(log.replay(run, iterations)?),
    };
    let out = super::stdout();
    let mut out =
        EphemerisWriter::begin(out, args.run.format, &orbit, steps, &ephemeris::now_utc())?;
    if with_initial {
        for index in 0..orbit.body_count() as u32 {
            if args.body.is_none_or(|b| b == index) {
                let body = orbit.body(index as usize).expect("index below body_count");
                out.state(index, &body.state0)?;
            }
        }
    }
    let mut bar = Progress::new("replay", "steps", window.end - window.start);
    for record in records {
        let record = record?;
        bar.set((record.iteration + 1).saturating_sub(window.start));
        out.record(&record)?;
    }
    out.finish()?;
    bar.finish();
    Ok(())
}

/// Writes the first `steps` steps of the logged orbit run `run` to stdout in `format`,
/// in the version `versions` make (every version after 0 up to the one written; none:
/// version 0), a piece at a time as the service streams it: CSV and JSON by time from
/// `Log::replay`, the OEM body by body from `Log::track`. Version 0's bytes are the run
/// computed without a log's, but the OEM's CREATION_DATE. The bar counts the OEM's
/// bodies, and the steps of CSV and JSON.
pub(super) fn write_logged(
    log: &Log,
    run: RunKey,
    orbit: &OrbitScenario,
    steps: u64,
    format: OrbitFormat,
    versions: Vec<nano_store::encoding::Version>,
) -> anyhow::Result<()> {
    let mut pieces = nano_pipeline::runs::OrbitPieces::new(
        log.clone(),
        run,
        orbit.clone(),
        steps,
        format,
        nano_pipeline::runs::Keep::new(steps, None),
        ephemeris::now_utc(),
    )
    .versioned(versions);
    let mut out = super::stdout();
    let oem = format == OrbitFormat::Oem;
    let mut bar = if oem {
        Progress::new("oem", "bodies", orbit.body_count() as u64)
    } else {
        Progress::new("replay", "steps", steps)
    };
    while let Some(chunk) = pieces.next_chunk()? {
        out.write_all(&chunk)?;
        bar.set(if oem {
            pieces.bodies_written() as u64
        } else {
            pieces.steps_read()
        });
    }
    out.flush()?;
    bar.finish();
    Ok(())
}
