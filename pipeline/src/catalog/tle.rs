//! Two- and three-line element sets, read by their columns.
//!
//! A TLE is two 69-column lines; a name line (with or without the `0 ` of the
//! three-line form) may come before them. The columns (1-based, as the format's
//! definition counts them):
//!
//! ```text
//! 1 NNNNNC YYLLLPPP YYDDD.DDDDDDDD SNDDOT/2.  NDDOT6-E BSTAR-EE T EEEEK
//! 2 NNNNN III.IIII RRR.RRRR EEEEEEE AAA.AAAA MMM.MMMM NN.NNNNNNNNRRRRRK
//! ```
//!
//! Columns 3-7 are the catalogue number (five digits, leading blanks allowed, or
//! Alpha-5: a letter other than I and O for the number's ten-thousands, A = 10 ...
//! Z = 33, then four digits); column 69 is the checksum (the sum of the digits of
//! columns 1-68, a minus sign counting 1, modulo 10). The eccentricity and the
//! exponent fields (n-ddot/6, bstar) have an implied decimal point; the epoch's
//! two-digit year is 1957-2056. A line that breaks a rule refuses its object, named by
//! the line's number (and the catalogue number when it could be read); the reader
//! goes on with the next object.

use super::{check_ranges, ElementSet, Refusal};
use crate::scenario::Epoch;

/// The text's element sets, and the refused objects.
pub(super) fn read(text: &str) -> Result<(Vec<ElementSet>, Vec<Refusal>), String> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let is_line = |i: usize, first: &str| lines.get(i).is_some_and(|(_, l)| l.starts_with(first));
    let mut objects = Vec::new();
    let mut refused = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (n, line) = lines[i];
        if is_line(i, "1 ") && is_line(i + 1, "2 ") {
            let name = (i > 0 && !is_line(i - 1, "1 ") && !is_line(i - 1, "2 "))
                .then(|| name_of(lines[i - 1].1));
            match element_set(name, (n, line), lines[i + 1]) {
                Ok(e) => objects.push(e),
                Err(r) => refused.push(r),
            }
            i += 2;
            continue;
        }
        let refusal = if line.starts_with("1 ") {
            Some(("line 2", "a line 1 must be followed by its line 2"))
        } else if line.starts_with("2 ") {
            Some(("line 1", "a line 2 must follow its line 1"))
        } else if !is_line(i + 1, "1 ") {
            Some((
                "name line",
                "a name line must be followed by the lines 1 and 2 of a TLE",
            ))
        } else {
            // A name line: read with the TLE that follows it.
            None
        };
        if let Some((field, rule)) = refusal {
            let number = line
                .get(2..7)
                .filter(|_| line.starts_with("1 ") || line.starts_with("2 "))
                .and_then(|c| catalogue_number(c).ok());
            refused.push(Refusal {
                object: object_name(n, number),
                field: field.to_string(),
                rule: format!("{rule} (the line starts {:?})", prefix(line)),
            });
        }
        i += 1;
    }
    Ok((objects, refused))
}

fn prefix(line: &str) -> String {
    line.chars().take(24).collect()
}

fn object_name(line: usize, number: Option<u32>) -> String {
    match number {
        Some(number) => format!("line {line} (catalogue number {number})"),
        None => format!("line {line}"),
    }
}

/// A name line's name: the three-line form's `0 ` taken off, blanks trimmed.
fn name_of(line: &str) -> String {
    line.strip_prefix("0 ").unwrap_or(line).trim().to_string()
}

/// A field of one line that broke a rule.
struct Bad {
    line: usize,
    field: String,
    rule: String,
}

fn bad(line: usize, field: &str, rule: String) -> Bad {
    Bad {
        line,
        field: field.to_string(),
        rule,
    }
}

/// One object from its two lines (numbered), with the name line before them.
fn element_set(
    name: Option<String>,
    (n1, l1): (usize, &str),
    (n2, l2): (usize, &str),
) -> Result<ElementSet, Refusal> {
    let number = l1.get(2..7).and_then(|c| catalogue_number(c).ok());
    parse_pair(name, (n1, l1), (n2, l2)).map_err(|b| Refusal {
        object: object_name(b.line, number),
        field: b.field,
        rule: b.rule,
    })
}

fn parse_pair(
    name: Option<String>,
    (n1, l1): (usize, &str),
    (n2, l2): (usize, &str),
) -> Result<ElementSet, Bad> {
    for (n, l) in [(n1, l1), (n2, l2)] {
        if !l.is_ascii() {
            return Err(bad(n, "line", "must be ASCII text".to_string()));
        }
        if l.len() != 69 {
            return Err(bad(
                n,
                "line",
                format!("must be 69 characters long, got {}", l.len()),
            ));
        }
        let sum = checksum(&l[..68]);
        let given = l.as_bytes()[68];
        if given != b'0' + sum {
            return Err(bad(
                n,
                "checksum (column 69)",
                format!(
                    "must be {sum}, the sum of the digits of columns 1-68 (a minus counts 1) modulo 10, got {:?}",
                    given as char
                ),
            ));
        }
    }
    let blanks = |n: usize, l: &str, columns: &[usize]| -> Result<(), Bad> {
        for &c in columns {
            if l.as_bytes()[c - 1] != b' ' {
                return Err(bad(
                    n,
                    &format!("column {c}"),
                    format!("must be blank, got {:?}", l.as_bytes()[c - 1] as char),
                ));
            }
        }
        Ok(())
    };
    blanks(n1, l1, &[2, 9, 18, 33, 44, 53, 62, 64])?;
    blanks(n2, l2, &[2, 8, 17, 26, 34, 43, 52])?;
    let c1 = |from: usize, to: usize| &l1[from - 1..to];
    let c2 = |from: usize, to: usize| &l2[from - 1..to];

    let norad_id = catalogue_number(c1(3, 7))
        .map_err(|rule| bad(n1, "catalogue number (columns 3-7)", rule))?;
    let second = catalogue_number(c2(3, 7))
        .map_err(|rule| bad(n2, "catalogue number (columns 3-7)", rule))?;
    if second != norad_id {
        return Err(bad(
            n2,
            "catalogue number (columns 3-7)",
            format!("must be line 1's ({norad_id}), got {second}"),
        ));
    }
    let classification = match c1(8, 8).as_bytes()[0] {
        c @ (b'U' | b'C' | b'S') => c as char,
        c => {
            return Err(bad(
                n1,
                "classification (column 8)",
                format!("must be U, C or S, got {:?}", c as char),
            ))
        }
    };
    let object_id = designator(c1(10, 17));
    let epoch = epoch(c1(19, 32)).map_err(|rule| bad(n1, "epoch (columns 19-32)", rule))?;
    let mean_motion_dot =
        decimal(c1(34, 43)).map_err(|rule| bad(n1, "mean motion dot (columns 34-43)", rule))?;
    let mean_motion_ddot = implied_decimal(c1(45, 52))
        .map_err(|rule| bad(n1, "mean motion ddot (columns 45-52)", rule))?;
    let bstar =
        implied_decimal(c1(54, 61)).map_err(|rule| bad(n1, "bstar (columns 54-61)", rule))?;
    let ephemeris_type = match c1(63, 63).as_bytes()[0] {
        b' ' => 0,
        c @ b'0'..=b'9' => c - b'0',
        c => {
            return Err(bad(
                n1,
                "ephemeris type (column 63)",
                format!("must be a digit or blank, got {:?}", c as char),
            ))
        }
    };
    let element_set_no =
        count(c1(65, 68)).map_err(|rule| bad(n1, "element set number (columns 65-68)", rule))?;

    let inclination_deg =
        decimal(c2(9, 16)).map_err(|rule| bad(n2, "inclination (columns 9-16)", rule))?;
    let raan_deg = decimal(c2(18, 25))
        .map_err(|rule| bad(n2, "right ascension of the node (columns 18-25)", rule))?;
    let eccentricity =
        eccentricity(c2(27, 33)).map_err(|rule| bad(n2, "eccentricity (columns 27-33)", rule))?;
    let arg_perigee_deg =
        decimal(c2(35, 42)).map_err(|rule| bad(n2, "argument of perigee (columns 35-42)", rule))?;
    let mean_anomaly_deg =
        decimal(c2(44, 51)).map_err(|rule| bad(n2, "mean anomaly (columns 44-51)", rule))?;
    let mean_motion_rev_day =
        decimal(c2(53, 63)).map_err(|rule| bad(n2, "mean motion (columns 53-63)", rule))?;
    let rev_at_epoch =
        count(c2(64, 68)).map_err(|rule| bad(n2, "revolution number (columns 64-68)", rule))?;

    let e = ElementSet {
        norad_id,
        name: name.filter(|n| !n.is_empty()),
        object_id,
        epoch,
        mean_motion_rev_day,
        eccentricity,
        inclination_deg,
        raan_deg,
        arg_perigee_deg,
        mean_anomaly_deg,
        bstar,
        mean_motion_dot,
        mean_motion_ddot,
        classification,
        element_set_no,
        rev_at_epoch,
        ephemeris_type,
    };
    check_ranges(&e).map_err(|(field, rule)| {
        let line = match field {
            "bstar" | "mean motion dot" | "mean motion ddot" => n1,
            _ => n2,
        };
        bad(line, field, rule)
    })?;
    Ok(e)
}

/// The TLE checksum of columns 1-68: digits summed, each minus sign counting 1.
pub(super) fn checksum(columns: &str) -> u8 {
    let sum: u32 = columns
        .bytes()
        .map(|c| match c {
            b'0'..=b'9' => (c - b'0') as u32,
            b'-' => 1,
            _ => 0,
        })
        .sum();
    (sum % 10) as u8
}

/// Columns 3-7: five digits (leading blanks allowed) or Alpha-5.
pub(super) fn catalogue_number(field: &str) -> Result<u32, String> {
    let rule = || {
        format!(
            "must be five digits (leading blanks allowed) or Alpha-5 (a letter other than I and O, then four digits), got {field:?}"
        )
    };
    let b = field.as_bytes();
    if b.len() != 5 {
        return Err(rule());
    }
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let first = b[0];
    let high = match first {
        b'A'..=b'H' => (first - b'A') as u32 + 10,
        b'J'..=b'N' => (first - b'J') as u32 + 18,
        b'P'..=b'Z' => (first - b'P') as u32 + 23,
        _ => {
            let trimmed = field.trim_start();
            if trimmed.is_empty() || !digits(trimmed.as_bytes()) {
                return Err(rule());
            }
            return trimmed.parse().map_err(|_| rule());
        }
    };
    if !digits(&b[1..]) {
        return Err(rule());
    }
    let low: u32 = field[1..].parse().map_err(|_| rule())?;
    Ok(high * 10_000 + low)
}

/// The epoch's `YYDDD.DDDDDDDD`: the year 1957-2056, the day of the year from 1 (day
/// 1.5 is noon on 1 January), to the nanosecond.
fn epoch(field: &str) -> Result<Epoch, String> {
    let rule = |why: &str| format!("must be YYDDD.DDDDDDDD ({why}), got {field:?}");
    let (year, day) = field.split_at(2);
    if !year.bytes().all(|c| c.is_ascii_digit()) {
        return Err(rule("the year is two digits"));
    }
    let yy: i64 = year.parse().map_err(|_| rule("the year is two digits"))?;
    let year = if yy < 57 { 2000 + yy } else { 1900 + yy };
    let day = day.trim_start();
    let (whole, fraction) = day.split_once('.').unwrap_or((day, ""));
    let all_digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 18 {
        return Err(rule("the day of the year is a decimal number"));
    }
    let whole: i64 = whole.parse().map_err(|_| rule("day"))?;
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_year = if leap { 366 } else { 365 };
    if whole < 1 || whole > days_in_year {
        return Err(rule(&format!(
            "the day is from 1 to {days_in_year} in {year}"
        )));
    }
    // The fraction of a day in nanoseconds, rounded (8 digits are exactly n * 864000 ns).
    let fraction_ns = if fraction.is_empty() {
        0
    } else {
        let digits: i128 = fraction.parse().map_err(|_| rule("day"))?;
        let scale = 10i128.pow(fraction.len() as u32);
        (digits * 86_400_000_000_000 + scale / 2) / scale
    };
    let days = crate::scenario::days_from_civil(year, 1, 1) + whole - 1;
    Epoch::from_unix_nanos(days as i128 * 86_400_000_000_000 + fraction_ns)
        .ok_or_else(|| rule("a date an epoch can hold"))
}

/// The international designator, written as an OMM's `OBJECT_ID` (`98067A` becomes
/// `1998-067A`, the launch year's century by the epoch's rule) when it has the
/// designator's form, else as written; blank is none.
fn designator(field: &str) -> Option<String> {
    let t = field.trim();
    let b = t.as_bytes();
    if t.is_empty() {
        return None;
    }
    let launch_form = b.len() >= 6
        && b[..5].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_uppercase);
    if !launch_form {
        return Some(t.to_string());
    }
    let century = if &t[..2] < "57" { "20" } else { "19" };
    Some(format!("{century}{}-{}", &t[..2], &t[2..]))
}

/// A decimal number right-aligned in its columns (leading blanks and sign allowed).
fn decimal(field: &str) -> Result<f64, String> {
    let t = field.trim();
    let ok = !t.is_empty()
        && t.bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+'))
        && t.bytes().any(|c| c.is_ascii_digit());
    match t.parse::<f64>() {
        Ok(v) if ok => Ok(v),
        _ => Err(format!("must be a decimal number, got {field:?}")),
    }
}

/// An exponent field with an implied leading decimal point: `SMMMMMSE`, e.g.
/// ` 12345-3` = 0.12345e-3, `-11606-4` = -0.11606e-4.
fn implied_decimal(field: &str) -> Result<f64, String> {
    let rule = || {
        format!(
            "must be a sign, five digits and a signed one-digit exponent (\" 12345-3\" is 0.12345e-3), got {field:?}"
        )
    };
    let b = field.as_bytes();
    if b.len() != 8 || !matches!(b[0], b' ' | b'+' | b'-') || !matches!(b[6], b' ' | b'+' | b'-') {
        return Err(rule());
    }
    // Leading blanks in the mantissa read as zeros, as the original reader's did.
    let mantissa = field[1..6].trim_start();
    if !mantissa.bytes().all(|c| c.is_ascii_digit()) || !b[7].is_ascii_digit() {
        return Err(rule());
    }
    let sign = if b[0] == b'-' { "-" } else { "" };
    let exponent = if b[6] == b'-' { "-" } else { "" };
    let text = format!("{sign}0.{mantissa:0>5}e{exponent}{}", b[7] as char);
    text.parse().map_err(|_| rule())
}

/// The eccentricity's seven digits after an implied `0.` (blanks read as zeros).
fn eccentricity(field: &str) -> Result<f64, String> {
    let digits: String = field
        .chars()
        .map(|c| if c == ' ' { '0' } else { c })
        .collect();
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "must be seven digits after an implied decimal point, got {field:?}"
        ));
    }
    format!("0.{digits}")
        .parse()
        .map_err(|_| format!("must be seven digits, got {field:?}"))
}

/// A right-aligned count (blank reads as 0).
fn count(field: &str) -> Result<u64, String> {
    let t = field.trim();
    if t.is_empty() {
        return Ok(0);
    }
    if !t.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("must be digits, got {field:?}"));
    }
    t.parse()
        .map_err(|_| format!("must be digits, got {field:?}"))
}
