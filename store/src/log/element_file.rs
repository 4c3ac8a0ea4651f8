//! Element-set files (catalogues of objects' mean elements) kept whole for the
//! pipeline: written in parts, committed by their metadata, durable when kept.

use super::{corrupt, describe_key, guarded, hex, Log};
use crate::encoding::{self, ElementFile, Key, ELEMENT_FILE_MAX_BYTES, SERIES_PART_BYTES};
use crate::{Error, Result};

/// Parts of an element-set file written by one batch (about 1.3 MiB), so that a
/// write of 64 MiB never holds one huge batch.
const PARTS_PER_BATCH: usize = 256;

impl Log {
    /// Keeps `bytes`, an element-set file, under `id` (16 bytes its keeper derives from
    /// its content: the first 16 of its SHA-256), durably: when this returns `Ok`, the
    /// file survives a crash. `Ok(true)` when newly kept, `Ok(false)` when the same
    /// bytes were already kept under `id` (nothing is written). Refused, with nothing
    /// written, when `bytes` pass [`ELEMENT_FILE_MAX_BYTES`], when other bytes are
    /// kept under `id` ([`Error::ElementFile`]), when the kept file is damaged
    /// ([`Error::Corrupt`]), or when the log has no room ([`Error::NoSpace`],
    /// [`Error::QuotaReached`]).
    pub fn keep_element_file(&self, id: [u8; 16], bytes: &[u8]) -> Result<bool> {
        let refused = |detail: String| Error::ElementFile {
            id: hex(&id),
            detail,
        };
        if bytes.len() > ELEMENT_FILE_MAX_BYTES {
            return Err(refused(format!(
                "{} bytes is more than the {ELEMENT_FILE_MAX_BYTES} bytes the log keeps of a file",
                bytes.len()
            )));
        }
        let _one_at_a_time = self.element_files.lock().unwrap_or_else(|e| e.into_inner());
        let content_crc = crc32fast::hash(bytes);
        if let Some(kept) = guarded(&self.path, || self.element_file_meta(id))? {
            if kept.len != bytes.len() as u64 || kept.content_crc != content_crc {
                return Err(refused(format!(
                    "a file of {} bytes is kept under this id, and these {} bytes differ from it",
                    kept.len,
                    bytes.len()
                )));
            }
            return Ok(false);
        }
        let _reserved = self.admit_bytes(bytes.len() as u64, || {
            format!("an element-set file of {} bytes", bytes.len())
        })?;
        self.space.room_for(bytes.len() as u64)?;
        guarded(&self.path, || {
            // Parts left by a keep that did not finish are never visible; clear them.
            let mut stale = sled::Batch::default();
            for item in self.tree.scan_prefix(encoding::element_part_prefix(id)) {
                stale.remove(item?.0);
            }
            self.tree.apply_batch(stale)?;
            let total = bytes.len() as u64;
            let pieces: Vec<&[u8]> = bytes.chunks(SERIES_PART_BYTES).collect();
            for (batch_index, group) in pieces.chunks(PARTS_PER_BATCH).enumerate() {
                let mut batch = sled::Batch::default();
                for (i, piece) in group.iter().enumerate() {
                    let part = (batch_index * PARTS_PER_BATCH + i) as u32;
                    let key = encoding::element_part_key(id, part);
                    batch.insert(&key[..], encoding::encode_part(&key, total, piece));
                }
                self.tree.apply_batch(batch)?;
            }
            let key = encoding::element_file_key(id);
            let file = ElementFile {
                id,
                len: total,
                parts: pieces.len() as u32,
                content_crc,
            };
            self.tree
                .insert(key, encoding::encode_element_file(&key, &file))?;
            Ok(())
        })?;
        self.flush()?;
        Ok(true)
    }

    /// The element-set file kept under `id`, checked part by part and whole; `None`
    /// if none is kept (or its keep never finished).
    pub fn element_file(&self, id: [u8; 16]) -> Result<Option<Vec<u8>>> {
        guarded(&self.path, || {
            let Some(file) = self.element_file_meta(id)? else {
                return Ok(None);
            };
            let whole = || format!("element-set file {}", hex(&id));
            let mut out = Vec::with_capacity(file.len as usize);
            let mut parts = 0u32;
            for item in self.tree.scan_prefix(encoding::element_part_prefix(id)) {
                let (key, value) = item?;
                let (total, bytes) = encoding::decode_element_part(&key, &value)
                    .map_err(|detail| corrupt(describe_key(&key), detail))?;
                let in_order = matches!(encoding::decode_key(&key),
                    Ok(Key::ElementFilePart { part, .. }) if part == parts);
                if !in_order || total != file.len || (out.len() + bytes.len()) as u64 > total {
                    return Err(corrupt(
                        describe_key(&key),
                        "the parts do not follow each other",
                    ));
                }
                out.extend_from_slice(bytes);
                parts += 1;
            }
            if parts != file.parts || out.len() as u64 != file.len {
                return Err(corrupt(whole(), "some of its parts are missing"));
            }
            if crc32fast::hash(&out) != file.content_crc {
                return Err(corrupt(
                    whole(),
                    "its parts put together fail the file's checksum",
                ));
            }
            Ok(Some(out))
        })
    }

    /// Every element-set file kept, by id, with its length in bytes. Reads only the
    /// metadata (one small value a file).
    pub fn element_files(&self) -> Result<Vec<([u8; 16], u64)>> {
        guarded(&self.path, || {
            self.tree
                .scan_prefix([encoding::ELEMENT_FILE_TAG])
                .map(|item| {
                    let (key, value) = item?;
                    let file = encoding::decode_element_file(&key, &value)
                        .map_err(|detail| corrupt(describe_key(&key), detail))?;
                    Ok((file.id, file.len))
                })
                .collect()
        })
    }

    fn element_file_meta(&self, id: [u8; 16]) -> Result<Option<ElementFile>> {
        let key = encoding::element_file_key(id);
        let Some(value) = self.tree.get(key)? else {
            return Ok(None);
        };
        encoding::decode_element_file(&key, &value)
            .map(Some)
            .map_err(|detail| corrupt(describe_key(&key), detail))
    }
}
