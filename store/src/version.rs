//! Versions of an orbit run (`docs/orbits.md`, "Manoeuvres and versions"): each a
//! manoeuvre's metadata and the manoeuvred body's new states, written in one atomic
//! batch after its parent; and the screenings kept for each version. The byte layout is
//! [`crate::encoding`]'s (tags `17` to `19`).

use std::ops::Range;

use crate::encoding::{self, Key, Version, VERSION_PART_STATES};
use crate::log::{corrupt, describe_key, guarded, Log};
use crate::run::RunKey;
use crate::{Error, Result};

impl Log {
    /// Writes version `v.version` of `run`: its metadata and `states`, the manoeuvred
    /// body's states at outputs `v.from_output ..`, in one atomic batch, made durable
    /// before it returns (a version is not derived: it cannot be computed again).
    /// Refused unless the log holds `run` and `v` follows its latest version (`parent
    /// = version - 1`, `states` as many as `v.states` says).
    pub fn put_version(&self, run: RunKey, v: &Version, states: &[[f64; 6]]) -> Result<()> {
        self.space.room_for(48 * states.len() as u64 + 256)?;
        let refuse = |detail: String| Error::InvalidVersion { run, detail };
        guarded(self.path(), || {
            let mut commits = self.commits.lock().unwrap_or_else(|e| e.into_inner());
            if self.read_entry(run)?.is_none() {
                return Err(refuse("the log holds no such run".into()));
            }
            let latest = self.latest_version(run)?;
            if v.version != latest + 1 || v.parent != latest {
                return Err(refuse(format!(
                    "version {} (parent {}) does not follow the latest, {latest}",
                    v.version, v.parent
                )));
            }
            if v.states != states.len() as u64 || states.is_empty() {
                return Err(refuse(format!(
                    "version {} says {} states and brings {}",
                    v.version,
                    v.states,
                    states.len()
                )));
            }
            let mut batch = sled::Batch::default();
            let key = encoding::version_key(run, v.version);
            batch.insert(&key[..], encoding::encode_version(&key, v));
            for (part, states) in states.chunks(VERSION_PART_STATES).enumerate() {
                let key = encoding::version_states_key(run, v.version, part as u32);
                batch.insert(&key[..], encoding::encode_version_states(&key, states));
            }
            self.tree().apply_batch(batch)?;
            self.commit(&mut commits)
        })
    }

    /// The latest version of `run` (0: none beyond the run as propagated).
    fn latest_version(&self, run: RunKey) -> Result<u32> {
        let prefix = encoding::version_prefix(run);
        match self.tree().scan_prefix(prefix).next_back() {
            None => Ok(0),
            Some(item) => {
                let (key, value) = item?;
                let v = encoding::decode_version(&key, &value)
                    .map_err(|detail| corrupt(describe_key(&key), detail))?;
                Ok(v.version)
            }
        }
    }

    /// Every version of `run` after version 0, in order, each checked.
    pub fn versions(&self, run: RunKey) -> Result<Vec<Version>> {
        guarded(self.path(), || {
            let mut out: Vec<Version> = Vec::new();
            for item in self.tree().scan_prefix(encoding::version_prefix(run)) {
                let (key, value) = item?;
                let v = encoding::decode_version(&key, &value)
                    .map_err(|detail| corrupt(describe_key(&key), detail))?;
                if v.version as usize != out.len() + 1 {
                    return Err(corrupt(
                        describe_key(&key),
                        "the versions do not follow each other",
                    ));
                }
                out.push(v);
            }
            Ok(out)
        })
    }

    /// States `range` (counted from the version's first, output `v.from_output`) of
    /// version `v` of `run`; only the parts holding them are read.
    pub fn version_states(
        &self,
        run: RunKey,
        v: &Version,
        range: Range<u64>,
    ) -> Result<Vec<[f64; 6]>> {
        if range.end > v.states || range.start > range.end {
            return Err(Error::InvalidVersion {
                run,
                detail: format!(
                    "states {range:?} of version {}, which keeps {}",
                    v.version, v.states
                ),
            });
        }
        guarded(self.path(), || {
            let mut out = Vec::with_capacity((range.end - range.start) as usize);
            if range.is_empty() {
                return Ok(out);
            }
            let per = VERSION_PART_STATES as u64;
            let (first, last) = (range.start / per, (range.end - 1) / per);
            let from = encoding::version_states_key(run, v.version, first as u32);
            let to = encoding::version_states_key(run, v.version, last as u32);
            for (part, item) in (first..).zip(self.tree().range(&from[..]..=&to[..])) {
                let (key, value) = item?;
                let states = encoding::decode_version_states(&key, &value)
                    .map_err(|detail| corrupt(describe_key(&key), detail))?;
                let in_order = matches!(encoding::decode_key(&key),
                    Ok(Key::VersionStates { part: p, .. }) if u64::from(p) == part);
                let whole =
                    part == v.states.div_ceil(per) - 1 || states.len() == VERSION_PART_STATES;
                if !in_order || !whole {
                    return Err(corrupt(
                        describe_key(&key),
                        "the version's parts do not follow each other",
                    ));
                }
                let start = part * per;
                for (i, s) in states.into_iter().enumerate() {
                    if range.contains(&(start + i as u64)) {
                        out.push(s);
                    }
                }
            }
            if out.len() as u64 != range.end - range.start {
                return Err(corrupt(
                    format!("run {run}, version {}'s states", v.version),
                    "parts of the version's states are missing",
                ));
            }
            Ok(out)
        })
    }

    /// Keeps `bytes`, a screening of version `version` of `run` at the distance whose
    /// bits are `d_bits` (the web service's conjunctions), so that it need not be
    /// computed again; replaced whole if kept before, in one atomic batch. Not
    /// flushed: it is derived, and one lost in a crash is computed again.
    pub fn put_screening(
        &self,
        run: RunKey,
        version: u32,
        d_bits: u64,
        bytes: &[u8],
    ) -> Result<()> {
        self.space.room_for(bytes.len() as u64)?;
        guarded(self.path(), || {
            self.put_parts(
                &encoding::screening_prefix(run, version, d_bits),
                |part| encoding::screening_key(run, version, d_bits, part),
                bytes,
                true,
            )?
            .map_err(|too_long| Error::InvalidVersion {
                run,
                detail: format!("a screening of {too_long} bytes is too long to keep"),
            })
        })
    }

    /// The screening [`Log::put_screening`] kept, checked part by part; `None` if none.
    pub fn screening(&self, run: RunKey, version: u32, d_bits: u64) -> Result<Option<Vec<u8>>> {
        guarded(self.path(), || {
            self.parts(
                &encoding::screening_prefix(run, version, d_bits),
                encoding::decode_screening_part,
                || format!("run {run}, version {version}'s screening"),
            )
        })
    }
}
