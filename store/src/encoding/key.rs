//! Keys: every key the log writes, built from its parts, and decoded back.

#[cfg(doc)]
use super::GROUP_BODIES;
use super::{
    Invalid, CATALOG, CHECKPOINT, CHUNK, DOCUMENT, ELEMENT_FILE, ELEMENT_FILE_PART, FRAME,
    MANOEUVRE_KEY, PACK, RUN_LEN, RUN_PREFIX_LEN, SCREENING, SERIES, TIME_INDEX, VERSION,
    VERSION_STATES,
};
use crate::run::{Model, RunId, RunKey};

/// A key of the log, decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key {
    Catalog(RunKey),
    Chunk {
        run: RunKey,
        first_iteration: u64,
        body: u32,
        part: u16,
    },
    TimeIndex {
        run: RunKey,
        body: u32,
        t0: f64,
    },
    Checkpoint {
        run: RunKey,
        slot: u32,
    },
    Document(RunKey),
    Series {
        run: RunKey,
        n: u64,
        points: u32,
        part: u16,
    },
    Frame {
        run: RunKey,
        first_iteration: u64,
        /// The frame's first body: a multiple of [`GROUP_BODIES`].
        body: u32,
        part: u16,
    },
    Pack {
        run: RunKey,
        pack: u32,
    },
    Version {
        run: RunKey,
        version: u32,
    },
    VersionStates {
        run: RunKey,
        version: u32,
        part: u32,
    },
    /// The version a manoeuvre with an idempotency key (its digest) made.
    ManoeuvreKey {
        run: RunKey,
        key: [u8; 16],
    },
    Screening {
        run: RunKey,
        version: u32,
        d_bits: u64,
        part: u16,
    },
    /// A kept element-set file's metadata (its id: 16 bytes of its content's digest).
    ElementFile {
        id: [u8; 16],
    },
    /// Part `part` of a kept element-set file's bytes.
    ElementFilePart {
        id: [u8; 16],
        part: u32,
    },
}

fn run_prefix(tag: u8, run: RunKey) -> [u8; RUN_PREFIX_LEN] {
    let mut key = [0u8; RUN_PREFIX_LEN];
    key[0] = tag;
    key[1] = run.model as u8;
    key[2..].copy_from_slice(&run.id.0);
    key
}

/// The catalog key of `run`.
pub fn catalog_key(run: RunKey) -> [u8; RUN_PREFIX_LEN] {
    run_prefix(CATALOG, run)
}

/// The first byte of every catalog key.
pub const CATALOG_TAG: u8 = CATALOG;

/// The key of `run`'s scenario document.
pub fn document_key(run: RunKey) -> [u8; RUN_PREFIX_LEN] {
    run_prefix(DOCUMENT, run)
}

/// The prefix every chunk key of `run` starts with.
pub fn chunk_prefix(run: RunKey) -> [u8; RUN_PREFIX_LEN] {
    run_prefix(CHUNK, run)
}

/// The prefix every checkpoint key of `run` starts with.
pub fn checkpoint_prefix(run: RunKey) -> [u8; RUN_PREFIX_LEN] {
    run_prefix(CHECKPOINT, run)
}

/// Bytes of a chunk key that name its block: chunks sharing them are one block's.
pub const BLOCK_KEY_LEN: usize = RUN_PREFIX_LEN + 8;

/// The key of part `part` of `body`'s records in the block starting at
/// `first_iteration`.
pub fn chunk_key(run: RunKey, first_iteration: u64, body: u32, part: u16) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..RUN_PREFIX_LEN].copy_from_slice(&chunk_prefix(run));
    key[18..26].copy_from_slice(&first_iteration.to_be_bytes());
    key[26..30].copy_from_slice(&body.to_be_bytes());
    key[30..].copy_from_slice(&part.to_be_bytes());
    key
}

/// The prefix every time-index key of `run` and `body` starts with.
pub fn index_prefix(run: RunKey, body: u32) -> [u8; 22] {
    let mut key = [0u8; 22];
    key[..RUN_PREFIX_LEN].copy_from_slice(&run_prefix(TIME_INDEX, run));
    key[18..].copy_from_slice(&body.to_be_bytes());
    key
}

/// The time-index key of `body`'s chunk that starts at time `t0`; later chunks sort
/// first.
pub fn index_key(run: RunKey, body: u32, t0: f64) -> [u8; 30] {
    let mut key = [0u8; 30];
    key[..22].copy_from_slice(&index_prefix(run, body));
    key[22..].copy_from_slice(&(!ordered(t0)).to_be_bytes());
    key
}

/// The last possible time-index key of `run` and `body`.
pub fn index_end(run: RunKey, body: u32) -> [u8; 30] {
    let mut key = [0xFF; 30];
    key[..22].copy_from_slice(&index_prefix(run, body));
    key
}

/// The key of checkpoint slot `slot` of `run`.
pub fn checkpoint_key(run: RunKey, slot: u32) -> [u8; 22] {
    let mut key = [0u8; 22];
    key[..RUN_PREFIX_LEN].copy_from_slice(&checkpoint_prefix(run));
    key[18..].copy_from_slice(&slot.to_be_bytes());
    key
}

/// The prefix every frame key of `run` starts with.
pub fn frame_prefix(run: RunKey) -> [u8; RUN_PREFIX_LEN] {
    run_prefix(FRAME, run)
}

/// The key of part `part` of the frame of bodies from `body` (a multiple of
/// [`GROUP_BODIES`]) in the block starting at `first_iteration`.
pub fn frame_key(run: RunKey, first_iteration: u64, body: u32, part: u16) -> [u8; 32] {
    let mut key = chunk_key(run, first_iteration, body, part);
    key[0] = FRAME;
    key
}

/// The prefix every checkpoint pack key of `run` starts with.
pub fn pack_prefix(run: RunKey) -> [u8; RUN_PREFIX_LEN] {
    run_prefix(PACK, run)
}

/// The key of checkpoint pack `pack` of `run`.
pub fn pack_key(run: RunKey, pack: u32) -> [u8; 22] {
    let mut key = checkpoint_key(run, pack);
    key[0] = PACK;
    key
}

/// The prefix every part of `run`'s series of its first `n` iterations at `points`
/// points starts with.
pub fn series_prefix(run: RunKey, n: u64, points: u32) -> [u8; 30] {
    let mut key = [0u8; 30];
    key[..RUN_PREFIX_LEN].copy_from_slice(&run_prefix(SERIES, run));
    key[18..26].copy_from_slice(&n.to_be_bytes());
    key[26..30].copy_from_slice(&points.to_be_bytes());
    key
}

/// The key of part `part` of a series.
pub fn series_key(run: RunKey, n: u64, points: u32, part: u16) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..30].copy_from_slice(&series_prefix(run, n, points));
    key[30..].copy_from_slice(&part.to_be_bytes());
    key
}

/// Maps a double to a `u64` with the same order (`-0.0` and `0.0` map alike); NaN has
/// no place in the order and must not be passed.
pub fn ordered(t: f64) -> u64 {
    let bits = (t + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

pub(super) fn unordered(key: u64) -> f64 {
    f64::from_bits(if key >> 63 == 1 {
        key & !(1 << 63)
    } else {
        !key
    })
}

/// The key of version `version`'s metadata (`version >= 1`).
pub fn version_key(run: RunKey, version: u32) -> [u8; 22] {
    let mut key = [0u8; 22];
    key[..RUN_PREFIX_LEN].copy_from_slice(&run_prefix(VERSION, run));
    key[18..].copy_from_slice(&version.to_be_bytes());
    key
}

/// The prefix every version key of `run` starts with.
pub fn version_prefix(run: RunKey) -> [u8; RUN_PREFIX_LEN] {
    run_prefix(VERSION, run)
}

/// The key of part `part` of version `version`'s states.
pub fn version_states_key(run: RunKey, version: u32, part: u32) -> [u8; 26] {
    let mut key = [0u8; 26];
    key[..RUN_PREFIX_LEN].copy_from_slice(&run_prefix(VERSION_STATES, run));
    key[18..22].copy_from_slice(&version.to_be_bytes());
    key[22..].copy_from_slice(&part.to_be_bytes());
    key
}

/// The key under which a manoeuvre's idempotency key (`digest`, 16 bytes of its
/// digest) names the version it made.
pub fn manoeuvre_key(run: RunKey, digest: [u8; 16]) -> [u8; 34] {
    let mut key = [0u8; 34];
    key[..RUN_PREFIX_LEN].copy_from_slice(&run_prefix(MANOEUVRE_KEY, run));
    key[18..].copy_from_slice(&digest);
    key
}

/// The prefix every part of version `version`'s states starts with.
pub fn version_states_prefix(run: RunKey, version: u32) -> [u8; 22] {
    let mut key = [0u8; 22];
    key.copy_from_slice(&version_states_key(run, version, 0)[..22]);
    key
}

/// The prefix every part of version `version`'s screening at `d_bits` starts with.
pub fn screening_prefix(run: RunKey, version: u32, d_bits: u64) -> [u8; 30] {
    let mut key = [0u8; 30];
    key[..RUN_PREFIX_LEN].copy_from_slice(&run_prefix(SCREENING, run));
    key[18..22].copy_from_slice(&version.to_be_bytes());
    key[22..].copy_from_slice(&d_bits.to_be_bytes());
    key
}

/// The key of part `part` of a screening.
pub fn screening_key(run: RunKey, version: u32, d_bits: u64, part: u16) -> [u8; 32] {
    let mut key = [0u8; 32];
    key[..30].copy_from_slice(&screening_prefix(run, version, d_bits));
    key[30..].copy_from_slice(&part.to_be_bytes());
    key
}

/// The key of the element-set file `id`'s metadata.
pub fn element_file_key(id: [u8; 16]) -> [u8; 17] {
    let mut key = [0u8; 17];
    key[0] = ELEMENT_FILE;
    key[1..].copy_from_slice(&id);
    key
}

/// The first byte of every element-set file's metadata key.
pub const ELEMENT_FILE_TAG: u8 = ELEMENT_FILE;

/// The prefix every part of the element-set file `id` starts with.
pub fn element_part_prefix(id: [u8; 16]) -> [u8; 17] {
    let mut key = element_file_key(id);
    key[0] = ELEMENT_FILE_PART;
    key
}

/// The key of part `part` of the element-set file `id`.
pub fn element_part_key(id: [u8; 16], part: u32) -> [u8; 21] {
    let mut key = [0u8; 21];
    key[..17].copy_from_slice(&element_part_prefix(id));
    key[17..].copy_from_slice(&part.to_be_bytes());
    key
}

pub(super) fn be_u64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().expect("eight bytes"))
}

pub(super) fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes.try_into().expect("four bytes"))
}

/// Decodes any key of the log.
pub fn decode_key(key: &[u8]) -> Result<Key, Invalid> {
    let (&tag, rest) = key.split_first().ok_or("empty key")?;
    // Element-set files belong to no run: their keys hold no model.
    match (tag, rest.len()) {
        (ELEMENT_FILE, 16) => {
            return Ok(Key::ElementFile {
                id: rest.try_into().expect("sixteen bytes"),
            })
        }
        (ELEMENT_FILE_PART, 20) => {
            return Ok(Key::ElementFilePart {
                id: rest[..16].try_into().expect("sixteen bytes"),
                part: be_u32(&rest[16..]),
            })
        }
        (ELEMENT_FILE | ELEMENT_FILE_PART, _) => return Err("key of an unknown kind"),
        _ => {}
    }
    if !(CATALOG..=MANOEUVRE_KEY).contains(&tag) {
        return Err("key of an unknown kind");
    }
    let model = Model::from_tag(*rest.first().ok_or("key without a model")?)
        .ok_or("key of an unknown model")?;
    let id: [u8; 16] = rest
        .get(1..RUN_LEN)
        .ok_or("key without a run id")?
        .try_into()
        .expect("sixteen bytes");
    let run = RunKey {
        model,
        id: RunId(id),
    };
    let tail = &rest[RUN_LEN..];
    match (tag, tail.len()) {
        (CATALOG, 0) => Ok(Key::Catalog(run)),
        (DOCUMENT, 0) => Ok(Key::Document(run)),
        (CHUNK, 14) => Ok(Key::Chunk {
            run,
            first_iteration: be_u64(&tail[..8]),
            body: be_u32(&tail[8..12]),
            part: u16::from_be_bytes([tail[12], tail[13]]),
        }),
        (TIME_INDEX, 12) => Ok(Key::TimeIndex {
            run,
            body: be_u32(&tail[..4]),
            t0: unordered(!be_u64(&tail[4..])),
        }),
        (CHECKPOINT, 4) => Ok(Key::Checkpoint {
            run,
            slot: be_u32(tail),
        }),
        (SERIES, 14) => Ok(Key::Series {
            run,
            n: be_u64(&tail[..8]),
            points: be_u32(&tail[8..12]),
            part: u16::from_be_bytes([tail[12], tail[13]]),
        }),
        (VERSION, 4) => Ok(Key::Version {
            run,
            version: be_u32(tail),
        }),
        (VERSION_STATES, 8) => Ok(Key::VersionStates {
            run,
            version: be_u32(&tail[..4]),
            part: be_u32(&tail[4..]),
        }),
        (SCREENING, 14) => Ok(Key::Screening {
            run,
            version: be_u32(&tail[..4]),
            d_bits: be_u64(&tail[4..12]),
            part: u16::from_be_bytes([tail[12], tail[13]]),
        }),
        (FRAME, 14) => Ok(Key::Frame {
            run,
            first_iteration: be_u64(&tail[..8]),
            body: be_u32(&tail[8..12]),
            part: u16::from_be_bytes([tail[12], tail[13]]),
        }),
        (PACK, 4) => Ok(Key::Pack {
            run,
            pack: be_u32(tail),
        }),
        (MANOEUVRE_KEY, 16) => Ok(Key::ManoeuvreKey {
            run,
            key: tail.try_into().expect("sixteen bytes"),
        }),
        _ => Err("key of an unknown kind"),
    }
}
