//! Version 1 of the format, read only to convert it (see "Versions" in [the format's
//! documentation](super)).
//!
//! | key | value |
//! |---|---|
//! | `01` model seed | catalog entry: `crc, target, iterations, records, created_ms, updated_ms`, then the nano checkpoint (242 bytes) |
//! | `02` model seed first-iteration agent part | chunk, as in version 2 (nano records of 52 bytes) |
//! | `03` model seed agent !t0 | time index, as in version 2 |
//! | `04` model seed n points part | a series, as in version 2 |
//!
//! `model` was one byte (nano, 1), `seed` a `u64`, `agent` one byte (0 Planet, 1
//! Satellite: version 2's bodies 0 and 1).

use super::*;
use crate::catalog::CatalogEntry;
use crate::run::{Model, RunKey};

/// The last key of version 1's tags: everything before it is to convert.
pub const END: [u8; 1] = [0x05];

/// The bodies of every version-1 run: the nano model's two agents.
const NANO_BODIES: u32 = 2;

/// The bytes of version 1's catalog entry before its checkpoint.
const ENTRY_HEAD: usize = 4 + 5 * 8;
/// The nano checkpoint's bytes in version 1's catalog entry: two cursors of
/// `steps u64`, the latest segment (7 `f64`), a flag byte, the previous one.
pub const CHECKPOINT_SIZE: usize = 2 * (8 + 7 * 8 + 1 + 7 * 8);

/// What one version-1 key becomes: its version-2 keys and values (none for what is
/// dropped).
pub type Converted = Vec<(Vec<u8>, Vec<u8>)>;

fn run_of(key: &[u8]) -> Result<(RunKey, &[u8]), Invalid> {
    if key.len() < 10 {
        return Err("version-1 key too short for its run");
    }
    if Model::from_tag(key[1]) != Some(Model::Nano) {
        return Err("version-1 key of an unknown model");
    }
    Ok((RunKey::nano(be_u64(&key[2..10])), &key[10..]))
}

/// Converts the version-1 `key` and `value`. A value that fails its version-1
/// checksum moves unchanged: under its new key its checksum fails as well, so the
/// damage stays visible to reads and `verify` rather than being sealed over.
pub fn convert(key: &[u8], value: &[u8]) -> Result<Converted, Invalid> {
    let tag = *key.first().ok_or("empty key")?;
    let (run, tail) = run_of(key)?;
    let sound = check(key, value).is_ok();
    let moved = |new_key: Vec<u8>| {
        let mut v = value.to_vec();
        if sound {
            seal(&new_key, &mut v);
        }
        (new_key, v)
    };
    match (tag, tail.len()) {
        (1, 0) => {
            let new_key = catalog_key(run).to_vec();
            if !sound || value.len() != ENTRY_HEAD + CHECKPOINT_SIZE {
                return Ok(vec![(new_key, value.to_vec())]);
            }
            let mut r = Reader(&value[4..ENTRY_HEAD]);
            let entry = CatalogEntry {
                run,
                bodies: NANO_BODIES,
                target: r.u64(),
                iterations: r.u64(),
                records: r.u64(),
                created_ms: r.u64(),
                updated_ms: r.u64(),
            };
            let slot = checkpoint_key(run, 0);
            Ok(vec![
                (new_key, encode_catalog(&entry)),
                (slot.to_vec(), encode_sealed(&slot, &value[ENTRY_HEAD..])),
            ])
        }
        (2, 11) => Ok(vec![moved(
            chunk_key(
                run,
                be_u64(&tail[..8]),
                tail[8] as u32,
                u16::from_be_bytes([tail[9], tail[10]]),
            )
            .to_vec(),
        )]),
        (4, 14) => Ok(vec![moved(
            series_key(
                run,
                be_u64(&tail[..8]),
                be_u32(&tail[8..12]),
                u16::from_be_bytes([tail[12], tail[13]]),
            )
            .to_vec(),
        )]),
        (3, 9) => {
            let mut new_key = index_prefix(run, tail[0] as u32).to_vec();
            new_key.extend_from_slice(&tail[1..]);
            Ok(vec![moved(new_key)])
        }
        _ => Err("version-1 key of an unknown kind"),
    }
}
