//! CCSDS OMMs (502.0-B-3, in KVN or XML) and the JSON and CSV that CelesTrak and
//! Space-Track serve with the same keywords.
//!
//! Every encoding is first cut into objects, each a list of `KEYWORD -> text` pairs
//! with the place it came from (`line N` of a KVN or CSV file, `record N` of a JSON
//! array or of an XML file's `<omm>`s); one function then reads the keywords of any
//! encoding into an [`ElementSet`] or a [`Refusal`] naming the object, the keyword and
//! the rule. So a bad object costs only itself, and the rules are the same whatever
//! the encoding:
//!
//! - `NORAD_CAT_ID`, `EPOCH`, `MEAN_MOTION`, `ECCENTRICITY`, `INCLINATION`,
//!   `RA_OF_ASC_NODE`, `ARG_OF_PERICENTER`, `MEAN_ANOMALY` and `BSTAR` must be given
//!   (the catalogue number names the object; SGP4 needs the rest);
//!   `MEAN_MOTION_DOT`, `MEAN_MOTION_DDOT`, `ELEMENT_SET_NO`, `REV_AT_EPOCH` default to
//!   0, `EPHEMERIS_TYPE` to 0, `CLASSIFICATION_TYPE` to `U`.
//! - Numbers as CCSDS writes them (a sign, digits with or without a leading zero, an
//!   `E` or `e` exponent); JSON numbers or strings alike; a KVN value's `[unit]` is
//!   dropped. Integers may carry a sign and leading zeros; `NORAD_CAT_ID` has up to
//!   nine digits.
//! - `EPOCH` in either CCSDS form, `YYYY-MM-DDThh:mm:ss[.d...][Z]` or
//!   `YYYY-DDDThh:mm:ss[.d...][Z]`, UTC, rounded to the nanosecond.
//! - When given, `MEAN_ELEMENT_THEORY` must be `SGP4` (or CelesTrak's `SGP/SGP4`),
//!   `CENTER_NAME` `EARTH`, `REF_FRAME` `TEME` and `TIME_SYSTEM` `UTC`; JSON and CSV
//!   leave them out, which means those.
//! - Keywords this reader does not use (`CREATION_DATE`, `USER_DEFINED_*`, SupGP's
//!   `RMS`, ...) are passed over; a keyword given twice in one object is refused.

use serde_json::Value;

use super::{check_ranges, ElementSet, Refusal};
use crate::scenario::Epoch;

type Read = Result<(Vec<ElementSet>, Vec<Refusal>), String>;

/// Where an object came from, as its refusal names it.
#[derive(Debug, Clone, Copy)]
enum Place {
    Line(usize),
    Record(usize),
    RecordAtLine(usize, usize),
}

impl Place {
    fn name(self, norad_id: Option<u32>) -> String {
        let place = match self {
            Place::Line(n) => format!("line {n}"),
            Place::Record(n) => format!("record {n}"),
            Place::RecordAtLine(n, line) => format!("record {n} (line {line})"),
        };
        match norad_id {
            Some(id) => format!("{place} (catalogue number {id})"),
            None => place,
        }
    }
}

/// One object's keywords and their text, in the order given.
struct Keywords {
    place: Place,
    pairs: Vec<(String, String)>,
}

/// The outcome of reading objects one by one.
#[derive(Default)]
struct Objects {
    good: Vec<ElementSet>,
    refused: Vec<Refusal>,
}

impl Objects {
    fn push(&mut self, keywords: Keywords) {
        match element_set(&keywords) {
            Ok(e) => self.good.push(e),
            Err(r) => self.refused.push(r),
        }
    }

    fn refuse(&mut self, place: Place, field: &str, rule: String) {
        self.refused.push(Refusal {
            object: place.name(None),
            field: field.to_string(),
            rule,
        });
    }

    fn done(self) -> Read {
        Ok((self.good, self.refused))
    }
}

// ---------------------------------------------------------------------------------
// KVN

/// KVN: `KEYWORD = value` lines, each message opened by `CCSDS_OMM_VERS`; `COMMENT`
/// and blank lines passed over.
pub(super) fn read_kvn(text: &str) -> Read {
    let mut objects = Objects::default();
    let mut current: Option<Keywords> = None;
    // A syntax error refuses the message it is in; the rest of it is passed over.
    let mut broken = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line == "COMMENT" || line.starts_with("COMMENT ") {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            match current.as_ref() {
                Some(k) if !broken => {
                    objects.refuse(
                        k.place,
                        "KVN line",
                        format!(
                            "line {n} must be KEYWORD = value or a COMMENT, got {:?}",
                            prefix(line)
                        ),
                    );
                    broken = true;
                }
                Some(_) => {}
                None => return Err(not_kvn(n, line)),
            }
            continue;
        };
        let key = key.trim().to_ascii_uppercase();
        if key == "CCSDS_OMM_VERS" {
            if let Some(k) = current.take() {
                if !broken {
                    objects.push(k);
                }
            }
            broken = false;
            current = Some(Keywords {
                place: Place::Line(n),
                pairs: Vec::new(),
            });
            continue;
        }
        match current.as_mut() {
            Some(k) => k.pairs.push((key, value.trim().to_string())),
            None => return Err(not_kvn(n, line)),
        }
    }
    match current {
        Some(k) => {
            if !broken {
                objects.push(k);
            }
        }
        None => return Err("it holds no CCSDS_OMM_VERS line, which opens every OMM".into()),
    }
    objects.done()
}

fn not_kvn(n: usize, line: &str) -> String {
    format!(
        "line {n} comes before any CCSDS_OMM_VERS line, which opens every OMM (the line starts {:?})",
        prefix(line)
    )
}

fn prefix(line: &str) -> String {
    line.chars().take(40).collect()
}

// ---------------------------------------------------------------------------------
// XML

/// XML: every `<omm>` element (the root, or the children of an `<ndm>`), its
/// keywords the leaf elements inside it whatever their nesting (`header`,
/// `metadata`, `meanElements`, `tleParameters`, ...). Namespaces and attributes are
/// passed over. A syntax error ends the reading there: the objects before it are
/// kept and the error is the broken object's refusal.
pub(super) fn read_xml(text: &str) -> Read {
    use quick_xml::events::Event;

    let line_of = |pos: u64| {
        text.as_bytes()[..(pos as usize).min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    };
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut objects = Objects::default();
    let mut records = 0;
    let mut current: Option<Keywords> = None;
    // The innermost open element inside the current `<omm>` and its text so far.
    let mut open: Option<(String, String)> = None;
    let mut depth_in_omm = 0usize;
    let mut saw_root = false;
    loop {
        let before = reader.buffer_position();
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                let line = line_of(reader.error_position());
                let rule =
                    format!("the XML breaks off at line {line}: {e} (nothing after it is read)");
                match current.take() {
                    Some(k) => objects.refuse(k.place, "XML", rule),
                    None if !saw_root => return Err(format!("it is not XML: {e} at line {line}")),
                    None => objects.refuse(Place::RecordAtLine(records + 1, line), "XML", rule),
                }
                return finish_xml(objects, records);
            }
        };
        match event {
            Event::Start(e) => {
                saw_root = true;
                let name = local_name(e.local_name().as_ref());
                if current.is_none() {
                    if name == "omm" {
                        records += 1;
                        current = Some(Keywords {
                            place: Place::RecordAtLine(records, line_of(before)),
                            pairs: Vec::new(),
                        });
                        depth_in_omm = 0;
                    }
                    continue;
                }
                depth_in_omm += 1;
                open = Some((name, String::new()));
            }
            Event::Empty(e) => {
                saw_root = true;
                if current.is_none() && local_name(e.local_name().as_ref()) == "omm" {
                    records += 1;
                    objects.push(Keywords {
                        place: Place::RecordAtLine(records, line_of(before)),
                        pairs: Vec::new(),
                    });
                }
            }
            Event::Text(t) => {
                if let Some((_, value)) = open.as_mut() {
                    value.push_str(&t.decode().map_err(|e| format!("not text: {e}"))?);
                }
            }
            Event::CData(t) => {
                if let Some((_, value)) = open.as_mut() {
                    value.push_str(&t.decode().map_err(|e| format!("not text: {e}"))?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, value)) = open.as_mut() {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c.to_string()),
                        _ => r
                            .decode()
                            .ok()
                            .and_then(|name| quick_xml::escape::resolve_predefined_entity(&name))
                            .map(str::to_string),
                    };
                    value.push_str(resolved.as_deref().unwrap_or("\u{FFFD}"));
                }
            }
            Event::End(_) => {
                let Some(k) = current.as_mut() else {
                    continue;
                };
                if depth_in_omm == 0 {
                    // The `</omm>`.
                    if let Some(k) = current.take() {
                        objects.push(k);
                    }
                    continue;
                }
                depth_in_omm -= 1;
                // A leaf closes: its text is a keyword's value (an element with
                // children was closed already by them: `open` is empty then).
                if let Some((name, value)) = open.take() {
                    if name != "COMMENT" {
                        k.pairs
                            .push((name.to_ascii_uppercase(), value.trim().to_string()));
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if let Some(k) = current.take() {
        objects.refuse(
            k.place,
            "XML",
            "the <omm> element is not closed: the file ends inside it".to_string(),
        );
    }
    finish_xml(objects, records)
}

fn finish_xml(objects: Objects, records: usize) -> Read {
    if records == 0 {
        return Err("it holds no <omm> element".to_string());
    }
    objects.done()
}

fn local_name(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------
// JSON

/// JSON: an array of objects (or one object) whose keys are OMM keywords and whose
/// values are numbers or strings (`null` is absent). The array is read element by
/// element, so a file cut or broken in the middle keeps the records before the break
/// and refuses the rest with the reason.
pub(super) fn read_json(text: &str) -> Read {
    let start = text.trim_start();
    let mut objects = Objects::default();
    if start.starts_with('{') {
        let value: Value =
            serde_json::from_str(start).map_err(|e| format!("it is not JSON: {e}"))?;
        json_record(&mut objects, 1, value);
        return objects.done();
    }
    let Some(mut rest) = start.strip_prefix('[') else {
        return Err("it is not a JSON array or object of OMM keywords".to_string());
    };
    let mut record = 0;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(']') {
            if !after.trim().is_empty() {
                return Err(format!(
                    "text follows the JSON array's end: {:?}",
                    prefix(after.trim())
                ));
            }
            break;
        }
        if record > 0 {
            match rest.strip_prefix(',') {
                Some(after) => rest = after,
                None => {
                    let rule = if rest.is_empty() {
                        "the file ends before the array's closing ']': it is cut".to_string()
                    } else {
                        format!("records must be separated by ',', got {:?}", prefix(rest))
                    };
                    objects.refuse(Place::Record(record + 1), "JSON", rule);
                    break;
                }
            }
        }
        record += 1;
        let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let used = stream.byte_offset();
                json_record(&mut objects, record, value);
                rest = &rest[used..];
            }
            Some(Err(e)) => {
                objects.refuse(
                    Place::Record(record),
                    "JSON",
                    format!("the JSON breaks off in this record: {e} (nothing after it is read)"),
                );
                break;
            }
            None => {
                objects.refuse(
                    Place::Record(record),
                    "JSON",
                    "the file ends before the array's closing ']': it is cut".to_string(),
                );
                break;
            }
        }
    }
    objects.done()
}

fn json_record(objects: &mut Objects, record: usize, value: Value) {
    let place = Place::Record(record);
    let Value::Object(map) = value else {
        objects.refuse(
            place,
            "record",
            format!(
                "must be a JSON object of OMM keywords, got {}",
                json_kind(&value)
            ),
        );
        return;
    };
    let mut pairs = Vec::with_capacity(map.len());
    for (key, value) in map {
        let key = key.to_ascii_uppercase();
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other if KNOWN.contains(&key.as_str()) => {
                let norad_id = norad_from_pairs(&pairs);
                objects.refused.push(Refusal {
                    object: place.name(norad_id),
                    field: key,
                    rule: format!("must be a number or a string, got {}", json_kind(&other)),
                });
                return;
            }
            // A key this reader does not use may hold anything.
            _ => continue,
        };
        pairs.push((key, text));
    }
    objects.push(Keywords { place, pairs });
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// ---------------------------------------------------------------------------------
// CSV

/// CSV: a header of OMM keywords, then one object a row (CelesTrak's layout; the
/// columns in any order, unknown ones passed over). A row with another number of
/// fields than the header is refused, which is how a file cut inside its last row
/// shows.
pub(super) fn read_csv(text: &str) -> Read {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("its header is not CSV: {e}"))?
        .iter()
        .map(str::to_ascii_uppercase)
        .collect();
    if !headers.iter().any(|h| KNOWN.contains(&h.as_str())) {
        return Err(format!(
            "its header names no OMM keyword (it starts {:?})",
            prefix(&headers.join(","))
        ));
    }
    let mut objects = Objects::default();
    let mut record = csv::StringRecord::new();
    // Lines from byte offsets: with CRLF endings the crate's positions point at the
    // line ending before a row (and its line count is one short), so the offset is
    // moved past line endings first.
    let line_at = |byte: u64| {
        let b = text.as_bytes();
        let mut at = (byte as usize).min(b.len());
        while at < b.len() && matches!(b[at], b'\r' | b'\n') {
            at += 1;
        }
        b[..at].iter().filter(|&&c| c == b'\n').count() + 1
    };
    loop {
        let start = reader.position().byte();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = line_at(record.position().map_or(start, |p| p.byte()));
                let pairs = headers
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(h, v)| (h.clone(), v.to_string()))
                    .collect();
                objects.push(Keywords {
                    place: Place::Line(line),
                    pairs,
                });
            }
            Err(e) => {
                let line = line_at(e.position().map_or(start, |p| p.byte()));
                let rule = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => format!(
                        "must have the header's {expected_len} fields, got {len} (a row cut short?)"
                    ),
                    _ => format!("is not a CSV row: {e}"),
                };
                objects.refuse(Place::Line(line), "row", rule);
            }
        }
    }
    objects.done()
}

// ---------------------------------------------------------------------------------
// One object's keywords into an element set

/// The keywords this reader uses.
const KNOWN: [&str; 22] = [
    "NORAD_CAT_ID",
    "OBJECT_NAME",
    "OBJECT_ID",
    "EPOCH",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
    "BSTAR",
    "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
    "EPHEMERIS_TYPE",
    "CLASSIFICATION_TYPE",
    "ELEMENT_SET_NO",
    "REV_AT_EPOCH",
    "MEAN_ELEMENT_THEORY",
    "CENTER_NAME",
    "REF_FRAME",
    "TIME_SYSTEM",
    "SEMI_MAJOR_AXIS",
];

fn norad_from_pairs(pairs: &[(String, String)]) -> Option<u32> {
    pairs
        .iter()
        .find(|(k, _)| k == "NORAD_CAT_ID")
        .and_then(|(_, v)| catalogue_number(v).ok())
}

/// A keyword that broke a rule.
type Bad = (&'static str, String);

fn element_set(k: &Keywords) -> Result<ElementSet, Refusal> {
    let norad_id = norad_from_pairs(&k.pairs);
    read_keywords(&k.pairs).map_err(|(field, rule)| Refusal {
        object: k.place.name(norad_id),
        field: field.to_string(),
        rule,
    })
}

fn read_keywords(pairs: &[(String, String)]) -> Result<ElementSet, Bad> {
    // Each known keyword at most once.
    let mut values: [Option<&str>; KNOWN.len()] = [None; KNOWN.len()];
    for (key, value) in pairs {
        if let Some(i) = KNOWN.iter().position(|k| k == key) {
            if values[i].is_some() {
                return Err((
                    KNOWN[i],
                    "must be given once in an object, got it twice".into(),
                ));
            }
            values[i] = Some(value.as_str());
        }
    }
    let get = |key: &'static str| {
        let i = KNOWN
            .iter()
            .position(|k| *k == key)
            .expect("a known keyword");
        values[i]
    };
    let required = |key: &'static str| -> Result<&str, Bad> {
        match get(key) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err((key, "must be given".to_string())),
        }
    };
    let real =
        |key: &'static str| -> Result<f64, Bad> { number(required(key)?).map_err(|r| (key, r)) };
    let real_or_zero = |key: &'static str| -> Result<f64, Bad> {
        match get(key) {
            Some(v) if !v.trim().is_empty() => number(v).map_err(|r| (key, r)),
            _ => Ok(0.0),
        }
    };
    let count_or_zero = |key: &'static str| -> Result<u64, Bad> {
        match get(key) {
            Some(v) if !v.trim().is_empty() => integer(v, u64::MAX).map_err(|r| (key, r)),
            _ => Ok(0),
        }
    };
    let fixed = |key: &'static str, allowed: &[&str], rule: &str| -> Result<(), Bad> {
        match get(key).map(str::trim) {
            Some(v) if !v.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => {
                Err((key, format!("{rule}, got {v:?}")))
            }
            _ => Ok(()),
        }
    };

    fixed(
        "MEAN_ELEMENT_THEORY",
        &["SGP4", "SGP/SGP4"],
        "must be SGP4 (or SGP/SGP4, as CelesTrak writes it): other theories' mean elements (SGP, SGP4-XP, Brouwer, ...) mean other orbits, and this build propagates by SGP4 only",
    )?;
    fixed(
        "CENTER_NAME",
        &["EARTH"],
        "must be EARTH (SGP4 orbits the Earth)",
    )?;
    fixed("REF_FRAME", &["TEME"], "must be TEME, SGP4's frame")?;
    fixed(
        "TIME_SYSTEM",
        &["UTC"],
        "must be UTC, the time SGP4 element sets are given in",
    )?;

    let norad_id = catalogue_number(required("NORAD_CAT_ID")?).map_err(|r| ("NORAD_CAT_ID", r))?;
    let epoch = epoch(required("EPOCH")?).map_err(|r| ("EPOCH", r))?;
    let classification = match get("CLASSIFICATION_TYPE").map(str::trim) {
        None | Some("") => 'U',
        Some(c @ ("U" | "C" | "S")) => c.chars().next().expect("one letter"),
        Some(other) => {
            return Err((
                "CLASSIFICATION_TYPE",
                format!("must be U, C or S, got {other:?}"),
            ))
        }
    };
    let ephemeris_type = match get("EPHEMERIS_TYPE") {
        Some(v) if !v.trim().is_empty() => {
            let t = integer(v, 9).map_err(|r| {
                (
                    "EPHEMERIS_TYPE",
                    format!("{r} (one digit, as a TLE's column 63)"),
                )
            })?;
            if t == 4 {
                return Err((
                    "EPHEMERIS_TYPE",
                    "must not be 4: type 4 is SGP4-XP's elements, which SGP4 does not read"
                        .to_string(),
                ));
            }
            t as u8
        }
        _ => 0,
    };
    let text = |key: &'static str| {
        get(key)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let e = ElementSet {
        norad_id,
        name: text("OBJECT_NAME"),
        object_id: text("OBJECT_ID"),
        epoch,
        mean_motion_rev_day: real("MEAN_MOTION")?,
        eccentricity: real("ECCENTRICITY")?,
        inclination_deg: real("INCLINATION")?,
        raan_deg: real("RA_OF_ASC_NODE")?,
        arg_perigee_deg: real("ARG_OF_PERICENTER")?,
        mean_anomaly_deg: real("MEAN_ANOMALY")?,
        bstar: real("BSTAR")?,
        mean_motion_dot: real_or_zero("MEAN_MOTION_DOT")?,
        mean_motion_ddot: real_or_zero("MEAN_MOTION_DDOT")?,
        classification,
        element_set_no: count_or_zero("ELEMENT_SET_NO")?,
        rev_at_epoch: count_or_zero("REV_AT_EPOCH")?,
        ephemeris_type,
    };
    check_ranges(&e).map_err(|(field, rule)| (keyword_of(field), rule))?;
    Ok(e)
}

/// The OMM keyword of a field `check_ranges` names.
fn keyword_of(field: &str) -> &'static str {
    match field {
        "eccentricity" => "ECCENTRICITY",
        "mean motion" => "MEAN_MOTION",
        "inclination" => "INCLINATION",
        "right ascension of the node" => "RA_OF_ASC_NODE",
        "argument of perigee" => "ARG_OF_PERICENTER",
        "mean anomaly" => "MEAN_ANOMALY",
        "bstar" => "BSTAR",
        "mean motion dot" => "MEAN_MOTION_DOT",
        "mean motion ddot" => "MEAN_MOTION_DDOT",
        _ => "element set",
    }
}

/// A value with a KVN unit in brackets after it (`16.05 [rev/day]`) without it.
fn without_unit(value: &str) -> &str {
    let v = value.trim();
    match (v.ends_with(']'), v.rfind('[')) {
        (true, Some(i)) => v[..i].trim_end(),
        _ => v,
    }
}

/// A CCSDS real: a sign, digits with an optional point (a leading point allowed),
/// an optional `E`/`e` exponent. No `inf`, `NaN` or hexadecimal.
fn number(value: &str) -> Result<f64, String> {
    let v = without_unit(value);
    let rule = || format!("must be a decimal number (like 15.5, -.3657E-4 or 1e-5), got {value:?}");
    let b = v.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits_from = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i, i - start)
    };
    let (after_int, int_digits) = digits_from(i);
    i = after_int;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        let (after, n) = digits_from(i + 1);
        i = after;
        frac_digits = n;
    }
    if int_digits + frac_digits == 0 {
        return Err(rule());
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (after, n) = digits_from(i);
        if n == 0 {
            return Err(rule());
        }
        i = after;
    }
    if i != b.len() {
        return Err(rule());
    }
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(rule()),
    }
}

/// A CCSDS integer (sign and leading zeros allowed) from 0 to `max`.
fn integer(value: &str, max: u64) -> Result<u64, String> {
    let v = without_unit(value);
    let digits = v.strip_prefix('+').unwrap_or(v);
    let negative_zero = v
        .strip_prefix('-')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c == b'0'));
    if negative_zero {
        return Ok(0);
    }
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "must be a whole number from 0 to {max}, got {value:?}"
        ));
    }
    let significant = digits.trim_start_matches('0');
    match significant.parse::<u64>() {
        Ok(n) if n <= max => Ok(n),
        Err(_) if significant.is_empty() => Ok(0),
        _ => Err(format!(
            "must be a whole number from 0 to {max}, got {value:?}"
        )),
    }
}

/// `NORAD_CAT_ID`: an integer of up to nine digits (CCSDS 502.0-B-3, table 4-3).
fn catalogue_number(value: &str) -> Result<u32, String> {
    integer(value, 999_999_999).map(|n| n as u32).map_err(|_| {
        format!(
            "must be a whole number of up to nine digits (Alpha-5 is for TLEs only), got {value:?}"
        )
    })
}

/// An OMM epoch: `YYYY-MM-DDThh:mm:ss[.d...][Z]` or `YYYY-DDDThh:mm:ss[.d...][Z]`,
/// UTC (a leap second's `:60` is the next day's midnight, as an `Epoch` counts no
/// leap seconds), rounded to the nanosecond.
fn epoch(value: &str) -> Result<Epoch, String> {
    let v = value.trim();
    let rule = |why: &str| {
        format!(
            "must be a UTC instant like 2020-07-12T21:15:53.800416 or 2020-194T21:15:53.8 ({why}), got {value:?}"
        )
    };
    let v = v.strip_suffix('Z').unwrap_or(v);
    let Some((date, time)) = v.split_once('T') else {
        return Err(rule("a date, 'T', a time"));
    };
    let digits = |s: &str, n: usize| -> Option<i64> {
        (s.len() == n && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match date.split('-').collect::<Vec<_>>().as_slice() {
        [y, m, d] => {
            let (y, m, d) = digits(y, 4)
                .zip(digits(m, 2))
                .zip(digits(d, 2))
                .map(|((y, m), d)| (y, m, d))
                .ok_or_else(|| rule("the date is YYYY-MM-DD"))?;
            let month_days = [
                31,
                if leap(y) { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
                return Err(rule("no such date"));
            }
            crate::scenario::days_from_civil(y, m, d)
        }
        [y, doy] => {
            let (y, doy) = digits(y, 4)
                .zip(digits(doy, 3))
                .ok_or_else(|| rule("the date is YYYY-DDD"))?;
            if doy < 1 || doy > if leap(y) { 366 } else { 365 } {
                return Err(rule("no such day of the year"));
            }
            crate::scenario::days_from_civil(y, 1, 1) + doy - 1
        }
        _ => return Err(rule("the date is YYYY-MM-DD or YYYY-DDD")),
    };
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let [h, m, s] = clock.split(':').collect::<Vec<_>>()[..] else {
        return Err(rule("the time is hh:mm:ss"));
    };
    let (h, m, s) = digits(h, 2)
        .zip(digits(m, 2))
        .zip(digits(s, 2))
        .map(|((h, m), s)| (h, m, s))
        .ok_or_else(|| rule("the time is hh:mm:ss"))?;
    if h > 23 || m > 59 || s > 60 || (s == 60 && (h, m) != (23, 59)) {
        return Err(rule("no such time of day"));
    }
    if time.contains('.') && (fraction.is_empty() || !fraction.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(rule("the fraction of a second is digits"));
    }
    // The fraction rounded to the nanosecond (half up).
    let mut nanos: i128 = 0;
    for (i, c) in fraction.bytes().take(10).enumerate() {
        let d = (c - b'0') as i128;
        if i < 9 {
            nanos += d * 10i128.pow(8 - i as u32);
        } else if d >= 5 {
            nanos += 1;
        }
    }
    let seconds = days * 86_400 + h * 3600 + m * 60 + s;
    Epoch::from_unix_nanos(seconds as i128 * 1_000_000_000 + nanos)
        .ok_or_else(|| rule("a date an epoch can hold"))
}

#[cfg(test)]
mod tests {
    use super::super::{Catalog, CatalogError, CatalogFormat};
    use super::*;

    const KVN: &str = "CCSDS_OMM_VERS = 2.0
CREATION_DATE =
ORIGINATOR =
OBJECT_NAME = ISS (ZARYA)
OBJECT_ID = 1998-067A
CENTER_NAME = EARTH
REF_FRAME = TEME
TIME_SYSTEM = UTC
MEAN_ELEMENT_THEORY = SGP/SGP4
EPOCH = 2020-07-12T21:15:53.800416
MEAN_MOTION = 15.49507896 [rev/day]
ECCENTRICITY = .0001413
INCLINATION = 51.6461
RA_OF_ASC_NODE = 221.2784
ARG_OF_PERICENTER = 89.1723
MEAN_ANOMALY = 280.4612
EPHEMERIS_TYPE = 0
CLASSIFICATION_TYPE = U
NORAD_CAT_ID = 25544
ELEMENT_SET_NO = 999
REV_AT_EPOCH = 23600
BSTAR = -.31515E-4
MEAN_MOTION_DOT = -.2218E-4
MEAN_MOTION_DDOT = 0
";

    fn read(text: &str, format: CatalogFormat) -> Result<Catalog, CatalogError> {
        Catalog::read(text.as_bytes(), Some(format))
    }

    fn check_iss(e: &ElementSet) {
        assert_eq!(e.norad_id, 25544);
        assert_eq!(e.name.as_deref(), Some("ISS (ZARYA)"));
        assert_eq!(e.object_id.as_deref(), Some("1998-067A"));
        assert_eq!(e.epoch.to_string(), "2020-07-12T21:15:53.800416Z");
        assert_eq!(e.mean_motion_rev_day, 15.49507896);
        assert_eq!(e.eccentricity, 0.0001413);
        assert_eq!(e.inclination_deg, 51.6461);
        assert_eq!(e.raan_deg, 221.2784);
        assert_eq!(e.arg_perigee_deg, 89.1723);
        assert_eq!(e.mean_anomaly_deg, 280.4612);
        assert_eq!(e.bstar, -0.31515e-4);
        assert_eq!(e.mean_motion_dot, -0.2218e-4);
        assert_eq!(e.mean_motion_ddot, 0.0);
        assert_eq!(e.classification, 'U');
        assert_eq!(
            (e.element_set_no, e.rev_at_epoch, e.ephemeris_type),
            (999, 23600, 0)
        );
    }

    /// The KVN's keywords as JSON (values as strings, as Space-Track writes them,
    /// or as numbers) and as CSV.
    fn iss_pairs() -> Vec<(String, String)> {
        KVN.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), without_unit(v).to_string()))
            .filter(|(k, v)| k != "CCSDS_OMM_VERS" && !v.is_empty())
            .collect()
    }

    #[test]
    fn kvn_reads_every_keyword_with_units_and_leading_dots() {
        let c = read(KVN, CatalogFormat::Kvn).unwrap();
        assert!(c.refused.is_empty(), "{:?}", c.refused);
        check_iss(&c.objects[0]);
        assert_eq!(
            CatalogFormat::sniff(KVN.as_bytes()),
            Some(CatalogFormat::Kvn)
        );
    }

    #[test]
    fn json_reads_numbers_and_strings_alike_in_an_array_or_alone() {
        let pairs = iss_pairs();
        let strings: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let numbers: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| {
                let text = k.starts_with("OBJECT") || k == "EPOCH" || k.ends_with("_TYPE");
                let value = match (v.parse::<u64>(), v.parse::<f64>()) {
                    _ if text => Value::String(v.clone()),
                    (Ok(n), _) => serde_json::json!(n),
                    (_, Ok(x)) => serde_json::json!(x),
                    _ => Value::String(v.clone()),
                };
                (k.clone(), value)
            })
            .collect();
        for text in [
            Value::Array(vec![Value::Object(strings.clone()), Value::Object(numbers)]).to_string(),
            Value::Object(strings).to_string(),
        ] {
            let c = read(&text, CatalogFormat::Json).unwrap();
            assert!(c.refused.is_empty(), "{:?}", c.refused);
            c.objects.iter().for_each(check_iss);
        }
    }

    #[test]
    fn csv_reads_rows_by_their_header_in_any_column_order() {
        let mut pairs = iss_pairs();
        pairs.reverse();
        let header: Vec<_> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let row: Vec<_> = pairs
            .iter()
            .map(|(_, v)| {
                if v.contains(' ') {
                    format!("\"{v}\"")
                } else {
                    v.clone()
                }
            })
            .collect();
        let text = format!(
            "{}\r\n{}\r\n{}\r\n",
            header.join(","),
            row.join(","),
            row.join(",")
        );
        let c = read(&text, CatalogFormat::Csv).unwrap();
        assert!(c.refused.is_empty(), "{:?}", c.refused);
        assert_eq!(c.objects.len(), 2);
        c.objects.iter().for_each(check_iss);
    }

    #[test]
    fn xml_reads_an_ndm_of_omms_and_a_lone_namespaced_omm() {
        let leaves: String = iss_pairs()
            .iter()
            .map(|(k, v)| format!("<{k}>{}</{k}>\n", v.replace('&', "&amp;")))
            .collect();
        let omm = format!(
            "<omm id=\"CCSDS_OMM_VERS\" version=\"2.0\"><header><COMMENT>x</COMMENT></header><body><segment><metadata>{leaves}</metadata></segment></body></omm>"
        );
        let ndm = format!("<?xml version=\"1.0\"?>\n<ndm xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n{omm}\n{omm}\n</ndm>\n");
        let c = read(&ndm, CatalogFormat::Xml).unwrap();
        assert!(c.refused.is_empty(), "{:?}", c.refused);
        assert_eq!(c.objects.len(), 2);
        c.objects.iter().for_each(check_iss);
        let lone = format!("<n:omm xmlns:n=\"urn:ccsds\">{leaves}</n:omm>")
            .replace("<OBJECT_NAME>ISS (ZARYA)", "<OBJECT_NAME>ISS &amp; (ZARYA)");
        let c = read(&lone, CatalogFormat::Xml).unwrap();
        assert_eq!(c.objects[0].name.as_deref(), Some("ISS & (ZARYA)"));
    }

    #[test]
    fn a_bad_kvn_message_is_refused_by_keyword_and_the_next_is_read() {
        let bad = KVN.replace("ECCENTRICITY = .0001413", "ECCENTRICITY = 1.2");
        let text = format!("{bad}{KVN}");
        let c = read(&text, CatalogFormat::Kvn).unwrap();
        assert_eq!(c.objects.len(), 1);
        let r = &c.refused[0];
        assert_eq!(r.object, "line 1 (catalogue number 25544)");
        assert_eq!(r.field, "ECCENTRICITY");
        assert!(r.rule.contains("below 1"), "{r}");
    }

    #[test]
    fn the_mean_element_theory_must_be_sgp4() {
        for (theory, good) in [
            ("SGP4", true),
            ("SGP/SGP4", true),
            ("sgp4", true),
            ("SGP4-XP", false),
            ("SGP", false),
            ("DSST", false),
        ] {
            let text = KVN.replace("= SGP/SGP4", &format!("= {theory}"));
            match read(&text, CatalogFormat::Kvn) {
                Ok(_) => assert!(good, "{theory} read"),
                Err(CatalogError::NothingGood { refused, .. }) => {
                    assert!(!good, "{theory} refused: {refused:?}");
                    assert_eq!(refused[0].field, "MEAN_ELEMENT_THEORY");
                    assert!(refused[0].rule.contains(theory), "{}", refused[0]);
                }
                Err(e) => panic!("{e}"),
            }
        }
        let text = KVN.replace("EPHEMERIS_TYPE = 0", "EPHEMERIS_TYPE = 4");
        let Err(CatalogError::NothingGood { refused, .. }) = read(&text, CatalogFormat::Kvn) else {
            panic!("type 4 read");
        };
        assert_eq!(refused[0].field, "EPHEMERIS_TYPE");
    }

    #[test]
    fn missing_duplicated_and_malformed_keywords_are_named() {
        let cases = [
            (
                "NORAD_CAT_ID = 25544\n",
                "",
                "NORAD_CAT_ID",
                "must be given",
            ),
            (
                "NORAD_CAT_ID = 25544",
                "NORAD_CAT_ID = 1000000000",
                "NORAD_CAT_ID",
                "nine digits",
            ),
            (
                "NORAD_CAT_ID = 25544",
                "NORAD_CAT_ID = A0000",
                "NORAD_CAT_ID",
                "Alpha-5",
            ),
            ("BSTAR = -.31515E-4\n", "", "BSTAR", "must be given"),
            (
                "BSTAR = -.31515E-4",
                "BSTAR = NaN",
                "BSTAR",
                "decimal number",
            ),
            (
                "MEAN_MOTION = 15.49507896",
                "MEAN_MOTION = 15.4.9",
                "MEAN_MOTION",
                "decimal number",
            ),
            (
                "MEAN_ANOMALY = 280.4612",
                "MEAN_ANOMALY = 380.4612",
                "MEAN_ANOMALY",
                "360",
            ),
            (
                "EPOCH = 2020-07-12T21:15:53.800416",
                "EPOCH = 20194.88",
                "EPOCH",
                "UTC instant",
            ),
            (
                "EPOCH = 2020-07-12T21:15:53.800416",
                "EPOCH = 2020-02-30T21:15:53",
                "EPOCH",
                "no such date",
            ),
            (
                "CLASSIFICATION_TYPE = U",
                "CLASSIFICATION_TYPE = X",
                "CLASSIFICATION_TYPE",
                "U, C or S",
            ),
            ("REF_FRAME = TEME", "REF_FRAME = GCRF", "REF_FRAME", "TEME"),
            (
                "INCLINATION = 51.6461",
                "INCLINATION = 51.6461\nINCLINATION = 51.6461",
                "INCLINATION",
                "once",
            ),
        ];
        for (from, to, field, rule) in cases {
            let text = KVN.replace(from, to);
            assert_ne!(text, KVN, "{from}");
            let Err(CatalogError::NothingGood { refused, .. }) = read(&text, CatalogFormat::Kvn)
            else {
                panic!("{to:?} read");
            };
            assert_eq!(refused[0].field, field, "{to:?}: {}", refused[0]);
            assert!(refused[0].rule.contains(rule), "{to:?}: {}", refused[0]);
            assert!(refused[0].object.starts_with("line 1"), "{}", refused[0]);
        }
    }

    #[test]
    fn epochs_in_both_ccsds_forms_round_to_the_nanosecond() {
        let cases = [
            ("2020-064T10:34:41.4264", "2020-03-04T10:34:41.4264Z"),
            ("2002-204T15:56:23Z", "2002-07-23T15:56:23Z"),
            ("1998-11-20T06:49:59.999808Z", "1998-11-20T06:49:59.999808Z"),
            ("2026-09-20T12:42:37.1", "2026-09-20T12:42:37.1Z"),
            (
                "2026-09-20T12:42:37.1234567895",
                "2026-09-20T12:42:37.12345679Z",
            ),
            ("2016-12-31T23:59:60", "2017-01-01T00:00:00Z"),
        ];
        for (text, iso) in cases {
            assert_eq!(
                epoch(text).map(|e| e.to_string()),
                Ok(iso.to_string()),
                "{text}"
            );
        }
        for bad in [
            "2026-9-20T12:42:37",
            "2026-09-20 12:42:37",
            "26263.52959654",
            "2026-09-20T12:42:37.141056+00:00",
            "20260920T124237",
            "2026-09-20T12:42:37.",
            "2021-366T00:00:00",
        ] {
            assert!(epoch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn catalogue_numbers_take_signs_leading_zeros_and_nine_digits() {
        for (text, n) in [
            ("25544", 25544),
            ("00964", 964),
            ("+25544", 25544),
            ("270449", 270449),
            ("999999999", 999_999_999),
        ] {
            assert_eq!(catalogue_number(text), Ok(n), "{text}");
        }
        for bad in ["A0000", "1000000000", "25544.0", "", "-5"] {
            assert!(catalogue_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cut_json_array_keeps_its_whole_records_and_says_where_it_was_cut() {
        let map: serde_json::Map<String, Value> = iss_pairs()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let one = Value::Object(map).to_string();
        for (text, refused_record) in [
            (format!("[{one},{one}"), 3),
            (format!("[{one},{one},{{\"NORAD_CAT_ID\": \"1"), 3),
            (format!("[{one},{one} {one}]"), 3),
            (format!("[{one},[1],{one}]"), 2),
        ] {
            let c = read(&text, CatalogFormat::Json).unwrap();
            assert_eq!(c.objects.len(), 2, "{text}");
            assert_eq!(c.refused.len(), 1, "{:?}", c.refused);
            assert!(
                c.refused[0]
                    .object
                    .starts_with(&format!("record {refused_record}")),
                "{}",
                c.refused[0]
            );
        }
        assert!(matches!(
            read("[1", CatalogFormat::Json),
            Err(CatalogError::NothingGood { .. })
        ));
        assert!(matches!(
            read("not json", CatalogFormat::Json),
            Err(CatalogError::NotACatalog { .. })
        ));
    }

    #[test]
    fn a_csv_row_cut_short_is_refused_by_its_line() {
        let pairs = iss_pairs();
        let header: Vec<_> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        let row: Vec<_> = pairs.iter().map(|(_, v)| v.replace(',', " ")).collect();
        let text = format!(
            "{}\n{}\n{}\n",
            header.join(","),
            row.join(","),
            row[..row.len() - 1].join(",")
        );
        let c = read(&text, CatalogFormat::Csv).unwrap();
        assert_eq!(c.objects.len(), 1);
        assert_eq!(c.refused[0].object, "line 3");
        assert_eq!(c.refused[0].field, "row");
        let no_omm = read("a,b\n1,2\n", CatalogFormat::Csv);
        assert!(
            matches!(no_omm, Err(CatalogError::NotACatalog { .. })),
            "{no_omm:?}"
        );
    }

    #[test]
    fn broken_xml_keeps_the_omms_before_the_break() {
        let leaves: String = iss_pairs()
            .iter()
            .map(|(k, v)| format!("<{k}>{v}</{k}>"))
            .collect();
        let text = format!(
            "<ndm><omm>{leaves}</omm><omm>{leaves}</omm><omm><EPOCH>2020</EPOCHS></omm></ndm>"
        );
        let c = read(&text, CatalogFormat::Xml).unwrap();
        assert_eq!(c.objects.len(), 2);
        assert_eq!(c.refused.len(), 1, "{:?}", c.refused);
        assert!(
            c.refused[0].object.starts_with("record 3"),
            "{}",
            c.refused[0]
        );
        assert!(matches!(
            read("<ndm></ndm>", CatalogFormat::Xml),
            Err(CatalogError::NotACatalog { .. })
        ));
    }

    #[test]
    fn kvn_lines_before_the_first_message_make_it_no_kvn() {
        assert!(matches!(
            read("EPOCH = 2020\n", CatalogFormat::Kvn),
            Err(CatalogError::NotACatalog { .. })
        ));
        let broken = KVN.replace("CREATION_DATE =", "CREATION_DATE");
        let text = format!("{broken}{KVN}");
        let c = read(&text, CatalogFormat::Kvn).unwrap();
        assert_eq!(c.objects.len(), 1);
        assert_eq!(c.refused[0].field, "KVN line");
        assert!(c.refused[0].rule.contains("line 2"), "{}", c.refused[0]);
    }
}
