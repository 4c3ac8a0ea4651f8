//! A version of a run: version 0's states with the manoeuvred bodies' states laid
//! over them. Version `V` is version `V - 1` with one body's states from some output
//! on replaced ([`crate::orbit::manoeuvre`]), kept in the log beside it
//! ([`nano_store::Log::put_version`]), so body `b`'s state at output `k` in version
//! `V` is that of the latest version `v <= V` that manoeuvred `b` from an output at
//! or before `k` and keeps a state at `k`, or version 0's: a later version wins.
//! [`Overlay`] is that rule, and the one place it is written.

use nano_store::{Log, RunKey, Version};

use crate::orbit::OrbitState;
use crate::Error;

/// The states a version made by manoeuvres puts over version 0's, as the module
/// says. Each manoeuvred body holds one window of [`Overlay::WINDOW`] states of
/// one version at a time (read from the log as the download reaches it), so a download
/// holds at most [`Overlay::bytes`] for them whatever the run's length.
#[derive(Default)]
pub struct Overlay {
    step: f64,
    versions: Vec<Version>,
    /// By manoeuvred body, sorted: the indices in `versions` of its versions, and its
    /// window.
    bodies: Vec<(u32, Vec<usize>, Option<OverlayWindow>)>,
}

/// States `lo ..` of the version at index `version` of an [`Overlay`].
struct OverlayWindow {
    version: usize,
    lo: u64,
    states: Vec<[f64; 6]>,
}

impl Overlay {
    /// States a body's window holds: one part of a version's states.
    pub const WINDOW: u64 = nano_store::encoding::VERSION_PART_STATES as u64;

    /// The overlay of `versions` (every version from 1 up to the one served, in order)
    /// on a run of output step `step` seconds.
    pub fn new(versions: Vec<Version>, step: f64) -> Overlay {
        let mut bodies: Vec<(u32, Vec<usize>, Option<OverlayWindow>)> = Vec::new();
        for (i, v) in versions.iter().enumerate() {
            match bodies.binary_search_by_key(&v.body, |b| b.0) {
                Ok(at) => bodies[at].1.push(i),
                Err(at) => bodies.insert(at, (v.body, vec![i], None)),
            }
        }
        Overlay {
            step,
            versions,
            bodies,
        }
    }

    /// The bodies a manoeuvre of the version (or one before it) changed, ascending.
    pub fn manoeuvred(&self) -> Vec<u32> {
        self.bodies.iter().map(|b| b.0).collect()
    }

    /// The most bytes the windows hold at once (one per manoeuvred body).
    pub fn bytes(versions: &[Version]) -> u64 {
        let mut bodies: Vec<u32> = versions.iter().map(|v| v.body).collect();
        bodies.sort_unstable();
        bodies.dedup();
        bodies.len() as u64 * Overlay::WINDOW * std::mem::size_of::<[f64; 6]>() as u64
    }

    /// Body `body`'s state at output `k` in the version, when a manoeuvre replaced
    /// version 0's; `None` when version 0's stands.
    pub fn state(
        &mut self,
        log: &Log,
        key: RunKey,
        body: u32,
        k: u64,
    ) -> Result<Option<OrbitState>, Error> {
        let Ok(at) = self.bodies.binary_search_by_key(&body, |b| b.0) else {
            return Ok(None);
        };
        let (_, indices, window) = &mut self.bodies[at];
        let Some(&version) = indices.iter().rev().find(|&&i| {
            let v = &self.versions[i];
            v.from_output <= k && k < v.from_output + v.states
        }) else {
            return Ok(None);
        };
        let v = &self.versions[version];
        let held = window
            .as_ref()
            .is_some_and(|w| w.version == version && w.lo <= k && k < w.lo + w.states.len() as u64);
        if !held {
            // The part holding `k`, whole: each read is of one part.
            let lo = (k - v.from_output) / Overlay::WINDOW * Overlay::WINDOW;
            let hi = (lo + Overlay::WINDOW).min(v.states);
            let states = log.version_states(key, v, lo..hi)?;
            *window = Some(OverlayWindow {
                version,
                lo: v.from_output + lo,
                states,
            });
        }
        let w = window.as_ref().expect("held or read above");
        let [x, y, z, vx, vy, vz] = w.states[(k - w.lo) as usize];
        Ok(Some(OrbitState {
            t: k as f64 * self.step,
            r: [x, y, z],
            v: [vx, vy, vz],
        }))
    }
}
