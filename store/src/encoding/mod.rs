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
//! | `19` run version d_bits part | a screening kept for whoever computed it (the web service's conjunctions of a version at distance `f64::from_bits(d_bits)`), cut like a series; the whole is its [`ScreenedPair`]s, 24 bytes each: `a u32, b u32, tca_s f64, miss_km f64` |
//! | `1A` run first-iteration body part | frame: the states of bodies `body ..` ([`GROUP_BODIES`] of them) over up to [`FRAME_STEPS`] output steps of one block of an orbit run |
//! | `1B` run pack | checkpoint pack of an orbit run: its slots (one per body) in order, up to [`PACK_BYTES`] a pack |
//! | `1C` run key | the version a manoeuvre sent with an `Idempotency-Key` made: `key` is 16 bytes of the key's digest; `crc u32, version u32`, then 16 bytes of the request's digest (written in the version's own last batch, with its metadata) |
//! | `1D` id | an element-set file's metadata (a catalogue of objects' elements, kept for whoever reads it): `crc u32, len u64, parts u32, content_crc u32`; `id` is 16 bytes the keeper names it by (the first 16 of its SHA-256) |
//! | `1E` id part | part `part` (a `u32`) of that file's bytes, cut like a series |
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
//! An element-set file (`1D`, `1E`) belongs to no run: it is bytes kept whole for the
//! pipeline, which reads catalogues of objects from them. Its parts (at most
//! [`SERIES_PART_BYTES`] each, so a file of 64 MiB is about 13,000 small values, never
//! one blob) are written first, in bounded batches, and its metadata last, as a
//! version's are: a file without metadata was never whole and is not kept (its parts
//! are removed by the next keep of that id). The metadata's `content_crc` is the
//! CRC-32 of the whole file, so that a part lost, repeated or swapped between files is
//! seen even when each part's own checksum holds. These keys came in format version 3
//! without a new version: they are new keys beside the runs' and change none of them; a
//! build from before them reads the runs as ever, and its `verify` names these keys
//! as of an unknown kind.
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

mod catalog;
mod checkpoint;
mod chunk;
mod element_file;
mod frame;
mod key;
mod parts;
mod screening;
pub mod v1;
mod version;

pub use catalog::{decode_catalog, encode_catalog};
pub use checkpoint::{decode_pack, decode_sealed, encode_pack, encode_sealed, pack_ranges};
pub use chunk::{decode_index, encode_chunk, encode_index, Chunk};
pub use element_file::{
    decode_element_file, decode_element_part, encode_element_file, ElementFile,
};
pub use frame::{encode_frame, iteration_at, Frame};
pub use key::{
    catalog_key, checkpoint_key, checkpoint_prefix, chunk_key, chunk_prefix, decode_key,
    document_key, element_file_key, element_part_key, element_part_prefix, frame_key, frame_prefix,
    index_end, index_key, index_prefix, manoeuvre_key, ordered, pack_key, pack_prefix,
    screening_key, screening_prefix, series_key, series_prefix, version_key, version_prefix,
    version_states_key, version_states_prefix, Key, BLOCK_KEY_LEN, CATALOG_TAG, ELEMENT_FILE_TAG,
};
pub use parts::{decode_series_part, encode_part};
pub use screening::{
    decode_screening, decode_screening_part, encode_screening, PartialScreening, ScreenedPair,
    SCREENED_PAIR_BYTES,
};
pub use version::{
    decode_manoeuvre_key, decode_version, decode_version_states, encode_manoeuvre_key,
    encode_version, encode_version_states, Version,
};

use key::{be_u32, be_u64};

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
const ELEMENT_FILE: u8 = 0x1D;
const ELEMENT_FILE_PART: u8 = 0x1E;
const ELEMENT_FILE_SIZE: usize = 4 + 8 + 4 + 4;

/// The largest element-set file the log keeps.
pub const ELEMENT_FILE_MAX_BYTES: usize = 64 << 20;

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

#[cfg(test)]
mod tests;
