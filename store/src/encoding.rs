//! The log's byte format: every key and value the log writes, and nothing else.
//!
//! All of the log lives in one sled tree, so that a block's records (with their time
//! index), the run's checkpoint and its catalog entry are written by one atomic batch. Keys
//! start with a tag and sort by run, then by position within the run. A run is its
//! model's tag (one byte) and its 16-byte id ([`RunId`]); in the table, `run` is those
//! 17 bytes:
//!
//! | key | value |
//! |---|---|
//! | `11` run | catalog entry: `crc u32, bodies u32`, then `target, iterations, records, created_ms, updated_ms` as `u64` |
//! | `12` run first-iteration body part | chunk: up to [`PART_RECORDS`] of one block's records of one body |
//! | `13` run body !t0 | time index: the block and part of the chunk starting at `t0` |
//! | `14` run slot | checkpoint slot of a nano run: `crc u32`, then bytes the model defines (nano has one slot) |
//! | `15` run | the scenario's canonical document: `crc u32`, then UTF-8 text |
//! | `16` run n points part | series: part `part` of a view computed from the run's first `n` iterations (the page's decimated series of at most `points` points) |
//! | `17` run version | a version of an orbit run after a manoeuvre: `crc u32, parent u32, body u32, t f64, dv_kms 3 f64, from_output u64, states u64` |
//! | `18` run version part | the manoeuvred body's states of that version: part `part` of its states from `from_output` on, `crc u32, count u32`, then `count` states of 6 `f64` |
//! | `19` run version d_bits part | a screening kept for whoever computed it (the web service's conjunctions of a version at distance `f64::from_bits(d_bits)`), cut like a series |
//! | `1A` run first-iteration body part | frame: the states of bodies `body ..` ([`GROUP_BODIES`] of them) over up to [`FRAME_STEPS`] output steps of one block of an orbit run |
//! | `1B` run pack | checkpoint pack of an orbit run: its slots (one per body) in order, up to [`PACK_BYTES`] a pack |
//! | `1C` run key | the version a manoeuvre sent with an `Idempotency-Key` made: `key` is 16 bytes of the key's digest; `crc u32, version u32`, then 16 bytes of the request's digest (written in the version's own last batch, with its metadata) |
//!
//! Integers in keys are big-endian (so byte order is numeric order: the first
//! iteration `u64`, the body and the slot `u32`, the part `u16`); `t0` is a double
//! mapped to a `u64` whose byte order is numeric order, then inverted (`!t0`), so that
//! the time index runs from the latest chunk to the earliest: the chunk holding time
//! `t` is the first key at or after `!t`, a forward seek (sled's reverse iteration is
//! several times slower). Values are little-endian and start with a CRC-32 over the key
//! and the rest of the value, so a flipped bit, a truncated value or a value under the
//! wrong key is detected on every read.
//!
//! A block's records for one body are cut into parts of at most [`PART_RECORDS`]
//! records, so that values stay small: sled keeps small values inside its tree nodes,
//! but writes a large one (and a node holding several) as a blob file of its own and
//! rewrites it whole, which more than tripled the log's size on disk with one chunk
//! per block. A leaf of sled's tree holds up to 17 keys, and sled writes a node larger
//! than 128 KiB (a quarter of its 512 KiB segment) as a blob, whose bytes its page
//! cache does not count: 112 records (5.8 KiB) per part keep a full leaf inline, so
//! the cache's bound holds (`store/vendor/sled/PATCH.md`). Parts of any count read the
//! same (logs of version 1 had parts of up to 256 records).
//!
//! A chunk is `crc u32, count u32, t0 f64, end u64` (the block's exclusive last
//! iteration) then `count` records of `8 + 8 w + 4` bytes: `t1` and the `w` words of
//! the state ([`Model::state_words`]: 5 for nano, 6 for orbit) as `f64`, and the
//! iteration as a `u32` offset from the chunk's first iteration. A record's `t0` is
//! not stored: a body's records tile its timeline, so it is the previous record's
//! `t1` (the chunk's `t0` for the first).
//!
//! A version of an orbit run (made by a manoeuvre: `docs/orbits.md`, "Manoeuvres and
//! versions") is the run as propagated (version 0, its frames) changed by manoeuvres:
//! version `V >= 1` is version `V - 1` with one body's states from output `from_output`
//! on replaced by the `states` stored under `18`, at most [`VERSION_PART_STATES`] a
//! part (the reason chunks are cut). The state at output `k` is `t_k = k *
//! output_step_s`, which the store does not know: it keeps the six words, the model the
//! times. A version's `18` parts are written first, in bounded batches, and its `17`
//! last: the metadata is the version's commit, so a version without it was never whole
//! and is not one (its parts are removed by the next write of that version). Versions
//! are written after their parent's. Screening results (`19`) are derived, and laid out
//! as series parts are; `d_bits` is big-endian, so a version's screenings sort by the
//! distance's bits.
//!
//! # Frames
//!
//! An orbit run's records are arithmetic: the record of iteration `k` spans
//! `[k h, (k + 1) h)` (`h` the output step, the times computed as `k as f64 * h`), every
//! body has one in every iteration, and a block is whole rounds of all bodies. So
//! neither the times nor the iteration nor the body need be stored, and the record
//! holding time `t` is found by arithmetic, not by an index. An orbit run whose first
//! block is such rounds (exactly, bit for bit) is kept as frames, and every later block
//! must be so too ([`crate::Error::InvalidBlock`] otherwise); an orbit run of any other
//! shape is kept as chunks, as a nano run is.
//!
//! A frame is `crc u32, step f64, end u64, bodies u32` (the output step `h`, the
//! block's exclusive last iteration, the bodies it holds) then, by iteration then body,
//! each state's `w` words as `f64`: 48 bytes a state. The frames of a block cut its
//! bodies into groups of [`GROUP_BODIES`] (the last may hold fewer) and its iterations
//! into parts of [`FRAME_STEPS`]: part `p` of the block from iteration `f` holds
//! iterations `f + 18 p ..`, so that the frame holding body `b`'s record of iteration
//! `k` has the key `(f, b - b % 8, (k - f) / 18)`, found once the block is (one backward
//! seek in the frame keys). Frames of 144 states (6.9 KiB) keep a full leaf of 17 below
//! sled's 128 KiB blob threshold, as chunk parts do. Where version 2 wrote, per body
//! and epoch, a chunk, a time-index entry and a checkpoint slot (60,000 keys an epoch
//! of a 20,000-satellite constellation), frames and packs are 5,000: what sled keeps
//! in memory per page and segment grows with the keys (`tests/memory.rs`).
//!
//! A checkpoint pack is `crc u32, count u32`, then `count` slots each as `len u32` and
//! its bytes. Slots are packed in order, a pack closed before it would pass
//! [`PACK_BYTES`] (a larger slot is a pack of its own); packs past the latest
//! checkpoint's are deleted in its batch.
//!
//! A series is bytes the log keeps for whoever computed them (the web service keeps
//! the page's decimated series, so that a page view costs no scan of the run): the log
//! does not read them, only checks them. They are cut into parts of at most
//! [`SERIES_PART_BYTES`] (below a chunk part, for the same reason as chunks), each
//! `crc u32, total u64` (the whole series' length, so that a missing part is seen)
//! then its bytes.
//!
//! # Versions
//!
//! This is format version 3 ([`FORMAT_VERSION`]). Version 2 (before frames) kept
//! orbit runs as nano runs are kept: chunks of records with a time index, and one
//! checkpoint slot per body under tag `14`. A version-2 log is converted on open: each
//! orbit run's slots move into packs (one batch a run); then, if every block of the
//! run is whole rounds at one output step (read through once first), its chunks become
//! frames, a block a batch that deletes the block's chunks and time-index entries, so
//! that a conversion cut short is finished by the next open (which takes the step from
//! the frames already written). Other runs, and orbit runs with a damaged chunk, are
//! left as they are. Nano runs are byte for byte as in version 2.
//!
//! Version 1 (before orbit scenarios) knew only the nano model: its keys were tags `01`
//! to `03` with the run as `model u8, seed u64` and the agent as one byte, and its
//! catalog entry carried the nano checkpoint. A version-1 log is converted on open
//! ([`v1`]): each of its values moves under its version-2 key (same chunk and index
//! bytes; the catalog's checkpoint becomes the nano checkpoint's slot 0, byte for byte;
//! a series moves under tag `16`), in batches that each delete what they convert, so
//! that a conversion cut short is finished by the next open (then converted on to
//! version 3). Tags `01` to `04` are version 1's and never written since.

use crate::catalog::CatalogEntry;
use crate::record::{Record, State};
use crate::run::{Model, RunId, RunKey, MAX_STATE_WORDS};

/// The version of this format; a log of a later version is refused on open, one of
/// version 1 or 2 converted.
pub const FORMAT_VERSION: u32 = 3;

/// The default tree's key for the format version.
pub const VERSION_KEY: &[u8] = b"sedaro-nano/format-version";

/// The default tree's key for the count of commits (see [`crate::mark`]).
pub const COMMITS_KEY: &[u8] = b"sedaro-nano/commits";

const CATALOG: u8 = 0x11;
const CHUNK: u8 = 0x12;
const TIME_INDEX: u8 = 0x13;
const CHECKPOINT: u8 = 0x14;
const DOCUMENT: u8 = 0x15;
const SERIES: u8 = 0x16;
const VERSION: u8 = 0x17;
const VERSION_STATES: u8 = 0x18;
const SCREENING: u8 = 0x19;

/// The most states one part of a version's states holds (a chunk part's 112 records
/// of 68 bytes, in states of 48).
pub const VERSION_PART_STATES: usize = 150;
const VERSION_SIZE: usize = 4 + 4 + 4 + 8 + 3 * 8 + 8 + 8;
const VERSION_STATES_HEADER: usize = 4 + 4;
const FRAME: u8 = 0x1A;
const PACK: u8 = 0x1B;
const MANOEUVRE_KEY: u8 = 0x1C;
const MANOEUVRE_KEY_SIZE: usize = 4 + 4 + 16;

/// The most bytes of a series one part holds.
pub const SERIES_PART_BYTES: usize = 5 << 10;
const SERIES_HEADER: usize = 4 + 8;

/// The most records one chunk holds.
pub const PART_RECORDS: usize = 112;

/// The bodies of one frame: a frame holds bodies `g * GROUP_BODIES ..` of its block.
pub const GROUP_BODIES: u32 = 8;

/// The most output steps one frame holds: part `p` of a block holds its iterations
/// `first + p * FRAME_STEPS ..` (144 states of 48 bytes: 6.9 KiB, so that a full leaf
/// of 17 frames stays below sled's 128 KiB blob threshold).
pub const FRAME_STEPS: u64 = 18;

/// The most bytes of checkpoint slots one pack holds (whole slots, at least one).
pub const PACK_BYTES: usize = 6 << 10;

/// Bytes of one record of a model with `words` state words in a chunk.
pub const fn record_size(words: usize) -> usize {
    8 + 8 * words + 4
}

const CHUNK_HEADER: usize = 4 + 4 + 8 + 8;
const FRAME_HEADER: usize = 4 + 8 + 8 + 4;
const PACK_HEADER: usize = 4 + 4;
const CATALOG_SIZE: usize = 4 + 4 + 5 * 8;
const INDEX_SIZE: usize = 4 + 8 + 2;
/// Bytes of a run in a key: the model's tag and the id.
const RUN_LEN: usize = 17;
/// Bytes of the tag and run that start every key.
pub const RUN_PREFIX_LEN: usize = 1 + RUN_LEN;

/// Why bytes could not be decoded.
pub type Invalid = &'static str;

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
}

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

fn unordered(key: u64) -> f64 {
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

fn be_u64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().expect("eight bytes"))
}

fn be_u32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes.try_into().expect("four bytes"))
}

/// Decodes any key of the log.
pub fn decode_key(key: &[u8]) -> Result<Key, Invalid> {
    let (&tag, rest) = key.split_first().ok_or("empty key")?;
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

fn checksum(key: &[u8], body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key);
    hasher.update(body);
    hasher.finalize()
}

/// Writes the checksum of `key` and `value[4..]` into `value[..4]`.
fn seal(key: &[u8], value: &mut [u8]) {
    let crc = checksum(key, &value[4..]);
    value[..4].copy_from_slice(&crc.to_le_bytes());
}

/// Checks a value's checksum against its key.
fn check(key: &[u8], value: &[u8]) -> Result<(), Invalid> {
    if value.len() < 4 {
        return Err("value too short for its checksum");
    }
    let stored = u32::from_le_bytes(value[..4].try_into().expect("four bytes"));
    if stored == checksum(key, &value[4..]) {
        Ok(())
    } else {
        Err("checksum mismatch")
    }
}

/// Reads little-endian fields in order from a slice whose length was checked.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        head.try_into().expect("length checked before reading")
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.take())
    }
}

/// Appends the chunk for `key` holding `records` (one body's, in order, all from the
/// block `[first_iteration, end)`), each with the `words` state words of its model,
/// to `out`. The records may be a slice or a strided walk over a block's records
/// (one body of a block by iteration then body), so that no copy groups them first.
pub fn encode_chunk<'r, I>(
    key: &[u8],
    words: usize,
    first_iteration: u64,
    end: u64,
    records: I,
    out: &mut Vec<u8>,
) where
    I: IntoIterator<Item = &'r Record>,
    I::IntoIter: ExactSizeIterator + Clone,
{
    let records = records.into_iter();
    let start = out.len();
    out.reserve(CHUNK_HEADER + records.len() * record_size(words));
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    out.extend_from_slice(&records.clone().next().map_or(0.0, |r| r.t0).to_le_bytes());
    out.extend_from_slice(&end.to_le_bytes());
    for r in records {
        out.extend_from_slice(&r.t1.to_le_bytes());
        for w in &r.state[..words] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&((r.iteration - first_iteration) as u32).to_le_bytes());
    }
    seal(key, &mut out[start..]);
}

/// A chunk whose checksum and length were verified; records decode from it on demand.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub body: u32,
    pub first_iteration: u64,
    pub part: u16,
    /// The exclusive last iteration of the block the chunk belongs to.
    pub end: u64,
    /// Where the chunk's first record starts.
    pub t0: f64,
    words: usize,
    records: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Verifies and opens the chunk stored under `key`.
    pub fn parse(key: &[u8], value: &'a [u8]) -> Result<Chunk<'a>, Invalid> {
        let Ok(Key::Chunk {
            run,
            body,
            first_iteration,
            part,
        }) = decode_key(key)
        else {
            return Err("not a chunk key");
        };
        if value.len() < CHUNK_HEADER {
            return Err("chunk shorter than its header");
        }
        check(key, value)?;
        let words = run.model.state_words();
        let mut header = Reader(&value[4..CHUNK_HEADER]);
        let count = header.u32() as usize;
        let t0 = header.f64();
        let end = header.u64();
        let records = &value[CHUNK_HEADER..];
        if records.len() != count * record_size(words) {
            return Err("chunk length does not match its record count");
        }
        // A record's iteration is the key's first iteration plus a u32 offset; no run
        // comes near 2^64 iterations, so a key this close to it is damage, and refusing
        // it keeps that sum from overflowing.
        if first_iteration.checked_add(u32::MAX as u64).is_none() {
            return Err("chunk key's first iteration is beyond any run");
        }
        Ok(Chunk {
            body,
            first_iteration,
            part,
            end,
            t0,
            words,
            records,
        })
    }

    fn size(&self) -> usize {
        record_size(self.words)
    }

    /// How many records the chunk holds.
    pub fn len(&self) -> usize {
        self.records.len() / self.size()
    }

    /// Whether the chunk holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Where the chunk's last record ends.
    pub fn end_time(&self) -> Option<f64> {
        (!self.is_empty()).then(|| self.t1(self.len() - 1))
    }

    fn t1(&self, i: usize) -> f64 {
        Reader(&self.records[i * self.size()..]).f64()
    }

    /// Record `i`, whose `t0` is `t0` (the previous record's `t1`, or the chunk's).
    fn record_from(&self, i: usize, t0: f64) -> Record {
        let size = self.size();
        let mut r = Reader(&self.records[i * size..(i + 1) * size]);
        let t1 = r.f64();
        let mut state: State = [0.0; MAX_STATE_WORDS];
        for w in &mut state[..self.words] {
            *w = r.f64();
        }
        let offset = r.u32();
        Record {
            t0,
            t1,
            body: self.body,
            iteration: self.first_iteration + offset as u64,
            state,
        }
    }

    /// Every record, in order.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let mut t0 = self.t0;
        (0..self.len()).map(move |i| {
            let record = self.record_from(i, t0);
            t0 = record.t1;
            record
        })
    }

    /// Record `i` (which must be below [`Chunk::len`]).
    pub fn record(&self, i: usize) -> Record {
        self.record_from(i, if i == 0 { self.t0 } else { self.t1(i - 1) })
    }

    /// Where in the chunk the record whose range contains `t` is, found by binary
    /// search on the ends.
    pub fn locate(&self, t: f64) -> Option<usize> {
        if self.is_empty() || t.is_nan() || t < self.t0 {
            return None;
        }
        // The first record ending after `t` contains it: the one before ends at or
        // before `t`, and that end is this record's start.
        let i = partition_point(self.len(), |i| self.t1(i) <= t);
        (i < self.len()).then_some(i)
    }

    /// The record whose range contains `t`.
    pub fn find(&self, t: f64) -> Option<Record> {
        self.locate(t).map(|i| self.record(i))
    }
}

/// The first index in `0..len` where `before` is false (it must be true, then false).
fn partition_point(len: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The iteration of a run written as frames whose record's range
/// `[k * step, (k + 1) * step)` contains `t`; `None` before `0` (and for NaN).
pub fn iteration_at(t: f64, step: f64) -> Option<u64> {
    if t.is_nan() || t < 0.0 || step.is_nan() || step <= 0.0 {
        return None;
    }
    let guess = (t / step).floor();
    if guess.is_nan() || guess >= 9.0e15 {
        return None;
    }
    // The division may round across an end: the ends are `k as f64 * step`, exactly as
    // written, so the guess is moved until its range holds `t`.
    let mut k = guess as u64;
    while k > 0 && k as f64 * step > t {
        k -= 1;
    }
    while (k + 1) as f64 * step <= t {
        k += 1;
    }
    Some(k)
}

/// Appends the frame for `key` (a frame key) to `out`: the states of `bodies` bodies
/// over some output steps of a block ending at `end`, of a run whose record of
/// iteration `k` spans `[k * step, (k + 1) * step)`. `rows` are the frame's records,
/// one slice of its `bodies` bodies per iteration; only their states are kept.
pub fn encode_frame<'r>(
    key: &[u8],
    words: usize,
    step: f64,
    end: u64,
    bodies: u32,
    rows: impl Iterator<Item = &'r [Record]>,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&step.to_le_bytes());
    out.extend_from_slice(&end.to_le_bytes());
    out.extend_from_slice(&bodies.to_le_bytes());
    for row in rows {
        out.reserve(row.len() * 8 * words);
        for r in row {
            for w in &r.state[..words] {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
    }
    seal(key, &mut out[start..]);
}

/// A frame whose checksum and shape were verified: the states of bodies
/// `first_body .. first_body + bodies` over iterations `first .. first + steps` of a
/// run written as frames; records decode from it on demand.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The block's first iteration (the key's).
    pub block: u64,
    /// The exclusive last iteration of the block.
    pub end: u64,
    pub part: u16,
    /// The output step: record `k` spans `[k * step, (k + 1) * step)`.
    pub step: f64,
    pub first_body: u32,
    pub bodies: u32,
    /// The frame's first iteration.
    pub first: u64,
    pub steps: u64,
    words: usize,
    states: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Verifies and opens the frame stored under `key`.
    pub fn parse(key: &[u8], value: &'a [u8]) -> Result<Frame<'a>, Invalid> {
        let Ok(Key::Frame {
            run,
            first_iteration,
            body,
            part,
        }) = decode_key(key)
        else {
            return Err("not a frame key");
        };
        if value.len() < FRAME_HEADER {
            return Err("frame shorter than its header");
        }
        check(key, value)?;
        let words = run.model.state_words();
        let mut header = Reader(&value[4..FRAME_HEADER]);
        let step = header.f64();
        let end = header.u64();
        let bodies = header.u32();
        if !(step > 0.0 && step.is_finite()) {
            return Err("frame with an output step that is not a positive number");
        }
        if bodies == 0 || bodies > GROUP_BODIES || body % GROUP_BODIES != 0 {
            return Err("frame of a group of bodies that is not one");
        }
        let first = (part as u64)
            .checked_mul(FRAME_STEPS)
            .and_then(|offset| first_iteration.checked_add(offset))
            .filter(|&first| first < end && end < 1 << 53)
            .ok_or("frame outside its block")?;
        let steps = (end - first).min(FRAME_STEPS);
        let states = &value[FRAME_HEADER..];
        if states.len() as u64 != steps * bodies as u64 * 8 * words as u64 {
            return Err("frame length does not match its steps and bodies");
        }
        Ok(Frame {
            block: first_iteration,
            end,
            part,
            step,
            first_body: body,
            bodies,
            first,
            steps,
            words,
            states,
        })
    }

    /// The record of iteration `iteration` (in the frame) of the frame's `j`-th body.
    pub fn record(&self, iteration: u64, j: u32) -> Record {
        let at = ((iteration - self.first) as usize * self.bodies as usize + j as usize)
            * 8
            * self.words;
        let mut r = Reader(&self.states[at..at + 8 * self.words]);
        let mut state: State = [0.0; MAX_STATE_WORDS];
        for w in &mut state[..self.words] {
            *w = r.f64();
        }
        Record {
            t0: iteration as f64 * self.step,
            t1: (iteration + 1) as f64 * self.step,
            body: self.first_body + j,
            iteration,
            state,
        }
    }

    /// Every record, by iteration then body.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        (self.first..self.first + self.steps)
            .flat_map(move |k| (0..self.bodies).map(move |j| self.record(k, j)))
    }

    /// How many records the frame holds.
    pub fn len(&self) -> usize {
        (self.steps * self.bodies as u64) as usize
    }

    /// Whether the frame holds no record (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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

/// The time-index value: the block (its first iteration) and part of the chunk the key
/// points to.
pub fn encode_index(key: &[u8], first_iteration: u64, part: u16) -> [u8; INDEX_SIZE] {
    let mut value = [0u8; INDEX_SIZE];
    value[4..12].copy_from_slice(&first_iteration.to_le_bytes());
    value[12..].copy_from_slice(&part.to_le_bytes());
    seal(key, &mut value);
    value
}

/// Verifies and decodes a time-index value.
pub fn decode_index(key: &[u8], value: &[u8]) -> Result<(u64, u16), Invalid> {
    if value.len() != INDEX_SIZE {
        return Err("time-index entry of the wrong length");
    }
    check(key, value)?;
    let mut r = Reader(&value[4..]);
    Ok((r.u64(), u16::from_le_bytes(r.take())))
}

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

/// Version 1 of the format, read only to convert it (see "Versions" above).
///
/// | key | value |
/// |---|---|
/// | `01` model seed | catalog entry: `crc, target, iterations, records, created_ms, updated_ms`, then the nano checkpoint (242 bytes) |
/// | `02` model seed first-iteration agent part | chunk, as in version 2 (nano records of 52 bytes) |
/// | `03` model seed agent !t0 | time index, as in version 2 |
/// | `04` model seed n points part | a series, as in version 2 |
///
/// `model` was one byte (nano, 1), `seed` a `u64`, `agent` one byte (0 Planet, 1
/// Satellite: version 2's bodies 0 and 1).
pub mod v1 {
    use super::*;

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NANO: usize = 5;

    fn record(body: u32, iteration: u64, t0: f64, t1: f64, k: f64) -> Record {
        Record {
            t0,
            t1,
            body,
            iteration,
            state: [k, -k, 1.0 / k, k * k, 0.01 * k, 0.0],
        }
    }

    #[test]
    fn the_order_map_keeps_numeric_order() {
        let values = [
            f64::NEG_INFINITY,
            -1e300,
            -2.5,
            -1e-300,
            0.0,
            1e-300,
            0.5,
            3.0,
            f64::INFINITY,
        ];
        for pair in values.windows(2) {
            assert!(ordered(pair[0]) < ordered(pair[1]), "{pair:?}");
            assert!(
                index_key(RunKey::nano(1), 0, pair[0]) > index_key(RunKey::nano(1), 0, pair[1])
            );
        }
        assert_eq!(ordered(-0.0), ordered(0.0));
        for v in values {
            assert_eq!(unordered(ordered(v)), v);
        }
    }

    #[test]
    fn keys_round_trip_and_sort_by_run_then_position() {
        let run = RunKey::nano(u64::MAX - 3);
        let orbit = RunKey::orbit(RunId([7; 16]));
        assert_eq!(decode_key(&catalog_key(run)), Ok(Key::Catalog(run)));
        assert_eq!(decode_key(&document_key(orbit)), Ok(Key::Document(orbit)));
        assert_eq!(
            decode_key(&checkpoint_key(orbit, 70_000)),
            Ok(Key::Checkpoint {
                run: orbit,
                slot: 70_000
            })
        );
        let key = chunk_key(orbit, 4096, 1583, 3);
        assert_eq!(
            decode_key(&key),
            Ok(Key::Chunk {
                run: orbit,
                first_iteration: 4096,
                body: 1583,
                part: 3
            })
        );
        assert_eq!(
            decode_key(&index_key(run, 1, 1.25)),
            Ok(Key::TimeIndex {
                run,
                body: 1,
                t0: 1.25
            })
        );
        assert!(chunk_key(run, 255, 1, 0) < chunk_key(run, 256, 0, 0));
        assert!(chunk_key(run, 7, 255, 0) < chunk_key(run, 7, 256, 0));
        assert!(chunk_key(RunKey::nano(1), u64::MAX, 1, 0) < chunk_key(RunKey::nano(2), 0, 0, 0));
        assert!(catalog_key(RunKey::nano(u64::MAX)) < catalog_key(orbit));
        assert!(decode_key(b"").is_err());
        assert!(decode_key(&[CHUNK, 1, 0, 0]).is_err());
        assert!(decode_key(&[9; 19]).is_err());
        // Version 1's tags are not version 2's keys.
        assert!(decode_key(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 7]).is_err());
    }

    #[test]
    fn chunks_round_trip_and_find_by_time() {
        for (run, words) in [(RunKey::nano(3), NANO), (RunKey::orbit(RunId([1; 16])), 6)] {
            let key = chunk_key(run, 100, 0, 0);
            let mut records = [
                record(0, 100, 1.0, 1.5, 1.0),
                record(0, 102, 1.5, 1.6, 2.0),
                record(0, 103, 1.6, 2.5, 3.0),
            ];
            for r in &mut records {
                r.state[words..].fill(0.0);
            }
            let mut bytes = Vec::new();
            encode_chunk(&key, words, 100, 104, &records, &mut bytes);
            assert_eq!(bytes.len(), CHUNK_HEADER + 3 * record_size(words));
            let chunk = Chunk::parse(&key, &bytes).unwrap();
            assert_eq!((chunk.len(), chunk.end, chunk.t0), (3, 104, 1.0));
            assert_eq!(chunk.records().collect::<Vec<_>>(), records);
            assert_eq!(chunk.find(1.0), Some(records[0]));
            assert_eq!(chunk.find(1.55), Some(records[1]));
            assert_eq!(chunk.find(1.6), Some(records[2]));
            assert_eq!(chunk.find(0.99), None);
            assert_eq!(chunk.find(2.5), None);
            assert_eq!(chunk.find(f64::NAN), None);
        }
        // A nano record is 52 bytes, as in version 1.
        assert_eq!(record_size(Model::Nano.state_words()), 52);
    }

    #[test]
    fn a_value_under_another_key_or_with_a_flipped_bit_is_refused() {
        let run = RunKey::nano(3);
        let key = chunk_key(run, 0, 0, 0);
        let mut bytes = Vec::new();
        encode_chunk(&key, NANO, 0, 1, &[record(0, 0, 0.0, 0.5, 1.0)], &mut bytes);
        let elsewhere = chunk_key(run, 0, 1, 0);
        assert_eq!(
            Chunk::parse(&elsewhere, &bytes).unwrap_err(),
            "checksum mismatch"
        );
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[i] ^= 1 << bit;
                assert!(Chunk::parse(&key, &flipped).is_err(), "byte {i} bit {bit}");
            }
        }
        assert!(Chunk::parse(&key, &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn catalog_entries_round_trip_and_detect_damage() {
        let run = RunKey::nano(42);
        let entry = CatalogEntry {
            run,
            bodies: 2,
            target: 10_000,
            iterations: 4096,
            records: 6500,
            created_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_500,
        };
        let key = catalog_key(run);
        let bytes = encode_catalog(&entry);
        assert_eq!(decode_catalog(&key, &bytes), Ok(entry));
        let mut damaged = bytes.clone();
        damaged[20] ^= 0x40;
        assert!(decode_catalog(&key, &damaged).is_err());
        assert!(decode_catalog(&catalog_key(RunKey::nano(43)), &bytes).is_err());
    }

    #[test]
    fn index_entries_round_trip_and_detect_damage() {
        let key = index_key(RunKey::nano(1), 1, 0.75);
        let value = encode_index(&key, 8192, 5);
        assert_eq!(decode_index(&key, &value), Ok((8192, 5)));
        let mut damaged = value;
        damaged[5] ^= 1;
        assert!(decode_index(&key, &damaged).is_err());
    }

    #[test]
    fn series_parts_round_trip_and_detect_damage() {
        let run = RunKey::nano(4);
        assert_eq!(
            decode_key(&series_key(run, 5_000_000, 5000, 7)),
            Ok(Key::Series {
                run,
                n: 5_000_000,
                points: 5000,
                part: 7
            })
        );
        assert!(series_key(run, 9, 5000, 255) < series_key(run, 9, 5000, 256));
        assert!(series_key(run, 9, 5000, u16::MAX) < series_key(run, 9, 5001, 0));
        assert!(series_key(run, 9, 5000, 0).starts_with(&series_prefix(run, 9, 5000)));
        let key = series_key(run, 100, 10, 2);
        let value = encode_part(&key, 12_000, b"{\"t\":[1.5]}");
        assert_eq!(
            decode_series_part(&key, &value),
            Ok((12_000, &b"{\"t\":[1.5]}"[..]))
        );
        let mut damaged = value.clone();
        damaged[14] ^= 1;
        assert_eq!(decode_series_part(&key, &damaged), Err("checksum mismatch"));
        let elsewhere = series_key(run, 100, 10, 3);
        assert!(decode_series_part(&elsewhere, &value).is_err());
        let longer = encode_part(&key, 3, b"four");
        assert_eq!(
            decode_series_part(&key, &longer),
            Err("series part longer than its series")
        );
        let empty = encode_part(&key, 3, b"");
        assert_eq!(
            decode_series_part(&key, &empty),
            Err("series part of the wrong length")
        );
    }

    #[test]
    fn checkpoints_and_documents_round_trip_and_detect_damage() {
        let run = RunKey::orbit(RunId([9; 16]));
        let key = checkpoint_key(run, 12);
        let value = encode_sealed(&key, b"integrator state");
        assert_eq!(decode_sealed(&key, &value), Ok(&b"integrator state"[..]));
        assert!(decode_sealed(&checkpoint_key(run, 13), &value).is_err());
        assert!(decode_sealed(&catalog_key(run), &value).is_err());
        let doc = document_key(run);
        assert_eq!(
            decode_sealed(&doc, &encode_sealed(&doc, b"{}")),
            Ok(&b"{}"[..])
        );
    }

    fn round(k: u64, bodies: u32, step: f64) -> Vec<Record> {
        (0..bodies)
            .map(|b| Record {
                t0: k as f64 * step,
                t1: (k + 1) as f64 * step,
                body: b,
                iteration: k,
                state: [k as f64, b as f64, -1.5, 1e-300, f64::MAX, 0.1 * b as f64],
            })
            .collect()
    }

    #[test]
    fn frames_round_trip_and_refuse_damage() {
        let run = RunKey::orbit(RunId([4; 16]));
        let step = 0.1;
        // Part 1 of the block [100, 130): iterations 118..130, bodies 16..21.
        let key = frame_key(run, 100, 16, 1);
        assert_eq!(
            decode_key(&key),
            Ok(Key::Frame {
                run,
                first_iteration: 100,
                body: 16,
                part: 1
            })
        );
        let rounds: Vec<Vec<Record>> = (118..130).map(|k| round(k, 21, step)).collect();
        let rows = rounds.iter().map(|r| &r[16..21]);
        let mut bytes = Vec::new();
        encode_frame(&key, 6, step, 130, 5, rows, &mut bytes);
        assert_eq!(bytes.len(), FRAME_HEADER + 12 * 5 * 48);
        let frame = Frame::parse(&key, &bytes).unwrap();
        assert_eq!((frame.first, frame.steps, frame.end), (118, 12, 130));
        let expected: Vec<Record> = rounds.iter().flat_map(|r| r[16..21].to_vec()).collect();
        assert_eq!(frame.records().collect::<Vec<_>>(), expected);
        assert_eq!(frame.record(125, 2), rounds[7][18]);
        // Under another key (another group, part or block), or with any bit flipped,
        // or cut short: refused.
        for other in [
            frame_key(run, 100, 8, 1),
            frame_key(run, 100, 16, 0),
            frame_key(run, 99, 16, 1),
        ] {
            assert!(Frame::parse(&other, &bytes).is_err());
        }
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 1 << (i % 8);
            assert!(Frame::parse(&key, &flipped).is_err(), "byte {i}");
        }
        assert!(Frame::parse(&key, &bytes[..bytes.len() - 48]).is_err());
        // A well-sealed frame of a shape its key cannot have is refused by name.
        let mut shape = Vec::new();
        encode_frame(
            &frame_key(run, 100, 16, 2),
            6,
            step,
            130,
            5,
            rounds.iter().map(|r| &r[16..21]),
            &mut shape,
        );
        assert_eq!(
            Frame::parse(&frame_key(run, 100, 16, 2), &shape).unwrap_err(),
            "frame outside its block"
        );
        let mut short = Vec::new();
        encode_frame(
            &key,
            6,
            step,
            130,
            5,
            rounds[..11].iter().map(|r| &r[16..21]),
            &mut short,
        );
        assert_eq!(
            Frame::parse(&key, &short).unwrap_err(),
            "frame length does not match its steps and bodies"
        );
    }

    #[test]
    fn the_iteration_at_a_time_is_the_one_whose_range_holds_it() {
        for step in [0.1, 0.3, 1.0, 10.0, 60.0, 1.0 / 3.0] {
            for k in [0u64, 1, 2, 3, 17, 18, 1_000, 8_639, 123_456_789] {
                let (t0, t1) = (k as f64 * step, (k + 1) as f64 * step);
                assert_eq!(iteration_at(t0, step), Some(k), "{k} x {step}");
                assert_eq!(iteration_at((t0 + t1) / 2.0, step), Some(k));
                let before = f64::from_bits(t1.to_bits() - 1);
                if before >= t0 {
                    assert_eq!(iteration_at(before, step), Some(k), "{k} x {step}");
                }
            }
        }
        assert_eq!(iteration_at(-1e-300, 1.0), None);
        assert_eq!(iteration_at(-0.0, 1.0), Some(0));
        assert_eq!(iteration_at(f64::NAN, 1.0), None);
        assert_eq!(iteration_at(f64::INFINITY, 1.0), None);
        assert_eq!(iteration_at(1.0, 0.0), None);
    }

    #[test]
    fn checkpoint_packs_round_trip_and_keep_whole_slots() {
        let run = RunKey::orbit(RunId([5; 16]));
        let slots: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 600 + i as usize]).collect();
        let ranges = pack_ranges(&slots);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(40));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
        for range in &ranges {
            let bytes: usize = slots[range.clone()].iter().map(|s| 4 + s.len()).sum();
            assert!(bytes <= PACK_BYTES);
            let key = pack_key(run, 3);
            let value = encode_pack(&key, &slots[range.clone()]);
            let back: Vec<Vec<u8>> = decode_pack(&key, &value)
                .unwrap()
                .into_iter()
                .map(<[u8]>::to_vec)
                .collect();
            assert_eq!(back, slots[range.clone()]);
            assert!(decode_pack(&pack_key(run, 4), &value).is_err());
            let mut damaged = value.clone();
            damaged[9] ^= 4;
            assert!(decode_pack(&key, &damaged).is_err());
        }
        // A slot larger than a pack is a pack of its own.
        let big = vec![vec![1u8; 10], vec![2u8; PACK_BYTES * 2], vec![3u8; 10]];
        assert_eq!(pack_ranges(&big), vec![0..1, 1..2, 2..3]);
        assert_eq!(
            decode_key(&pack_key(run, 7)),
            Ok(Key::Pack { run, pack: 7 })
        );
    }

    /// A version-1 key, as that format built it.
    fn v1_key(tag: u8, seed: u64, tail: &[u8]) -> Vec<u8> {
        let mut key = vec![tag, 1];
        key.extend_from_slice(&seed.to_be_bytes());
        key.extend_from_slice(tail);
        key
    }

    fn sealed_v1(key: &[u8], body: &[u8]) -> Vec<u8> {
        let mut value = vec![0; 4];
        value.extend_from_slice(body);
        seal(key, &mut value);
        value
    }

    #[test]
    fn version_1_values_convert_byte_for_byte_and_damage_stays_visible() {
        let run = RunKey::nano(5);
        // A chunk: version 1 wrote the same bytes after its checksum.
        let records = [record(1, 100, 1.0, 1.5, 1.0), record(1, 101, 1.5, 1.7, 2.0)];
        let mut v2 = Vec::new();
        let new_key = chunk_key(run, 100, 1, 3);
        encode_chunk(&new_key, NANO, 100, 110, &records, &mut v2);
        let old_key = v1_key(2, 5, &[0, 0, 0, 0, 0, 0, 0, 100, 1, 0, 3]);
        let old = sealed_v1(&old_key, &v2[4..]);
        let converted = v1::convert(&old_key, &old).unwrap();
        assert_eq!(converted, vec![(new_key.to_vec(), v2.clone())]);
        let mut damaged = old.clone();
        damaged[30] ^= 1;
        let [(key, value)] = &v1::convert(&old_key, &damaged).unwrap()[..] else {
            panic!("one value");
        };
        assert_eq!(Chunk::parse(key, value).unwrap_err(), "checksum mismatch");

        // A time-index entry.
        let t0 = (!ordered(1.0)).to_be_bytes();
        let old_key = v1_key(3, 5, &[[1].as_slice(), &t0].concat());
        let old = sealed_v1(&old_key, &[100, 0, 0, 0, 0, 0, 0, 0, 3, 0]);
        let [(key, value)] = &v1::convert(&old_key, &old).unwrap()[..] else {
            panic!("one value");
        };
        assert_eq!(key[..], index_key(run, 1, 1.0));
        assert_eq!(decode_index(key, value), Ok((100, 3)));

        // A catalog entry: its head becomes the entry, its checkpoint slot 0.
        let mut body = Vec::new();
        for v in [200u64, 110, 170, 1_000, 2_000] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        let checkpoint: Vec<u8> = (0..v1::CHECKPOINT_SIZE).map(|i| i as u8).collect();
        body.extend_from_slice(&checkpoint);
        let old_key = v1_key(1, 5, &[]);
        let converted = v1::convert(&old_key, &sealed_v1(&old_key, &body)).unwrap();
        assert_eq!(converted.len(), 2);
        let entry = decode_catalog(&converted[0].0, &converted[0].1).unwrap();
        assert_eq!(
            entry,
            CatalogEntry {
                run,
                bodies: 2,
                target: 200,
                iterations: 110,
                records: 170,
                created_ms: 1_000,
                updated_ms: 2_000
            }
        );
        assert_eq!(converted[1].0, checkpoint_key(run, 0));
        assert_eq!(
            decode_sealed(&converted[1].0, &converted[1].1),
            Ok(&checkpoint[..])
        );
        // A series moves under its new key.
        let old_key = v1_key(4, 5, &[0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 10, 0, 2]);
        let old = sealed_v1(
            &old_key,
            &[[20, 0, 0, 0, 0, 0, 0, 0].as_slice(), b"[1.5]"].concat(),
        );
        let [(key, value)] = &v1::convert(&old_key, &old).unwrap()[..] else {
            panic!("one value");
        };
        assert_eq!(key[..], series_key(run, 100, 10, 2));
        assert_eq!(decode_series_part(key, value), Ok((20, &b"[1.5]"[..])));
        // What is not version 1 is refused.
        assert!(v1::convert(&[2, 9, 0], b"x").is_err());
        assert!(v1::convert(&[7, 1, 0, 0, 0, 0, 0, 0, 0, 0], b"x").is_err());
    }

    /// A well-formed key of each kind the log writes, with the word its decoder's
    /// errors use for that kind, and the state words of its model.
    fn sealed_key() -> impl Strategy<Value = (Vec<u8>, &'static str, usize)> {
        let run = (any::<bool>(), any::<[u8; 16]>()).prop_map(|(nano, id)| RunKey {
            model: if nano { Model::Nano } else { Model::Orbit },
            id: RunId(id),
        });
        prop_oneof![
            run.clone()
                .prop_map(|run| (catalog_key(run).to_vec(), "catalog", 0)),
            (run.clone(), any::<u64>(), any::<u32>(), any::<u16>()).prop_map(
                |(run, first, body, part)| (
                    chunk_key(run, first, body, part).to_vec(),
                    "chunk",
                    run.model.state_words()
                )
            ),
            (run.clone(), any::<u32>(), any::<f64>()).prop_map(|(run, body, t0)| (
                index_key(run, body, t0).to_vec(),
                "time-index",
                0
            )),
            (run, any::<u64>(), any::<u32>(), any::<u16>()).prop_map(|(run, n, points, part)| (
                series_key(run, n, points, part).to_vec(),
                "series",
                0
            )),
        ]
    }

    proptest! {
        #[test]
        fn any_finite_record_survives_a_chunk(
            values in prop::array::uniform8(any::<f64>().prop_filter("finite", |v| v.is_finite())),
            offset in 0u32..u32::MAX,
            nano in any::<bool>(),
            body in any::<u32>(),
        ) {
            let (run, words) = if nano { (RunKey::nano(9), NANO) } else { (RunKey::orbit(RunId([3; 16])), 6) };
            let mut state = [0.0; MAX_STATE_WORDS];
            state[..words].copy_from_slice(&values[2..2 + words]);
            let r = Record { t0: values[0], t1: values[1], body, iteration: 7 + offset as u64, state };
            let key = chunk_key(run, 7, body, 0);
            let mut bytes = Vec::new();
            encode_chunk(&key, words, 7, 8 + offset as u64, &[r], &mut bytes);
            let chunk = Chunk::parse(&key, &bytes).unwrap();
            let back = chunk.records().next().unwrap();
            prop_assert_eq!(format!("{back:?}"), format!("{r:?}"));
        }

        /// Random bodies under a correct checksum, so that what decoding does after
        /// the checksum is exercised: it never panics, a value of the right shape
        /// decodes, and any other is refused with a reason that names the kind of
        /// value and what is wrong with it (never a checksum, which is right here).
        #[test]
        fn sealed_random_values_decode_or_say_what_is_wrong(
            (key, kind, words) in sealed_key(),
            shape in 0u8..3,
            records in 0usize..6,
            random_length in 4usize..400,
            body in prop::collection::vec(any::<u8>(), 400 + CATALOG_SIZE + 6 * record_size(6)),
            t in any::<f64>(),
        ) {
            // The value's length: arbitrary, or the one its kind needs.
            let length = match (shape, kind) {
                (0, _) => random_length,
                (_, "chunk") => CHUNK_HEADER + records * record_size(words),
                (_, "catalog") => CATALOG_SIZE,
                (_, "series") => SERIES_HEADER + 1 + records,
                (_, _) => INDEX_SIZE,
            };
            let mut value = body[..length].to_vec();
            // Shape 2 of a chunk: its record count agrees with its length.
            if shape == 2 && kind == "chunk" {
                value[4..8].copy_from_slice(&(records as u32).to_le_bytes());
            }
            // Shape 2 of a series: it claims fewer bytes than its part holds.
            if shape == 2 && kind == "series" {
                value[4..12].copy_from_slice(&(records as u64).to_le_bytes());
            }
            seal(&key, &mut value);
            prop_assert_eq!(check(&key, &value), Ok(()));
            // What makes a value of each kind well formed, from the layout above.
            let well_formed = match kind {
                "chunk" => {
                    let first = u64::from_be_bytes(key[18..26].try_into().unwrap());
                    value.len() >= CHUNK_HEADER
                        && value.len() - CHUNK_HEADER
                            == u32::from_le_bytes(value[4..8].try_into().unwrap()) as usize * record_size(words)
                        && first <= u64::MAX - u32::MAX as u64
                }
                "catalog" => value.len() == CATALOG_SIZE,
                "series" => {
                    let total = u64::from_le_bytes(value[4..12.min(value.len())].try_into().unwrap_or([0; 8]));
                    (SERIES_HEADER + 1..=SERIES_HEADER + SERIES_PART_BYTES).contains(&value.len())
                        && (value.len() - SERIES_HEADER) as u64 <= total
                }
                _ => value.len() == INDEX_SIZE,
            };
            let outcome = match kind {
                "chunk" => Chunk::parse(&key, &value).map(|chunk| {
                    let all: Vec<Record> = chunk.records().collect();
                    let _ = chunk.find(t);
                    (all.len(), chunk.len())
                }),
                "catalog" => decode_catalog(&key, &value).map(|e| (encode_catalog(&e).len(), CATALOG_SIZE)),
                "series" => decode_series_part(&key, &value)
                    .map(|(_, bytes)| (bytes.len(), value.len() - SERIES_HEADER)),
                _ => decode_index(&key, &value).map(|_| (0, 0)),
            };
            match outcome {
                Ok((decoded, expected)) => {
                    prop_assert!(well_formed, "a malformed {} decoded", kind);
                    prop_assert_eq!(decoded, expected);
                }
                Err(e) => {
                    prop_assert!(!well_formed, "a well-formed {} was refused as {:?}", kind, e);
                    prop_assert!(e.contains(kind), "{} refused as {:?}", kind, e);
                    prop_assert!(!e.contains("checksum"), "{} refused as {:?}", kind, e);
                }
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(key in prop::collection::vec(any::<u8>(), 0..40), value in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_key(&key);
            let _ = Chunk::parse(&key, &value).map(|c| c.records().count());
            let _ = decode_catalog(&key, &value);
            let _ = decode_index(&key, &value);
            let _ = decode_sealed(&key, &value);
            let _ = decode_series_part(&key, &value);
            let _ = Frame::parse(&key, &value).map(|f| f.records().count());
            let _ = decode_pack(&key, &value);
            let _ = v1::convert(&key, &value);
        }
    }
}
