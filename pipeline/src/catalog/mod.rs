//! Catalogues of element sets: the public catalogue's objects, read from the files
//! they come in and propagated by SGP4 (`docs/orbits.md`, "Catalogues").
//!
//! An element set is a mean-element fit, meaningful only through SGP4. A file of them
//! (two- or three-line TLEs, or CCSDS OMMs in KVN, XML, JSON or CSV) is read object by
//! object into a [`Catalog`]: each object either becomes an [`ElementSet`] or a
//! [`Refusal`] that names it, the field and the rule it broke; a file with no good
//! object, or that is no catalogue at all, is a [`CatalogError`]. A catalogue is named
//! by its [`CatalogId`], a hash of the file's bytes.
//!
//! - [`Catalog::read`]: the readers (the TLE columns in `tle`, the OMM's keywords in
//!   `omm`, whatever the encoding), and the format sniffed when not given.
//! - [`Sgp4`]: one object's SGP4 (improved mode, WGS-72), in TEME, its errors Vallado's
//!   codes 1 to 6, and our 7 (a position past [`MAX_ORBIT_KM`]).
//! - [`frame`]: TEME to EME2000 (IAU-1976 precession, IAU-1980 nutation, the equation
//!   of the equinoxes).
//!
//! ```
//! use nano_pipeline::catalog::{frame, Catalog, Sgp4};
//!
//! let tle = "ISS (ZARYA)
//! 1 25544U 98067A   20194.88612269 -.00002218  00000-0 -31515-4 0  9992
//! 2 25544  51.6461 221.2784 0001413  89.1723 280.4612 15.49507896236008
//! ";
//! let catalog = Catalog::read(tle.as_bytes(), None)?;
//! let iss = &catalog.objects[0];
//! assert_eq!((iss.norad_id, iss.display_name().as_str()), (25544, "ISS (ZARYA)"));
//! let teme = Sgp4::new(iss)?.teme(60.0)?;
//! let unix_s = iss.epoch.unix_nanos() as f64 * 1e-9 + 3600.0;
//! let eme2000 = frame::rotate(&frame::teme_to_eme2000(unix_s), &teme);
//! assert!((eme2000[0].hypot(eme2000[1]).hypot(eme2000[2]) - 6790.0).abs() < 30.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod frame;
mod omm;
mod propagation;
mod tle;

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::scenario::Epoch;

pub use propagation::{ResonanceState, Sgp4, Sgp4Error, MAX_ORBIT_KM};

/// The encodings a catalogue file comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogFormat {
    /// Two- or three-line element sets.
    Tle,
    /// CCSDS OMM in keyword = value notation.
    Kvn,
    /// CCSDS OMM in XML (one `<omm>` or an `<ndm>` of them).
    Xml,
    /// OMM keywords as a JSON array of objects (numbers or strings).
    Json,
    /// OMM keywords as CSV columns, one object a row.
    Csv,
}

impl CatalogFormat {
    /// All formats, in the order their names are listed in messages.
    pub const ALL: [CatalogFormat; 5] = [
        CatalogFormat::Tle,
        CatalogFormat::Kvn,
        CatalogFormat::Xml,
        CatalogFormat::Json,
        CatalogFormat::Csv,
    ];

    /// The lowercase name (`tle`, `kvn`, `xml`, `json`, `csv`).
    pub fn name(self) -> &'static str {
        match self {
            CatalogFormat::Tle => "tle",
            CatalogFormat::Kvn => "kvn",
            CatalogFormat::Xml => "xml",
            CatalogFormat::Json => "json",
            CatalogFormat::Csv => "csv",
        }
    }

    /// The format an HTTP content type names, when it names one without doubt
    /// (`text/plain` could be TLE or KVN: `None`).
    pub fn from_content_type(content_type: &str) -> Option<CatalogFormat> {
        let media = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match media.as_str() {
            "application/xml" | "text/xml" => Some(CatalogFormat::Xml),
            "application/json" => Some(CatalogFormat::Json),
            "text/csv" => Some(CatalogFormat::Csv),
            _ => None,
        }
    }

    /// The format of a file, guessed from its first characters: `<` is XML, `[` or
    /// `{` JSON, `CCSDS_OMM_VERS` (after comments) KVN, a header naming OMM keywords
    /// CSV, and a line `1 ...` followed by a line `2 ...` among the first lines TLE.
    pub fn sniff(bytes: &[u8]) -> Option<CatalogFormat> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            // A cut in the middle of a character: sniff the valid part.
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        };
        let start = text.trim_start();
        match start.as_bytes().first()? {
            b'<' => return Some(CatalogFormat::Xml),
            b'[' | b'{' => return Some(CatalogFormat::Json),
            _ => {}
        }
        let mut lines = start
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(8)
            .peekable();
        let first = *lines.peek()?;
        if first.contains(',') && (first.contains("NORAD_CAT_ID") || first.contains("OBJECT_ID")) {
            return Some(CatalogFormat::Csv);
        }
        let mut previous: Option<&str> = None;
        for line in lines {
            if line.starts_with("CCSDS_OMM_VERS") {
                return Some(CatalogFormat::Kvn);
            }
            if line.starts_with("2 ") && previous.is_some_and(|p| p.starts_with("1 ")) {
                return Some(CatalogFormat::Tle);
            }
            previous = Some(line);
        }
        None
    }
}

impl fmt::Display for CatalogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CatalogFormat {
    type Err = CatalogError;

    fn from_str(s: &str) -> Result<CatalogFormat, CatalogError> {
        CatalogFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| CatalogError::UnknownFormat {
                given: s.to_string(),
            })
    }
}

/// A catalogue's name: the first 16 bytes of the SHA-256 of its file's bytes, written
/// as 32 lowercase hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CatalogId(pub [u8; 16]);

impl CatalogId {
    /// The id of a file's bytes.
    pub fn of(bytes: &[u8]) -> CatalogId {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        CatalogId(id)
    }
}

impl fmt::Display for CatalogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl FromStr for CatalogId {
    type Err = CatalogError;

    /// Exactly 32 lowercase hexadecimal digits.
    fn from_str(s: &str) -> Result<CatalogId, CatalogError> {
        let bad = || CatalogError::BadId {
            given: s.chars().take(80).collect(),
        };
        let b = s.as_bytes();
        if b.len() != 32 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let mut id = [0u8; 16];
        for (i, pair) in b.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).map_err(|_| bad())?;
            id[i] = u8::from_str_radix(hex, 16).map_err(|_| bad())?;
        }
        Ok(CatalogId(id))
    }
}

impl Serialize for CatalogId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CatalogId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CatalogId, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// One object's mean elements, as read from its element set (TLE or OMM).
///
/// Units are the formats' own: mean motion in revolutions a day, angles in degrees,
/// `bstar` in inverse Earth radii, and the mean motion's derivatives as the TLE writes
/// them (`mean_motion_dot` is n-dot/2 in rev/day², `mean_motion_ddot` n-ddot/6 in
/// rev/day³; SGP4 uses neither).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElementSet {
    /// The catalogue number (`NORAD_CAT_ID`); Alpha-5 decoded, six digits kept.
    pub norad_id: u32,
    /// The name line or `OBJECT_NAME`.
    pub name: Option<String>,
    /// The international designator or `OBJECT_ID`, in the OMM's form (a TLE's
    /// `98067A` is read as `1998-067A`).
    pub object_id: Option<String>,
    /// The element set's epoch (UTC).
    pub epoch: Epoch,
    pub mean_motion_rev_day: f64,
    pub eccentricity: f64,
    pub inclination_deg: f64,
    pub raan_deg: f64,
    pub arg_perigee_deg: f64,
    pub mean_anomaly_deg: f64,
    pub bstar: f64,
    pub mean_motion_dot: f64,
    pub mean_motion_ddot: f64,
    /// `U`, `C` or `S` (as written).
    pub classification: char,
    pub element_set_no: u64,
    pub rev_at_epoch: u64,
    /// 0 for SGP4 element sets (a blank TLE column reads as 0).
    pub ephemeris_type: u8,
}

impl ElementSet {
    /// The object's name, else its catalogue number.
    pub fn display_name(&self) -> String {
        match &self.name {
            Some(name) if !name.is_empty() => name.clone(),
            _ => self.norad_id.to_string(),
        }
    }

    /// The perigee's altitude above WGS-72's equatorial radius, in km, from SGP4's
    /// semi-major axis (the mean motion un-Kozai'd as SGP4's initialisation does).
    pub fn perigee_km(&self) -> f64 {
        let (a, r) = propagation::semi_major_axis_er(self);
        (a * (1.0 - self.eccentricity) - 1.0) * r
    }

    /// The apogee's altitude above WGS-72's equatorial radius, in km (see
    /// [`ElementSet::perigee_km`]).
    pub fn apogee_km(&self) -> f64 {
        let (a, r) = propagation::semi_major_axis_er(self);
        (a * (1.0 + self.eccentricity) - 1.0) * r
    }
}

/// An object of a file that was not read, and why: `object` names it (`line 12`,
/// `record 3`, with `catalogue number 25544` when known), `field` the field, and
/// `rule` the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub object: String,
    pub field: String,
    pub rule: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.rule)
    }
}

/// A file read as a catalogue: its good objects in file order, and the refused ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub id: CatalogId,
    pub format: CatalogFormat,
    pub objects: Vec<ElementSet>,
    pub refused: Vec<Refusal>,
}

/// Why a file is not a catalogue, or a name is not a catalogue's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The file could not be read as the format at all.
    #[error("not a {format} catalogue: {why}")]
    NotACatalog { format: CatalogFormat, why: String },
    /// No format was given and none could be recognised.
    #[error("not a catalogue: its format is none of TLE, OMM in KVN, XML, JSON or CSV (the file starts {start:?}); name the format if it is one")]
    Unrecognised { start: String },
    /// Every object was refused (the first refusals are in the message).
    #[error(
        "no element set of this {format} catalogue could be read: {count} object(s) refused, {}",
        first_refusals(refused)
    )]
    NothingGood {
        format: CatalogFormat,
        count: usize,
        refused: Vec<Refusal>,
    },
    /// A format name that is not one of ours.
    #[error("unknown catalogue format {given:?}: expected one of tle, kvn, xml, json, csv")]
    UnknownFormat { given: String },
    /// A kept catalogue's file could not be read from the log.
    #[error("catalogue {id} cannot be read from the log: {why}")]
    Unreadable { id: CatalogId, why: String },
    /// A catalogue id that is not 32 lowercase hexadecimal digits.
    #[error("{given:?} is not a catalogue id: expected 32 lowercase hexadecimal digits")]
    BadId { given: String },
}

fn first_refusals(refused: &[Refusal]) -> String {
    let shown: Vec<String> = refused.iter().take(3).map(Refusal::to_string).collect();
    let more = if refused.len() > 3 { "; ..." } else { "" };
    format!("the first: {}{more}", shown.join("; "))
}

impl Catalog {
    /// Reads a catalogue file in `format` (sniffed when `None`): object by object,
    /// the good ones kept in file order and the bad ones refused with the reason. A
    /// file with no good object, or that is not a catalogue, is an error.
    pub fn read(bytes: &[u8], format: Option<CatalogFormat>) -> Result<Catalog, CatalogError> {
        let id = CatalogId::of(bytes);
        let format = match format.or_else(|| CatalogFormat::sniff(bytes)) {
            Some(format) => format,
            None => {
                let start = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
                return Err(CatalogError::Unrecognised { start });
            }
        };
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let text = std::str::from_utf8(body).map_err(|e| CatalogError::NotACatalog {
            format,
            why: format!("it is not UTF-8 text (byte {} is not)", e.valid_up_to()),
        })?;
        let (objects, refused) = match format {
            CatalogFormat::Tle => tle::read(text),
            CatalogFormat::Kvn => omm::read_kvn(text),
            CatalogFormat::Xml => omm::read_xml(text),
            CatalogFormat::Json => omm::read_json(text),
            CatalogFormat::Csv => omm::read_csv(text),
        }
        .map_err(|why| CatalogError::NotACatalog { format, why })?;
        if objects.is_empty() {
            if refused.is_empty() {
                return Err(CatalogError::NotACatalog {
                    format,
                    why: "it holds no element set".to_string(),
                });
            }
            return Err(CatalogError::NothingGood {
                format,
                count: refused.len(),
                refused,
            });
        }
        Ok(Catalog {
            id,
            format,
            objects,
            refused,
        })
    }
}

/// Where a scenario's catalogue comes from, by id: the log's kept files (the service,
/// a logged run read back), the file given on the command line.
pub trait CatalogSource {
    /// The catalogue kept under `id`, read; `None` when none is.
    fn catalog(&self, id: CatalogId) -> Result<Option<Arc<Catalog>>, CatalogError>;
}

/// No catalogue at all: a scenario naming one is refused.
pub struct NoCatalogs;

impl CatalogSource for NoCatalogs {
    fn catalog(&self, _id: CatalogId) -> Result<Option<Arc<Catalog>>, CatalogError> {
        Ok(None)
    }
}

/// One catalogue, read already (the command line's `--catalog FILE`).
impl CatalogSource for Arc<Catalog> {
    fn catalog(&self, id: CatalogId) -> Result<Option<Arc<Catalog>>, CatalogError> {
        Ok((self.id == id).then(|| Arc::clone(self)))
    }
}

/// The catalogues a log keeps ([`nano_store::Log::keep_element_file`]), read when
/// first asked and the latest few kept read, so that a scenario read per request
/// does not read its catalogue's file each time.
pub struct LogCatalogs {
    log: nano_store::Log,
    read: Mutex<Vec<Arc<Catalog>>>,
}

/// Catalogues a [`LogCatalogs`] keeps read (a public catalogue read is some 20 MB).
const CATALOGS_KEPT_READ: usize = 4;

impl LogCatalogs {
    pub fn new(log: nano_store::Log) -> LogCatalogs {
        LogCatalogs {
            log,
            read: Mutex::new(Vec::new()),
        }
    }
}

impl CatalogSource for LogCatalogs {
    fn catalog(&self, id: CatalogId) -> Result<Option<Arc<Catalog>>, CatalogError> {
        let lock = || self.read.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = lock().iter().find(|c| c.id == id) {
            return Ok(Some(Arc::clone(found)));
        }
        let bytes = self
            .log
            .element_file(id.0)
            .map_err(|e| CatalogError::Unreadable {
                id,
                why: e.to_string(),
            })?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let catalog = Arc::new(Catalog::read(&bytes, None)?);
        let mut read = lock();
        if read.len() >= CATALOGS_KEPT_READ {
            read.remove(0);
        }
        read.push(Arc::clone(&catalog));
        Ok(Some(catalog))
    }
}

/// The rules every element set obeys whatever its format, after its fields are
/// read: the field that breaks one and the rule.
fn check_ranges(e: &ElementSet) -> Result<(), (&'static str, String)> {
    let angle = |name: &'static str, v: f64, hi: f64| {
        if (0.0..=hi).contains(&v) {
            Ok(())
        } else {
            Err((name, format!("must be between 0 and {hi} degrees, got {v}")))
        }
    };
    if !(0.0..1.0).contains(&e.eccentricity) {
        return Err((
            "eccentricity",
            format!("must be at least 0 and below 1, got {}", e.eccentricity),
        ));
    }
    if !(e.mean_motion_rev_day > 0.0 && e.mean_motion_rev_day.is_finite()) {
        return Err((
            "mean motion",
            format!("must be above 0 rev/day, got {}", e.mean_motion_rev_day),
        ));
    }
    angle("inclination", e.inclination_deg, 180.0)?;
    angle("right ascension of the node", e.raan_deg, 360.0)?;
    angle("argument of perigee", e.arg_perigee_deg, 360.0)?;
    angle("mean anomaly", e.mean_anomaly_deg, 360.0)?;
    for (name, v) in [
        ("bstar", e.bstar),
        ("mean motion dot", e.mean_motion_dot),
        ("mean motion ddot", e.mean_motion_ddot),
    ] {
        if !v.is_finite() {
            return Err((name, format!("must be a finite number, got {v}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
