//! Running against the log: what the log holds is replayed, the rest is computed from
//! the run's checkpoint, and each new block is appended (durable as the log's `Sync`
//! says) before its records go on.

use nano_store::{Block, Log, RunKey};

use crate::model::Record;
use crate::propagator::Propagator;
use crate::Error;

/// Iterations per block when none is chosen: a block is the unit of durability and of
/// progress (about 6,500 records, a few hundred kilobytes).
pub const DEFAULT_BLOCK: u64 = 4096;

/// Where the records of a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// All from the log: it held `logged >= n` iterations.
    Replayed { logged: u64 },
    /// The log's first `logged` iterations, then computed from its checkpoint.
    Continued { logged: u64 },
    /// Computed from the start: the log held nothing of the run.
    Computed,
}

/// How a request for `iterations` of `run` will be met by `log`, before any work.
pub fn plan(log: &Log, run: RunKey, iterations: u64) -> Result<Source, Error> {
    Ok(match log.entry(run)? {
        Some(e) if e.iterations >= iterations => Source::Replayed {
            logged: e.iterations,
        },
        Some(e) if e.iterations > 0 => Source::Continued {
            logged: e.iterations,
        },
        _ => Source::Computed,
    })
}

/// Hands every record of the first `iterations` iterations of `run` to `sink`, in
/// order: replayed from `log` where it holds them, computed (and appended to it, a
/// block of `block` iterations at a time) where it does not.
pub fn propagate_logged<E>(
    log: &Log,
    run: RunKey,
    iterations: u64,
    block: u64,
    mut sink: impl FnMut(&Record) -> Result<(), E>,
) -> Result<Source, Error>
where
    Error: From<E>,
{
    let source = plan(log, run, iterations)?;
    let logged = match source {
        Source::Replayed { .. } => iterations,
        Source::Continued { logged } => logged,
        Source::Computed => 0,
    };
    let seed = run.seed().ok_or_else(|| Error::JobFailed {
        run,
        reason: "propagate_logged runs nano runs only".into(),
    })?;
    for record in crate::model::replay(log, seed, 0..logged)? {
        sink(&record?)?;
    }
    if logged == iterations {
        return Ok(source);
    }
    log.raise_target(run, iterations)?;
    let start = crate::model::logged_checkpoint(log, seed)?;
    let mut propagator = Propagator::resume(start, iterations);
    let mut records = Vec::new();
    let mut stored = Vec::new();
    let document = crate::model::document(seed);
    let block = block.max(1);
    while propagator.iterations_done() < iterations {
        let first_iteration = propagator.iterations_done();
        records.clear();
        propagator.run_until(first_iteration.saturating_add(block), |r| records.push(r));
        let checkpoint = propagator
            .checkpoint()
            .expect("run_until stops between iterations");
        stored.clear();
        stored.extend(records.iter().map(Record::to_stored));
        log.append(&[Block {
            run,
            bodies: crate::model::BODIES,
            target: iterations,
            first_iteration,
            end: checkpoint.iterations,
            records: &stored,
            checkpoint: &[checkpoint.to_bytes()],
            document: (first_iteration == 0).then_some(document.as_str()),
        }])?;
        records.iter().try_for_each(&mut sink)?;
    }
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_store::LogOptions;

    fn collect(log: &Log, seed: u64, n: u64, block: u64) -> (Vec<Record>, Source) {
        let mut out = Vec::new();
        let source = propagate_logged(log, RunKey::nano(seed), n, block, |r| {
            out.push(*r);
            Ok::<_, Error>(())
        })
        .unwrap();
        (out, source)
    }

    #[test]
    fn computes_then_replays_then_continues_always_giving_the_fresh_run() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let fresh = |n| Propagator::new(8, n).collect::<Vec<_>>();

        let (first, source) = collect(&log, 8, 1000, 300);
        assert_eq!((first, source), (fresh(1000), Source::Computed));
        let (prefix, source) = collect(&log, 8, 400, 300);
        assert_eq!(
            (prefix, source),
            (fresh(400), Source::Replayed { logged: 1000 })
        );
        let (longer, source) = collect(&log, 8, 2500, 300);
        assert_eq!(
            (longer, source),
            (fresh(2500), Source::Continued { logged: 1000 })
        );

        let entry = log.entry(RunKey::nano(8)).unwrap().unwrap();
        assert_eq!((entry.iterations, entry.target), (2500, 2500));
        assert!(log.verify().unwrap().is_ok());
    }

    #[test]
    fn a_failing_sink_stops_the_run_with_what_was_logged_intact() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogOptions::default()).unwrap();
        let mut seen = 0;
        let err = propagate_logged(&log, RunKey::nano(3), 5000, 1000, |_| {
            seen += 1;
            if seen > 2000 {
                Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(matches!(err, Error::Output(_)), "{err}");
        let entry = log.entry(RunKey::nano(3)).unwrap().unwrap();
        assert!(!entry.complete());
        assert_eq!(entry.target, 5000);
        assert!(log.verify().unwrap().is_ok());
    }
}
