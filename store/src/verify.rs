//! Checking a whole log: every checksum, and the catalog against the blocks.

use std::collections::BTreeMap;
use std::fmt;

use crate::catalog::CatalogEntry;
use crate::encoding::{self, Chunk, ElementFile, Frame, Key};
use crate::log::{describe_key, Log};
use crate::run::RunKey;
use crate::{Result, TimeRange};

/// What [`Log::verify`] found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Report {
    pub runs: u64,
    pub blocks: u64,
    pub records: u64,
    /// Series kept beside the runs ([`Log::put_series`]).
    pub series: u64,
    /// Versions of orbit runs after version 0 ([`Log::put_version`]).
    pub versions: u64,
    /// Screenings kept for versions ([`Log::put_screening`]).
    pub screenings: u64,
    /// Runs whose next version's parts are in the log without its metadata: a write
    /// that did not finish (the process died), never visible as a version; the next
    /// write of that version removes them. Not a problem.
    pub interrupted_versions: u64,
    /// Element-set files kept ([`Log::keep_element_file`]).
    pub element_files: u64,
    /// Element-set files whose parts are in the log without their metadata: a keep
    /// that did not finish, never visible; the next keep of that file removes them.
    /// Not a problem.
    pub interrupted_element_files: u64,
    /// Every problem found, each naming its place; empty for a sound log.
    pub problems: Vec<String>,
}

impl Report {
    /// Whether the log passed every check.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checked {} runs, {} blocks, {} records, {} series",
            self.runs, self.blocks, self.records, self.series
        )?;
        // Logs without versions read as they did before there were any.
        if self.versions + self.screenings > 0 {
            write!(
                f,
                ", {} versions, {} screenings",
                self.versions, self.screenings
            )?;
        }
        if self.element_files + self.interrupted_element_files > 0 {
            write!(f, ", {} element-set files", self.element_files)?;
        }
        if self.interrupted_element_files > 0 {
            write!(
                f,
                " ({} interrupted element-set files, not visible)",
                self.interrupted_element_files
            )?;
        }
        if self.interrupted_versions > 0 {
            write!(
                f,
                " ({} interrupted versions, not visible)",
                self.interrupted_versions
            )?;
        }
        writeln!(
            f,
            ": {}",
            if self.is_ok() {
                "no problems"
            } else {
                "PROBLEMS FOUND"
            }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// What the walk saw of one run's blocks.
#[derive(Default)]
struct Seen {
    /// The block being read: its first iteration and its end.
    block: Option<(u64, u64)>,
    /// Where the next block must start.
    next_block: u64,
    records: u64,
    /// Each body's latest record's end, by body.
    ends: BTreeMap<u32, f64>,
    /// The highest body seen, plus one.
    bodies: u32,
    /// The chunks' first times, to match against the time index.
    chunk_starts: BTreeMap<(u32, u64, u16), u64>,
    /// Checkpoint slots seen.
    slots: u32,
    /// The versions seen, with how many states each says it keeps.
    versions: Vec<u64>,
    /// The states of each version seen in its parts, and where the next part of the
    /// version being read must be.
    version_states: BTreeMap<u32, (u64, u32)>,
    /// Checkpoint packs seen.
    packs: u32,
    /// A run kept as frames: its output step, and the frame expected next in the block
    /// being read (its group's first body and its part).
    frames: Option<(f64, u32, u16)>,
}

impl Log {
    /// Reads every key of the log and checks every checksum, that each run's blocks
    /// follow each other without gaps and tile each body's timeline, that the time
    /// index points at the chunks, that the checkpoint's slots are whole, and that each
    /// catalog entry agrees with its blocks, that each series is whole and of
    /// iterations its run holds, that a run's versions follow each other with all the
    /// states they say they keep, and that each screening is whole and of a version
    /// the run has, and that each element-set file is whole (its parts in order, its
    /// length and its content's checksum those its metadata names). Only storage failures are errors; what is wrong with the data is in
    /// the report.
    pub fn verify(&self) -> Result<Report> {
        crate::log::guarded(self.path(), || self.check_all())
    }

    fn check_all(&self) -> Result<Report> {
        let mut report = Report::default();
        let mut catalog: BTreeMap<RunKey, CatalogEntry> = BTreeMap::new();
        let mut seen: BTreeMap<RunKey, Seen> = BTreeMap::new();
        let mut problems = Vec::new();
        let mut series: Option<SeriesSeen> = None;
        let mut element_files: BTreeMap<[u8; 16], (ElementFile, String)> = BTreeMap::new();
        let mut element_parts: Option<PartsSeen> = None;
        for item in self.tree().iter() {
            let (key, value) = item?;
            let place = describe_key(&key);
            match encoding::decode_key(&key) {
                Err(e) => problems.push(format!("{place}: {e}")),
                Ok(Key::ElementFile { id }) => match encoding::decode_element_file(&key, &value) {
                    Ok(file) => {
                        report.element_files += 1;
                        element_files.insert(id, (file, place));
                    }
                    Err(e) => problems.push(format!("{place}: {e}")),
                },
                Ok(Key::ElementFilePart { id, part }) => {
                    if element_parts.as_ref().is_none_or(|p| p.id != id) {
                        if let Some(done) = element_parts.take() {
                            done.finish(&mut element_files, &mut report, &mut problems);
                        }
                        element_parts = Some(PartsSeen::new(id, place.clone()));
                    }
                    let seen = element_parts.as_mut().expect("set above");
                    match encoding::decode_element_part(&key, &value) {
                        Ok((total, bytes)) => {
                            if part != seen.parts || seen.total.is_some_and(|t| t != total) {
                                problems.push(format!(
                                    "{place}: the file's parts do not follow each other"
                                ));
                            }
                            seen.total = Some(total);
                            seen.bytes += bytes.len() as u64;
                            seen.content.update(bytes);
                        }
                        Err(e) => {
                            seen.damaged = true;
                            problems.push(format!("{place}: {e}"));
                        }
                    }
                    seen.parts = part.saturating_add(1);
                }
                Ok(Key::Catalog(run)) => match encoding::decode_catalog(&key, &value) {
                    Ok(entry) => {
                        catalog.insert(run, entry);
                    }
                    Err(e) => problems.push(format!("{place}: {e}")),
                },
                Ok(Key::Chunk { run, .. }) => match Chunk::parse(&key, &value) {
                    Ok(chunk) => {
                        report.records += chunk.len() as u64;
                        check_chunk(
                            &chunk,
                            seen.entry(run).or_default(),
                            &place,
                            &mut problems,
                            &mut report.blocks,
                        );
                    }
                    Err(e) => problems.push(format!("{place}: {e}")),
                },
                Ok(Key::TimeIndex { run, body, t0 }) => {
                    match encoding::decode_index(&key, &value) {
                        Ok((first, part)) => {
                            let start = seen
                                .get(&run)
                                .and_then(|s| s.chunk_starts.get(&(body, first, part)));
                            if start != Some(&encoding::ordered(t0)) {
                                problems.push(format!("{place}: points to no chunk starting there (block {first}, part {part})"));
                            }
                        }
                        Err(e) => problems.push(format!("{place}: {e}")),
                    }
                }
                Ok(Key::Frame { run, .. }) => match Frame::parse(&key, &value) {
                    Ok(frame) => {
                        report.records += frame.len() as u64;
                        let bodies = catalog.get(&run).map_or(0, |e| e.bodies);
                        check_frame(
                            &frame,
                            bodies,
                            seen.entry(run).or_default(),
                            &place,
                            &mut problems,
                            &mut report.blocks,
                        );
                    }
                    Err(e) => problems.push(format!("{place}: {e}")),
                },
                Ok(Key::Pack { run, pack }) => {
                    let s = seen.entry(run).or_default();
                    if pack != s.packs {
                        problems.push(format!("{place}: pack {} is missing before it", s.packs));
                    }
                    s.packs = pack + 1;
                    match encoding::decode_pack(&key, &value) {
                        Ok(slots) => s.slots += slots.len() as u32,
                        Err(e) => problems.push(format!("{place}: {e}")),
                    }
                }
                Ok(Key::Checkpoint { run, slot }) => {
                    let s = seen.entry(run).or_default();
                    if slot != s.slots {
                        problems.push(format!("{place}: slot {} is missing before it", s.slots));
                    }
                    s.slots = slot + 1;
                    if let Err(e) = encoding::decode_sealed(&key, &value) {
                        problems.push(format!("{place}: {e}"));
                    }
                }
                Ok(Key::Document(_)) => match encoding::decode_sealed(&key, &value) {
                    Ok(bytes) if std::str::from_utf8(bytes).is_err() => {
                        problems.push(format!("{place}: not UTF-8"))
                    }
                    Ok(_) => {}
                    Err(e) => problems.push(format!("{place}: {e}")),
                },
                Ok(Key::Version { run, version }) => {
                    report.versions += 1;
                    let s = seen.entry(run).or_default();
                    match encoding::decode_version(&key, &value) {
                        Ok(v) => {
                            if version as usize != s.versions.len() + 1 || v.parent + 1 != version {
                                problems.push(format!(
                                    "{place}: the versions do not follow each other"
                                ));
                            }
                            s.versions.push(v.states);
                        }
                        Err(e) => problems.push(format!("{place}: {e}")),
                    }
                }
                Ok(Key::ManoeuvreKey { run, .. }) => {
                    let versions = seen.get(&run).map_or(0, |s| s.versions.len());
                    match encoding::decode_manoeuvre_key(&key, &value) {
                        Ok((version, _)) if version as usize > versions || version == 0 => {
                            problems.push(format!(
                                "{place}: it names version {version}, and the log holds {versions} versions of the run after version 0"
                            ))
                        }
                        Ok(_) => {}
                        Err(e) => problems.push(format!("{place}: {e}")),
                    }
                }
                Ok(Key::VersionStates { run, version, part }) => {
                    let s = seen.entry(run).or_default();
                    let (states, next) = s.version_states.entry(version).or_default();
                    if part != *next {
                        problems.push(format!(
                            "{place}: the version's parts do not follow each other"
                        ));
                    }
                    *next = part.saturating_add(1);
                    match encoding::decode_version_states(&key, &value) {
                        Ok(part) => *states += part.len() as u64,
                        Err(e) => problems.push(format!("{place}: {e}")),
                    }
                }
                Ok(Key::Screening {
                    run,
                    version,
                    d_bits,
                    part,
                }) => {
                    let of = (run, u64::from(version), 0);
                    if series
                        .as_ref()
                        .is_none_or(|s| s.of != of || s.screening != Some(d_bits))
                    {
                        if let Some(done) = series.take() {
                            done.finish(&mut problems);
                        }
                        report.screenings += 1;
                        let versions = seen.get(&run).map_or(0, |s| s.versions.len());
                        if version as usize > versions {
                            problems.push(format!(
                                "{place}: the log holds {versions} versions of the run after version 0"
                            ));
                        }
                        series = Some(SeriesSeen {
                            of,
                            screening: Some(d_bits),
                            place: place.clone(),
                            parts: 0,
                            total: None,
                            bytes: 0,
                        });
                    }
                    let seen = series.as_mut().expect("set above");
                    match encoding::decode_screening_part(&key, &value) {
                        Ok((total, bytes)) => {
                            if part != seen.parts || seen.total.is_some_and(|t| t != total) {
                                problems.push(format!(
                                    "{place}: the screening's parts do not follow each other"
                                ));
                            }
                            seen.total = Some(total);
                            seen.bytes += bytes.len() as u64;
                        }
                        Err(e) => problems.push(format!("{place}: {e}")),
                    }
                    seen.parts = part.saturating_add(1);
                }
                Ok(Key::Series {
                    run,
                    n,
                    points,
                    part,
                }) => {
                    let of = (run, n, points);
                    if series
                        .as_ref()
                        .is_none_or(|s| s.of != of || s.screening.is_some())
                    {
                        if let Some(done) = series.take() {
                            done.finish(&mut problems);
                        }
                        report.series += 1;
                        let logged = catalog.get(&run).map_or(0, |e| e.iterations);
                        if logged < n {
                            problems.push(format!(
                                "{place}: the log holds {logged} iterations of the run"
                            ));
                        }
                        series = Some(SeriesSeen {
                            of,
                            screening: None,
                            place: place.clone(),
                            parts: 0,
                            total: None,
                            bytes: 0,
                        });
                    }
                    let seen = series.as_mut().expect("set above");
                    match encoding::decode_series_part(&key, &value) {
                        Ok((total, bytes)) => {
                            if part != seen.parts || seen.total.is_some_and(|t| t != total) {
                                problems.push(format!(
                                    "{place}: the series' parts do not follow each other"
                                ));
                            }
                            seen.total = Some(total);
                            seen.bytes += bytes.len() as u64;
                        }
                        Err(e) => problems.push(format!("{place}: {e}")),
                    }
                    seen.parts = part.saturating_add(1);
                }
            }
        }
        if let Some(done) = series.take() {
            done.finish(&mut problems);
        }
        if let Some(done) = element_parts.take() {
            done.finish(&mut element_files, &mut report, &mut problems);
        }
        for (file, place) in element_files.values() {
            if file.len > 0 {
                problems.push(format!("{place}: its {} parts are missing", file.parts));
            }
        }
        for (run, entry) in &catalog {
            let s = seen.remove(run).unwrap_or_default();
            report.interrupted_versions += compare(entry, &s, &mut problems);
        }
        for run in seen.keys() {
            problems.push(format!("run {run}: blocks without a catalog entry"));
        }
        report.runs = catalog.len() as u64;
        report.problems.extend(problems);
        Ok(report)
    }
}

/// What the walk saw of the series being read.
struct SeriesSeen {
    of: (RunKey, u64, u32),
    /// For a screening ([`Log::put_screening`]): its distance's bits.
    screening: Option<u64>,
    place: String,
    parts: u16,
    total: Option<u64>,
    bytes: u64,
}

impl SeriesSeen {
    fn finish(self, problems: &mut Vec<String>) {
        if let Some(total) = self.total.filter(|&t| t != self.bytes) {
            problems.push(format!(
                "{}: the series' parts hold {} bytes of {total}",
                self.place, self.bytes
            ));
        }
    }
}

/// What the walk saw of the parts of one element-set file.
struct PartsSeen {
    id: [u8; 16],
    place: String,
    parts: u32,
    total: Option<u64>,
    bytes: u64,
    content: crc32fast::Hasher,
    /// A part failed its own check (already reported).
    damaged: bool,
}

impl PartsSeen {
    fn new(id: [u8; 16], place: String) -> PartsSeen {
        PartsSeen {
            id,
            place,
            parts: 0,
            total: None,
            bytes: 0,
            content: crc32fast::Hasher::new(),
            damaged: false,
        }
    }

    /// Checks the parts against their file's metadata (taken out of `files`); parts
    /// without metadata are an interrupted keep.
    fn finish(
        self,
        files: &mut BTreeMap<[u8; 16], (ElementFile, String)>,
        report: &mut Report,
        problems: &mut Vec<String>,
    ) {
        let Some((file, _)) = files.remove(&self.id) else {
            report.interrupted_element_files += 1;
            return;
        };
        let place = self.place;
        if self.parts != file.parts || self.bytes != file.len {
            problems.push(format!(
                "{place}: the file's metadata says {} bytes in {} parts, its parts hold {} bytes in {}",
                file.len, file.parts, self.bytes, self.parts
            ));
        } else if !self.damaged && self.content.finalize() != file.content_crc {
            problems.push(format!(
                "{place}: the file's parts put together fail its checksum"
            ));
        }
    }
}

/// Checks one chunk against what came before it in its run.
fn check_chunk(
    chunk: &Chunk<'_>,
    seen: &mut Seen,
    place: &str,
    problems: &mut Vec<String>,
    blocks: &mut u64,
) {
    let block = (chunk.first_iteration, chunk.end);
    if seen.block != Some(block) {
        // Chunks sort by first iteration then body: this one opens a new block.
        if chunk.first_iteration != seen.next_block || chunk.end <= chunk.first_iteration {
            problems.push(format!(
                "{place}: a gap: the run's blocks reached iteration {}",
                seen.next_block
            ));
        }
        *blocks += 1;
        seen.block = Some(block);
        seen.next_block = chunk.end;
    }
    seen.bodies = seen.bodies.max(chunk.body.saturating_add(1));
    if !chunk.is_empty() {
        seen.chunk_starts.insert(
            (chunk.body, chunk.first_iteration, chunk.part),
            encoding::ordered(chunk.t0),
        );
    }
    for r in chunk.records() {
        let end = seen.ends.entry(chunk.body).or_insert(r.t0);
        if *end != r.t0
            || TimeRange::new(r.t0, r.t1).is_err()
            || !(chunk.first_iteration..chunk.end).contains(&r.iteration)
        {
            problems.push(format!(
                "{place}: the record of iteration {} does not continue the body's timeline",
                r.iteration
            ));
        }
        *end = r.t1;
        seen.records += 1;
    }
}

/// Checks one frame of a run of `bodies` bodies against what came before it.
fn check_frame(
    frame: &Frame<'_>,
    bodies: u32,
    seen: &mut Seen,
    place: &str,
    problems: &mut Vec<String>,
    blocks: &mut u64,
) {
    let block = (frame.block, frame.end);
    let (step, mut group, mut part) = seen.frames.unwrap_or((frame.step, 0, 0));
    if seen.block != Some(block) {
        // Frames sort by block, then group, then part: this one opens a new block.
        if group != 0 && group < bodies {
            problems.push(format!(
                "{place}: a gap: the block before lacks the frames of bodies {group}.."
            ));
        }
        if frame.block != seen.next_block {
            problems.push(format!(
                "{place}: a gap: the run's blocks reached iteration {}",
                seen.next_block
            ));
        }
        *blocks += 1;
        seen.block = Some(block);
        seen.next_block = frame.end;
        (group, part) = (0, 0);
    }
    if (frame.first_body, frame.part) != (group, part)
        || group >= bodies
        || frame.bodies != encoding::GROUP_BODIES.min(bodies - group)
    {
        problems.push(format!(
            "{place}: a gap: the frame of bodies {group}..{} (part {part}) was expected",
            group.saturating_add(encoding::GROUP_BODIES)
        ));
    }
    if frame.step != step {
        problems.push(format!(
            "{place}: an output step of {} where the run's is {step}",
            frame.step
        ));
    }
    seen.bodies = seen
        .bodies
        .max(frame.first_body.saturating_add(frame.bodies));
    seen.records += frame.len() as u64;
    if frame.first + frame.steps < frame.end {
        part = frame.part.saturating_add(1);
    } else {
        (group, part) = (frame.first_body.saturating_add(frame.bodies), 0);
    }
    seen.frames = Some((step, group, part));
}

/// Checks a catalog entry against what the walk saw of its run; 1 when the run has
/// the parts of an interrupted version (see [`Report::interrupted_versions`]).
fn compare(entry: &CatalogEntry, seen: &Seen, problems: &mut Vec<String>) -> u64 {
    let run = entry.run;
    if entry.iterations != seen.next_block {
        problems.push(format!(
            "run {run}: the catalog says {} iterations, the blocks reach {}",
            entry.iterations, seen.next_block
        ));
    }
    if entry.records != seen.records {
        problems.push(format!(
            "run {run}: the catalog says {} records, the blocks hold {}",
            entry.records, seen.records
        ));
    }
    if seen.bodies > entry.bodies {
        problems.push(format!(
            "run {run}: the catalog says {} bodies, the blocks hold records of body {}",
            entry.bodies,
            seen.bodies - 1
        ));
    }
    for (i, &states) in seen.versions.iter().enumerate() {
        let version = i as u32 + 1;
        let found = seen.version_states.get(&version).map_or(0, |s| s.0);
        if found != states {
            problems.push(format!(
                "run {run}, version {version}: it says {states} states, its parts hold {found}"
            ));
        }
    }
    // The parts of the version after the latest are an interrupted write (the
    // metadata is written last); parts of any later one cannot be.
    let next = seen.versions.len() as u32 + 1;
    let interrupted = seen.version_states.contains_key(&next);
    if seen.version_states.keys().any(|&v| v > next) {
        problems.push(format!(
            "run {run}: states of a version the log does not hold"
        ));
    }
    if let Some((_, group, _)) = seen.frames.filter(|&(_, group, _)| group < entry.bodies) {
        problems.push(format!(
            "run {run}: its last block lacks the frames of bodies {group}.."
        ));
    }
    if entry.iterations > 0 && seen.slots == 0 {
        problems.push(format!("run {run}: no checkpoint to continue from"));
    }
    u64::from(interrupted)
}
