//! A screening's answer as the command line and the API write it: the conjunctions
//! sorted by miss distance (closest first), as JSON or CSV.
//!
//! JSON: `{"distance_km":D,"bodies":B,"conjunctions":[{"a":i,"b":j,"tca_s":..,
//! "miss_km":..,"rel_speed_kms":..,"ric_km":[r,i,c]},..]}`; CSV: the header
//! `a,b,tca_s,miss_km,rel_speed_kms,radial_km,in_track_km,cross_track_km`, then one
//! line per conjunction. Numbers are written in their shortest form that reads back to
//! the same `f64`, so a reader recovers the screening's values exactly; an unknown
//! encounter (a screening kept before they were written) is `null` or empty.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use super::Conjunction;

/// How a screening's answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScreenFormat {
    #[default]
    Json,
    Csv,
}

impl ScreenFormat {
    /// The format's name, as [`ScreenFormat::from_str`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            ScreenFormat::Json => "json",
            ScreenFormat::Csv => "csv",
        }
    }

    /// The HTTP content type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            ScreenFormat::Json => "application/json",
            ScreenFormat::Csv => "text/csv; charset=utf-8",
        }
    }
}

impl fmt::Display for ScreenFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given was not a screening format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{0}': expected json or csv")]
pub struct UnknownScreenFormat(pub String);

impl FromStr for ScreenFormat {
    type Err = UnknownScreenFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [ScreenFormat::Json, ScreenFormat::Csv]
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownScreenFormat(s.to_owned()))
    }
}

/// The CSV's header line (without its newline).
pub const CSV_HEADER: &str = "a,b,tca_s,miss_km,rel_speed_kms,radial_km,in_track_km,cross_track_km";

/// Sorts `conjunctions` by miss distance, closest first (ties by pair, then time, so
/// the order is the same on any number of workers).
pub fn by_miss(conjunctions: &mut [Conjunction]) {
    conjunctions.sort_by(|x, y| x.miss_km.total_cmp(&y.miss_km).then_with(|| x.cmp(y)));
}

/// Writes `conjunctions` (already in the order wanted, see [`by_miss`]) of a run of
/// `bodies` bodies screened at `distance_km` to `out` in `format`.
pub fn write(
    mut out: impl Write,
    format: ScreenFormat,
    distance_km: f64,
    bodies: usize,
    conjunctions: &[Conjunction],
) -> io::Result<()> {
    let mut float = ryu::Buffer::new();
    let mut int = itoa::Buffer::new();
    match format {
        ScreenFormat::Csv => {
            out.write_all(CSV_HEADER.as_bytes())?;
            out.write_all(b"\n")?;
            for c in conjunctions {
                out.write_all(int.format(c.a).as_bytes())?;
                out.write_all(b",")?;
                out.write_all(int.format(c.b).as_bytes())?;
                for x in [c.tca_s, c.miss_km, c.rel_speed_kms]
                    .into_iter()
                    .chain(c.ric_km)
                {
                    out.write_all(b",")?;
                    if x.is_finite() {
                        out.write_all(float.format(x).as_bytes())?;
                    }
                }
                out.write_all(b"\n")?;
            }
        }
        ScreenFormat::Json => {
            out.write_all(b"{\"distance_km\":")?;
            out.write_all(float.format(distance_km).as_bytes())?;
            out.write_all(b",\"bodies\":")?;
            out.write_all(int.format(bodies).as_bytes())?;
            out.write_all(b",\"conjunctions\":[")?;
            for (i, c) in conjunctions.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(b"{\"a\":")?;
                out.write_all(int.format(c.a).as_bytes())?;
                out.write_all(b",\"b\":")?;
                out.write_all(int.format(c.b).as_bytes())?;
                out.write_all(b",\"tca_s\":")?;
                out.write_all(float.format(c.tca_s).as_bytes())?;
                out.write_all(b",\"miss_km\":")?;
                out.write_all(float.format(c.miss_km).as_bytes())?;
                for (j, x) in [c.rel_speed_kms].into_iter().chain(c.ric_km).enumerate() {
                    out.write_all(match j {
                        0 => b",\"rel_speed_kms\":".as_slice(),
                        1 => b",\"ric_km\":[",
                        _ => b",",
                    })?;
                    if x.is_finite() {
                        out.write_all(float.format(x).as_bytes())?;
                    } else {
                        out.write_all(b"null")?;
                    }
                }
                out.write_all(b"]}")?;
            }
            out.write_all(b"]}\n")?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: u32, b: u32, tca_s: f64, miss_km: f64) -> Conjunction {
        Conjunction {
            a,
            b,
            tca_s,
            miss_km,
            rel_speed_kms: 14.5 + miss_km,
            ric_km: [0.25, -miss_km, 1e-3],
        }
    }

    #[test]
    fn closest_first_and_the_numbers_read_back_exactly() {
        let mut found = vec![
            c(0, 3, 10.5, 2.25),
            c(1, 2, 0.1 + 0.2, 0.3),
            c(0, 1, 7.0, 2.25),
        ];
        by_miss(&mut found);
        let want = [
            c(1, 2, 0.1 + 0.2, 0.3),
            c(0, 1, 7.0, 2.25),
            c(0, 3, 10.5, 2.25),
        ];
        assert_eq!(found, want);
        let mut csv = Vec::new();
        write(&mut csv, ScreenFormat::Csv, 5.0, 4, &found).unwrap();
        let text = String::from_utf8(csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some(CSV_HEADER));
        assert_eq!(
            lines.next(),
            Some("1,2,0.30000000000000004,0.3,14.8,0.25,-0.3,0.001")
        );
        // An unknown encounter is left empty, and null in JSON.
        let mut unknown = c(0, 1, 7.0, 2.25);
        unknown.rel_speed_kms = f64::NAN;
        unknown.ric_km = [f64::NAN; 3];
        let mut csv = Vec::new();
        write(&mut csv, ScreenFormat::Csv, 5.0, 2, &[unknown]).unwrap();
        assert!(String::from_utf8(csv)
            .unwrap()
            .ends_with("\n0,1,7.0,2.25,,,,\n"));
        let mut json = Vec::new();
        write(&mut json, ScreenFormat::Json, 5.0, 2, &[unknown]).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            doc["conjunctions"][0]["ric_km"],
            serde_json::json!([null, null, null])
        );
        let mut json = Vec::new();
        write(&mut json, ScreenFormat::Json, 5.0, 4, &found).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(doc["distance_km"], 5.0);
        assert_eq!(doc["bodies"], 4);
        let rows = doc["conjunctions"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["tca_s"].as_f64(), Some(0.1 + 0.2));
        assert_eq!(rows[0]["rel_speed_kms"].as_f64(), Some(14.8));
        assert_eq!(rows[0]["ric_km"], serde_json::json!([0.25, -0.3, 0.001]));
        assert_eq!(rows[2]["b"], 3);
    }

    #[test]
    fn formats_by_name() {
        assert_eq!("CSV".parse::<ScreenFormat>(), Ok(ScreenFormat::Csv));
        assert_eq!(
            "oem".parse::<ScreenFormat>().unwrap_err().to_string(),
            "unknown format 'oem': expected json or csv"
        );
    }
}
