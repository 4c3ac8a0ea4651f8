//! The formats a run is exported in: the golden JSON document and CSV.
//!
//! Both are written record by record through [`RunWriter`], so a run of any length
//! streams in constant memory. Numbers are written in their shortest round-trip form,
//! laid out as Python's `repr` lays them out (`0.0`, `0.01`, `7.9e-06`, `1e+16`), so a
//! reader gets back the exact doubles and a run is byte for byte its golden file.

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::model::Record;

/// The column names, in the order every record lists its values.
pub const COLUMNS: [&str; 9] = [
    "t0",
    "t1",
    "agent",
    "x",
    "y",
    "vx",
    "vy",
    "nextTimeStep",
    "iteration",
];

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `{"model":"nano","n":N,"seed":S,"columns":[...],"records":[[...],...]}`.
    #[default]
    Json,
    /// A header line with the column names, then one line per record.
    Csv,
}

impl Format {
    /// Every format, with the name it is chosen by.
    pub const ALL: [(Format, &'static str); 2] = [(Format::Json, "json"), (Format::Csv, "csv")];

    /// The format's name, as [`Format::from_str`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given was not a format; the message lists the ones there are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{0}': expected json or csv")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(s))
            .map(|(format, _)| *format)
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// Writes one run, record by record, in one format.
pub struct RunWriter<W: Write> {
    out: W,
    format: Format,
    first: bool,
    float: ShortestFloat,
    int: itoa::Buffer,
}

impl<W: Write> RunWriter<W> {
    /// Writes the run's opening (the JSON header, or the CSV header line).
    pub fn begin(mut out: W, format: Format, iterations: u64, seed: u64) -> io::Result<Self> {
        match format {
            Format::Json => {
                let mut int = itoa::Buffer::new();
                out.write_all(b"{\"model\":\"nano\",\"n\":")?;
                out.write_all(int.format(iterations).as_bytes())?;
                out.write_all(b",\"seed\":")?;
                out.write_all(int.format(seed).as_bytes())?;
                out.write_all(b",\"columns\":[")?;
                for (i, column) in COLUMNS.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    write!(out, "\"{column}\"")?;
                }
                out.write_all(b"],\"records\":[")?;
            }
            Format::Csv => {
                out.write_all(COLUMNS.join(",").as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
        Ok(RunWriter {
            out,
            format,
            first: true,
            float: ShortestFloat::default(),
            int: itoa::Buffer::new(),
        })
    }

    /// Writes one record.
    pub fn record(&mut self, r: &Record) -> io::Result<()> {
        let s = &r.state;
        let floats = [
            r.t0,
            r.t1,
            s.position.x,
            s.position.y,
            s.velocity.x,
            s.velocity.y,
            s.time_step,
        ];
        let (open, quote, close): (&[u8], &[u8], &[u8]) = match self.format {
            Format::Json if self.first => (b"[", b"\"", b"]"),
            Format::Json => (b",[", b"\"", b"]"),
            Format::Csv => (b"", b"", b"\n"),
        };
        self.first = false;
        let out = &mut self.out;
        out.write_all(open)?;
        for (i, value) in floats.iter().enumerate() {
            if i == 2 {
                out.write_all(quote)?;
                out.write_all(r.agent.name().as_bytes())?;
                out.write_all(quote)?;
                out.write_all(b",")?;
            }
            out.write_all(self.float.format(*value, self.format))?;
            out.write_all(b",")?;
        }
        out.write_all(self.int.format(r.iteration).as_bytes())?;
        out.write_all(close)
    }

    /// Writes every record of `records`.
    pub fn records(&mut self, records: impl IntoIterator<Item = Record>) -> io::Result<()> {
        records.into_iter().try_for_each(|r| self.record(&r))
    }

    /// The writer, for taking what was written so far (a streamed body hands it on in
    /// chunks).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Closes the document, flushes, and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.format == Format::Json {
            self.out.write_all(b"]}\n")?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Formats doubles in shortest round-trip form with Python's `repr` layout.
///
/// ryu finds the shortest digits; its layout differs from Python's only where Python
/// writes an exponent (below 1e-4, or from 1e16 on): there Python writes at least two
/// exponent digits and a sign (`1e-05`, `1e+16`) and ryu does not (`1e-5`, `1e16`), and
/// between 1e-5 and 1e-4 ryu writes a plain decimal. Those cases are laid out again
/// here, in a fixed buffer: formatting never allocates.
#[derive(Default)]
pub(crate) struct ShortestFloat {
    ryu: ryu::Buffer,
    out: [u8; 32],
}

impl ShortestFloat {
    /// The text of `value`. JSON has no infinities or NaN: there (a collision of the
    /// two bodies could produce them) they are written as `null`.
    pub(crate) fn format(&mut self, value: f64, format: Format) -> &[u8] {
        if !value.is_finite() {
            return match format {
                Format::Json => b"null",
                Format::Csv => self.ryu.format(value).as_bytes(),
            };
        }
        let magnitude = value.abs();
        let text = self.ryu.format_finite(value).as_bytes();
        if magnitude == 0.0 || (1e-4..1e16).contains(&magnitude) {
            return text;
        }
        let len = python_scientific(text, &mut self.out);
        &self.out[..len]
    }
}

/// Re-lays ryu's text of a nonzero double outside `[1e-4, 1e16)` as Python's `repr`
/// does (`d[.ddd]e±XX`) into `out`, returning the length written.
fn python_scientific(text: &[u8], out: &mut [u8; 32]) -> usize {
    let (negative, text) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let (mantissa, exponent) = match text.iter().position(|&b| b == b'e') {
        Some(e) => {
            let exp = std::str::from_utf8(&text[e + 1..]).expect("ryu writes ASCII");
            (
                &text[..e],
                exp.parse::<i32>().expect("ryu writes a decimal exponent"),
            )
        }
        None => (text, 0),
    };
    let point = mantissa
        .iter()
        .position(|&b| b == b'.')
        .unwrap_or(mantissa.len());
    let mut digits = [0u8; 24];
    let mut count = 0;
    let mut leading_zeros = 0;
    for &b in mantissa.iter().filter(|&&b| b != b'.') {
        if count == 0 && b == b'0' {
            leading_zeros += 1;
        } else {
            digits[count] = b;
            count += 1;
        }
    }
    while count > 1 && digits[count - 1] == b'0' {
        count -= 1;
    }
    let exponent = exponent + point as i32 - 1 - leading_zeros;

    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        out[len..len + bytes.len()].copy_from_slice(bytes);
        len += bytes.len();
    };
    if negative {
        push(b"-");
    }
    push(&digits[..1]);
    if count > 1 {
        push(b".");
        push(&digits[1..count]);
    }
    push(if exponent < 0 { b"e-" } else { b"e+" });
    let magnitude = exponent.unsigned_abs();
    if magnitude < 10 {
        push(b"0");
    }
    push(itoa::Buffer::new().format(magnitude).as_bytes());
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Propagator;

    fn export(format: Format, n: u64, seed: u64) -> String {
        let mut w = RunWriter::begin(Vec::new(), format, n, seed).unwrap();
        w.records(Propagator::new(seed, n)).unwrap();
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn json_round_trips_every_double_exactly() {
        let text = export(Format::Json, 300, 9);
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["model"], "nano");
        assert_eq!(doc["n"], 300);
        assert_eq!(doc["seed"], 9);
        assert_eq!(doc["columns"], serde_json::json!(COLUMNS));
        let rows = doc["records"].as_array().unwrap();
        let records: Vec<_> = Propagator::new(9, 300).collect();
        assert_eq!(rows.len(), records.len());
        for (row, r) in rows.iter().zip(&records) {
            let s = &r.state;
            let expected = [
                r.t0,
                r.t1,
                s.position.x,
                s.position.y,
                s.velocity.x,
                s.velocity.y,
            ];
            let got: Vec<f64> = [0, 1, 3, 4, 5, 6]
                .iter()
                .map(|&i| row[i].as_f64().unwrap())
                .collect();
            assert_eq!(got, expected);
            assert_eq!(row[2], r.agent.name());
            assert_eq!(row[7].as_f64().unwrap(), s.time_step);
            assert_eq!(row[8].as_u64().unwrap(), r.iteration);
        }
    }

    #[test]
    fn an_empty_json_run_is_a_valid_document() {
        let w = RunWriter::begin(Vec::new(), Format::Json, 0, 1).unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["records"], serde_json::json!([]));
    }

    #[test]
    fn csv_has_a_header_and_one_line_per_record() {
        let text = export(Format::Csv, 50, 2);
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        let records: Vec<_> = Propagator::new(2, 50).collect();
        let rows: Vec<_> = lines.collect();
        assert_eq!(rows.len(), records.len());
        for (row, r) in rows.iter().zip(&records) {
            let fields: Vec<_> = row.split(',').collect();
            assert_eq!(fields.len(), COLUMNS.len());
            assert_eq!(fields[2], r.agent.name());
            assert_eq!(fields[3].parse::<f64>().unwrap(), r.state.position.x);
            assert_eq!(fields[8].parse::<u64>().unwrap(), r.iteration);
        }
    }

    #[test]
    fn non_finite_values_stay_valid_json() {
        let mut r = Propagator::new(0, 1).next().unwrap();
        r.state.velocity.x = f64::INFINITY;
        let mut w = RunWriter::begin(Vec::new(), Format::Json, 1, 0).unwrap();
        w.record(&r).unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(doc["records"][0][5].is_null());
    }

    #[test]
    fn doubles_are_laid_out_as_python_repr_lays_them_out() {
        // Each pair: a double, and what Python's repr(double) prints for it.
        let cases = [
            (7.957271012229428e-06, "7.957271012229428e-06"),
            (1e-05, "1e-05"),
            (1.5e-05, "1.5e-05"),
            (-2.5e-09, "-2.5e-09"),
            (1e-07, "1e-07"),
            (5e-324, "5e-324"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.1, "0.1"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (1e16, "1e+16"),
            (1.2345e20, "1.2345e+20"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        let mut f = ShortestFloat::default();
        for (value, python) in cases {
            let text = std::str::from_utf8(f.format(value, Format::Json)).unwrap();
            assert_eq!(text, python);
            assert_eq!(text.parse::<f64>().unwrap().to_bits(), value.to_bits());
        }
    }

    #[test]
    fn formats_parse_by_name_and_reject_others_by_name() {
        assert_eq!("json".parse(), Ok(Format::Json));
        assert_eq!("CSV".parse(), Ok(Format::Csv));
        let err = "xml".parse::<Format>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown format 'xml': expected json or csv"
        );
    }
}
