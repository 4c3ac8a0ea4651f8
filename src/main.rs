//! The `sedaro-nano` command: parses the configuration, wires the crates together and
//! runs one subcommand.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use nano_pipeline::resume::{self, Source};
use nano_pipeline::{Format, Propagator, RunKey, RunWriter};
use nano_store::{CatalogEntry, Log, LogOptions, Sync};

/// sedaro-nano: a two-body propagation service (a Planet and an orbiting Satellite,
/// each on its own random time step).
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute one run and write its records to stdout; with --data, log it and reuse
    /// what the log already holds.
    Propagate(PropagateArgs),
    /// Write a logged run to stdout without computing anything.
    Replay(ReplayArgs),
    /// List the runs in the log.
    Runs(RunsArgs),
    /// Check every checksum of the log, and its catalog against its records.
    Verify(DataArgs),
}

/// Which run, and how to write it.
#[derive(Debug, Args)]
struct RunArgs {
    /// Iterations to run (at least 1). Each iteration visits the Planet, then the
    /// Satellite; an agent that is ahead of the other waits, so a run has between n
    /// and 2n records.
    #[arg(long, value_name = "N", value_parser = parse_steps, allow_negative_numbers = true)]
    steps: u64,

    /// Seed of the random time steps, an integer in 0..=18446744073709551615. The same
    /// (steps, seed) always gives the same records.
    #[arg(long, value_name = "S", default_value_t = 0, value_parser = parse_seed, allow_negative_numbers = true)]
    seed: u64,

    /// Output format: `json` (one document, the golden format) or `csv` (a header
    /// line, then one line per record).
    #[arg(long, value_name = "FORMAT", default_value_t = Format::Json)]
    format: Format,
}

#[derive(Debug, Args)]
struct PropagateArgs {
    #[command(flatten)]
    run: RunArgs,

    /// Log the run in this directory (created if missing), block by block; a run the
    /// log already holds in part continues from its last block, one it holds whole is
    /// replayed. Without --data nothing is written to disk.
    #[arg(long, value_name = "DIR", env = "NANO_DATA")]
    data: Option<PathBuf>,

    /// When the log is flushed to disk: `always` (after every block), `batch` (after
    /// each group of blocks written together; for one run, the same), or `never`
    /// (sled flushes about every half second; a crash may lose the latest blocks).
    #[arg(long, value_name = "MODE", default_value_t = Sync::Batch)]
    sync: Sync,

    /// Iterations per block: the unit in which the run is logged and made durable.
    #[arg(long, value_name = "B", default_value_t = resume::DEFAULT_BLOCK, value_parser = parse_steps)]
    block: u64,
}

#[derive(Debug, Args)]
struct DataArgs {
    /// The log's directory.
    #[arg(long, value_name = "DIR", env = "NANO_DATA", default_value = "./data")]
    data: PathBuf,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
struct RunsArgs {
    #[command(flatten)]
    data: DataArgs,

    /// Print the catalog as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// `--steps` takes a whole number of at least 1.
fn parse_steps(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) if text.starts_with('-') => Err("cannot be negative".into()),
        Err(e) => Err(format!("expected a whole number of at least 1 ({e})")),
    }
}

/// `--seed` takes any unsigned 64-bit integer.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("a seed is a whole number from 0 to {}", u64::MAX))
}

fn open_log(dir: &PathBuf, sync: Sync) -> anyhow::Result<Log> {
    let options = LogOptions {
        sync,
        ..LogOptions::default()
    };
    Ok(Log::open(dir, options)?)
}

fn stdout_writer(run: &RunArgs) -> io::Result<RunWriter<io::BufWriter<io::StdoutLock<'static>>>> {
    let out = io::BufWriter::with_capacity(1 << 16, io::stdout().lock());
    RunWriter::begin(out, run.format, run.steps, run.seed)
}

fn propagate(args: &PropagateArgs) -> anyhow::Result<()> {
    let run = &args.run;
    let Some(dir) = &args.data else {
        let mut out = stdout_writer(run)?;
        out.records(Propagator::new(run.seed, run.steps))?;
        out.finish()?;
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
    let mut out = stdout_writer(run)?;
    resume::propagate_logged(&log, key, run.steps, args.block, |r| out.record(r))?;
    out.finish()?;
    Ok(())
}

fn replay(args: &ReplayArgs) -> anyhow::Result<()> {
    let run = &args.run;
    let log = open_log(&args.data.data, Sync::Never)?;
    // Refuse before the first byte of output, so a missing run prints no half document.
    let mut records = log.replay(RunKey::nano(run.seed), 0..run.steps)?;
    let mut out = stdout_writer(run)?;
    records.try_for_each(|r| anyhow::Ok(out.record(&r?)?))?;
    out.finish()?;
    Ok(())
}

fn runs(args: &RunsArgs) -> anyhow::Result<()> {
    let log = open_log(&args.data.data, Sync::Never)?;
    let catalog = log.catalog()?;
    let mut out = io::stdout().lock();
    if args.json {
        let entries: Vec<_> = catalog.iter().map(entry_json).collect();
        serde_json::to_writer_pretty(&mut out, &entries)?;
        writeln!(out)?;
        return Ok(());
    }
    if catalog.is_empty() {
        writeln!(out, "no runs logged in {}", args.data.data.display())?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<6} {:>20} {:>12} {:>12} {:>12} {:<9} {:<20}",
        "MODEL", "SEED", "ITERATIONS", "TARGET", "RECORDS", "STATUS", "UPDATED (UTC)"
    )?;
    for e in &catalog {
        writeln!(
            out,
            "{:<6} {:>20} {:>12} {:>12} {:>12} {:<9} {:<20}",
            e.run.model.name(),
            e.run.seed,
            e.iterations,
            e.target,
            e.records,
            if e.complete() { "complete" } else { "partial" },
            nano_store::catalog::utc(e.updated_ms),
        )?;
    }
    Ok(())
}

fn entry_json(e: &CatalogEntry) -> serde_json::Value {
    serde_json::json!({
        "model": e.run.model.name(),
        "seed": e.run.seed,
        "iterations": e.iterations,
        "target": e.target,
        "records": e.records,
        "complete": e.complete(),
        "created": nano_store::catalog::utc(e.created_ms),
        "updated": nano_store::catalog::utc(e.updated_ms),
    })
}

fn verify(args: &DataArgs) -> anyhow::Result<bool> {
    let log = open_log(&args.data, Sync::Never)?;
    let report = log.verify()?;
    print!("{}: {report}", args.data.display());
    Ok(report.is_ok())
}

fn main() -> ExitCode {
    // A panic is a bug (or sled meeting damaged files, which the store turns into an
    // error): say it in one line, not with a backtrace banner.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("sedaro-nano: internal failure: {info}");
    }));
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Propagate(args) => propagate(args).map(|()| true),
        Command::Replay(args) => replay(args).map(|()| true),
        Command::Runs(args) => runs(args).map(|()| true),
        Command::Verify(args) => verify(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // A reader that stops early (`| head`) is not a failure.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(io::stderr(), "sedaro-nano: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<io::Error>()
            .or_else(|| match cause.downcast_ref() {
                Some(nano_pipeline::Error::Output(io)) => Some(io),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
