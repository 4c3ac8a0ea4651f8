//! Versions of an orbit run: a manoeuvre's metadata, the manoeuvred body's states in
//! parts, and the version a manoeuvre's idempotency key made.

use super::{
    check, decode_key, seal, Invalid, Key, Reader, MANOEUVRE_KEY_SIZE, VERSION_PART_STATES,
    VERSION_SIZE, VERSION_STATES_HEADER,
};

/// A version of an orbit run after version 0: the manoeuvre that made it (tag `17`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Version {
    pub version: u32,
    pub parent: u32,
    /// The manoeuvred body.
    pub body: u32,
    /// The manoeuvre's time (seconds since the epoch) and impulse (km/s).
    pub t: f64,
    pub dv_kms: [f64; 3],
    /// The first output whose state this version replaces.
    pub from_output: u64,
    /// How many states it keeps: outputs `from_output .. from_output + states`.
    pub states: u64,
}

/// The value of a manoeuvre's idempotency key: the version it made and the digest of
/// the request that made it.
pub fn encode_manoeuvre_key(key: &[u8], version: u32, request: [u8; 16]) -> Vec<u8> {
    let mut value = Vec::with_capacity(MANOEUVRE_KEY_SIZE);
    value.extend_from_slice(&[0; 4]);
    value.extend_from_slice(&version.to_le_bytes());
    value.extend_from_slice(&request);
    seal(key, &mut value);
    value
}

/// Verifies and decodes [`encode_manoeuvre_key`]'s value.
pub fn decode_manoeuvre_key(key: &[u8], value: &[u8]) -> Result<(u32, [u8; 16]), Invalid> {
    if !matches!(decode_key(key), Ok(Key::ManoeuvreKey { .. })) {
        return Err("not a manoeuvre's key");
    }
    if value.len() != MANOEUVRE_KEY_SIZE {
        return Err("a manoeuvre's key of the wrong length");
    }
    check(key, value)?;
    let version = u32::from_le_bytes(value[4..8].try_into().expect("four bytes"));
    Ok((version, value[8..].try_into().expect("sixteen bytes")))
}

/// A version's metadata value, for its key.
pub fn encode_version(key: &[u8], v: &Version) -> Vec<u8> {
    let mut value = Vec::with_capacity(VERSION_SIZE);
    value.extend_from_slice(&[0; 4]);
    value.extend_from_slice(&v.parent.to_le_bytes());
    value.extend_from_slice(&v.body.to_le_bytes());
    value.extend_from_slice(&v.t.to_le_bytes());
    for x in v.dv_kms {
        value.extend_from_slice(&x.to_le_bytes());
    }
    value.extend_from_slice(&v.from_output.to_le_bytes());
    value.extend_from_slice(&v.states.to_le_bytes());
    seal(key, &mut value);
    value
}

/// Verifies and decodes a version's metadata.
pub fn decode_version(key: &[u8], value: &[u8]) -> Result<Version, Invalid> {
    let Ok(Key::Version { version, .. }) = decode_key(key) else {
        return Err("not a version key");
    };
    if value.len() != VERSION_SIZE {
        return Err("version of the wrong length");
    }
    check(key, value)?;
    let mut r = Reader(&value[4..]);
    Ok(Version {
        version,
        parent: r.u32(),
        body: r.u32(),
        t: r.f64(),
        dv_kms: [r.f64(), r.f64(), r.f64()],
        from_output: r.u64(),
        states: r.u64(),
    })
}

/// A part of a version's states (at most [`VERSION_PART_STATES`]), for its key.
pub fn encode_version_states(key: &[u8], states: &[[f64; 6]]) -> Vec<u8> {
    let mut value = Vec::with_capacity(VERSION_STATES_HEADER + 48 * states.len());
    value.extend_from_slice(&[0; 4]);
    value.extend_from_slice(&(states.len() as u32).to_le_bytes());
    for s in states {
        for x in s {
            value.extend_from_slice(&x.to_le_bytes());
        }
    }
    seal(key, &mut value);
    value
}

/// Verifies and decodes a part of a version's states.
pub fn decode_version_states(key: &[u8], value: &[u8]) -> Result<Vec<[f64; 6]>, Invalid> {
    if !matches!(decode_key(key), Ok(Key::VersionStates { .. })) {
        return Err("not a version-states key");
    }
    if value.len() < VERSION_STATES_HEADER {
        return Err("version states too short for their header");
    }
    check(key, value)?;
    let count = Reader(&value[4..8]).u32() as usize;
    if count == 0
        || count > VERSION_PART_STATES
        || value.len() != VERSION_STATES_HEADER + 48 * count
    {
        return Err("version states of the wrong length");
    }
    let mut r = Reader(&value[VERSION_STATES_HEADER..]);
    Ok((0..count)
        .map(|_| [r.f64(), r.f64(), r.f64(), r.f64(), r.f64(), r.f64()])
        .collect())
}
