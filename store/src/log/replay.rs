//! Reading a run back in order: [`Replay`] (every body's records, block by block) and
//! [`Track`] (one body's, by its time index or its frames), each checked as it goes.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::read::{with_chunk, with_frame};
use super::{corrupt, describe_key, guarded, Log};
use crate::encoding::{self, Chunk, Frame, Key};
use crate::record::Record;
use crate::run::RunKey;
use crate::{Error, Result};

impl Log {
    /// The records of iterations `iterations` of `run`, in the order written, read back
    /// block by block. The log must hold them all: see [`Error::NotLogged`].
    pub fn replay(&self, run: RunKey, iterations: Range<u64>) -> Result<Replay> {
        guarded(&self.path, || self.start_replay(run, iterations))
    }

    /// Refuses a read of `run` up to iteration `end` that the log does not hold.
    fn holds(&self, run: RunKey, end: u64) -> Result<()> {
        let logged = self.entry(run)?.map_or(0, |e| e.iterations);
        if end > logged {
            return Err(Error::NotLogged {
                run,
                logged,
                requested: end,
            });
        }
        Ok(())
    }

    fn start_replay(&self, run: RunKey, iterations: Range<u64>) -> Result<Replay> {
        self.holds(run, iterations.end)?;
        // Start at the block holding the first wanted iteration.
        let framed = self.layout(run)?.is_some();
        let start = self.block_holding(run, iterations.start, framed)?;
        let key = if framed {
            encoding::frame_key
        } else {
            encoding::chunk_key
        };
        let from = key(run, start, 0, 0);
        let to = key(run, iterations.end.max(1) - 1, u32::MAX, u16::MAX);
        let bodies = self.entry(run)?.map_or(0, |e| e.bodies);
        Ok(Replay {
            path: self.path.clone(),
            framed: framed.then_some(bodies),
            chunks: self.tree.range(&from[..]..=&to[..]),
            wanted: iterations,
            expected_start: start,
            pending: None,
            block: Vec::new(),
            next: 0,
            failed: false,
            chunks_read: Arc::clone(&self.chunks_read),
        })
    }

    /// One body's records of iterations `iterations` of `run`, in iteration order.
    ///
    /// Only that body's chunks are read: its time index is walked from the back (the
    /// index runs from the latest chunk to the earliest), entered at the body's chunk
    /// in the block holding the first wanted iteration, and each chunk it points to is
    /// verified (checksum, body, start time, continuity with the chunk before) before
    /// a record of it is served. At most one chunk's records are held at a time. The
    /// log must hold the iterations ([`Error::NotLogged`]); a body the run does not
    /// have has no records.
    pub fn track(&self, run: RunKey, body: u32, iterations: Range<u64>) -> Result<Track> {
        guarded(&self.path, || self.start_track(run, body, iterations))
    }

    fn start_track(&self, run: RunKey, body: u32, iterations: Range<u64>) -> Result<Track> {
        self.holds(run, iterations.end)?;
        if self.layout(run)?.is_some() {
            let bodies = self.entry(run)?.map_or(0, |e| e.bodies);
            let block = self.block_holding(run, iterations.start, true)?;
            return Ok(Track {
                path: self.path.clone(),
                tree: self.tree.clone(),
                run,
                body,
                index: None,
                frames: Some(FrameWalk {
                    bodies,
                    block,
                    next: iterations.start,
                }),
                skip_before: block,
                wanted: iterations.clone(),
                records: Vec::with_capacity(encoding::FRAME_STEPS as usize),
                next: 0,
                stands: None,
                done: iterations.is_empty() || body >= bodies,
                chunks_read: Arc::clone(&self.chunks_read),
            });
        }
        let block = self.block_holding(run, iterations.start, false)?;
        // The body's first chunk in that block names the index key to enter at; a body
        // with no records in that block (a nano body that waited through it) is read
        // from the start of its index, its earlier chunks skipped by their block.
        let first = encoding::chunk_key(run, block, body, 0);
        let enter = match self.tree.get(first)? {
            Some(value) => {
                let chunk = Chunk::parse(&first, &value)
                    .map_err(|detail| corrupt(describe_key(&first), detail))?;
                if chunk.is_empty() {
                    encoding::index_end(run, body).to_vec()
                } else {
                    encoding::index_key(run, body, chunk.t0).to_vec()
                }
            }
            None => encoding::index_end(run, body).to_vec(),
        };
        let prefix = encoding::index_prefix(run, body);
        Ok(Track {
            path: self.path.clone(),
            tree: self.tree.clone(),
            run,
            body,
            index: Some(self.tree.range(&prefix[..]..=&enter[..])),
            frames: None,
            skip_before: block,
            wanted: iterations.clone(),
            records: Vec::with_capacity(encoding::PART_RECORDS),
            next: 0,
            stands: None,
            done: iterations.is_empty(),
            chunks_read: Arc::clone(&self.chunks_read),
        })
    }
}

/// An iterator over logged records, in the order written; see [`Log::replay`].
pub struct Replay {
    path: PathBuf,
    /// For a run kept as frames, its bodies.
    framed: Option<u32>,
    chunks: sled::Iter,
    wanted: Range<u64>,
    /// Where the next block must start: blocks follow each other without gaps.
    expected_start: u64,
    /// A chunk read ahead: the first of the next block.
    pending: Option<(sled::IVec, sled::IVec)>,
    /// The current block's records, in the order written.
    block: Vec<Record>,
    next: usize,
    failed: bool,
    chunks_read: Arc<AtomicU64>,
}

impl Replay {
    /// The next block's first key and value, the one read ahead if any; `None` at the
    /// end, which must be where the wanted iterations end.
    fn first_of_block(&mut self) -> Result<Option<(sled::IVec, sled::IVec)>> {
        Ok(Some(match self.pending.take() {
            Some(kv) => kv,
            None => match self.chunks.next() {
                Some(item) => item?,
                None if self.expected_start < self.wanted.end => {
                    return Err(Error::Corrupt {
                        position: format!(
                            "the end of the log, at iteration {}",
                            self.expected_start
                        ),
                        detail: format!(
                            "the catalog promises iterations up to {}",
                            self.wanted.end
                        ),
                    })
                }
                None => return Ok(None),
            },
        }))
    }

    /// The next key and value if it is of the block whose keys start `block_key`;
    /// one of the next block is kept for it.
    fn next_of_block(&mut self, block_key: &[u8]) -> Result<Option<(sled::IVec, sled::IVec)>> {
        if let Some(kv) = self.chunks.next() {
            let kv = kv?;
            if kv.0[..encoding::BLOCK_KEY_LEN] == block_key[..] {
                return Ok(Some(kv));
            }
            self.pending = Some(kv);
        }
        Ok(None)
    }

    /// Reads the next block's frames into `self.block`, in the order written; false at
    /// the end.
    fn load_frames(&mut self, bodies: u32) -> Result<bool> {
        self.block.clear();
        self.next = 0;
        let Some(first) = self.first_of_block()? else {
            return Ok(false);
        };
        let block_key = first.0[..encoding::BLOCK_KEY_LEN].to_vec();
        let block = self.expected_start;
        // The frame expected next: its group's first body and its part.
        let (mut group, mut part) = (0u32, 0u16);
        let mut end = None;
        let mut item = Some(first);
        while let Some((key, value)) = item.take() {
            let frame = Frame::parse(&key, &value).map_err(|d| corrupt(describe_key(&key), d))?;
            let end = *end.get_or_insert(frame.end);
            if frame.block != block
                || frame.end != end
                || (frame.first_body, frame.part) != (group, part)
                || group >= bodies
                || frame.bodies != encoding::GROUP_BODIES.min(bodies - group)
            {
                return Err(corrupt(
                    describe_key(&key),
                    &format!("a gap in the log: the block was expected at iteration {block}, its frame of bodies {group}.. part {part} next"),
                ));
            }
            if self.block.is_empty() {
                let placeholder = frame.record(frame.first, 0);
                self.block
                    .resize((end - block) as usize * bodies as usize, placeholder);
            }
            for k in frame.first..frame.first + frame.steps {
                let row = (k - block) as usize * bodies as usize + group as usize;
                for j in 0..frame.bodies {
                    self.block[row + j as usize] = frame.record(k, j);
                }
            }
            self.chunks_read.fetch_add(1, Ordering::Relaxed);
            if frame.first + frame.steps < end {
                part += 1;
            } else {
                (group, part) = (group + frame.bodies, 0);
            }
            item = self.next_of_block(&block_key)?;
        }
        if group < bodies {
            return Err(corrupt(
                format!("the block from iteration {block}"),
                &format!("a gap in the log: the frames of bodies {group}.. are missing"),
            ));
        }
        self.expected_start = end.expect("a block has at least one frame");
        Ok(true)
    }

    /// Reads the next block's chunks into `self.block`; false at the end.
    fn load_block(&mut self) -> Result<bool> {
        if let Some(bodies) = self.framed {
            return self.load_frames(bodies);
        }
        self.block.clear();
        self.next = 0;
        let Some(first) = self.first_of_block()? else {
            return Ok(false);
        };
        let block_key = first.0[..encoding::BLOCK_KEY_LEN].to_vec();
        let mut end = None;
        // The body whose parts are being read, and the part expected next.
        let mut at: Option<(u32, u16)> = None;
        let mut item = Some(first);
        while let Some((key, value)) = item.take() {
            let chunk = Chunk::parse(&key, &value).map_err(|d| corrupt(describe_key(&key), d))?;
            let expected_part = match at {
                Some((body, part)) if body == chunk.body => part.saturating_add(1),
                Some((body, _)) if body > chunk.body => u16::MAX,
                _ => 0,
            };
            if chunk.first_iteration != self.expected_start
                || end.is_some_and(|end| end != chunk.end)
                || chunk.part != expected_part
            {
                return Err(corrupt(
                    describe_key(&key),
                    &format!(
                        "a gap in the log: the block was expected at iteration {}",
                        self.expected_start
                    ),
                ));
            }
            end = Some(chunk.end);
            at = Some((chunk.body, chunk.part));
            self.chunks_read.fetch_add(1, Ordering::Relaxed);
            self.block.extend(chunk.records());
            if let Some(kv) = self.chunks.next() {
                let kv = kv?;
                if kv.0[..encoding::BLOCK_KEY_LEN] == block_key[..] {
                    item = Some(kv);
                } else {
                    self.pending = Some(kv);
                }
            }
        }
        self.expected_start = end.expect("a block has at least one chunk");
        // The block's chunks come body by body, each body's in iteration order: a
        // stable sort by iteration merges them into the order written (by iteration,
        // then body), in one pass per body.
        self.block.sort_by_key(|r| r.iteration);
        Ok(true)
    }
}

/// Implements [`Iterator`] for a reader of logged records a piece at a time (a
/// block, a chunk or frame of one body) held in `$records`, from `$next` on, read by
/// `$load`: it serves the records in `$wanted`, in order. A record past them, or a
/// failure, stops it (`$stopped`); so does the end of the pieces when `$end_stops`
/// (a track's index is walked once; a replay asks its range again).
macro_rules! served_in_order {
    ($t:ty, $records:ident, $stopped:ident, $load:ident, $end_stops:expr) => {
        impl Iterator for $t {
            type Item = Result<Record>;

            fn next(&mut self) -> Option<Result<Record>> {
                loop {
                    if self.$stopped {
                        return None;
                    }
                    while let Some(r) = self.$records.get(self.next) {
                        self.next += 1;
                        if r.iteration >= self.wanted.end {
                            self.$stopped = true;
                            return None;
                        }
                        if r.iteration >= self.wanted.start {
                            return Some(Ok(*r));
                        }
                    }
                    let path = self.path.clone();
                    match guarded(&path, || self.$load()) {
                        Ok(true) => {}
                        Ok(false) => {
                            if $end_stops {
                                self.$stopped = true;
                            }
                            return None;
                        }
                        Err(e) => {
                            self.$stopped = true;
                            return Some(Err(e));
                        }
                    }
                }
            }
        }
    };
}

served_in_order!(Replay, block, failed, load_block, false);

/// One body's records over a range of iterations; see [`Log::track`].
pub struct Track {
    path: PathBuf,
    tree: sled::Tree,
    run: RunKey,
    body: u32,
    /// The body's time index from the entry point, walked from the back (earliest
    /// chunk first); none for a run kept as frames.
    index: Option<sled::Iter>,
    /// Where the walk stands in a run kept as frames.
    frames: Option<FrameWalk>,
    /// Chunks of blocks before this one hold no wanted iteration.
    skip_before: u64,
    wanted: Range<u64>,
    /// The current chunk's records.
    records: Vec<Record>,
    next: usize,
    /// Where the body stands after the chunks read so far (its last record's end).
    stands: Option<(f64, u64)>,
    done: bool,
    chunks_read: Arc<AtomicU64>,
}

/// Where a [`Track`] of a run kept as frames stands.
struct FrameWalk {
    bodies: u32,
    /// The block holding `next`.
    block: u64,
    /// The next iteration to read.
    next: u64,
}

impl Track {
    /// Reads the frame holding the body's next record into `self.records`: the frame
    /// is found from the iteration alone, with no index.
    fn load_frame(&mut self) -> Result<bool> {
        self.records.clear();
        self.next = 0;
        let walk = self.frames.as_mut().expect("a track of frames");
        if walk.next >= self.wanted.end {
            return Ok(false);
        }
        let (next, records) = (walk.next, &mut self.records);
        let (first, steps, end) = with_frame(
            &self.tree,
            &self.chunks_read,
            self.run,
            walk.bodies,
            (walk.block, self.body, next),
            |frame, j| {
                records.extend((next..frame.first + frame.steps).map(|k| frame.record(k, j)));
                (frame.first, frame.steps, frame.end)
            },
        )?;
        debug_assert!(first <= next);
        walk.next = first + steps;
        if walk.next >= end {
            walk.block = end;
        }
        Ok(true)
    }

    /// Reads the body's next chunk into `self.records`; false at the end of its index.
    fn load_chunk(&mut self) -> Result<bool> {
        if self.frames.is_some() {
            return self.load_frame();
        }
        self.records.clear();
        self.next = 0;
        loop {
            let Some(item) = self.index.as_mut().and_then(|index| index.next_back()) else {
                return Ok(false);
            };
            let (key, value) = item?;
            let place = || describe_key(&key);
            let Ok(Key::TimeIndex { t0, .. }) = encoding::decode_key(&key) else {
                return Err(corrupt(place(), "not a time-index key"));
            };
            let (first_iteration, part) =
                encoding::decode_index(&key, &value).map_err(|detail| corrupt(place(), detail))?;
            if first_iteration < self.skip_before {
                continue;
            }
            if first_iteration >= self.wanted.end {
                return Ok(false);
            }
            let chunk_key = encoding::chunk_key(self.run, first_iteration, self.body, part);
            let (body, stands, records) = (self.body, &mut self.stands, &mut self.records);
            return with_chunk(&self.tree, &self.chunks_read, chunk_key, |chunk| {
                if chunk.is_empty() || chunk.t0 != t0 {
                    return Err(corrupt(
                        describe_key(&chunk_key),
                        &format!("the time index says it starts at t = {t0}, but it does not"),
                    ));
                }
                for record in chunk.records() {
                    let continues = match *stands {
                        Some((t1, iteration)) => record.t0 == t1 && record.iteration > iteration,
                        None => true,
                    };
                    if !continues {
                        return Err(corrupt(
                            describe_key(&chunk_key),
                            &format!(
                                "a gap in body {body}'s track: its record of iteration {} does not follow the one before",
                                record.iteration
                            ),
                        ));
                    }
                    *stands = Some((record.t1, record.iteration));
                    records.push(record);
                }
                Ok(true)
            });
        }
    }
}

served_in_order!(Track, records, done, load_chunk, true);
