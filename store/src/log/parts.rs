//! Bytes kept in parts beside the runs, derived from them: the web service's series
//! and screenings, each part checked, the whole replaced in one atomic batch.

use super::{corrupt, describe_key, guarded, Log};
use crate::encoding::{self, Key};
use crate::run::RunKey;
use crate::{Error, Result};

/// Decodes one part of bytes kept in parts: the whole's length, and the part's bytes.
type DecodePart = for<'a> fn(&[u8], &'a [u8]) -> Result<(u64, &'a [u8]), encoding::Invalid>;

impl Log {
    /// Keeps `bytes`, a series computed from the first `n` iterations of `run` (the
    /// web service's decimated series of at most `points` points), so that it need not
    /// be computed again; [`Log::series`] reads it back. The log must hold those
    /// iterations ([`Error::NotLogged`]). A series already kept under the same
    /// `(run, n, points)` is replaced whole, in one atomic batch.
    ///
    /// Not flushed: a series is derived from the run, and one lost in a crash is
    /// computed again by whoever asks, so it costs no fsync (sled writes it within
    /// about half a second). A volume too full for it refuses it with
    /// [`Error::NoSpace`] like any write.
    pub fn put_series(&self, run: RunKey, n: u64, points: u32, bytes: &[u8]) -> Result<()> {
        self.space.room_for(bytes.len() as u64)?;
        guarded(&self.path, || {
            let logged = self.read_entry(run)?.map_or(0, |e| e.iterations);
            if logged < n {
                return Err(Error::NotLogged {
                    run,
                    logged,
                    requested: n,
                });
            }
            self.put_parts(
                &encoding::series_prefix(run, n, points),
                |part| encoding::series_key(run, n, points, part),
                bytes,
                false,
            )?
            .map_err(|too_long| Error::InvalidBlock {
                run,
                detail: format!("a series of {too_long} bytes is too long to keep"),
            })
        })
    }

    /// Keeps `bytes` in parts under `prefix` (part `p` under `key_of(p)`), replacing
    /// whatever was kept there, in one atomic batch; [`Log::parts`] reads them back.
    /// Empty bytes are one empty part when `empty_as_part` (so that "kept empty" and
    /// "not kept" differ), none otherwise. `Err(len)` when `len` bytes need more parts
    /// than a key can number.
    pub(crate) fn put_parts(
        &self,
        prefix: &[u8],
        key_of: impl Fn(u16) -> [u8; 32],
        bytes: &[u8],
        empty_as_part: bool,
    ) -> Result<Result<(), usize>> {
        let mut pieces: Vec<&[u8]> = bytes.chunks(encoding::SERIES_PART_BYTES).collect();
        if pieces.len() > u16::MAX as usize + 1 {
            return Ok(Err(bytes.len()));
        }
        if pieces.is_empty() && empty_as_part {
            pieces.push(&[]);
        }
        let mut batch = sled::Batch::default();
        for item in self.tree.scan_prefix(prefix) {
            batch.remove(item?.0);
        }
        let total = bytes.len() as u64;
        for (part, piece) in pieces.into_iter().enumerate() {
            let key = key_of(part as u16);
            batch.insert(&key[..], encoding::encode_part(&key, total, piece));
        }
        self.tree.apply_batch(batch)?;
        Ok(Ok(()))
    }

    /// The series kept by [`Log::put_series`] for `(run, n, points)`, checked part by
    /// part; `None` if none is kept. Reads no chunk of the run.
    pub fn series(&self, run: RunKey, n: u64, points: u32) -> Result<Option<Vec<u8>>> {
        guarded(&self.path, || {
            self.parts(
                &encoding::series_prefix(run, n, points),
                encoding::decode_series_part,
                || format!("run {run}, its series of {points} points over {n} iterations"),
            )
        })
    }

    /// The bytes kept in parts under `prefix` (a series, a screening: the prefix holds
    /// the key's tag, so only parts of that kind are read), put back together: each
    /// part decoded and checked by `decode`, numbered from 0 with nothing missing, each
    /// naming the same total. `None` when no part is kept; `whole` names the bytes in
    /// an error.
    pub(crate) fn parts(
        &self,
        prefix: &[u8],
        decode: DecodePart,
        whole: impl FnOnce() -> String,
    ) -> Result<Option<Vec<u8>>> {
        let mut out: Option<Vec<u8>> = None;
        let mut total = 0;
        for (index, item) in self.tree.scan_prefix(prefix).enumerate() {
            let (key, value) = item?;
            let (claimed, bytes) =
                decode(&key, &value).map_err(|detail| corrupt(describe_key(&key), detail))?;
            let in_order = matches!(encoding::decode_key(&key),
                Ok(Key::Series { part, .. } | Key::Screening { part, .. }) if part as usize == index);
            let buffer = out.get_or_insert_with(|| {
                total = claimed;
                Vec::with_capacity(claimed.min(64 << 20) as usize)
            });
            if !in_order || claimed != total || buffer.len() as u64 + bytes.len() as u64 > total {
                return Err(corrupt(
                    describe_key(&key),
                    "the parts do not follow each other",
                ));
            }
            buffer.extend_from_slice(bytes);
        }
        match out {
            Some(bytes) if bytes.len() as u64 != total => {
                Err(corrupt(whole(), "some of its parts are missing"))
            }
            other => Ok(other),
        }
    }
}
