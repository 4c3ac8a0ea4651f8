//! The log's byte format: every key and value the log writes, and nothing else.
//!
//! All of the log lives in one sled tree, so that a block's records, their time index
//! and the run's catalog entry are written by one atomic batch. Keys start with a tag
//! and sort by run, then by position within the run:
//!
//! | key | value |
//! |---|---|
//! | `01` model seed | catalog entry |
//! | `02` model seed first-iteration agent part | chunk: up to [`PART_RECORDS`] of one block's records of one agent |
//! | `03` model seed agent !t0 | time index: the block and part of the chunk starting at `t0` |
//! | `04` model seed n points part | series: part `part` of a view computed from the run's first `n` iterations (the page's decimated series of at most `points` points) |
//!
//! Integers in keys are big-endian (so byte order is numeric order); `t0` is a double
//! mapped to a `u64` whose byte order is numeric order, then inverted (`!t0`), so that
//! the time index runs from the latest chunk to the earliest: the chunk holding time
//! `t` is the first key at or after `!t`, a forward seek (sled's reverse iteration is
//! several times slower). Values are little-endian and
//! start with a CRC-32 over the key and the rest of the value, so a flipped bit, a
//! truncated value or a value under the wrong key is detected on every read.
//!
//! A block's records for one agent are cut into parts of at most [`PART_RECORDS`]
//! records, so that values stay small: sled keeps small values inside its tree nodes,
//! but writes a large one (and a node holding several) as a blob file of its own and
//! rewrites it whole, which more than tripled the log's size on disk with one chunk
//! per block. A leaf of sled's tree holds up to 17 keys, and sled writes a node larger
//! than 128 KiB (a quarter of its 512 KiB segment) as a blob, whose bytes its page
//! cache does not count: 112 records (5.8 KiB) per part keep a full leaf inline, so
//! the cache's bound holds (`store/vendor/sled/PATCH.md`). Logs written with parts of
//! up to 256 records (before this) read the same.
//!
//! A chunk is `crc u32, count u32, t0 f64, end u64` (the block's exclusive last
//! iteration) then `count` records of 52 bytes: `t1, x, y, vx, vy, nextTimeStep` as
//! `f64` and the iteration as a `u32` offset from the chunk's first iteration. A
//! record's `t0` is not stored: an agent's records tile its timeline, so it is the
//! previous record's `t1` (the chunk's `t0` for the first).
//!
//! A series is bytes the log keeps for whoever computed them (the web service keeps
//! the page's decimated series, so that a page view costs no scan of the run): the log
//! does not read them, only checks them. They are cut into parts of at most
//! [`SERIES_PART_BYTES`] (below a chunk part, for the same reason as chunks), each
//! `crc u32, total u64` (the whole series' length, so that a missing part is seen)
//! then its bytes. The tag is new in this format version but changes nothing else:
//! logs without series read the same, and a build before it reads the runs of a log
//! with series the same (its `verify` would name the series keys as unknown).

use nalgebra::Vector2;

use crate::catalog::CatalogEntry;
use crate::record::{Agent, AgentState, Record};
use crate::run::{AgentCursor, Checkpoint, Model, RunKey, Segment};

/// The version of this format; a log of another version is refused on open.
pub const FORMAT_VERSION: u32 = 1;

/// The default tree's key for the format version.
pub const VERSION_KEY: &[u8] = b"sedaro-nano/format-version";

/// The default tree's key for the count of commits (see [`crate::mark`]).
pub const COMMITS_KEY: &[u8] = b"sedaro-nano/commits";

const CATALOG: u8 = 1;
const CHUNK: u8 = 2;
const TIME_INDEX: u8 = 3;
const SERIES: u8 = 4;

/// The most bytes of a series one part holds.
pub const SERIES_PART_BYTES: usize = 5 << 10;
const SERIES_HEADER: usize = 4 + 8;

/// The most records one chunk holds.
pub const PART_RECORDS: usize = 112;

/// Bytes of one record in a chunk.
pub const RECORD_SIZE: usize = 6 * 8 + 4;
const CHUNK_HEADER: usize = 4 + 4 + 8 + 8;
const SEGMENT_SIZE: usize = 7 * 8;
const CURSOR_SIZE: usize = 8 + SEGMENT_SIZE + 1 + SEGMENT_SIZE;
const CATALOG_SIZE: usize = 4 + 5 * 8 + 2 * CURSOR_SIZE;
const INDEX_SIZE: usize = 4 + 8 + 2;

/// Why bytes could not be decoded.
pub type Invalid = &'static str;

/// A key of the log, decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key {
    Catalog(RunKey),
    Chunk {
        run: RunKey,
        first_iteration: u64,
        agent: Agent,
        part: u16,
    },
    TimeIndex {
        run: RunKey,
        agent: Agent,
        t0: f64,
    },
    Series {
        run: RunKey,
        n: u64,
        points: u32,
        part: u16,
    },
}

fn run_prefix(tag: u8, run: RunKey) -> [u8; 10] {
    let mut key = [0u8; 10];
    key[0] = tag;
    key[1] = run.model as u8;
    key[2..10].copy_from_slice(&run.seed.to_be_bytes());
    key
}

/// The catalog key of `run`.
pub fn catalog_key(run: RunKey) -> [u8; 10] {
    run_prefix(CATALOG, run)
}

/// The prefix every chunk key of `run` starts with.
pub fn chunk_prefix(run: RunKey) -> [u8; 10] {
    run_prefix(CHUNK, run)
}

/// Bytes of a chunk key that name its block: chunks sharing them are one block's.
pub const BLOCK_KEY_LEN: usize = 18;

/// The key of part `part` of `agent`'s records in the block starting at
/// `first_iteration`.
pub fn chunk_key(run: RunKey, first_iteration: u64, agent: Agent, part: u16) -> [u8; 21] {
    let mut key = [0u8; 21];
    key[..10].copy_from_slice(&chunk_prefix(run));
    key[10..18].copy_from_slice(&first_iteration.to_be_bytes());
    key[18] = agent.index() as u8;
    key[19..].copy_from_slice(&part.to_be_bytes());
    key
}

/// The prefix every time-index key of `run` and `agent` starts with.
pub fn index_prefix(run: RunKey, agent: Agent) -> [u8; 11] {
    let mut key = [0u8; 11];
    key[..10].copy_from_slice(&run_prefix(TIME_INDEX, run));
    key[10] = agent.index() as u8;
    key
}

/// The time-index key of `agent`'s chunk that starts at time `t0`; later chunks sort
/// first.
pub fn index_key(run: RunKey, agent: Agent, t0: f64) -> [u8; 19] {
    let mut key = [0u8; 19];
    key[..11].copy_from_slice(&index_prefix(run, agent));
    key[11..19].copy_from_slice(&(!ordered(t0)).to_be_bytes());
    key
}

/// The last possible time-index key of `run` and `agent`.
pub fn index_end(run: RunKey, agent: Agent) -> [u8; 19] {
    let mut key = [0xFF; 19];
    key[..11].copy_from_slice(&index_prefix(run, agent));
    key
}

/// The prefix every part of `run`'s series of its first `n` iterations at `points`
/// points starts with.
pub fn series_prefix(run: RunKey, n: u64, points: u32) -> [u8; 22] {
    let mut key = [0u8; 22];
    key[..10].copy_from_slice(&run_prefix(SERIES, run));
    key[10..18].copy_from_slice(&n.to_be_bytes());
    key[18..22].copy_from_slice(&points.to_be_bytes());
    key
}

/// The key of part `part` of a series.
pub fn series_key(run: RunKey, n: u64, points: u32, part: u16) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..22].copy_from_slice(&series_prefix(run, n, points));
    key[22..].copy_from_slice(&part.to_be_bytes());
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

/// Decodes any key of the log.
pub fn decode_key(key: &[u8]) -> Result<Key, Invalid> {
    let (&tag, rest) = key.split_first().ok_or("empty key")?;
    let model = Model::from_tag(*rest.first().ok_or("key without a model")?)
        .ok_or("key of an unknown model")?;
    let seed = u64::from_be_bytes(
        rest.get(1..9)
            .ok_or("key without a seed")?
            .try_into()
            .expect("eight bytes"),
    );
    let run = RunKey { model, seed };
    let tail = &rest[9..];
    let agent = |index: u8| Agent::from_index(index as usize).ok_or("key of an unknown agent");
    match (tag, tail.len()) {
        (CATALOG, 0) => Ok(Key::Catalog(run)),
        (CHUNK, 11) => Ok(Key::Chunk {
            run,
            first_iteration: u64::from_be_bytes(tail[..8].try_into().expect("eight bytes")),
            agent: agent(tail[8])?,
            part: u16::from_be_bytes([tail[9], tail[10]]),
        }),
        (TIME_INDEX, 9) => Ok(Key::TimeIndex {
            run,
            agent: agent(tail[0])?,
            t0: unordered(!u64::from_be_bytes(
                tail[1..].try_into().expect("eight bytes"),
            )),
        }),
        (SERIES, 14) => Ok(Key::Series {
            run,
            n: u64::from_be_bytes(tail[..8].try_into().expect("eight bytes")),
            points: u32::from_be_bytes(tail[8..12].try_into().expect("four bytes")),
            part: u16::from_be_bytes([tail[12], tail[13]]),
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
    fn f64(&mut self) -> f64 {
        f64::from_le_bytes(self.take())
    }
}

fn put_f64s(out: &mut Vec<u8>, values: &[f64]) {
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends the chunk for `key` holding `records` (one agent's, in order, all from the
/// block `[first_iteration, end)`) to `out`.
pub fn encode_chunk(
    key: &[u8],
    first_iteration: u64,
    end: u64,
    records: &[Record],
    out: &mut Vec<u8>,
) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    put_f64s(out, &[records.first().map_or(0.0, |r| r.t0)]);
    out.extend_from_slice(&end.to_le_bytes());
    for r in records {
        let s = &r.state;
        put_f64s(
            out,
            &[
                r.t1,
                s.position.x,
                s.position.y,
                s.velocity.x,
                s.velocity.y,
                s.time_step,
            ],
        );
        out.extend_from_slice(&((r.iteration - first_iteration) as u32).to_le_bytes());
    }
    seal(key, &mut out[start..]);
}

/// A chunk whose checksum and length were verified; records decode from it on demand.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub agent: Agent,
    pub first_iteration: u64,
    pub part: u16,
    /// The exclusive last iteration of the block the chunk belongs to.
    pub end: u64,
    /// Where the chunk's first record starts.
    pub t0: f64,
    records: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Verifies and opens the chunk stored under `key`.
    pub fn parse(key: &[u8], value: &'a [u8]) -> Result<Chunk<'a>, Invalid> {
        let Ok(Key::Chunk {
            agent,
            first_iteration,
            part,
            ..
        }) = decode_key(key)
        else {
            return Err("not a chunk key");
        };
        if value.len() < CHUNK_HEADER {
            return Err("chunk shorter than its header");
        }
        check(key, value)?;
        let mut header = Reader(&value[4..CHUNK_HEADER]);
        let count = u32::from_le_bytes(header.take()) as usize;
        let t0 = header.f64();
        let end = header.u64();
        let records = &value[CHUNK_HEADER..];
        if records.len() != count * RECORD_SIZE {
            return Err("chunk length does not match its record count");
        }
        // A record's iteration is the key's first iteration plus a u32 offset; no run
        // comes near 2^64 iterations, so a key this close to it is damage, and refusing
        // it keeps that sum from overflowing.
        if first_iteration.checked_add(u32::MAX as u64).is_none() {
            return Err("chunk key's first iteration is beyond any run");
        }
        Ok(Chunk {
            agent,
            first_iteration,
            part,
            end,
            t0,
            records,
        })
    }

    /// How many records the chunk holds.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD_SIZE
    }

    /// Whether the chunk holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn t1(&self, i: usize) -> f64 {
        Reader(&self.records[i * RECORD_SIZE..]).f64()
    }

    /// Record `i`, whose `t0` is `t0` (the previous record's `t1`, or the chunk's).
    fn record_from(&self, i: usize, t0: f64) -> Record {
        let mut r = Reader(&self.records[i * RECORD_SIZE..(i + 1) * RECORD_SIZE]);
        let (t1, x, y, vx, vy, time_step) = (r.f64(), r.f64(), r.f64(), r.f64(), r.f64(), r.f64());
        let offset = u32::from_le_bytes(r.take());
        Record {
            t0,
            t1,
            agent: self.agent,
            state: AgentState {
                time: t1,
                time_step,
                position: Vector2::new(x, y),
                velocity: Vector2::new(vx, vy),
            },
            iteration: self.first_iteration + offset as u64,
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

    /// The record whose range contains `t`, found by binary search on the ends.
    pub fn find(&self, t: f64) -> Option<Record> {
        if self.is_empty() || t.is_nan() || t < self.t0 {
            return None;
        }
        // The first record ending after `t` contains it: the one before ends at or
        // before `t`, and that end is this record's start.
        let i = partition_point(self.len(), |i| self.t1(i) <= t);
        (i < self.len()).then(|| self.record_from(i, if i == 0 { self.t0 } else { self.t1(i - 1) }))
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

/// A series part's value: `bytes` (at most [`SERIES_PART_BYTES`]) of a series of
/// `total` bytes.
pub fn encode_series_part(key: &[u8], total: u64, bytes: &[u8]) -> Vec<u8> {
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

fn put_segment(out: &mut Vec<u8>, s: &Segment) {
    let st = &s.state;
    put_f64s(
        out,
        &[
            s.t0,
            s.t1,
            st.time_step,
            st.position.x,
            st.position.y,
            st.velocity.x,
            st.velocity.y,
        ],
    );
}

fn read_segment(r: &mut Reader) -> Segment {
    let (t0, t1, time_step) = (r.f64(), r.f64(), r.f64());
    let (x, y, vx, vy) = (r.f64(), r.f64(), r.f64(), r.f64());
    Segment {
        t0,
        t1,
        state: AgentState {
            time: t1,
            time_step,
            position: Vector2::new(x, y),
            velocity: Vector2::new(vx, vy),
        },
    }
}

/// The catalog entry's bytes, for the key of its run.
pub fn encode_catalog(entry: &CatalogEntry) -> Vec<u8> {
    let key = catalog_key(entry.run);
    let mut out = Vec::with_capacity(CATALOG_SIZE);
    out.extend_from_slice(&[0; 4]);
    for v in [
        entry.target,
        entry.iterations,
        entry.records,
        entry.created_ms,
        entry.updated_ms,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for cursor in &entry.checkpoint.agents {
        out.extend_from_slice(&cursor.steps.to_le_bytes());
        put_segment(&mut out, &cursor.latest);
        out.push(cursor.previous.is_some() as u8);
        put_segment(&mut out, &cursor.previous.unwrap_or(cursor.latest));
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
    let (target, iterations, records, created_ms, updated_ms) =
        (r.u64(), r.u64(), r.u64(), r.u64(), r.u64());
    let mut cursor = || {
        let steps = r.u64();
        let latest = read_segment(&mut r);
        let has_previous = r.take::<1>()[0];
        let previous = read_segment(&mut r);
        match has_previous {
            0 => Ok(AgentCursor {
                steps,
                latest,
                previous: None,
            }),
            1 => Ok(AgentCursor {
                steps,
                latest,
                previous: Some(previous),
            }),
            _ => Err("catalog entry with a bad flag"),
        }
    };
    let agents = [cursor()?, cursor()?];
    Ok(CatalogEntry {
        run,
        target,
        iterations,
        records,
        created_ms,
        updated_ms,
        checkpoint: Checkpoint {
            seed: run.seed,
            iterations,
            agents,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(agent: Agent, iteration: u64, t0: f64, t1: f64, k: f64) -> Record {
        Record {
            t0,
            t1,
            agent,
            state: AgentState {
                time: t1,
                time_step: 0.01 * k,
                position: Vector2::new(k, -k),
                velocity: Vector2::new(1.0 / k, k * k),
            },
            iteration,
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
                index_key(RunKey::nano(1), Agent::Planet, pair[0])
                    > index_key(RunKey::nano(1), Agent::Planet, pair[1])
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
        assert_eq!(decode_key(&catalog_key(run)), Ok(Key::Catalog(run)));
        let key = chunk_key(run, 4096, Agent::Satellite, 3);
        assert_eq!(
            decode_key(&key),
            Ok(Key::Chunk {
                run,
                first_iteration: 4096,
                agent: Agent::Satellite,
                part: 3
            })
        );
        assert_eq!(
            decode_key(&index_key(run, Agent::Planet, 1.25)),
            Ok(Key::TimeIndex {
                run,
                agent: Agent::Planet,
                t0: 1.25
            })
        );
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
        assert!(chunk_key(run, 255, Agent::Satellite, 0) < chunk_key(run, 256, Agent::Planet, 0));
        assert!(
            chunk_key(RunKey::nano(1), u64::MAX, Agent::Satellite, 0)
                < chunk_key(RunKey::nano(2), 0, Agent::Planet, 0)
        );
        assert!(decode_key(b"").is_err());
        assert!(decode_key(&[CHUNK, 1, 0, 0]).is_err());
        assert!(decode_key(&[9; 19]).is_err());
    }

    #[test]
    fn chunks_round_trip_and_find_by_time() {
        let run = RunKey::nano(3);
        let key = chunk_key(run, 100, Agent::Planet, 0);
        let records = [
            record(Agent::Planet, 100, 1.0, 1.5, 1.0),
            record(Agent::Planet, 102, 1.5, 1.6, 2.0),
            record(Agent::Planet, 103, 1.6, 2.5, 3.0),
        ];
        let mut bytes = Vec::new();
        encode_chunk(&key, 100, 104, &records, &mut bytes);
        assert_eq!(bytes.len(), CHUNK_HEADER + 3 * RECORD_SIZE);
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

    #[test]
    fn a_value_under_another_key_or_with_a_flipped_bit_is_refused() {
        let run = RunKey::nano(3);
        let key = chunk_key(run, 0, Agent::Planet, 0);
        let mut bytes = Vec::new();
        encode_chunk(
            &key,
            0,
            1,
            &[record(Agent::Planet, 0, 0.0, 0.5, 1.0)],
            &mut bytes,
        );
        let elsewhere = chunk_key(run, 0, Agent::Satellite, 0);
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

    fn segment(k: f64) -> Segment {
        let r = record(Agent::Planet, 0, k, k + 1.0, k + 2.0);
        Segment {
            t0: r.t0,
            t1: r.t1,
            state: r.state,
        }
    }

    #[test]
    fn catalog_entries_round_trip_and_detect_damage() {
        let run = RunKey::nano(42);
        let entry = CatalogEntry {
            run,
            target: 10_000,
            iterations: 4096,
            records: 6500,
            created_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_500,
            checkpoint: Checkpoint {
                seed: 42,
                iterations: 4096,
                agents: [
                    AgentCursor {
                        steps: 4000,
                        latest: segment(1.0),
                        previous: Some(segment(0.5)),
                    },
                    AgentCursor {
                        steps: 2500,
                        latest: Segment {
                            t0: f64::NEG_INFINITY,
                            ..segment(2.0)
                        },
                        previous: None,
                    },
                ],
            },
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
        let key = index_key(RunKey::nano(1), Agent::Satellite, 0.75);
        let value = encode_index(&key, 8192, 5);
        assert_eq!(decode_index(&key, &value), Ok((8192, 5)));
        let mut damaged = value;
        damaged[5] ^= 1;
        assert!(decode_index(&key, &damaged).is_err());
    }

    #[test]
    fn series_parts_round_trip_and_detect_damage() {
        let key = series_key(RunKey::nano(4), 100, 10, 2);
        let value = encode_series_part(&key, 12_000, b"{\"t\":[1.5]}");
        assert_eq!(
            decode_series_part(&key, &value),
            Ok((12_000, &b"{\"t\":[1.5]}"[..]))
        );
        let mut damaged = value.clone();
        damaged[14] ^= 1;
        assert_eq!(decode_series_part(&key, &damaged), Err("checksum mismatch"));
        let elsewhere = series_key(RunKey::nano(4), 100, 10, 3);
        assert!(decode_series_part(&elsewhere, &value).is_err());
        let longer = encode_series_part(&key, 3, b"four");
        assert_eq!(
            decode_series_part(&key, &longer),
            Err("series part longer than its series")
        );
        let empty = encode_series_part(&key, 3, b"");
        assert_eq!(
            decode_series_part(&key, &empty),
            Err("series part of the wrong length")
        );
    }

    /// A well-formed key of each kind the log writes, with the word its decoder's
    /// errors use for that kind.
    fn sealed_key() -> impl Strategy<Value = (Vec<u8>, &'static str)> {
        let agent = any::<bool>().prop_map(|s| if s { Agent::Satellite } else { Agent::Planet });
        prop_oneof![
            any::<u64>().prop_map(|seed| (catalog_key(RunKey::nano(seed)).to_vec(), "catalog")),
            (any::<u64>(), any::<u64>(), agent.clone(), any::<u16>()).prop_map(
                |(seed, first, agent, part)| (
                    chunk_key(RunKey::nano(seed), first, agent, part).to_vec(),
                    "chunk"
                )
            ),
            (any::<u64>(), agent, any::<f64>()).prop_map(|(seed, agent, t0)| (
                index_key(RunKey::nano(seed), agent, t0).to_vec(),
                "time-index"
            )),
            (any::<u64>(), any::<u64>(), any::<u32>(), any::<u16>()).prop_map(
                |(seed, n, points, part)| (
                    series_key(RunKey::nano(seed), n, points, part).to_vec(),
                    "series"
                )
            ),
        ]
    }

    proptest! {
        #[test]
        fn any_finite_record_survives_a_chunk(
            values in prop::array::uniform6(any::<f64>().prop_filter("finite", |v| v.is_finite())),
            offset in 0u32..u32::MAX,
        ) {
            let [t0, t1, x, y, vx, vy] = values;
            let r = Record {
                t0, t1, agent: Agent::Satellite, iteration: 7 + offset as u64,
                state: AgentState { time: t1, time_step: x, position: Vector2::new(x, y), velocity: Vector2::new(vx, vy) },
            };
            let key = chunk_key(RunKey::nano(9), 7, Agent::Satellite, 0);
            let mut bytes = Vec::new();
            encode_chunk(&key, 7, 8 + offset as u64, &[r], &mut bytes);
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
            (key, kind) in sealed_key(),
            shape in 0u8..3,
            records in 0usize..6,
            random_length in 4usize..400,
            body in prop::collection::vec(any::<u8>(), 400 + CATALOG_SIZE + 6 * RECORD_SIZE),
            t in any::<f64>(),
        ) {
            // The value's length: arbitrary, or the one its kind needs.
            let length = match (shape, kind) {
                (0, _) => random_length,
                (_, "chunk") => CHUNK_HEADER + records * RECORD_SIZE,
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
                    let first = u64::from_be_bytes(key[10..18].try_into().unwrap());
                    value.len() >= CHUNK_HEADER
                        && value.len() - CHUNK_HEADER
                            == u32::from_le_bytes(value[4..8].try_into().unwrap()) as usize * RECORD_SIZE
                        && first <= u64::MAX - u32::MAX as u64
                }
                "catalog" => {
                    let flag = |cursor: usize| value[4 + 40 + cursor * CURSOR_SIZE + 8 + SEGMENT_SIZE];
                    value.len() == CATALOG_SIZE && flag(0) <= 1 && flag(1) <= 1
                }
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
        fn decoding_arbitrary_bytes_never_panics(key in prop::collection::vec(any::<u8>(), 0..24), value in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode_key(&key);
            let _ = Chunk::parse(&key, &value).map(|c| c.records().count());
            let _ = decode_catalog(&key, &value);
            let _ = decode_index(&key, &value);
            let _ = decode_series_part(&key, &value);
        }
    }
}
