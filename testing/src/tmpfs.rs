//! A small tmpfs mounted for a test and unmounted after it: a volume the test can fill
//! (the tests run as root, as CI does).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount`'s form: `16m`) at `path`, made if missing.
    pub fn mount(path: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "cannot mount a tmpfs (the tests run as root in CI)"
        );
        Tmpfs { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Grows (or shrinks) the volume to `size`, keeping what it holds.
    pub fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}
