//! Versions of an orbit run (`docs/orbits.md`, "Manoeuvres and versions"): each a
//! manoeuvre's metadata and the manoeuvred body's new states, the states written first
//! in bounded parts and the metadata last (the version's commit), after its parent's;
//! the idempotency keys of the manoeuvres that made them; and the screenings kept for
//! each version. The byte layout is [`crate::encoding`]'s (tags `17` to `19`, `1C`).

use std::borrow::Borrow;
use std::ops::Range;

use crate::encoding::{self, Key, Version, VERSION_PART_STATES};
use crate::log::{corrupt, describe_key, guarded, Log};
use crate::run::RunKey;
use crate::{Error, Result};

/// A manoeuvre's idempotency key and its request, as digests (see
/// [`Log::put_version_keyed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManoeuvreKey {
    pub key: [u8; 16],
    pub request: [u8; 16],
}

/// How many parts of a version's states one write holds: some 460 KB, so that a
/// version of ten million states is written in bounded pieces, never held whole.
pub const VERSION_WRITE_PARTS: usize = 64;

impl Log {
    /// Writes version `v.version` of `run`: the manoeuvred body's states at outputs
    /// `v.from_output ..` (taken from `states` as they come, [`VERSION_WRITE_PARTS`]
    /// parts a write), then its metadata, made durable before it returns (a version is
    /// not derived: it cannot be computed again).
    ///
    /// The metadata is the version's commit: [`Log::versions`] lists only versions
    /// whose metadata is written, and it is written last, after every part. A write
    /// that fails (or a process that dies) part-way leaves parts of a version nobody
    /// sees; they are removed on failure, and by the next write of that version
    /// (`verify` names them as an interrupted version, not as damage). Refused unless
    /// the log holds `run` and `v` follows its latest version (`parent = version - 1`,
    /// `states` as many as `v.states` says).
    pub fn put_version<I>(&self, run: RunKey, v: &Version, states: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Borrow<[f64; 6]>,
    {
        self.put_version_keyed(run, v, states, None)
    }

    /// [`Log::put_version`], and with the version's metadata (in the same last batch)
    /// `key`: a manoeuvre's idempotency key and its request (their digests), so that
    /// [`Log::manoeuvre_key`] finds the version it made, after a restart too.
    pub fn put_version_keyed<I>(
        &self,
        run: RunKey,
        v: &Version,
        states: I,
        key: Option<ManoeuvreKey>,
    ) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Borrow<[f64; 6]>,
    {
        guarded(self.path(), || {
            self.follows(run, v)?;
            self.remove_version_parts(run, v.version)?;
            let written = self.put_version_parts(run, v, states).and_then(|()| {
                let mut commits = self.commits.lock().unwrap_or_else(|e| e.into_inner());
                self.follows(run, v)?;
                let mut batch = sled::Batch::default();
                let at = encoding::version_key(run, v.version);
                batch.insert(&at[..], encoding::encode_version(&at, v));
                if let Some(ManoeuvreKey { key, request }) = key {
                    let at = encoding::manoeuvre_key(run, key);
                    batch.insert(
                        &at[..],
                        encoding::encode_manoeuvre_key(&at, v.version, request),
                    );
                }
                self.space.room_for(256)?;
                self.tree().apply_batch(batch)?;
                self.commit(&mut commits)
            });
            if written.is_err() {
                // Best effort: whatever is left is removed by the next write.
                let _ = self.remove_version_parts(run, v.version);
            }
            written
        })
    }

    /// The version of `run` a manoeuvre with the idempotency key whose digest is `key`
    /// made, and its request's digest; `None` if none did.
    pub fn manoeuvre_key(&self, run: RunKey, key: [u8; 16]) -> Result<Option<(u32, [u8; 16])>> {
        guarded(self.path(), || {
            let at = encoding::manoeuvre_key(run, key);
            match self.tree().get(at)? {
                None => Ok(None),
                Some(value) => encoding::decode_manoeuvre_key(&at, &value)
                    .map(Some)
                    .map_err(|detail| corrupt(describe_key(&at), detail)),
            }
        })
    }

    /// Refused unless the log holds `run` and `v` follows its latest version.
    fn follows(&self, run: RunKey, v: &Version) -> Result<()> {
        let refuse = |detail: String| Error::InvalidVersion { run, detail };
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
        if v.states == 0 {
            return Err(refuse(format!("version {} brings no states", v.version)));
        }
        Ok(())
    }

    /// The parts of `v`'s states, written [`VERSION_WRITE_PARTS`] at a time.
    fn put_version_parts<I>(&self, run: RunKey, v: &Version, states: I) -> Result<()>
    where
        I: IntoIterator,
        I::Item: Borrow<[f64; 6]>,
    {
        let mut part = Vec::with_capacity(VERSION_PART_STATES);
        let mut batch = sled::Batch::default();
        let (mut parts, mut in_batch, mut count) = (0u32, 0usize, 0u64);
        let mut states = states.into_iter().peekable();
        while states.peek().is_some() {
            part.clear();
            part.extend(
                states
                    .by_ref()
                    .take(VERSION_PART_STATES)
                    .map(|s| *s.borrow()),
            );
            count += part.len() as u64;
            if count > v.states {
                break;
            }
            let key = encoding::version_states_key(run, v.version, parts);
            batch.insert(&key[..], encoding::encode_version_states(&key, &part));
            parts += 1;
            in_batch += 1;
            if in_batch == VERSION_WRITE_PARTS || states.peek().is_none() {
                self.space
                    .room_for((in_batch * (48 * VERSION_PART_STATES + 64)) as u64)?;
                self.tree().apply_batch(std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        if count != v.states {
            return Err(Error::InvalidVersion {
                run,
                detail: format!(
                    "version {} says {} states and brings {}{count}",
                    v.version,
                    v.states,
                    if count > v.states { "more than " } else { "" },
                ),
            });
        }
        Ok(())
    }

    /// Removes every part of version `version`'s states (those of a write that did not
    /// finish: a version with metadata is never removed).
    fn remove_version_parts(&self, run: RunKey, version: u32) -> Result<()> {
        let mut batch = sled::Batch::default();
        for item in self
            .tree()
            .scan_prefix(encoding::version_states_prefix(run, version))
        {
            batch.remove(item?.0);
        }
        self.tree().apply_batch(batch)?;
        Ok(())
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

    /// The distances (their bits, in order) at which the log keeps a screening of
    /// version `version` of `run`.
    pub fn screening_distances(&self, run: RunKey, version: u32) -> Result<Vec<u64>> {
        guarded(self.path(), || {
            let prefix = encoding::screening_prefix(run, version, 0);
            let mut out: Vec<u64> = Vec::new();
            for item in self.tree().scan_prefix(&prefix[..22]) {
                let (key, _) = item?;
                match encoding::decode_key(&key) {
                    Ok(Key::Screening { d_bits, .. }) => {
                        if out.last() != Some(&d_bits) {
                            out.push(d_bits);
                        }
                    }
                    _ => return Err(corrupt(describe_key(&key), "not a screening's key")),
                }
            }
            Ok(out)
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
