//! The run catalog: for each run in the log, how far it got. How to continue it (the
//! model's checkpoint) and what the run is (its scenario's canonical document) are
//! kept beside it, under the run's own keys ([`crate::encoding`]).

use crate::run::RunKey;

/// What the log knows of one run. It is written in the same atomic batch as the block
/// it describes, so it never disagrees with the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry {
    pub run: RunKey,
    /// The run's bodies (records name them `0..bodies`).
    pub bodies: u32,
    /// The most iterations anyone asked of this run.
    pub target: u64,
    /// Iterations logged: the records of iterations `0..iterations` are all in the log.
    pub iterations: u64,
    /// Records logged.
    pub records: u64,
    /// When the run's first block was logged, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When its latest block was logged, likewise.
    pub updated_ms: u64,
}

impl CatalogEntry {
    /// Whether the run reached the most iterations asked of it.
    pub fn complete(&self) -> bool {
        self.iterations >= self.target
    }

    /// What `runs --json` and `/api/runs` show of the entry.
    pub fn summary(&self) -> Summary {
        Summary {
            model: self.run.model.name(),
            seed: self.run.seed(),
            id: self.run.seed().is_none().then(|| self.run.id.hex()),
            iterations: self.iterations,
            target: self.target,
            records: self.records,
            complete: self.complete(),
            created: utc(self.created_ms),
            updated: utc(self.updated_ms),
        }
    }
}

/// A catalog entry as people read it (times in UTC).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub model: &'static str,
    /// A nano run's seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Any other run's id (32 hex digits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub iterations: u64,
    pub target: u64,
    pub records: u64,
    pub complete: bool,
    pub created: String,
    pub updated: String,
}

/// `ms` (milliseconds since the Unix epoch) as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Days to a civil date (Howard Hinnant's algorithm), for the proleptic Gregorian
    // calendar from 1970 on.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_match_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 12:34:56 UTC, a leap day in a century leap year.
        assert_eq!(utc(951_827_696_000), "2000-02-29T12:34:56Z");
        assert_eq!(utc(1_764_028_799_999), "2025-11-24T23:59:59Z");
    }
}
