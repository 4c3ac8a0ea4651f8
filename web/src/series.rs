//! Bodies built from the log: the whole run (in memory, for the cache, or streamed),
//! and a decimated series for the page. [`document`] and [`decimated`] are blocking
//! work, for `spawn_blocking`; [`stream`] reads in bounded pieces on a small pool. A
//! decimated series is computed once per `(run, n, points)` and kept in the log
//! ([`nano_store::Log::put_series`]), so that later views, after a restart too, read
//! it back instead of scanning the run. [`OrbitPieces`] streams an orbit run the same
//! way, in any of its formats (the OEM body by body), every state or those [`Keep`]
//! keeps, as propagated or in a version made by manoeuvres ([`Overlay`]).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use nano_pipeline::ephemeris::{EphemerisWriter, OrbitFormat};
use nano_pipeline::orbit::OrbitState;
use nano_pipeline::scenario::OrbitScenario;
use nano_pipeline::{Agent, Format, Record, RunKey, RunWriter};
use nano_store::{Log, Replay, Version};

use crate::budget::ReadPermit;
use crate::clients::StreamPlace;
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use tokio_stream::wrappers::ReceiverStream;

/// The run's first `n` iterations as one document, read from the log.
pub fn document(
    log: &Log,
    seed: u64,
    n: u64,
    format: Format,
) -> Result<Vec<u8>, nano_pipeline::Error> {
    let mut out = RunWriter::begin(Vec::new(), format, n, seed)?;
    for record in nano_pipeline::model::replay(log, seed, 0..n)? {
        out.record(&record?)?;
    }
    Ok(out.finish()?)
}

/// Bytes a streamed body reads from the log in one go (one chunk).
pub const CHUNK: usize = 1 << 16;

/// A streamed body's place in the log: opened by its first piece, carried from one
/// blocking read to the next.
struct Pieces {
    log: Log,
    seed: u64,
    n: u64,
    format: Format,
    open: Option<(Replay, RunWriter<Vec<u8>>)>,
    finished: bool,
}

impl Pieces {
    /// The next chunk of about [`CHUNK`] bytes; `None` after the last.
    fn next(&mut self) -> Result<Option<Bytes>, nano_pipeline::Error> {
        if self.finished {
            return Ok(None);
        }
        if self.open.is_none() {
            let replay = self.log.replay(RunKey::nano(self.seed), 0..self.n)?;
            let out = RunWriter::begin(
                Vec::with_capacity(CHUNK + 512),
                self.format,
                self.n,
                self.seed,
            )?;
            self.open = Some((replay, out));
        }
        let Some((replay, out)) = &mut self.open else {
            return Ok(None);
        };
        while out.get_mut().len() < CHUNK {
            match replay.next() {
                Some(record) => {
                    out.record(&Record::from_logged(RunKey::nano(self.seed), record?)?)?
                }
                None => {
                    let (_, out) = self.open.take().expect("open above");
                    self.finished = true;
                    return Ok(Some(Bytes::from(out.finish()?)));
                }
            }
        }
        let chunk = std::mem::replace(out.get_mut(), Vec::with_capacity(CHUNK + 512));
        Ok(Some(Bytes::from(chunk)))
    }
}

/// A body read from the log a piece at a time, each piece one blocking read (see
/// [`stream_pieces`]).
pub trait Piecewise: Send + 'static {
    /// The next piece of about [`CHUNK`] bytes; `None` after the last. An error ends
    /// the body broken, so that a client never takes a cut document for a whole one.
    fn next_piece(&mut self) -> Result<Option<Bytes>, String>;
}

impl Piecewise for Pieces {
    fn next_piece(&mut self) -> Result<Option<Bytes>, String> {
        self.next().map_err(|e| e.to_string())
    }
}

/// The run's first `n` iterations streamed from the log (see [`stream_pieces`]).
#[allow(clippy::too_many_arguments)]
pub fn stream(
    log: Log,
    seed: u64,
    n: u64,
    format: Format,
    reads: Arc<Semaphore>,
    send_timeout: Duration,
    permit: StreamPlace,
    budget: ReadPermit,
) -> Body {
    let pieces = Pieces {
        log,
        seed,
        n,
        format,
        open: None,
        finished: false,
    };
    stream_pieces(pieces, reads, send_timeout, permit, budget)
}

/// A body streamed from the log piece by piece. Memory stays at a piece or two
/// whatever the body's length, and no thread waits on the client: each piece is one
/// blocking read (at most `reads` at once across the service), made only once the
/// client has taken the previous one. A client that takes nothing for `send_timeout`
/// loses the body; `permit` (its place among the open streams) and `budget` (its share
/// of the memory budget) are held until the body ends.
pub fn stream_pieces(
    pieces: impl Piecewise,
    reads: Arc<Semaphore>,
    send_timeout: Duration,
    permit: StreamPlace,
    budget: ReadPermit,
) -> Body {
    let (chunks, receiver) = mpsc::channel::<Result<Bytes, io::Error>>(1);
    tokio::spawn(async move {
        let _permit = (permit, budget);
        let mut pieces = Some(pieces);
        loop {
            let slot = match tokio::time::timeout(send_timeout, chunks.reserve()).await {
                Ok(Ok(slot)) => slot,
                // The client went away, or stopped reading.
                Ok(Err(_)) | Err(_) => return,
            };
            let Ok(_read) = reads.acquire().await else {
                return;
            };
            let mut taken = pieces.take().expect("put back after every read");
            let read = tokio::task::spawn_blocking(move || {
                let next = taken.next_piece();
                (taken, next)
            })
            .await;
            match read {
                Ok((back, Ok(Some(chunk)))) => {
                    pieces = Some(back);
                    slot.send(Ok(chunk));
                }
                Ok((_, Ok(None))) => return,
                Ok((_, Err(e))) => {
                    // Ends the body with an error, so the client sees a broken response
                    // rather than a short document that looks whole.
                    slot.send(Err(io::Error::other(e.to_string())));
                    return;
                }
                Err(e) => {
                    slot.send(Err(io::Error::other(e.to_string())));
                    return;
                }
            }
        }
    });
    Body::from_stream(ReceiverStream::new(receiver))
}

/// At most `points` points per agent (and its last one), evenly spaced in the agent's
/// records: `{"model","n","seed","points","agents":{"Planet":{"t":[..],"x":[..],"y":[..]},..}}`.
pub fn decimated(
    log: &Log,
    seed: u64,
    n: u64,
    points: usize,
) -> Result<Vec<u8>, nano_pipeline::Error> {
    // Each agent writes at most one record per iteration.
    let stride = n.div_ceil(points as u64).max(1);
    let mut series: Vec<[Vec<f64>; 3]> = Agent::ALL.iter().map(|_| Default::default()).collect();
    let mut seen = [0u64; 2];
    let mut last = [None; 2];
    for record in nano_pipeline::model::replay(log, seed, 0..n)? {
        let r = record?;
        let a = r.agent.index();
        if seen[a] % stride == 0 {
            let [t, x, y] = &mut series[a];
            t.push(r.t1);
            x.push(r.state.position.x);
            y.push(r.state.position.y);
            last[a] = None;
        } else {
            last[a] = Some(r);
        }
        seen[a] += 1;
    }
    for (a, r) in last.iter().enumerate() {
        if let Some(r) = r {
            let [t, x, y] = &mut series[a];
            t.push(r.t1);
            x.push(r.state.position.x);
            y.push(r.state.position.y);
        }
    }
    let agents: serde_json::Map<String, serde_json::Value> = Agent::ALL
        .iter()
        .zip(series)
        .map(|(agent, [t, x, y])| (agent.name().to_owned(), json!({"t": t, "x": x, "y": y})))
        .collect();
    let body = json!({"model": "nano", "n": n, "seed": seed, "points": points, "agents": agents});
    Ok(serde_json::to_vec(&body).expect("a JSON value serialises"))
}

/// Which output steps a `points=K` download keeps: every `every`-th of `0..=steps`,
/// and the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keep {
    every: u64,
    last: u64,
}

impl Keep {
    /// Every step of `0..=steps`, or, given `points`, at most that many (at least 2).
    pub fn new(steps: u64, points: Option<u64>) -> Keep {
        let Some(points) = points else {
            return Keep {
                every: 1,
                last: steps,
            };
        };
        let kept = |every: u64| steps / every + 1 + u64::from(!steps.is_multiple_of(every));
        let mut every = steps.div_ceil(points.max(2) - 1).max(1);
        while kept(every) > points.max(2) {
            every += 1;
        }
        Keep { every, last: steps }
    }

    /// Whether output step `k` (the state at `k * output_step_s`) is kept.
    pub fn keeps(&self, k: u64) -> bool {
        k.is_multiple_of(self.every) || k == self.last
    }
}

/// The states of a logged orbit run in one format, chunk by chunk: by time then body
/// (CSV, JSON) from [`Log::replay`], or body by body (OEM) from [`Log::track`].
pub struct OrbitPieces {
    log: Log,
    key: RunKey,
    scenario: OrbitScenario,
    steps: u64,
    format: OrbitFormat,
    keep: Keep,
    created: String,
    writer: Option<EphemerisWriter<Vec<u8>>>,
    /// By time: the next body whose initial state is due; by body: the body being
    /// written.
    body: usize,
    by_time: Option<Replay>,
    by_body: Option<nano_store::Track>,
    /// By time: the steps whose records have been read (the progress of CSV and JSON).
    steps_read: u64,
    /// The manoeuvred bodies' states of the version served, over version 0's.
    overlay: Overlay,
    finished: bool,
}

impl OrbitPieces {
    /// The first `steps` steps of the orbit run `key` of `scenario`, as the log holds
    /// them, with the states `keep` keeps; `created` is the OEM's `CREATION_DATE`.
    pub fn new(
        log: Log,
        key: RunKey,
        scenario: OrbitScenario,
        steps: u64,
        format: OrbitFormat,
        keep: Keep,
        created: String,
    ) -> OrbitPieces {
        OrbitPieces {
            log,
            key,
            scenario,
            steps,
            format,
            keep,
            created,
            writer: None,
            body: 0,
            by_time: None,
            by_body: None,
            steps_read: 0,
            overlay: Overlay::default(),
            finished: false,
        }
    }

    /// The same run in the version made by `versions` (every version after 0 up to the
    /// one served, in order): each manoeuvred body's states from its version's
    /// `from_output` on are that version's, read a window at a time.
    pub fn versioned(mut self, versions: Vec<Version>) -> OrbitPieces {
        self.overlay = Overlay::new(versions, self.scenario.output_step_s());
        self
    }

    /// Writes until the writer holds a chunk; true when the run is all written.
    fn fill(&mut self) -> Result<bool, nano_pipeline::Error> {
        let writer = self.writer.as_mut().expect("opened by next");
        let bodies = self.scenario.body_count();
        let initial = |body: usize| {
            self.scenario
                .body(body)
                .expect("index below body_count")
                .state0
        };
        let (log, key, overlay) = (&self.log, self.key, &mut self.overlay);
        while writer.get_mut().len() < CHUNK {
            if self.format == OrbitFormat::Oem {
                let Some(track) = &mut self.by_body else {
                    if self.body == bodies {
                        return Ok(true);
                    }
                    let body = self.body as u32;
                    match overlay.state(log, key, body, 0)? {
                        Some(s) => writer.state(body, &s)?,
                        None => writer.state(body, &initial(self.body))?,
                    }
                    self.by_body = Some(log.track(key, body, 0..self.steps)?);
                    continue;
                };
                match track.next() {
                    Some(record) => {
                        let record = record?;
                        let k = record.iteration + 1;
                        if self.keep.keeps(k) {
                            match overlay.state(log, key, record.body, k)? {
                                Some(s) => writer.state(record.body, &s)?,
                                None => writer.record(&record)?,
                            }
                        }
                    }
                    None => {
                        self.by_body = None;
                        self.body += 1;
                    }
                }
                continue;
            }
            if self.body < bodies {
                let body = self.body as u32;
                match overlay.state(log, key, body, 0)? {
                    Some(s) => writer.state(body, &s)?,
                    None => writer.state(body, &initial(self.body))?,
                }
                self.body += 1;
                continue;
            }
            let replay = match &mut self.by_time {
                Some(replay) => replay,
                None => self.by_time.insert(log.replay(key, 0..self.steps)?),
            };
            match replay.next() {
                Some(record) => {
                    let record = record?;
                    let k = record.iteration + 1;
                    self.steps_read = k;
                    if self.keep.keeps(k) {
                        match overlay.state(log, key, record.body, k)? {
                            Some(s) => writer.state(record.body, &s)?,
                            None => writer.record(&record)?,
                        }
                    }
                }
                None => return Ok(true),
            }
        }
        Ok(false)
    }
}

/// The states a version made by manoeuvres puts over version 0's, as
/// [`crate::routes::versions`] says: body `b`'s state at output `k` is that of the
/// latest version that manoeuvred `b` from an output at or before `k` and keeps a
/// state at `k`. Each manoeuvred body holds one window of [`Overlay::WINDOW`] states of
/// one version at a time (read from the log as the download reaches it), so a download
/// holds at most [`Overlay::bytes`] for them whatever the run's length.
#[derive(Default)]
pub struct Overlay {
    step: f64,
    versions: Vec<Version>,
    /// By manoeuvred body, sorted: the indices in `versions` of its versions, and its
    /// window.
    bodies: Vec<(u32, Vec<usize>, Option<OverlayWindow>)>,
}

/// States `lo ..` of the version at index `version` of an [`Overlay`].
struct OverlayWindow {
    version: usize,
    lo: u64,
    states: Vec<[f64; 6]>,
}

impl Overlay {
    /// States a body's window holds: one part of a version's states.
    pub const WINDOW: u64 = nano_store::encoding::VERSION_PART_STATES as u64;

    /// The overlay of `versions` (every version from 1 up to the one served, in order)
    /// on a run of output step `step` seconds.
    pub fn new(versions: Vec<Version>, step: f64) -> Overlay {
        let mut bodies: Vec<(u32, Vec<usize>, Option<OverlayWindow>)> = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            match bodies.binary_search_by_key(&v.body, |b| b.0) {
                Ok(at) => bodies[at].1.push(i),
                Err(at) => bodies.insert(at, (v.body, vec![i], None)),
            }
        }
        Overlay {
            step,
            versions,
            bodies,
        }
    }

    /// The most bytes the windows hold at once (one per manoeuvred body).
    pub fn bytes(versions: &[Version]) -> u64 {
        let mut bodies: Vec<u32> = versions.iter().map(|v| v.body).collect();
        bodies.sort_unstable();
        bodies.dedup();
        bodies.len() as u64 * Overlay::WINDOW * std::mem::size_of::<[f64; 6]>() as u64
    }

    /// Body `body`'s state at output `k` in the version, when a manoeuvre replaced
    /// version 0's; `None` when version 0's stands.
    pub(crate) fn state(
        &mut self,
        log: &Log,
        key: RunKey,
        body: u32,
        k: u64,
    ) -> Result<Option<OrbitState>, nano_pipeline::Error> {
        let Ok(at) = self.bodies.binary_search_by_key(&body, |b| b.0) else {
            return Ok(None);
        };
        let (_, indices, window) = &mut self.bodies[at];
        let Some(&version) = indices.iter().rev().find(|&&i| {
            let v = &self.versions[i];
            v.from_output <= k && k < v.from_output + v.states
        }) else {
            return Ok(None);
        };
        let v = &self.versions[version];
        let held = window
            .as_ref()
            .is_some_and(|w| w.version == version && w.lo <= k && k < w.lo + w.states.len() as u64);
        if !held {
            // The part holding `k`, whole: each read is of one part.
            let lo = (k - v.from_output) / Overlay::WINDOW * Overlay::WINDOW;
            let hi = (lo + Overlay::WINDOW).min(v.states);
            let states = log.version_states(key, v, lo..hi)?;
            *window = Some(OverlayWindow {
                version,
                lo: v.from_output + lo,
                states,
            });
        }
        let w = window.as_ref().expect("held or read above");
        let [x, y, z, vx, vy, vz] = w.states[(k - w.lo) as usize];
        Ok(Some(OrbitState {
            t: k as f64 * self.step,
            r: [x, y, z],
            v: [vx, vy, vz],
        }))
    }
}

impl OrbitPieces {
    /// The next chunk of about [`CHUNK`] bytes; `None` after the last.
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>, nano_pipeline::Error> {
        if self.finished {
            return Ok(None);
        }
        if self.writer.is_none() {
            self.writer = Some(EphemerisWriter::begin(
                Vec::with_capacity(CHUNK + 1024),
                self.format,
                &self.scenario,
                self.steps,
                &self.created,
            )?);
        }
        if self.fill()? {
            self.finished = true;
            let writer = self.writer.take().expect("opened above");
            return Ok(Some(Bytes::from(writer.finish()?)));
        }
        let writer = self.writer.as_mut().expect("opened above");
        let chunk = std::mem::replace(writer.get_mut(), Vec::with_capacity(CHUNK + 1024));
        Ok(Some(Bytes::from(chunk)))
    }
}

impl OrbitPieces {
    /// How many steps of every body are read so far (the progress of CSV and JSON,
    /// written by time; the OEM's is [`OrbitPieces::bodies_written`]).
    pub fn steps_read(&self) -> u64 {
        if self.finished {
            self.steps
        } else {
            self.steps_read
        }
    }

    /// How many bodies are written whole so far (the OEM's progress; by time, all or
    /// none).
    pub fn bodies_written(&self) -> usize {
        match (self.format, self.finished) {
            (_, true) => self.scenario.body_count(),
            (OrbitFormat::Oem, false) => self.body,
            (_, false) => 0,
        }
    }
}

impl Piecewise for OrbitPieces {
    fn next_piece(&mut self) -> Result<Option<Bytes>, String> {
        self.next_chunk().map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_keeps_at_most_points_with_the_first_and_last() {
        for steps in [1u64, 2, 3, 10, 99, 100, 101, 1000, 12_345] {
            for points in [2u64, 3, 7, 10, 100, 5000] {
                let keep = Keep::new(steps, Some(points));
                let kept: Vec<u64> = (0..=steps).filter(|&k| keep.keeps(k)).collect();
                assert!(
                    kept.len() as u64 <= points,
                    "{steps} {points}: {}",
                    kept.len()
                );
                assert_eq!(kept[0], 0);
                assert_eq!(*kept.last().unwrap(), steps);
                if steps < points {
                    assert_eq!(kept.len() as u64, steps + 1, "all fit");
                }
            }
        }
        let all = Keep::new(50, None);
        assert!((0..=50).all(|k| all.keeps(k)));
    }
}
