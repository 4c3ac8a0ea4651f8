//! Screenings kept for a version: their parts, laid out as a series' are.

use super::{check, decode_key, Invalid, Key, Reader, SERIES_HEADER, SERIES_PART_BYTES};

/// Verifies and decodes a screening part: the whole screening's length and this
/// part's bytes.
pub fn decode_screening_part<'a>(key: &[u8], value: &'a [u8]) -> Result<(u64, &'a [u8]), Invalid> {
    if !matches!(decode_key(key), Ok(Key::Screening { .. })) {
        return Err("not a screening key");
    }
    if value.len() < SERIES_HEADER || value.len() > SERIES_HEADER + SERIES_PART_BYTES {
        return Err("screening part of the wrong length");
    }
    check(key, value)?;
    let total = Reader(&value[4..]).u64();
    let bytes = &value[SERIES_HEADER..];
    if (bytes.len() as u64) > total || (bytes.is_empty() && total != 0) {
        return Err("screening part longer than its screening, or empty in a non-empty one");
    }
    Ok((total, bytes))
}
