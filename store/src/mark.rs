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
//! The file is `NANOMARK`, the count as a little-endian `u64`, and a CRC-32 of both,
//! replaced atomically (written aside, synced, renamed).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"NANOMARK";
const FILE: &str = "commit.mark";

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The count of durable commits the mark holds; 0 when there is no mark yet.
pub fn read(dir: &Path) -> Result<u64, String> {
    let bytes = match fs::read(path(dir)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("cannot read {}: {e}", path(dir).display())),
    };
    if bytes.len() != 20 || &bytes[..8] != MAGIC {
        return Err(format!("{} is not a commit mark", path(dir).display()));
    }
    let crc = u32::from_le_bytes(bytes[16..].try_into().expect("four bytes"));
    if crc != crc32fast::hash(&bytes[..16]) {
        return Err(format!(
            "{} is damaged (checksum mismatch)",
            path(dir).display()
        ));
    }
    Ok(u64::from_le_bytes(
        bytes[8..16].try_into().expect("eight bytes"),
    ))
}

/// Records that `commits` commits are durable.
pub fn write(dir: &Path, commits: u64) -> io::Result<()> {
    let mut bytes = [0u8; 20];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..16].copy_from_slice(&commits.to_le_bytes());
    let crc = crc32fast::hash(&bytes[..16]);
    bytes[16..].copy_from_slice(&crc.to_le_bytes());
    let aside = dir.join(format!("{FILE}.new"));
    let mut file = fs::File::create(&aside)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&aside, path(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_round_trips_and_a_missing_one_reads_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), Ok(0));
        write(dir.path(), 41).unwrap();
        write(dir.path(), 42).unwrap();
        assert_eq!(read(dir.path()), Ok(42));
    }

    #[test]
    fn a_damaged_mark_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 7).unwrap();
        let mut bytes = fs::read(path(dir.path())).unwrap();
        bytes[9] ^= 1;
        fs::write(path(dir.path()), &bytes).unwrap();
        assert!(read(dir.path()).unwrap_err().contains("damaged"));
        fs::write(path(dir.path()), b"short").unwrap();
        assert!(read(dir.path()).unwrap_err().contains("not a commit mark"));
    }
}
