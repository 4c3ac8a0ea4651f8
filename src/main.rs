//! The `sedaro-nano` command: parses the configuration, wires the crates together and
//! runs one subcommand.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use nano_pipeline::{Format, Propagator, RunWriter};

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
    /// Compute one run and write its records to stdout.
    Propagate(PropagateArgs),
}

#[derive(Debug, Args)]
struct PropagateArgs {
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

/// `--steps` takes a whole number of at least 1.
fn parse_steps(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("a run needs at least 1 step".into()),
        Ok(n) => Ok(n),
        Err(_) if text.starts_with('-') => Err("steps cannot be negative".into()),
        Err(e) => Err(format!("expected a whole number of at least 1 ({e})")),
    }
}

/// `--seed` takes any unsigned 64-bit integer.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .map_err(|_| format!("a seed is a whole number from 0 to {}", u64::MAX))
}

fn propagate(args: &PropagateArgs) -> anyhow::Result<()> {
    let stdout = io::stdout().lock();
    let mut out = RunWriter::begin(
        io::BufWriter::with_capacity(1 << 16, stdout),
        args.format,
        args.steps,
        args.seed,
    )?;
    out.records(Propagator::new(args.seed, args.steps))?;
    out.finish()?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Propagate(args) => propagate(args).context("writing the run to stdout"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
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
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
