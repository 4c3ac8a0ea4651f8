//! `accuracy`: the orbit integrators against the exact Kepler solution.

use std::io::{self, Write};

use nano_pipeline::orbit::accuracy;

use crate::cli::AccuracyArgs;

/// `accuracy`: the report, as a table or JSON.
pub fn run(args: &AccuracyArgs) -> anyhow::Result<()> {
    let rows = accuracy::report(args.orbits)?;
    let mut out = io::stdout().lock();
    if args.json {
        accuracy::write_json(&rows, args.orbits, &mut out)?;
    } else {
        accuracy::write_table(&rows, &mut out)?;
    }
    out.flush()?;
    Ok(())
}
