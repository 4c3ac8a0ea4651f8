//! The command line's progress bar: one line on stderr, redrawn at most ten times a
//! second, with the count, the rate and the time left; nothing at all when stderr is
//! not a terminal (a pipe, a file, a test), so scripted output stays clean.
//!
//! Written here rather than taken from `indicatif`: a bar of one line needs a counter,
//! a clock and `\r`, while `indicatif` brings `console`, `unicode-width` and
//! `portable-atomic` and a drawing thread of its own. The hot path is one comparison
//! per update; the clock is read once every 1,024 updates.

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

const REDRAW: Duration = Duration::from_millis(100);
const WIDTH: usize = 30;

/// Progress towards `total` units (`0`: unknown; the bar then shows the count, the
/// rate and the elapsed time). Off unless stderr is a terminal, and then free.
pub struct Progress {
    on: bool,
    label: &'static str,
    unit: &'static str,
    total: u64,
    done: u64,
    updates: u32,
    start: Instant,
    next_draw: Instant,
    shown: bool,
}

impl Progress {
    /// A bar drawn only if stderr is a terminal.
    pub fn new(label: &'static str, unit: &'static str, total: u64) -> Progress {
        let start = Instant::now();
        Progress {
            on: io::stderr().is_terminal(),
            label,
            unit,
            total,
            done: 0,
            updates: 0,
            start,
            next_draw: start,
            shown: false,
        }
    }

    /// `done` units are complete.
    #[inline]
    pub fn set(&mut self, done: u64) {
        self.done = done;
        self.updates = self.updates.wrapping_add(1);
        if self.on && self.updates % 1024 == 1 {
            let now = Instant::now();
            if now >= self.next_draw {
                self.next_draw = now + REDRAW;
                self.draw(now);
            }
        }
    }

    /// `done` units are complete, told rarely (a window of a screening, say): drawn
    /// at once when a redraw is due.
    pub fn advance(&mut self, done: u64) {
        self.done = done;
        let now = Instant::now();
        if self.on && now >= self.next_draw {
            self.next_draw = now + REDRAW;
            self.draw(now);
        }
    }

    fn draw(&mut self, now: Instant) {
        let elapsed = now.duration_since(self.start).as_secs_f64();
        let rate = if elapsed > 0.0 {
            self.done as f64 / elapsed
        } else {
            0.0
        };
        let mut err = io::stderr().lock();
        let _ = write!(err, "\r{} ", self.label);
        if self.total > 0 {
            let fraction = (self.done as f64 / self.total as f64).min(1.0);
            let filled = (fraction * WIDTH as f64) as usize;
            let left = if rate > 0.0 {
                (self.total.saturating_sub(self.done)) as f64 / rate
            } else {
                f64::NAN
            };
            let _ = write!(
                err,
                "[{:=<filled$}{:<rest$}] {:>3.0}% {}/{} {}  {}/s  {} left",
                "",
                "",
                (fraction * 100.0).floor(),
                self.done,
                self.total,
                self.unit,
                Si(rate),
                Clock(left),
                rest = WIDTH - filled,
            );
        } else if self.unit.is_empty() {
            let _ = write!(err, "{} elapsed", Clock(elapsed));
        } else {
            let _ = write!(
                err,
                "{} {}  {}/s  {}",
                self.done,
                self.unit,
                Si(rate),
                Clock(elapsed)
            );
        }
        // Clear what a longer earlier line left behind.
        let _ = write!(err, "\x1b[K");
        let _ = err.flush();
        self.shown = true;
    }

    /// Draws the final state and ends the line.
    pub fn finish(mut self) {
        if self.on {
            self.draw(Instant::now());
        }
        if self.shown {
            let _ = writeln!(io::stderr());
        }
    }
}

/// A rate in SI steps (`12.3k`).
struct Si(f64);

impl std::fmt::Display for Si {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let x = self.0;
        match x {
            x if x >= 1e9 => write!(f, "{:.1}G", x / 1e9),
            x if x >= 1e6 => write!(f, "{:.1}M", x / 1e6),
            x if x >= 1e3 => write!(f, "{:.1}k", x / 1e3),
            x => write!(f, "{x:.0}"),
        }
    }
}

/// Seconds as `1h02m03s`, `2m03s` or `3s`; `?` when unknown.
struct Clock(f64);

impl std::fmt::Display for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.0.is_finite() {
            return write!(f, "?");
        }
        let s = self.0.round() as u64;
        match (s / 3600, s / 60 % 60, s % 60) {
            (0, 0, sec) => write!(f, "{sec}s"),
            (0, m, sec) => write!(f, "{m}m{sec:02}s"),
            (h, m, sec) => write!(f, "{h}h{m:02}m{sec:02}s"),
        }
    }
}

/// Runs `work` with an elapsed-time line redrawn beside it (for work that reports no
/// count of its own), when stderr is a terminal.
pub fn while_running<T>(label: &'static str, work: impl FnOnce() -> T) -> T {
    let mut bar = Progress::new(label, "", 0);
    if !bar.on {
        return work();
    }
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let ticker = std::thread::spawn(move || {
        bar.draw(Instant::now());
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(REDRAW) {
            bar.draw(Instant::now());
        }
        bar.finish();
    });
    let result = work();
    drop(stop);
    let _ = ticker.join();
    result
}
