//! The commit mark: a small file beside sled's own that says how many commits were
//! made durable, so that a log which comes back shorter is caught.
//!
//! sled recovers a damaged database file by cutting its log at the first damaged
//! message, silently: everything written after it is gone, flushed or not, and the
//! tree that remains is consistent, so no checksum inside it can tell. The log
//! therefore counts its commits (flushes) in sled and, once a flush returned, in this
//! file. On open, sled's count must reach the file's: if it does not, sled lost data
//! that had been durable, and the log refuses to open rather than serve a shortened
//! history as if it were whole.
//!
//! The file is two slots of 20 bytes, each `NANOMARK`, a count as a little-endian
//! `u64` and a CRC-32 of both. The first commit of an open replaces the file
//! atomically (written aside, synced, renamed) with both slots holding its count; every
//! later commit rewrites one slot in place (commit `c` the slot `c % 2`) and syncs its
//! data, which costs about half of a new file's sync and rename (no metadata to
//! journal; `BENCHMARKS.md`). A write torn by a crash damages only the slot being
//! written, whose commit was not yet durable: the other slot holds the commit before
//! it, and the mark reads as the larger count among its sound slots. A mark of one
//! slot (written before the two) reads the same.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"NANOMARK";
const FILE: &str = "commit.mark";
const SLOT: usize = 20;

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn encode(commits: u64) -> [u8; SLOT] {
    let mut bytes = [0u8; SLOT];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..16].copy_from_slice(&commits.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..16]);
    bytes[16..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fn decode(slot: &[u8]) -> Option<u64> {
    let crc = u32::from_le_bytes(slot[16..].try_into().expect("four bytes"));
    (&slot[..8] == MAGIC && crc == crc32fast::hash(&slot[..16]))
        .then(|| u64::from_le_bytes(slot[8..16].try_into().expect("eight bytes")))
}

/// The count of durable commits the mark holds; 0 when there is no mark yet.
pub fn read(dir: &Path) -> Result<u64, String> {
    let bytes = match fs::read(path(dir)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("cannot read {}: {e}", path(dir).display())),
    };
    if !(bytes.len() == SLOT || bytes.len() == 2 * SLOT) || &bytes[..8] != MAGIC {
        return Err(format!("{} is not a commit mark", path(dir).display()));
    }
    bytes
        .chunks(SLOT)
        .filter_map(decode)
        .max()
        .ok_or_else(|| format!("{} is damaged (checksum mismatch)", path(dir).display()))
}

/// The commit mark of one open log: [`Mark::write`] records that a count of commits is
/// durable.
#[derive(Debug)]
pub struct Mark {
    dir: PathBuf,
    /// The two-slot file this open wrote, kept open for writes in place.
    file: Option<File>,
}

impl Mark {
    /// The mark of the log in `dir`; nothing is written until [`Mark::write`].
    pub fn new(dir: &Path) -> Mark {
        Mark {
            dir: dir.to_path_buf(),
            file: None,
        }
    }

    /// Records that `commits` commits are durable; returns once the mark is on disk.
    pub fn write(&mut self, commits: u64) -> io::Result<()> {
        let slot = encode(commits);
        if let Some(file) = &self.file {
            file.write_all_at(&slot, (commits % 2) * SLOT as u64)?;
            return file.sync_data();
        }
        let mut bytes = [0u8; 2 * SLOT];
        bytes[..SLOT].copy_from_slice(&slot);
        bytes[SLOT..].copy_from_slice(&slot);
        let aside = self.dir.join(format!("{FILE}.new"));
        let mut file = File::create(&aside)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&aside, path(&self.dir))?;
        self.file = Some(file);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_round_trips_and_a_missing_one_reads_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), Ok(0));
        let mut mark = Mark::new(dir.path());
        for commits in 41..=44 {
            mark.write(commits).unwrap();
            assert_eq!(read(dir.path()), Ok(commits));
        }
        // Another open starts from a new file, whatever the old one held.
        let mut again = Mark::new(dir.path());
        again.write(45).unwrap();
        assert_eq!(read(dir.path()), Ok(45));
        assert_eq!(fs::read(path(dir.path())).unwrap().len(), 2 * SLOT);
    }

    #[test]
    fn a_mark_of_one_slot_reads_as_written() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(path(dir.path()), encode(9)).unwrap();
        assert_eq!(read(dir.path()), Ok(9));
    }

    #[test]
    fn a_torn_slot_reads_as_the_commit_before_and_two_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut mark = Mark::new(dir.path());
        mark.write(6).unwrap();
        mark.write(7).unwrap();
        // Commit 7 went to slot 1: torn, it leaves commit 6 in slot 0.
        let mut bytes = fs::read(path(dir.path())).unwrap();
        bytes[SLOT + 9] ^= 1;
        fs::write(path(dir.path()), &bytes).unwrap();
        assert_eq!(read(dir.path()), Ok(6));
        bytes[9] ^= 1;
        fs::write(path(dir.path()), &bytes).unwrap();
        assert!(read(dir.path()).unwrap_err().contains("damaged"));
        fs::write(path(dir.path()), b"short").unwrap();
        assert!(read(dir.path()).unwrap_err().contains("not a commit mark"));
    }
}
