//! `propagate`: one run computed and written to stdout; with --data, logged, and what
//! the log already holds reused.

use std::io;
use std::path::Path;

use nano_pipeline::engine::{Engine as DataflowEngine, DEFAULT_BLOCKS_BYTES};
use nano_pipeline::ephemeris::{self, EphemerisWriter, OrbitFormat};
use nano_pipeline::job::JobEvent;
use nano_pipeline::resume::{self, Source};
use nano_pipeline::scenario::OrbitScenario;
use nano_pipeline::{Propagator, Record, RunKey, RunWriter};

use super::{open_log, read_orbit_scenario, replay::write_logged};
use crate::cli::{Engine, PropagateArgs, RunArgs, Usage};
use crate::progress::Progress;

/// The nano model's run in `--format` to stdout.
fn stdout_writer(
    run: &RunArgs,
) -> anyhow::Result<RunWriter<io::BufWriter<io::StdoutLock<'static>>>> {
    Ok(RunWriter::begin(
        super::stdout(),
        run.nano_format()?,
        run.steps,
        run.seed,
    )?)
}

/// Writes the nano run `run` to stdout in `--format`: the records `produce` hands to
/// its sink, counted by a bar labelled `label`. Whatever can fail before the first
/// record is checked by the caller first, so that no half document is written.
pub(super) fn write_nano_run(
    run: &RunArgs,
    label: &'static str,
    produce: impl FnOnce(&mut dyn FnMut(&Record) -> io::Result<()>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut out = stdout_writer(run)?;
    let mut bar = Progress::new(label, "iterations", run.steps);
    produce(&mut |r| {
        bar.set(r.iteration + 1);
        out.record(r)
    })?;
    out.finish()?;
    bar.finish();
    Ok(())
}

/// `propagate`: the nano model's run, on the reference propagator or (with --workers,
/// --hostfile or --engine dataflow) the dataflow engine, resumed from and logged to
/// --data when given; or, with --scenario, an orbit scenario's run.
pub fn run(args: &PropagateArgs) -> anyhow::Result<()> {
    if let Some(file) = &args.scenario {
        return propagate_scenario(args, file);
    }
    let run = &args.run;
    run.nano_format()?;
    let cluster = &args.cluster;
    let engine =
        args.engine
            .unwrap_or(if cluster.workers.is_some() || cluster.hostfile.is_some() {
                Engine::Dataflow
            } else {
                Engine::Reference
            });
    if engine == Engine::Dataflow {
        return propagate_dataflow(args);
    }
    if cluster.hostfile.is_some() || cluster.workers.is_some() {
        anyhow::bail!("--workers and --hostfile need --engine dataflow");
    }
    let Some(dir) = &args.data else {
        let mut out = stdout_writer(run)?;
        let mut bar = Progress::new("propagate", "iterations", run.steps);
        out.records(Propagator::new(run.seed, run.steps).inspect(|r| bar.set(r.iteration + 1)))?;
        out.finish()?;
        bar.finish();
        return Ok(());
    };
    let log = open_log(dir, args.sync)?;
    let key = RunKey::nano(run.seed);
    let where_ = dir.display();
    match resume::plan(&log, key, run.steps)? {
        Source::Replayed { logged } => eprintln!(
            "sedaro-nano: replaying {} of the {logged} iterations of seed {} logged in {where_}",
            run.steps, run.seed
        ),
        Source::Continued { logged } => eprintln!(
            "sedaro-nano: seed {}: replaying the {logged} iterations logged in {where_}, computing the rest",
            run.seed
        ),
        Source::Computed => eprintln!("sedaro-nano: seed {}: computing, logging to {where_}", run.seed),
    }
    write_nano_run(run, "propagate", |sink| {
        resume::propagate_logged(&log, key, run.steps, args.block, sink)?;
        Ok(())
    })
}

/// An orbit scenario: by one propagator per body straight to stdout, or, with
/// --data, --workers, --hostfile or --engine dataflow, on the dataflow engine (bodies
/// dealt out over its workers and processes, logged per epoch).
fn propagate_scenario(args: &PropagateArgs, file: &Path) -> anyhow::Result<()> {
    // Checked before anything else, so a broken document touches no log (the log is
    // opened first only to find the catalogue a scenario names without --catalog).
    let early_log = match &args.data {
        Some(dir) if args.catalogs.catalog.is_none() && super::names_catalog(file) => {
            Some(open_log(dir, args.sync)?)
        }
        _ => None,
    };
    let input = read_orbit_scenario(file, &args.bodies, &args.catalogs, early_log.as_ref())?;
    let (scenario, orbit) = (input.scenario, input.orbit);
    orbit
        .check_span(args.run.steps)
        .map_err(|e| Usage(format!("--steps {}: {}", args.run.steps, e.rule)))?;
    let cluster = &args.cluster;
    let dataflow = args.data.is_some()
        || cluster.workers.is_some()
        || cluster.hostfile.is_some()
        || args.engine == Some(Engine::Dataflow);
    if !dataflow {
        let out = super::stdout();
        let (_, stops) = ephemeris::write_run_reporting(
            out,
            args.run.format,
            &orbit,
            args.run.steps,
            &ephemeris::now_utc(),
        )?;
        report_stops(&stops);
        return Ok(());
    }
    if args.engine == Some(Engine::Reference) {
        return Err(Usage(
            "--engine reference writes an orbit scenario to stdout only: --data, --workers and --hostfile take the dataflow engine".into(),
        )
        .into());
    }
    if args.run.format == OrbitFormat::Oem && args.data.is_none() {
        return Err(Usage(
            "--format oem is written body by body: through the dataflow engine it is read back from the log, so give --data (or drop --workers and --hostfile to write it from one propagator per body)".into(),
        )
        .into());
    }
    if cluster.process != 0 {
        anyhow::bail!(
            "propagate runs as process 0 of its cluster, not {}; start the others with `sedaro-nano worker`",
            cluster.process
        );
    }
    let log = match (early_log, &args.data) {
        (Some(log), _) => Some(log),
        (None, Some(dir)) => Some(open_log(dir, args.sync)?),
        (None, None) => None,
    };
    if let (Some(log), Some((id, bytes))) = (&log, &input.catalog_file) {
        // Kept before the run, so that it resumes and replays from the log alone.
        log.keep_element_file(id.0, bytes)?;
    }
    let log_for_oem = log.clone();
    // The screenings' side of the cluster is idle in a propagation, kept until it ends.
    let (config, _screenings) = cluster.engine_config(args.block, log, DEFAULT_BLOCKS_BYTES)?;
    let engine = DataflowEngine::start(config)?;
    if let (OrbitFormat::Oem, Some(log)) = (args.run.format, &log_for_oem) {
        // The run is logged first (time by time, as the engine commits it), then read
        // back body by body.
        let job = engine.submit_scenario(&scenario, args.run.steps, false)?;
        let mut bar = Progress::new("propagate", "steps", args.run.steps);
        let completed = loop {
            match job.next() {
                Some(JobEvent::Progress { iterations, .. }) => bar.set(iterations),
                Some(JobEvent::Complete { .. }) => break Ok(()),
                Some(JobEvent::Failed(reason)) => break Err(reason),
                Some(JobEvent::Records(_)) => {}
                None => break Err("its events ended before it completed".to_owned()),
            }
        };
        bar.finish();
        drop(job);
        engine.shutdown()?;
        completed.map_err(|reason| nano_pipeline::Error::JobFailed {
            run: scenario.run_key(),
            reason,
        })?;
        return write_logged(
            log,
            scenario.run_key(),
            &orbit,
            args.run.steps,
            OrbitFormat::Oem,
            Vec::new(),
        );
    }
    let job = engine.submit_scenario(&scenario, args.run.steps, true)?;
    let mut out = orbit_writer(&args.run, &orbit)?;
    let mut bar = Progress::new("propagate", "steps", args.run.steps);
    engine.stream_records(&job, scenario.run_key(), args.run.steps, |r| {
        bar.set(r.iteration + 1);
        out.record(r)
    })?;
    let stops = out.stop_reports();
    out.finish()?;
    bar.finish();
    report_stops(&stops);
    drop(job);
    engine.shutdown()?;
    Ok(())
}

/// Says on stderr which catalogue objects SGP4 stopped, and when and why.
pub(super) fn report_stops(stops: &[ephemeris::StopReport]) {
    for stop in stops {
        eprintln!(
            "sedaro-nano: catalogue object {} ({}, body {}) has no states from t = {} s: SGP4 error {}: {}",
            stop.norad_id, stop.name, stop.body, stop.t_s, stop.code, stop.message
        );
    }
}

/// A writer of `orbit`'s run to stdout in `--format`, its states at `t = 0` written.
fn orbit_writer(
    run: &RunArgs,
    orbit: &OrbitScenario,
) -> io::Result<EphemerisWriter<io::BufWriter<io::StdoutLock<'static>>>> {
    let out = super::stdout();
    let mut writer =
        EphemerisWriter::begin(out, run.format, orbit, run.steps, &ephemeris::now_utc())?;
    writer.initial_states(orbit)?;
    Ok(writer)
}

fn propagate_dataflow(args: &PropagateArgs) -> anyhow::Result<()> {
    let run = &args.run;
    if args.cluster.process != 0 {
        anyhow::bail!(
            "propagate runs as process 0 of its cluster, not {}; start the others with `sedaro-nano worker`",
            args.cluster.process
        );
    }
    let log = match &args.data {
        Some(dir) => Some(open_log(dir, args.sync)?),
        None => None,
    };
    let (config, _screenings) =
        args.cluster
            .engine_config(args.block, log, DEFAULT_BLOCKS_BYTES)?;
    let engine = DataflowEngine::start(config)?;
    write_nano_run(run, "propagate", |sink| {
        Ok(engine.stream(RunKey::nano(run.seed), run.steps, sink)?)
    })?;
    engine.shutdown()?;
    Ok(())
}
