//! Bodies built from the log: the whole run (in memory, for the cache, or streamed),
//! and a decimated series for the page. All of it is blocking work, for
//! `spawn_blocking`.

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use nano_pipeline::{Agent, Format, RunKey, RunWriter};
use nano_store::Log;

use crate::budget::ReadPermit;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// The run's first `n` iterations as one document, read from the log.
pub fn document(
    log: &Log,
    seed: u64,
    n: u64,
    format: Format,
) -> Result<Vec<u8>, nano_pipeline::Error> {
    let mut out = RunWriter::begin(Vec::new(), format, n, seed)?;
    for record in log.replay(RunKey::nano(seed), 0..n)? {
        out.record(&record?)?;
    }
    Ok(out.finish()?)
}

/// A `Write` that hands 64 KiB chunks to an async body.
struct ChunkWriter {
    buffer: Vec<u8>,
    chunks: mpsc::Sender<Result<Bytes, io::Error>>,
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= 1 << 16 {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(1 << 16),
        ));
        self.chunks
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// The run's first `n` iterations streamed from the log: memory stays at a few chunks
/// whatever `n` is. `permit` (its share of the memory budget) is held until the last
/// chunk is handed on or the client goes away.
pub fn stream(log: Log, seed: u64, n: u64, format: Format, permit: ReadPermit) -> Body {
    let (chunks, receiver) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let writer = ChunkWriter {
            buffer: Vec::with_capacity(1 << 16),
            chunks: chunks.clone(),
        };
        let result = (|| -> Result<(), nano_pipeline::Error> {
            let mut out = RunWriter::begin(writer, format, n, seed)?;
            for record in log.replay(RunKey::nano(seed), 0..n)? {
                out.record(&record?)?;
            }
            out.finish()?;
            Ok(())
        })();
        if let Err(e) = result {
            // Ends the body with an error, so the client sees a broken response rather
            // than a short document that looks whole.
            let _ = chunks.blocking_send(Err(io::Error::other(e.to_string())));
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
    for record in log.replay(RunKey::nano(seed), 0..n)? {
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
