//! Chunks (a block's records of one body) and their time-index entries.

use super::{check, decode_key, record_size, seal, Invalid, Key, Reader, CHUNK_HEADER, INDEX_SIZE};
use crate::record::{Record, State};
use crate::run::MAX_STATE_WORDS;

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
