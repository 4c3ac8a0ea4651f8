//! `catalog check`: what a catalogue file holds, and what of it could not be read.

use std::io::Write;

use nano_pipeline::catalog::Catalog;

use crate::cli::CatalogCheckArgs;

/// Reads the file and prints its id, format and counts, the span of its epochs, then
/// every refused object (the object, the field and the rule). `Ok(false)` (exit 1)
/// when it holds no good object: the error says why, with the first refusals.
pub fn check(args: &CatalogCheckArgs) -> anyhow::Result<bool> {
    let bytes = std::fs::read(&args.file)
        .map_err(|e| anyhow::anyhow!("cannot read the catalogue {}: {e}", args.file.display()))?;
    let catalog = match Catalog::read(&bytes, args.format) {
        Ok(catalog) => catalog,
        Err(e) => {
            eprintln!("sedaro-nano: {}: {e}", args.file.display());
            return Ok(false);
        }
    };
    let first = catalog
        .objects
        .iter()
        .map(|o| o.epoch)
        .min_by_key(|e| e.unix_nanos());
    let last = catalog
        .objects
        .iter()
        .map(|o| o.epoch)
        .max_by_key(|e| e.unix_nanos());
    let mut out = super::stdout();
    if args.json {
        let report = serde_json::json!({
            "file": args.file.display().to_string(),
            "id": catalog.id,
            "format": catalog.format,
            "bytes": bytes.len(),
            "objects": catalog.objects.len(),
            "refused": catalog.refused,
            "epochs": {
                "first": first.map(|e| e.to_string()),
                "last": last.map(|e| e.to_string()),
            },
        });
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(out, "catalogue {}", args.file.display())?;
        writeln!(out, "  id       {}", catalog.id)?;
        writeln!(out, "  format   {}", catalog.format)?;
        writeln!(out, "  bytes    {}", bytes.len())?;
        writeln!(out, "  read     {} objects", catalog.objects.len())?;
        writeln!(out, "  refused  {} objects", catalog.refused.len())?;
        if let (Some(first), Some(last)) = (first, last) {
            writeln!(out, "  epochs   {first} .. {last}")?;
        }
        for refusal in &catalog.refused {
            writeln!(out, "refused: {refusal}")?;
        }
    }
    out.flush()?;
    Ok(true)
}
