//! Reading a run at a time: the range-store query, one body's record, and the window
//! read of every body, by seeks in the time index or by arithmetic on frames.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{corrupt, describe_key, guarded, Log};
use crate::encoding::{self, Chunk, Frame, Key};
use crate::record::Record;
use crate::run::RunKey;
use crate::{Error, Result};

impl Log {
    /// The range-store query for one run: every body's record whose range contains
    /// `t`, in the order written. Each body's record is found by one seek in the time
    /// index and a binary search in one chunk.
    pub fn get(&self, run: RunKey, t: f64) -> Result<Vec<Record>> {
        if self.layout(run)?.is_some() {
            let mut windows = Vec::new();
            self.states_at(run, t, &mut windows)?;
            if windows.is_empty() {
                return Err(Error::NotFound { t });
            }
            return Ok(windows.into_iter().map(|w| w.record).collect());
        }
        let bodies = self.entry(run)?.map_or(0, |e| e.bodies);
        let mut found = Vec::with_capacity(bodies as usize);
        for body in 0..bodies {
            found.extend(self.get_body(run, body, t)?);
        }
        if found.is_empty() {
            return Err(Error::NotFound { t });
        }
        // The order they were written in, as the in-memory store keeps insertion order.
        found.sort_by_key(|r| (r.iteration, r.body));
        Ok(found)
    }

    /// `body`'s record of `run` whose range contains `t`, if the log holds one.
    pub fn get_body(&self, run: RunKey, body: u32, t: f64) -> Result<Option<Record>> {
        guarded(&self.path, || self.find_record(run, body, t))
    }

    fn find_record(&self, run: RunKey, body: u32, t: f64) -> Result<Option<Record>> {
        if t.is_nan() {
            return Ok(None);
        }
        if let Some(step) = self.layout(run)? {
            let (bodies, logged) = self
                .read_entry(run)?
                .map_or((0, 0), |e| (e.bodies, e.iterations));
            let Some(k) = encoding::iteration_at(t, step).filter(|&k| k < logged && body < bodies)
            else {
                return Ok(None);
            };
            let block = self.block_holding(run, k, true)?;
            return self.frame_at(run, bodies, (block, body, k), |frame, j| {
                Some(frame.record(k, j))
            });
        }
        let from = encoding::index_key(run, body, t);
        self.chunk_at(run, body, &from, |chunk| chunk.find(t))
    }

    /// Reads the chunk the first time-index key of `run` and `body` at or after `from`
    /// points to, and hands it to `read`.
    fn chunk_at<T>(
        &self,
        run: RunKey,
        body: u32,
        from: &[u8],
        read: impl FnOnce(&Chunk<'_>) -> Option<T>,
    ) -> Result<Option<T>> {
        let end = encoding::index_end(run, body);
        let Some(item) = self.tree.range(from..=&end[..]).next() else {
            return Ok(None);
        };
        self.indexed_chunk(run, body, item?, read)
    }

    /// Reads the chunk the time-index entry `(key, value)` of `run` and `body` points
    /// to, verified, and hands it to `read`.
    fn indexed_chunk<T>(
        &self,
        run: RunKey,
        body: u32,
        (key, value): (sled::IVec, sled::IVec),
        read: impl FnOnce(&Chunk<'_>) -> Option<T>,
    ) -> Result<Option<T>> {
        let (first_iteration, part) = encoding::decode_index(&key, &value)
            .map_err(|detail| corrupt(describe_key(&key), detail))?;
        let chunk_key = encoding::chunk_key(run, first_iteration, body, part);
        with_chunk(&self.tree, &self.chunks_read, chunk_key, |chunk| {
            Ok(read(chunk))
        })
    }

    /// Where `body`'s latest logged record of `run` ends, if the log holds one: the
    /// first key of its time index (which runs backwards) names its latest chunk.
    pub(super) fn body_end(&self, run: RunKey, body: u32) -> Result<Option<f64>> {
        let from = encoding::index_prefix(run, body);
        self.chunk_at(run, body, &from, |chunk| chunk.end_time())
    }

    /// The first iteration of the logged block of `run` that holds `iteration` (0 if
    /// the log holds no block at or before it): one backward seek in the chunk keys,
    /// or in the frame keys of a run kept as frames.
    pub(super) fn block_holding(&self, run: RunKey, iteration: u64, framed: bool) -> Result<u64> {
        let (prefix, probe) = if framed {
            (
                encoding::frame_prefix(run),
                encoding::frame_key(run, iteration, u32::MAX, u16::MAX),
            )
        } else {
            (
                encoding::chunk_prefix(run),
                encoding::chunk_key(run, iteration, u32::MAX, u16::MAX),
            )
        };
        match self.tree.range(&prefix[..]..=&probe[..]).next_back() {
            Some(item) => {
                let (key, _) = item?;
                match encoding::decode_key(&key) {
                    Ok(Key::Chunk {
                        first_iteration, ..
                    }) if !framed => Ok(first_iteration),
                    Ok(Key::Frame {
                        first_iteration, ..
                    }) if framed => Ok(first_iteration),
                    _ => Err(corrupt(describe_key(&key), "not a chunk key")),
                }
            }
            None => Ok(0),
        }
    }

    /// Reads the frame of `run` (of `bodies` bodies) holding `body`'s record of
    /// `iteration` in the block from `block`, verified, and hands it to `read` with
    /// the body's place in it.
    fn frame_at<T>(
        &self,
        run: RunKey,
        bodies: u32,
        (block, body, iteration): (u64, u32, u64),
        read: impl FnOnce(&Frame<'_>, u32) -> T,
    ) -> Result<T> {
        with_frame(
            &self.tree,
            &self.chunks_read,
            run,
            bodies,
            (block, body, iteration),
            read,
        )
    }

    /// The window read: for every body of `run` whose logged records reach `t`, the
    /// record whose range contains `t` and the state at that record's start, by body,
    /// into `out` (cleared first; reuse it between calls).
    ///
    /// Each body costs one seek in its time index and the read of one chunk; only when
    /// `t` falls in a chunk's first record is the chunk before it read too (the next key
    /// of the same seek), for the state the record starts from. A record that is its
    /// body's first has no logged start: the run's initial state, which the log does
    /// not know ([`Window::start`] is `None`). Nothing is allocated per body beyond
    /// `out`'s rows.
    pub fn states_at(&self, run: RunKey, t: f64, out: &mut Vec<Window>) -> Result<()> {
        out.clear();
        if t.is_nan() {
            return Ok(());
        }
        let (bodies, logged) = self
            .entry(run)?
            .map_or((0, 0), |e| (e.bodies, e.iterations));
        out.reserve(bodies as usize);
        guarded(&self.path, || {
            if let Some(step) = self.layout(run)? {
                return self.frame_windows(run, (bodies, logged), step, t, out);
            }
            for body in 0..bodies {
                if let Some(window) = self.window(run, body, t)? {
                    out.push(window);
                }
            }
            Ok(())
        })
    }

    /// [`Log::states_at`] of a run kept as frames: the iteration holding `t` is
    /// arithmetic, its block one seek, and each group of bodies one frame (two when
    /// `t` falls in a frame's first iteration: the states before are in the frame
    /// before).
    fn frame_windows(
        &self,
        run: RunKey,
        (bodies, logged): (u32, u64),
        step: f64,
        t: f64,
        out: &mut Vec<Window>,
    ) -> Result<()> {
        let Some(k) = encoding::iteration_at(t, step).filter(|&k| k < logged) else {
            return Ok(());
        };
        let block = self.block_holding(run, k, true)?;
        let before = match k.checked_sub(1) {
            Some(previous) if (k - block) % encoding::FRAME_STEPS == 0 => Some((
                if k == block {
                    self.block_holding(run, previous, true)?
                } else {
                    block
                },
                previous,
            )),
            _ => None,
        };
        for group in (0..bodies).step_by(encoding::GROUP_BODIES as usize) {
            let from = out.len();
            self.frame_at(run, bodies, (block, group, k), |frame, _| {
                out.extend((0..frame.bodies).map(|j| Window {
                    record: frame.record(k, j),
                    start: (k > frame.first).then(|| frame.record(k - 1, j).state),
                }));
            })?;
            if let Some((block, previous)) = before {
                self.frame_at(run, bodies, (block, group, previous), |frame, _| {
                    for (j, window) in out[from..].iter_mut().enumerate() {
                        window.start = Some(frame.record(previous, j as u32).state);
                    }
                })?;
            }
        }
        Ok(())
    }

    fn window(&self, run: RunKey, body: u32, t: f64) -> Result<Option<Window>> {
        let from = encoding::index_key(run, body, t);
        let end = encoding::index_end(run, body);
        let mut index = self.tree.range(&from[..]..=&end[..]);
        let Some(item) = index.next() else {
            return Ok(None);
        };
        let found = self.indexed_chunk(run, body, item?, |chunk| {
            let i = chunk.locate(t)?;
            Some((chunk.record(i), (i > 0).then(|| chunk.record(i - 1).state)))
        })?;
        let Some((record, start)) = found else {
            return Ok(None);
        };
        if start.is_some() {
            return Ok(Some(Window { record, start }));
        }
        // The record is its chunk's first: the state it starts from ends the chunk
        // before, the next key of the same seek.
        let Some(item) = index.next() else {
            return Ok(Some(Window {
                record,
                start: None,
            }));
        };
        let (key, value) = item?;
        let place = describe_key(&key);
        let before = self.indexed_chunk(run, body, (key, value), |chunk| {
            let last = chunk.record(chunk.len().checked_sub(1)?);
            Some((last.t1, last.state))
        })?;
        match before {
            Some((t1, state)) if t1 == record.t0 => Ok(Some(Window {
                record,
                start: Some(state),
            })),
            _ => Err(corrupt(
                place,
                &format!(
                    "body {body}'s chunk before the one holding t = {t} does not end where that one starts ({})",
                    record.t0
                ),
            )),
        }
    }

    /// The records of `run` whose ranges overlap `[from, to)`, in the order written.
    pub fn replay_times(
        &self,
        run: RunKey,
        from: f64,
        to: f64,
    ) -> Result<impl Iterator<Item = Result<Record>>> {
        let (logged, bodies) = self
            .entry(run)?
            .map_or((0, 0), |e| (e.iterations, e.bodies));
        // The earliest iteration any body's record overlapping `from` was written in.
        let mut start = logged;
        let framed = self.layout(run)?;
        if let Some(step) = framed {
            start = match encoding::iteration_at(from, step) {
                Some(k) => k.min(logged),
                None if from < 0.0 => 0,
                None => logged,
            };
        }
        for body in (0..bodies).filter(|_| framed.is_none()) {
            let iteration = match self.get_body(run, body, from)? {
                Some(r) => r.iteration,
                None if from < self.first_t0(run, body)? => 0,
                None => logged,
            };
            start = start.min(iteration);
        }
        let mut replay = self.replay(run, start..logged)?;
        // Each body's records are in time order: once all have passed `to`, stop.
        let mut past = vec![false; bodies as usize];
        let mut passed = 0;
        Ok(std::iter::from_fn(move || loop {
            if passed == past.len() {
                return None;
            }
            match replay.next()? {
                Ok(r) if r.t0 >= to => {
                    if let Some(p) = past.get_mut(r.body as usize).filter(|p| !**p) {
                        *p = true;
                        passed += 1;
                    }
                }
                Ok(r) if r.t1 <= from => {}
                other => return Some(other),
            }
        }))
    }

    /// Where `body`'s first logged record of `run` starts (infinity if none): the last
    /// key of its time index, which runs backwards.
    fn first_t0(&self, run: RunKey, body: u32) -> Result<f64> {
        match self
            .tree
            .scan_prefix(encoding::index_prefix(run, body))
            .next_back()
        {
            Some(item) => match encoding::decode_key(&item?.0) {
                Ok(Key::TimeIndex { t0, .. }) => Ok(t0),
                _ => Ok(f64::INFINITY),
            },
            None => Ok(f64::INFINITY),
        }
    }
}

/// Reads the chunk under `chunk_key`, which the time index points to, verified, and
/// hands it to `read`.
pub(super) fn with_chunk<T>(
    tree: &sled::Tree,
    chunks_read: &AtomicU64,
    chunk_key: [u8; 32],
    read: impl FnOnce(&Chunk<'_>) -> Result<T>,
) -> Result<T> {
    let value = tree.get(chunk_key)?.ok_or_else(|| {
        corrupt(
            describe_key(&chunk_key),
            "the time index points to a chunk that is missing",
        )
    })?;
    chunks_read.fetch_add(1, Ordering::Relaxed);
    let chunk = Chunk::parse(&chunk_key, &value)
        .map_err(|detail| corrupt(describe_key(&chunk_key), detail))?;
    read(&chunk)
}

/// Reads the frame of `run` (of `bodies` bodies) holding `body`'s record of
/// `iteration` in the block from `block` (which the caller knows the log holds),
/// verified, and hands it to `read` with the body's place in it.
pub(super) fn with_frame<T>(
    tree: &sled::Tree,
    chunks_read: &AtomicU64,
    run: RunKey,
    bodies: u32,
    (block, body, iteration): (u64, u32, u64),
    read: impl FnOnce(&Frame<'_>, u32) -> T,
) -> Result<T> {
    let group = body - body % encoding::GROUP_BODIES;
    let part = (iteration - block) / encoding::FRAME_STEPS;
    let key = encoding::frame_key(run, block, group, part.min(u16::MAX as u64) as u16);
    let place = || describe_key(&key);
    let value = tree
        .get(key)?
        .ok_or_else(|| corrupt(place(), "a frame of the run is missing"))?;
    chunks_read.fetch_add(1, Ordering::Relaxed);
    let frame = Frame::parse(&key, &value).map_err(|detail| corrupt(place(), detail))?;
    let j = body - group;
    if !(frame.first..frame.first + frame.steps).contains(&iteration)
        || frame.bodies != encoding::GROUP_BODIES.min(bodies - group)
    {
        return Err(corrupt(
            place(),
            &format!("the frame does not hold body {body}'s record of iteration {iteration}"),
        ));
    }
    Ok(read(&frame, j))
}

/// One body's window at a time `t`; see [`Log::states_at`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    /// The body's record whose range `[t0, t1)` contains `t` (its state is the one at
    /// `t1`).
    pub record: Record,
    /// The body's state at `record.t0`: the previous record's state, or `None` when
    /// the record is the body's first (its start is the run's initial state, which
    /// the log does not hold: the caller knows it from the scenario).
    pub start: Option<crate::State>,
}
