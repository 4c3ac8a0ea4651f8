//! A run's next version: an impulse on one body of a complete run, that body's
//! states from the manoeuvre on computed again ([`crate::orbit::manoeuvre`]) and
//! logged beside version 0's ([`nano_store::Log::put_version_keyed`]).
//!
//! Making one is two steps, so that the caller can admit its memory between them:
//! [`LoggedRun::next_version`] checks the run may take one and says what it is
//! ([`NextVersion::what`]); [`NextVersion::make`] takes its bytes out of the log's
//! quota, computes the states and logs them. Versions of a run follow each other: the
//! caller makes one at a time per run.

use nano_store::space::BYTES_PER_STATE;
use nano_store::{Log, ManoeuvreKey, Version};

use super::{LoggedRun, Overlay};
use crate::orbit::manoeuvre::{self, Impulse, Start};
use crate::orbit::OrbitState;
use crate::Error;

/// A version of a run, checked and not yet made.
pub struct NextVersion<'a> {
    run: &'a LoggedRun,
    /// Every version after 0 the run has.
    versions: Vec<Version>,
    body: u32,
    impulse: Impulse,
    start: Start,
    /// The states it replaces: the body's from the manoeuvre to the run's end.
    count: u64,
    what: String,
}

/// A version made and logged.
pub struct Made {
    /// The version made.
    pub version: Version,
    /// Every version after 0 of the run, the one made last.
    pub versions: Vec<Version>,
    /// Its bytes held under the log's quota while the caller finishes with it.
    _quota: nano_store::space::Reservation,
}

impl LoggedRun {
    /// The run's next version, an impulse `impulse` on body `body` (a body of the run,
    /// at a time before its end): refused when the run has `max_versions` versions
    /// after 0 already.
    pub fn next_version(
        &self,
        log: &Log,
        body: u32,
        impulse: Impulse,
        max_versions: u32,
    ) -> Result<NextVersion<'_>, Error> {
        let versions = log.versions(self.key)?;
        let latest = versions.len() as u32;
        if latest >= max_versions {
            return Err(Error::TooManyVersions {
                run: self.id,
                latest,
                limit: max_versions,
            });
        }
        if let Some(object) = self.scenario.catalog_object(body as usize) {
            return Err(manoeuvre::Refused::NotManoeuvrable(format!(
                "body {body} is catalogue object {} ({}): SGP4 propagates its element set, which an impulse does not change; manoeuvre the scenario's own bodies",
                object.elements.norad_id,
                object.elements.display_name()
            ))
            .into());
        }
        if self.scenario.frame() != crate::scenario::Frame::Eme2000 {
            return Err(manoeuvre::Refused::NotManoeuvrable(
                "the run is written in TEME: manoeuvres are computed in the scenario's EME2000, so run it in EME2000".into(),
            )
            .into());
        }
        let start = manoeuvre::start(impulse.t, self.step());
        let count = (self.iterations + 1).saturating_sub(start.from_output);
        let what = format!(
            "version {} of run {} ({count} states of body {body})",
            latest + 1,
            self.id
        );
        Ok(NextVersion {
            run: self,
            versions,
            body,
            impulse,
            start,
            count,
            what,
        })
    }
}

impl NextVersion<'_> {
    /// What the version is, for refusals: its number, its run, its states.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Makes the version: its bytes admitted under the log's quota (at
    /// [`BYTES_PER_STATE`] a state), the body's new states computed from its state at
    /// the manoeuvre's floor in the latest version and streamed to the log a bounded
    /// part at a time, under `key` if one names the request. A track that stops
    /// part-way is refused, its parts removed.
    pub fn make(self, log: &Log, key: Option<ManoeuvreKey>) -> Result<Made, Error> {
        let NextVersion {
            run,
            mut versions,
            body,
            impulse,
            start,
            count,
            what,
        } = self;
        let quota = log.admit_bytes(count.saturating_mul(BYTES_PER_STATE), || what)?;
        let mut overlay = Overlay::new(versions.clone(), run.step());
        let at_floor = run
            .body_states(log, &mut overlay, body, start.floor..start.floor + 1)?
            .pop()
            .ok_or_else(|| Error::InconsistentRun {
                run: run.id,
                detail: "no state at the manoeuvre's floor".into(),
            })?;
        let latest = versions.len() as u32;
        let version = Version {
            version: latest + 1,
            parent: latest,
            body,
            t: impulse.t,
            dv_kms: impulse.dv_kms,
            from_output: start.from_output,
            states: count,
        };
        let track = manoeuvre::track(&run.scenario, &at_floor, &impulse, run.iterations)?;
        // A track that stops part-way ends the states early: the write is refused (its
        // parts removed), and the stop is the answer.
        let mut stopped = None;
        let states = track.map_while(|s| match s {
            Ok(s) => Some([s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]]),
            Err(e) => {
                stopped = Some(e);
                None
            }
        });
        let written = log.put_version_keyed(run.key, &version, states, key);
        if let Some(e) = stopped {
            return Err(e.into());
        }
        written?;
        versions.push(version);
        Ok(Made {
            version,
            versions,
            _quota: quota,
        })
    }
}

impl Made {
    /// The manoeuvred body's states in the version made, from its first replaced
    /// output to the run's end (read back from the log).
    pub fn states(&self, log: &Log, run: &LoggedRun) -> Result<Vec<OrbitState>, Error> {
        let mut overlay = Overlay::new(self.versions.clone(), run.step());
        run.body_states(
            log,
            &mut overlay,
            self.version.body,
            self.version.from_output..run.iterations + 1,
        )
    }
}
