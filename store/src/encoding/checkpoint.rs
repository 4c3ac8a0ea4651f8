//! Checkpoints: an orbit run's packs of slots, and the sealed values (a nano run's
//! checkpoint slot, a scenario document).

use super::{check, decode_key, seal, Invalid, Key, Reader, PACK_BYTES, PACK_HEADER};

/// Splits checkpoint slots into packs of at most [`PACK_BYTES`] (a larger slot is a
/// pack of its own): the ranges of slots each pack holds.
pub fn pack_ranges(slots: &[Vec<u8>]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut from, mut bytes) = (0, 0);
    for (i, slot) in slots.iter().enumerate() {
        let size = 4 + slot.len();
        if i > from && bytes + size > PACK_BYTES {
            ranges.push(from..i);
            (from, bytes) = (i, 0);
        }
        bytes += size;
    }
    if from < slots.len() {
        ranges.push(from..slots.len());
    }
    ranges
}

/// A checkpoint pack's value: `slots`, each behind its length.
pub fn encode_pack(key: &[u8], slots: &[Vec<u8>]) -> Vec<u8> {
    let bytes: usize = slots.iter().map(|s| 4 + s.len()).sum();
    let mut out = Vec::with_capacity(PACK_HEADER + bytes);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(slots.len() as u32).to_le_bytes());
    for slot in slots {
        out.extend_from_slice(&(slot.len() as u32).to_le_bytes());
        out.extend_from_slice(slot);
    }
    seal(key, &mut out);
    out
}

/// Verifies a checkpoint pack and returns its slots.
pub fn decode_pack<'a>(key: &[u8], value: &'a [u8]) -> Result<Vec<&'a [u8]>, Invalid> {
    let Ok(Key::Pack { .. }) = decode_key(key) else {
        return Err("not a checkpoint pack key");
    };
    if value.len() < PACK_HEADER {
        return Err("checkpoint pack shorter than its header");
    }
    check(key, value)?;
    let count = Reader(&value[4..PACK_HEADER]).u32() as usize;
    let mut rest = &value[PACK_HEADER..];
    let mut slots = Vec::with_capacity(count.min(rest.len() / 4));
    for _ in 0..count {
        if rest.len() < 4 {
            return Err("checkpoint pack shorter than its slots");
        }
        let len = Reader(&rest[..4]).u32() as usize;
        let slot = rest
            .get(4..4 + len)
            .ok_or("checkpoint pack shorter than its slots")?;
        slots.push(slot);
        rest = &rest[4 + len..];
    }
    if !rest.is_empty() || slots.is_empty() {
        return Err("checkpoint pack length does not match its slots");
    }
    Ok(slots)
}

/// A value that is `bytes` behind a checksum (a checkpoint part, a document), for `key`.
pub fn encode_sealed(key: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + bytes.len());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(bytes);
    seal(key, &mut out);
    out
}

/// Verifies a value written by [`encode_sealed`] and returns its bytes.
pub fn decode_sealed<'a>(key: &[u8], value: &'a [u8]) -> Result<&'a [u8], Invalid> {
    match decode_key(key) {
        Ok(Key::Checkpoint { .. } | Key::Document(_)) => {}
        _ => return Err("not a checkpoint or document key"),
    }
    check(key, value)?;
    Ok(&value[4..])
}
