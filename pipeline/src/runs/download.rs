//! A logged orbit run written out in one of its formats, a chunk at a time: what the
//! service streams as a run's download and what `sedaro-nano replay` writes, the
//! same bytes from the same code. By time then body (CSV, JSON) from
//! [`Log::replay`], or body by body (the OEM) from [`Log::track`]; every output time
//! or those [`Keep`] keeps; as propagated or in a version ([`Overlay`]).

use nano_store::{Log, Replay, RunKey, Version};

use super::overlay::Overlay;
use crate::ephemeris::{EphemerisWriter, OrbitFormat};
use crate::scenario::OrbitScenario;
use crate::Error;

/// Bytes a chunk holds before it is handed out (one piece of a streamed body).
pub const CHUNK: usize = 1 << 16;

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
    key: RunKey,
    log: Log,
    /// The run's bodies, their initial states, and the OEM's header.
    scenario: OrbitScenario,
    format: OrbitFormat,
    /// The steps written, and the output times of them kept.
    steps: u64,
    keep: Keep,
    /// The OEM's `CREATION_DATE`.
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
    fn fill(&mut self) -> Result<bool, Error> {
        let writer = self.writer.as_mut().expect("opened by next");
        let bodies = self.scenario.body_count();
        let (log, key, scenario) = (&self.log, self.key, &self.scenario);
        // A body's state at t_0: the version's, or the scenario's.
        let initial = |overlay: &mut Overlay, body: u32| -> Result<_, Error> {
            Ok(match overlay.state(log, key, body, 0)? {
                Some(s) => s,
                None => {
                    scenario
                        .body(body as usize)
                        .expect("index below body_count")
                        .state0
                }
            })
        };
        let overlay = &mut self.overlay;
        while writer.get_mut().len() < CHUNK {
            if self.format == OrbitFormat::Oem {
                let Some(track) = &mut self.by_body else {
                    if self.body == bodies {
                        return Ok(true);
                    }
                    let body = self.body as u32;
                    writer.state(body, &initial(overlay, body)?)?;
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
                writer.state(body, &initial(overlay, body)?)?;
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

    /// The next chunk of about [`CHUNK`] bytes; `None` after the last.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
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
            return Ok(Some(writer.finish()?));
        }
        let writer = self.writer.as_mut().expect("opened above");
        let chunk = std::mem::replace(writer.get_mut(), Vec::with_capacity(CHUNK + 1024));
        Ok(Some(chunk))
    }

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
