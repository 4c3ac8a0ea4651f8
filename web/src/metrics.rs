//! Counters for `/metrics`, in Prometheus' text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The service's counters. Requests are counted per route and status, once each.
#[derive(Default)]
pub struct Metrics {
    /// By route, then status: a route seen before is counted without an allocation.
    requests: Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub jobs_started: AtomicU64,
    pub log_served: AtomicU64,
    /// Conjunctions served from a screening the log keeps (no screening done).
    pub conjunctions_from_log: AtomicU64,
    /// Screenings done from scratch.
    pub screenings: AtomicU64,
    /// Manoeuvres applied to a kept screener incrementally.
    pub screenings_updated: AtomicU64,
}

impl Metrics {
    /// Counts one request to `route` answered with `status`.
    pub fn request(&self, route: &str, status: u16) {
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(by_status) = requests.get_mut(route) {
            *by_status.entry(status).or_default() += 1;
            return;
        }
        requests
            .entry(route.to_owned())
            .or_default()
            .insert(status, 1);
    }

    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text of `/metrics`, with the gauges the caller reads at the time.
    pub fn render(
        &self,
        jobs_running: usize,
        log_bytes: u64,
        iterations_per_second: f64,
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP nano_requests_total HTTP requests by route and status."
        );
        let _ = writeln!(out, "# TYPE nano_requests_total counter");
        for (route, by_status) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for (status, count) in by_status {
                let _ = writeln!(
                    out,
                    "nano_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        let counters = [
            (
                "nano_cache_hits_total",
                "Runs served from the cache.",
                &self.cache_hits,
            ),
            (
                "nano_cache_misses_total",
                "Cache lookups that found nothing.",
                &self.cache_misses,
            ),
            (
                "nano_jobs_started_total",
                "Jobs started on the cluster.",
                &self.jobs_started,
            ),
            (
                "nano_log_served_total",
                "Runs served from the log without computing.",
                &self.log_served,
            ),
            (
                "nano_conjunctions_from_log_total",
                "Conjunction sets served from a screening the log keeps.",
                &self.conjunctions_from_log,
            ),
            (
                "nano_screenings_total",
                "Screenings of a version done from scratch.",
                &self.screenings,
            ),
            (
                "nano_screenings_updated_total",
                "Screenings updated incrementally after a manoeuvre: a kept screener followed, or a windowed run's manoeuvred body screened again over what it changed.",
                &self.screenings_updated,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let gauges = [
            ("nano_jobs_running", "Jobs in flight.", jobs_running as f64),
            (
                "nano_log_bytes",
                "Bytes the log takes on disk.",
                log_bytes as f64,
            ),
            (
                "nano_iterations_per_second",
                "Iterations committed per second, over the last scrape interval.",
                iterations_per_second,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }

    /// How many requests `route` got with `status` so far.
    pub fn requests(&self, route: &str, status: u16) -> u64 {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        requests
            .get(route)
            .and_then(|by_status| by_status.get(&status))
            .copied()
            .unwrap_or(0)
    }
}
