//! Bodies built from the log: the whole run (in memory, for the cache, or streamed),
//! and a decimated series for the page. [`document`] and [`decimated`] are blocking
//! work, for `spawn_blocking`; [`stream`] reads in bounded pieces on a small pool. A
//! decimated series is computed once per `(run, n, points)` and kept in the log
//! ([`nano_store::Log::put_series`]), so that later views, after a restart too, read
//! it back instead of scanning the run. An orbit run's download is streamed the same
//! way from [`OrbitPieces`] (`nano_pipeline::runs::download`, which the command
//! line's replay writes from too).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use nano_pipeline::runs::download::OrbitPieces;
/// The rule of a version's states, which the orbit downloads follow (the handlers'
/// documentation names it here).
pub use nano_pipeline::runs::Overlay;
use nano_pipeline::{Agent, Format, Record, RunKey, RunWriter};
use nano_store::{Log, Replay};

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
pub use nano_pipeline::runs::download::CHUNK;

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

impl Piecewise for OrbitPieces {
    fn next_piece(&mut self) -> Result<Option<Bytes>, String> {
        self.next_chunk()
            .map(|chunk| chunk.map(Bytes::from))
            .map_err(|e| e.to_string())
    }
}
