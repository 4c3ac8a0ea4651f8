//! Appending blocks: each checked against where its run stands, and written in one
//! atomic batch with its checkpoint and catalog entry, as frames or as chunks.

use std::ops::Range;

use super::{guarded, now_ms, Block, Log, Sync};
use crate::catalog::CatalogEntry;
use crate::encoding;
use crate::record::Record;
use crate::run::RunKey;
use crate::{Error, Result};

impl Log {
    /// Appends blocks, each atomically with its run's catalog entry, and makes them
    /// durable as the [`Sync`] option says. A block must start where its run's log
    /// ends, and its records must tile each body's timeline from where it stands.
    ///
    /// A volume too full to keep its reserve after the blocks refuses them with
    /// [`Error::NoSpace`] before anything is written (see [`crate::space`]).
    pub fn append(&self, blocks: &[Block<'_>]) -> Result<()> {
        let records: usize = blocks.iter().map(|b| b.records.len()).sum();
        self.space
            .room_for(records as u64 * (crate::space::BYTES_PER_ITERATION / 2))?;
        guarded(&self.path, || self.write_blocks(blocks))
    }

    fn write_blocks(&self, blocks: &[Block<'_>]) -> Result<()> {
        let mut commits = self.commits.lock().unwrap_or_else(|e| e.into_inner());
        let mut value = Vec::new();
        let mut by_body = Vec::new();
        for block in blocks {
            let previous = self.read_entry(block.run)?;
            let framed = self.check_block(block, previous.as_ref())?;
            let mut batch = sled::Batch::default();
            match framed {
                Some(step) => write_frames(block, step, &mut value, &mut batch)?,
                None => write_chunks(block, &mut value, &mut by_body, &mut batch)?,
            }
            self.write_checkpoint(block, &mut batch)?;
            if let (None, Some(document)) = (previous, block.document) {
                let key = encoding::document_key(block.run);
                batch.insert(&key[..], encoding::encode_sealed(&key, document.as_bytes()));
            }
            let now = now_ms();
            let entry = CatalogEntry {
                run: block.run,
                bodies: block.bodies,
                target: block.target.max(previous.map_or(0, |p| p.target)),
                iterations: block.end,
                records: previous.map_or(0, |p| p.records) + block.records.len() as u64,
                created_ms: previous.map_or(now, |p| p.created_ms),
                updated_ms: now,
            };
            batch.insert(
                &encoding::catalog_key(block.run)[..],
                encoding::encode_catalog(&entry),
            );
            self.tree.apply_batch(batch)?;
            if self.options.sync == Sync::Always {
                self.commit(&mut commits)?;
            }
        }
        if self.options.sync == Sync::Batch && !blocks.is_empty() {
            self.commit(&mut commits)?;
        }
        Ok(())
    }

    /// The output step `block` is written as frames at, or `None` for chunks. An orbit
    /// run whose first block is whole rounds at an output step (`t0 = k h`,
    /// `t1 = (k + 1) h` exactly, as the orbit model writes them) is written as frames,
    /// and then each later block must be so too; any other run is written as chunks.
    fn framing(&self, block: &Block<'_>, previous: Option<&CatalogEntry>) -> Result<Option<f64>> {
        if !block.run.model.framed() {
            return Ok(None);
        }
        let step = match previous {
            None => None,
            Some(_) => match self.layout(block.run)? {
                Some(step) => Some(step),
                None => return Ok(None),
            },
        };
        let found = arithmetic_step(
            block.records,
            block.bodies,
            block.first_iteration..block.end,
            step,
        );
        match (step, found) {
            (Some(step), None) => Err(Error::InvalidBlock {
                run: block.run,
                detail: format!(
                    "the run is kept as frames: a block must be whole rounds of its {} bodies from iteration {}, \
                     the record of iteration k over [k {step}, (k + 1) {step})",
                    block.bodies, block.first_iteration
                ),
            }),
            (_, found) => Ok(found),
        }
    }

    /// Puts `block`'s checkpoint into `batch`: a nano run's slots each under its key,
    /// an orbit run's in packs, with the packs past the new ones removed.
    fn write_checkpoint(&self, block: &Block<'_>, batch: &mut sled::Batch) -> Result<()> {
        let run = block.run;
        if !run.model.packed_checkpoints() {
            for (slot, bytes) in block.checkpoint.iter().enumerate() {
                let key = encoding::checkpoint_key(run, slot as u32);
                batch.insert(&key[..], encoding::encode_sealed(&key, bytes));
            }
            return Ok(());
        }
        let ranges = encoding::pack_ranges(block.checkpoint);
        for (pack, range) in ranges.iter().enumerate() {
            let key = encoding::pack_key(run, pack as u32);
            batch.insert(
                &key[..],
                encoding::encode_pack(&key, &block.checkpoint[range.clone()]),
            );
        }
        let stale = encoding::pack_key(run, ranges.len() as u32);
        let last = encoding::pack_key(run, u32::MAX);
        for item in self.tree.range(&stale[..]..=&last[..]) {
            batch.remove(item?.0);
        }
        Ok(())
    }

    /// Raises the target of a logged run (a request for more iterations than it has);
    /// a run not in the log gets its entry with its first block.
    pub fn raise_target(&self, run: RunKey, target: u64) -> Result<()> {
        let mut commits = self.commits.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mut entry) = self.read_entry(run)? else {
            return Ok(());
        };
        if entry.target < target {
            entry.target = target;
            entry.updated_ms = now_ms();
            self.tree
                .insert(encoding::catalog_key(run), encoding::encode_catalog(&entry))?;
            if self.options.sync != Sync::Never {
                self.commit(&mut commits)?;
            }
        }
        Ok(())
    }

    /// Checks that `block` continues its run where the log (`previous`) ends; the
    /// output step when the block is to be kept as frames (see [`Log::framing`]).
    fn check_block(
        &self,
        block: &Block<'_>,
        previous: Option<&CatalogEntry>,
    ) -> Result<Option<f64>> {
        let run = block.run;
        let logged = previous.map_or(0, |p| p.iterations);
        if block.first_iteration != logged {
            return Err(Error::OutOfOrder {
                run,
                logged,
                first_iteration: block.first_iteration,
            });
        }
        let invalid = |detail: String| Err(Error::InvalidBlock { run, detail });
        let end = block.end;
        if end <= block.first_iteration || end - block.first_iteration > u32::MAX as u64 {
            return invalid(format!(
                "it must cover 1 to 2^32 iterations, from {} to {end}",
                block.first_iteration
            ));
        }
        if let Some(p) = previous.filter(|p| p.bodies != block.bodies) {
            return invalid(format!(
                "it has {} bodies, the run {}",
                block.bodies, p.bodies
            ));
        }
        // Whole rounds at the run's output step tile every body's timeline from where
        // the run stands.
        if let Some(step) = self.framing(block, previous)? {
            return Ok(Some(step));
        }
        // Where each body stands: unknown (NaN) until its first record in the block
        // asks the log.
        let mut ends = vec![f64::NAN; block.bodies as usize];
        let mut last = None;
        for r in block.records {
            let position = (r.iteration, r.body);
            if !(block.first_iteration..end).contains(&r.iteration)
                || r.body >= block.bodies
                || last.is_some_and(|l| l >= position)
            {
                return invalid(format!(
                    "record of body {} in iteration {} is out of order",
                    r.body, r.iteration
                ));
            }
            last = Some(position);
            crate::TimeRange::new(r.t0, r.t1)?;
            let stands = &mut ends[r.body as usize];
            if stands.is_nan() && previous.is_some() {
                *stands = self.body_end(run, r.body)?.unwrap_or(f64::NAN);
            }
            if !stands.is_nan() && r.t0 != *stands {
                return invalid(format!(
                    "the record of body {} in iteration {} starts at {} but the body stands at {}",
                    r.body, r.iteration, r.t0, stands
                ));
            }
            *stands = r.t1;
        }
        Ok(None)
    }
}

/// Puts `block`'s records into `batch` as chunks, one body's at a time, with their
/// time-index entries (see [`encoding`]).
fn write_chunks(
    block: &Block<'_>,
    value: &mut Vec<u8>,
    by_body: &mut Vec<Record>,
    batch: &mut sled::Batch,
) -> Result<()> {
    let words = block.run.model.state_words();
    // A block by iteration then body with every body in every iteration (an orbit
    // round) is read body by body in place, with a stride of the bodies; any other (a
    // nano block) is first grouped by body, in a copy.
    let bodies = block.bodies as usize;
    let strided = is_round(block.records, bodies);
    let starts = if strided {
        Vec::new()
    } else {
        group_by_body(block.records, block.bodies, by_body)
    };
    let end = block.end;
    for body in 0..block.bodies {
        let (records, stride) = if strided {
            (&block.records[body as usize..], bodies)
        } else {
            (
                &by_body[starts[body as usize]..starts[body as usize + 1]],
                1,
            )
        };
        // The body's records: every `stride`-th of `records`, from the first.
        let count = records.len().div_ceil(stride);
        let body_part = |from: usize, to: usize| {
            records[(from * stride).min(records.len())..]
                .iter()
                .step_by(stride)
                .take(to - from)
        };
        // A block in which every body waited still leaves an (empty) chunk of body 0,
        // so that the blocks of a run follow each other without gaps.
        let empty_block = block.records.is_empty() && body == 0;
        if count == 0 && !empty_block {
            continue;
        }
        let parts = count.div_ceil(encoding::PART_RECORDS).max(1);
        if parts > u16::MAX as usize {
            return Err(Error::InvalidBlock {
                run: block.run,
                detail: format!("{count} records of one body are too many for one block"),
            });
        }
        for part in 0..parts {
            let from = (part * encoding::PART_RECORDS).min(count);
            let to = (from + encoding::PART_RECORDS).min(count);
            let records = body_part(from, to);
            let key = encoding::chunk_key(block.run, block.first_iteration, body, part as u16);
            value.clear();
            encoding::encode_chunk(
                &key,
                words,
                block.first_iteration,
                end,
                records.clone(),
                value,
            );
            batch.insert(&key[..], &value[..]);
            if let Some(first) = records.clone().next() {
                let index = encoding::index_key(block.run, body, first.t0);
                let entry = encoding::encode_index(&index, block.first_iteration, part as u16);
                batch.insert(&index[..], &entry[..]);
            }
        }
    }
    Ok(())
}

/// Puts `block`'s records (whole rounds at output step `step`, checked) into `batch`
/// as frames: for each group of [`encoding::GROUP_BODIES`] bodies, one frame per
/// [`encoding::FRAME_STEPS`] iterations, holding only the states.
pub(super) fn write_frames(
    block: &Block<'_>,
    step: f64,
    value: &mut Vec<u8>,
    batch: &mut sled::Batch,
) -> Result<()> {
    let words = block.run.model.state_words();
    let bodies = block.bodies as usize;
    let steps = block.end - block.first_iteration;
    let parts = steps.div_ceil(encoding::FRAME_STEPS);
    if parts > u16::MAX as u64 + 1 {
        return Err(Error::InvalidBlock {
            run: block.run,
            detail: format!("{steps} output steps are too many for one block"),
        });
    }
    for group in (0..block.bodies).step_by(encoding::GROUP_BODIES as usize) {
        let n = encoding::GROUP_BODIES.min(block.bodies - group);
        for part in 0..parts {
            let from = part * encoding::FRAME_STEPS;
            let to = (from + encoding::FRAME_STEPS).min(steps);
            let key = encoding::frame_key(block.run, block.first_iteration, group, part as u16);
            let rows = (from as usize..to as usize).map(|i| {
                let at = i * bodies + group as usize;
                &block.records[at..at + n as usize]
            });
            value.clear();
            encoding::encode_frame(&key, words, step, block.end, n, rows, value);
            batch.insert(&key[..], &value[..]);
        }
    }
    Ok(())
}

/// The output step of `records` if they are whole rounds of `bodies` bodies over
/// iterations `span` whose record of iteration `k` spans `[k * step, (k + 1) * step)`
/// exactly; with no `step` given, the one the first record implies (its `t1`, when
/// the span starts at 0).
pub(super) fn arithmetic_step(
    records: &[Record],
    bodies: u32,
    span: Range<u64>,
    step: Option<f64>,
) -> Option<f64> {
    let first = span.start;
    let whole = span
        .end
        .checked_sub(first)
        .and_then(|n| n.checked_mul(bodies as u64))
        == Some(records.len() as u64);
    if !whole
        || !is_round(records, bodies as usize)
        || records
            .iter()
            .step_by(bodies as usize)
            .zip(first..)
            .any(|(r, k)| r.iteration != k)
    {
        return None;
    }
    let step = match step {
        Some(step) => step,
        None if first == 0 => records[0].t1,
        None => return None,
    };
    let last_end = records.last().map_or(0.0, |r| r.t1);
    if !(step > 0.0 && step.is_finite() && last_end.is_finite()) {
        return None;
    }
    records
        .iter()
        .all(|r| r.t0 == r.iteration as f64 * step && r.t1 == (r.iteration + 1) as f64 * step)
        .then_some(step)
}

/// Whether `records` are whole rounds of `bodies` bodies: by iteration, then body,
/// each body once per iteration (what an orbit job's block is).
fn is_round(records: &[Record], bodies: usize) -> bool {
    bodies > 0
        && !records.is_empty()
        && records.len().is_multiple_of(bodies)
        && records.iter().enumerate().all(|(i, r)| {
            r.body as usize == i % bodies && r.iteration == records[i - i % bodies].iteration
        })
}

/// Puts `records` (by iteration, then body) into `out` grouped by body, each body's in
/// their order (a counting sort); returns where each body's records start, with the
/// end last.
fn group_by_body(records: &[Record], bodies: u32, out: &mut Vec<Record>) -> Vec<usize> {
    let mut starts = vec![0usize; bodies as usize + 1];
    for r in records {
        if let Some(count) = starts.get_mut(r.body as usize + 1) {
            *count += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    out.clear();
    out.resize(
        records.len(),
        records.first().copied().unwrap_or(Record {
            t0: 0.0,
            t1: 0.0,
            body: 0,
            iteration: 0,
            state: [0.0; crate::run::MAX_STATE_WORDS],
        }),
    );
    let mut next = starts.clone();
    for r in records {
        // Bodies past the run's were refused by `check_block`.
        let slot = &mut next[r.body as usize];
        out[*slot] = *r;
        *slot += 1;
    }
    starts
}
