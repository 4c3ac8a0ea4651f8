//! Catalog entries: one per run.

use super::{catalog_key, check, decode_key, seal, Invalid, Key, Reader, CATALOG_SIZE};
use crate::catalog::CatalogEntry;

/// The catalog entry's bytes, for the key of its run.
pub fn encode_catalog(entry: &CatalogEntry) -> Vec<u8> {
    let key = catalog_key(entry.run);
    let mut out = Vec::with_capacity(CATALOG_SIZE);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&entry.bodies.to_le_bytes());
    for v in [
        entry.target,
        entry.iterations,
        entry.records,
        entry.created_ms,
        entry.updated_ms,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    seal(&key, &mut out);
    out
}

/// Verifies and decodes a catalog entry.
pub fn decode_catalog(key: &[u8], value: &[u8]) -> Result<CatalogEntry, Invalid> {
    let Ok(Key::Catalog(run)) = decode_key(key) else {
        return Err("not a catalog key");
    };
    if value.len() != CATALOG_SIZE {
        return Err("catalog entry of the wrong length");
    }
    check(key, value)?;
    let mut r = Reader(&value[4..]);
    let bodies = r.u32();
    let (target, iterations, records, created_ms, updated_ms) =
        (r.u64(), r.u64(), r.u64(), r.u64(), r.u64());
    Ok(CatalogEntry {
        run,
        bodies,
        target,
        iterations,
        records,
        created_ms,
        updated_ms,
    })
}
