//! Bytes kept in parts (a series, a screening): each part behind its checksum and the
//! whole's length.

use super::{check, seal, Invalid, Reader, SERIES_HEADER, SERIES_PART_BYTES};

/// A part's value of bytes kept in parts (a series, a screening): `bytes` (at most
/// [`SERIES_PART_BYTES`]) of a whole of `total` bytes.
pub fn encode_part(key: &[u8], total: u64, bytes: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(SERIES_HEADER + bytes.len());
    value.extend_from_slice(&[0; 4]);
    value.extend_from_slice(&total.to_le_bytes());
    value.extend_from_slice(bytes);
    seal(key, &mut value);
    value
}

/// Verifies and decodes a series part: the whole series' length and this part's bytes.
pub fn decode_series_part<'a>(key: &[u8], value: &'a [u8]) -> Result<(u64, &'a [u8]), Invalid> {
    if value.len() <= SERIES_HEADER || value.len() > SERIES_HEADER + SERIES_PART_BYTES {
        return Err("series part of the wrong length");
    }
    check(key, value)?;
    let total = Reader(&value[4..]).u64();
    let bytes = &value[SERIES_HEADER..];
    if (bytes.len() as u64) > total {
        return Err("series part longer than its series");
    }
    Ok((total, bytes))
}
