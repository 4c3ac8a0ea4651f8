//! `runs` and `verify`: what the log holds, and whether its checksums hold.

use std::io::{self, Write};

use nano_store::{CatalogEntry, Sync};

use super::open_log;
use crate::cli::{DataArgs, RunsArgs};
use crate::progress;

/// `runs`: the log's catalog, as a table or JSON.
pub fn runs(args: &RunsArgs) -> anyhow::Result<()> {
    let log = open_log(&args.data.data, Sync::Never)?;
    let catalog = log.catalog()?;
    let mut out = io::stdout().lock();
    if args.json {
        let entries: Vec<_> = catalog.iter().map(CatalogEntry::summary).collect();
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
            // An orbit run's id (32 hex digits) in the seed's column.
            e.run
                .seed()
                .map_or_else(|| e.run.id.hex(), |seed| seed.to_string()),
            e.iterations,
            e.target,
            e.records,
            if e.complete() { "complete" } else { "partial" },
            nano_store::catalog::utc(e.updated_ms),
        )?;
    }
    Ok(())
}

/// `verify`: the log checked; `false` when it is damaged.
pub fn verify(args: &DataArgs) -> anyhow::Result<bool> {
    let log = open_log(&args.data, Sync::Never)?;
    let report = progress::while_running("verify", || log.verify())?;
    print!("{}: {report}", args.data.display());
    Ok(report.is_ok())
}
