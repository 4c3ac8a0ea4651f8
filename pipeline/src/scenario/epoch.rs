//! The epoch of a scenario: a UTC instant to the nanosecond, read and written in
//! the document's form and the CCSDS messages'.

use std::fmt::{self, Write as _};

/// An instant in UTC, to the nanosecond: the epoch times inside a run are counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch {
    /// Seconds since 1970-01-01T00:00:00Z (leap seconds not counted, as
    /// `docs/orbits.md` says).
    pub(super) unix_s: i64,
    nanos: u32,
}

impl Epoch {
    /// Reads `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC, up to nanoseconds).
    pub fn parse(text: &str) -> Result<Epoch, String> {
        let rule = || format!("must be a UTC instant like 2026-01-01T00:00:00Z, got \"{text}\"");
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
            return Err(rule());
        }
        if b[13] != b':' || b[16] != b':' || *b.last().unwrap_or(&0) != b'Z' {
            return Err(rule());
        }
        let digits = |from: usize, to: usize| -> Result<i64, String> {
            let part = &text[from..to];
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse::<i64>().map_err(|_| rule())
            } else {
                Err(rule())
            }
        };
        let (year, month, day) = (digits(0, 4)?, digits(5, 7)?, digits(8, 10)?);
        let (hour, minute, second) = (digits(11, 13)?, digits(14, 16)?, digits(17, 19)?);
        let nanos = match &text[19..text.len() - 1] {
            "" => 0,
            fraction
                if fraction.len() >= 2 && fraction.len() <= 10 && fraction.starts_with('.') =>
            {
                let d = &fraction[1..];
                if !d.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(rule());
                }
                d.parse::<u32>().map_err(|_| rule())? * 10u32.pow(9 - d.len() as u32)
            }
            _ => return Err(rule()),
        };
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(format!("{}: no such date", rule()));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(format!("{}: no such time of day", rule()));
        }
        let days = days_from_civil(year, month, day);
        Ok(Epoch {
            unix_s: days * 86_400 + hour * 3600 + minute * 60 + second,
            nanos,
        })
    }

    /// The instant `ns` nanoseconds after 1970-01-01T00:00:00Z (leap seconds not
    /// counted); `None` outside the years an `Epoch` can hold.
    pub fn from_unix_nanos(ns: i128) -> Option<Epoch> {
        let unix_s = i64::try_from(ns.div_euclid(1_000_000_000)).ok()?;
        // Years 0 to 9999, the ones the text form writes with four digits.
        if !(-62_167_219_200..253_402_300_800).contains(&unix_s) {
            return None;
        }
        Some(Epoch {
            unix_s,
            nanos: ns.rem_euclid(1_000_000_000) as u32,
        })
    }

    /// Nanoseconds since 1970-01-01T00:00:00Z (leap seconds not counted).
    pub fn unix_nanos(&self) -> i128 {
        self.unix_s as i128 * 1_000_000_000 + self.nanos as i128
    }

    /// The instant `t_s` seconds after the epoch as `YYYY-MM-DDTHH:MM:SS.fff...` with
    /// `decimals` digits (at most 9) and no zone letter, the form CCSDS messages use
    /// for UTC epochs.
    pub fn iso_at(&self, t_s: f64, decimals: u32) -> String {
        let decimals = decimals.min(9);
        let unit = 10i128.pow(decimals);
        let ticks = (t_s * unit as f64).round() as i128
            + self.unix_s as i128 * unit
            + self.nanos as i128 / 10i128.pow(9 - decimals);
        let (secs, frac) = (ticks.div_euclid(unit), ticks.rem_euclid(unit));
        let mut out = civil_text(secs as i64);
        if decimals > 0 {
            let _ = write!(out, ".{frac:0width$}", width = decimals as usize);
        }
        out
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&civil_text(self.unix_s))?;
        if self.nanos != 0 {
            let digits = format!("{:09}", self.nanos);
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        f.write_str("Z")
    }
}

/// An epoch is written as its text (`2026-01-01T00:00:00.5Z`), so documents and the
/// element sets shipped with a job read as they were given.
impl serde::Serialize for Epoch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Epoch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Epoch, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Epoch::parse(&text).map_err(serde::de::Error::custom)
    }
}

fn civil_text(unix_s: i64) -> String {
    let (days, secs) = (unix_s.div_euclid(86_400), unix_s.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}
