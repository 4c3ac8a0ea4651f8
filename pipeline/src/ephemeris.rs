//! The formats an orbit run is exported in: CSV and JSON (every state, by time then
//! body) and the CCSDS Orbit Ephemeris Message (OEM, 502.0-B-3, KVN text: one segment
//! per body), written state by state through [`EphemerisWriter`], so that a run of any
//! length streams in constant memory.
//!
//! The formats want their states in different orders ([`OrbitFormat::order`]): CSV and
//! JSON list all bodies at `t_1`, then at `t_2`, ...; an OEM segment is one body's
//! whole timeline, so it reads body 0 from start to end, then body 1, ... A writer
//! refuses states out of its order rather than writing a message no reader accepts.
//!
//! Numbers are in km, km/s and seconds since the scenario's epoch, in their shortest
//! round-trip form (as the nano formats write them), so a reader gets the exact doubles
//! back; an OEM epoch is the UTC instant `epoch + t` (leap seconds ignored, as in
//! `docs/orbits.md`, "Units, frame, constants") with as many decimals as the output
//! step needs (3, 6 or 9).
//!
//! ```
//! use nano_pipeline::ephemeris::{EphemerisWriter, OrbitFormat};
//! use nano_pipeline::orbit::OrbitState;
//! use nano_pipeline::scenario::{Scenario, ScenarioLimits};
//!
//! let doc = r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 60,
//!               "bodies": [{"name": "sat-1", "state": [7000, 0, 0, 0, 7.5, 0]}]}"#;
//! let Scenario::Orbit(scenario) = Scenario::parse(doc, &ScenarioLimits::default())? else {
//!     unreachable!()
//! };
//! let created = "2026-11-29T12:00:00.000";
//! let mut out = EphemerisWriter::begin(Vec::new(), OrbitFormat::Oem, &scenario, 1, created)?;
//! out.state(0, &OrbitState { t: 0.0, r: [7000.0, 0.0, 0.0], v: [0.0, 7.5, 0.0] })?;
//! out.state(0, &OrbitState { t: 60.0, r: [6987.0, 449.8, 0.0], v: [-0.48, 7.48, 0.0] })?;
//! let oem = String::from_utf8(out.finish()?)?;
//! assert!(oem.starts_with("CCSDS_OEM_VERS = 3.0\n"));
//! assert!(oem.contains("\n2026-01-01T00:01:00.000 6987.0 449.8 0.0 -0.48 7.48 0.0\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{self, Write};
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::export::{Format, ShortestFloat};
use crate::orbit::{BodyPropagator, OrbitState};
use crate::scenario::catalog::FrameRotations;
use crate::scenario::{civil_from_days, days_from_civil, Epoch, OrbitScenario, Scenario};

/// The columns of the CSV and JSON formats, in the order every state lists its values.
pub const COLUMNS: [&str; 8] = ["t", "body", "x", "y", "z", "vx", "vy", "vz"];

/// What the OEM's `ORIGINATOR` names.
pub const ORIGINATOR: &str = "SEDARO-NANO";

/// An export format of orbit runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrbitFormat {
    /// A header line with [`COLUMNS`], then one line per state, by time then body.
    #[default]
    Csv,
    /// `{"model":"orbit","id":..,"n":..,"scenario":{..},"bodies":[names],
    /// "columns":[..],"records":[[t,body,x,y,z,vx,vy,vz],..]}`, by time then body.
    Json,
    /// A CCSDS OEM in KVN text: one segment per body.
    Oem,
}

/// The order in which a format takes its states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// All bodies at one time, then the next time.
    ByTime,
    /// One body's whole run, then the next body.
    ByBody,
}

impl OrbitFormat {
    /// Every format, with the name it is chosen by.
    pub const ALL: [(OrbitFormat, &'static str); 3] = [
        (OrbitFormat::Csv, "csv"),
        (OrbitFormat::Json, "json"),
        (OrbitFormat::Oem, "oem"),
    ];

    /// The format's name, as [`OrbitFormat::from_str`] accepts it.
    pub fn name(self) -> &'static str {
        match self {
            OrbitFormat::Csv => "csv",
            OrbitFormat::Json => "json",
            OrbitFormat::Oem => "oem",
        }
    }

    /// The order [`EphemerisWriter::state`] must be given the states in.
    pub fn order(self) -> Order {
        match self {
            OrbitFormat::Csv | OrbitFormat::Json => Order::ByTime,
            OrbitFormat::Oem => Order::ByBody,
        }
    }

    /// The HTTP content type of the format.
    pub fn content_type(self) -> &'static str {
        match self {
            OrbitFormat::Csv => "text/csv; charset=utf-8",
            OrbitFormat::Json => "application/json",
            // CCSDS registers no media type for KVN messages: they are plain text.
            OrbitFormat::Oem => "text/plain; charset=utf-8",
        }
    }
}

impl fmt::Display for OrbitFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given was not an orbit format; the message lists the ones there are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format '{0}': expected csv, json or oem")]
pub struct UnknownOrbitFormat(pub String);

impl FromStr for OrbitFormat {
    type Err = UnknownOrbitFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrbitFormat::ALL
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(s))
            .map(|(format, _)| *format)
            .ok_or_else(|| UnknownOrbitFormat(s.to_owned()))
    }
}

/// The current instant in UTC as an OEM writes its `CREATION_DATE`
/// (`YYYY-MM-DDTHH:MM:SS.fff`).
pub fn now_utc() -> String {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let unix = Epoch::parse("1970-01-01T00:00:00Z").expect("a valid instant");
    unix.iso_at(since.as_millis() as f64 / 1000.0, 3)
}

/// A catalogue object SGP4 stopped propagating (`docs/orbits.md`, "Catalogues"): it
/// has states before `t_s` and none from there on; the other objects go on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StopReport {
    pub body: u32,
    pub norad_id: u32,
    pub name: String,
    /// The first output time without a state (s since the epoch).
    #[serde(rename = "t")]
    pub t_s: f64,
    /// Vallado's SGP4 error code (1 to 6).
    pub code: u8,
    pub message: String,
}

/// Writes one orbit run, state by state, in one format.
pub struct EphemerisWriter<W: Write> {
    out: W,
    format: OrbitFormat,
    float: ShortestFloat,
    int: itoa::Buffer,
    /// The body of the latest state, if any.
    body: Option<u32>,
    /// The time of the latest state (the order's check).
    t: f64,
    /// For OEM: each segment's metadata needs the body's name and the run's span.
    oem: Option<OemSegments>,
    /// A catalogue run's JSON closes with the objects SGP4 stopped.
    catalog_json: bool,
    /// A catalogue run's scenario, to report the objects SGP4 stopped.
    catalog: Option<OrbitScenario>,
    /// The catalogue objects whose states stopped: body, and the first output time
    /// without a state.
    stopped: Vec<(u32, f64)>,
}

struct OemSegments {
    scenario: OrbitScenario,
    stop_t: f64,
    epoch: EpochText,
}

impl<W: Write> EphemerisWriter<W> {
    /// Writes the opening of the run of `steps` output steps of `scenario` (the JSON
    /// header, the CSV header line, or the OEM header; `created` is the OEM's
    /// `CREATION_DATE`, a UTC instant as [`now_utc`] writes it, and unused otherwise).
    pub fn begin(
        mut out: W,
        format: OrbitFormat,
        scenario: &OrbitScenario,
        steps: u64,
        created: &str,
    ) -> io::Result<Self> {
        let whole = Scenario::Orbit(scenario.clone());
        let mut oem = None;
        match format {
            OrbitFormat::Csv => {
                out.write_all(COLUMNS.join(",").as_bytes())?;
                out.write_all(b"\n")?;
            }
            OrbitFormat::Json => {
                write!(
                    out,
                    "{{\"model\":\"orbit\",\"id\":\"{}\",\"n\":{steps},\"scenario\":{},\"bodies\":[",
                    whole.run_id(),
                    whole.canonical()
                )?;
                for index in 0..scenario.body_count() {
                    if index > 0 {
                        out.write_all(b",")?;
                    }
                    let body = scenario.body(index).expect("index below body_count");
                    serde_json::to_writer(&mut out, &body.name)?;
                }
                if scenario.catalog().is_some() {
                    // Catalogue numbers beside the names (null for the scenario's own
                    // bodies), and the frame.
                    out.write_all(b"],\"norad_ids\":[")?;
                    for index in 0..scenario.body_count() {
                        if index > 0 {
                            out.write_all(b",")?;
                        }
                        match scenario.catalog_object(index) {
                            Some(o) => write!(out, "{}", o.elements.norad_id)?,
                            None => out.write_all(b"null")?,
                        }
                    }
                    write!(out, "],\"frame\":\"{}\"", scenario.frame())?;
                    out.write_all(b",\"columns\":[")?;
                } else {
                    out.write_all(b"],\"columns\":[")?;
                }
                for (i, column) in COLUMNS.iter().enumerate() {
                    if i > 0 {
                        out.write_all(b",")?;
                    }
                    write!(out, "\"{column}\"")?;
                }
                out.write_all(b"],\"records\":[")?;
            }
            OrbitFormat::Oem => {
                write!(
                    out,
                    "CCSDS_OEM_VERS = 3.0\n\
                     COMMENT sedaro-nano orbit run {id}: {steps} output steps of {step} s, {method}, forces {forces}\n\
                     CREATION_DATE = {created}\n\
                     ORIGINATOR = {ORIGINATOR}\n",
                    id = whole.run_id(),
                    step = scenario.output_step_s(),
                    method = scenario.integrator().method(),
                    forces = if scenario.forces().j2 { "point_mass, j2" } else { "point_mass" },
                )?;
                oem = Some(OemSegments {
                    scenario: scenario.clone(),
                    stop_t: steps as f64 * scenario.output_step_s(),
                    epoch: EpochText::new(scenario.epoch(), scenario.output_step_s()),
                });
            }
        }
        Ok(EphemerisWriter {
            out,
            format,
            float: ShortestFloat::default(),
            int: itoa::Buffer::new(),
            body: None,
            t: f64::NEG_INFINITY,
            oem,
            catalog_json: format == OrbitFormat::Json && scenario.catalog().is_some(),
            catalog: scenario.catalog().is_some().then(|| scenario.clone()),
            stopped: Vec::new(),
        })
    }

    /// A writer of bare rows by time then body, for documents other than a whole run
    /// (the states of every body at one time, one body's track): CSV writes its header
    /// line; JSON writes only the rows `[t,body,x,y,z,vx,vy,vz]`, after an opening
    /// the caller wrote up to `"records":[`, and [`EphemerisWriter::finish`] closes it
    /// with `]}`. OEM has no bare rows: it is refused.
    pub fn rows(mut out: W, format: OrbitFormat) -> io::Result<Self> {
        match format {
            OrbitFormat::Csv => {
                out.write_all(COLUMNS.join(",").as_bytes())?;
                out.write_all(b"\n")?;
            }
            OrbitFormat::Json => {}
            OrbitFormat::Oem => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an OEM is written whole, body by body: it has no bare rows",
                ))
            }
        }
        Ok(EphemerisWriter {
            out,
            format,
            float: ShortestFloat::default(),
            int: itoa::Buffer::new(),
            body: None,
            t: f64::NEG_INFINITY,
            oem: None,
            catalog_json: false,
            catalog: None,
            stopped: Vec::new(),
        })
    }

    /// Writes body `body`'s state `s`, which must follow the previous one in the
    /// format's [`Order`]: a state out of order is an `InvalidInput` error.
    pub fn state(&mut self, body: u32, s: &OrbitState) -> io::Result<()> {
        if s.is_absent() {
            // A catalogue object after SGP4 stopped it: no state to write; noted once.
            if !self.stopped.iter().any(|(b, _)| *b == body) {
                self.stopped.push((body, s.t));
            }
            return Ok(());
        }
        let in_order = match (self.format.order(), self.body) {
            (_, None) => true,
            (Order::ByTime, Some(last)) => s.t > self.t || (s.t == self.t && body > last),
            (Order::ByBody, Some(last)) => body > last || (body == last && s.t > self.t),
        };
        if !in_order {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the {} format takes states {}: body {body} at t = {} came after body {:?} at t = {}",
                    self.format,
                    match self.format.order() {
                        Order::ByTime => "by time, then body",
                        Order::ByBody => "by body, then time",
                    },
                    s.t,
                    self.body,
                    self.t
                ),
            ));
        }
        let first = self.body.is_none();
        let new_segment = self.body != Some(body);
        self.body = Some(body);
        self.t = s.t;
        let values = [s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]];
        let out = &mut self.out;
        match (self.format, &mut self.oem) {
            (OrbitFormat::Csv, _) => {
                out.write_all(self.float.format(s.t, Format::Csv))?;
                out.write_all(b",")?;
                out.write_all(self.int.format(body).as_bytes())?;
                for v in values {
                    out.write_all(b",")?;
                    out.write_all(self.float.format(v, Format::Csv))?;
                }
                out.write_all(b"\n")
            }
            (OrbitFormat::Json, _) => {
                out.write_all(if first { b"[" } else { b",[" })?;
                out.write_all(self.float.format(s.t, Format::Json))?;
                out.write_all(b",")?;
                out.write_all(self.int.format(body).as_bytes())?;
                for v in values {
                    out.write_all(b",")?;
                    out.write_all(self.float.format(v, Format::Json))?;
                }
                out.write_all(b"]")
            }
            (OrbitFormat::Oem, Some(oem)) => {
                if new_segment {
                    let name = oem
                        .scenario
                        .body(body as usize)
                        .map(|b| b.name)
                        .ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::InvalidInput,
                                format!(
                                    "body {body} of a scenario with {} bodies",
                                    oem.scenario.body_count()
                                ),
                            )
                        })?;
                    // A catalogue object is named by its catalogue number, the
                    // scenario's own bodies by their index.
                    let object_id = oem
                        .scenario
                        .catalog_object(body as usize)
                        .map_or(body, |o| o.elements.norad_id);
                    let frame = oem.scenario.frame();
                    let start = oem.epoch.format(s.t).to_owned();
                    let stop = oem.epoch.format(oem.stop_t);
                    write!(
                        out,
                        "\nMETA_START\n\
                         OBJECT_NAME = {name}\n\
                         OBJECT_ID = {object_id}\n\
                         CENTER_NAME = EARTH\n\
                         REF_FRAME = {frame}\n\
                         TIME_SYSTEM = UTC\n\
                         START_TIME = {start}\n\
                         STOP_TIME = {stop}\n\
                         META_STOP\n\n"
                    )?;
                }
                out.write_all(oem.epoch.format(s.t).as_bytes())?;
                for v in values {
                    out.write_all(b" ")?;
                    out.write_all(self.float.format(v, Format::Csv))?;
                }
                out.write_all(b"\n")
            }
            (OrbitFormat::Oem, None) => unreachable!("an OEM writer has its segments"),
        }
    }

    /// Writes every body's state at `t = 0` (the scenario's own: a run's records hold
    /// the states from `t_1` on), in body order.
    pub fn initial_states(&mut self, scenario: &OrbitScenario) -> io::Result<()> {
        for index in 0..scenario.body_count() {
            let body = scenario.body(index).expect("index below body_count");
            self.state(index as u32, &body.state0)?;
        }
        Ok(())
    }

    /// Writes the state a record of an orbit run holds: its body's state at `t1`.
    pub fn record(&mut self, r: &nano_store::Record) -> io::Result<()> {
        let [x, y, z, vx, vy, vz] = r.state;
        let state = OrbitState {
            t: r.t1,
            r: [x, y, z],
            v: [vx, vy, vz],
        };
        self.state(r.body, &state)
    }

    /// The catalogue objects whose states stopped so far, by body: SGP4 could not
    /// propagate them past the time each names, for the reason its code gives.
    pub fn stop_reports(&self) -> Vec<StopReport> {
        let mut reports: Vec<StopReport> = self
            .stopped
            .iter()
            .filter_map(|&(body, t_s)| {
                let object = self.catalog.as_ref()?.catalog_object(body as usize)?;
                // SGP4 is a function of time: asked again, it fails again the same way.
                let error = object.sgp4.teme(object.offset_min + t_s / 60.0).err();
                Some(StopReport {
                    body,
                    norad_id: object.elements.norad_id,
                    name: object.elements.display_name(),
                    t_s,
                    code: error.as_ref().map_or(0, |e| e.code),
                    message: error.map_or_else(String::new, |e| e.message),
                })
            })
            .collect();
        reports.sort_by_key(|r| r.body);
        reports
    }

    /// The writer, for taking what was written so far (a streamed body hands it on in
    /// chunks).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Closes the document, flushes, and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.catalog_json {
            self.out.write_all(b"],\"stopped\":")?;
            let reports = self.stop_reports();
            serde_json::to_writer(&mut self.out, &reports)?;
            self.out.write_all(b"}\n")?;
        } else if self.format == OrbitFormat::Json {
            self.out.write_all(b"]}\n")?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Bytes of buffered states a [`write_run`] by time may hold across all bodies: the
/// chunk of output steps it computes at once shrinks as the bodies grow in number.
pub const RUN_BUFFER_BYTES: usize = 32 << 20;

/// Computes the run of `steps` output steps of `scenario` with one [`BodyPropagator`]
/// per body (the reference computation: no log, one thread) and writes its states
/// `k = 0 ..= steps` of every body in `format`, returning the writer. Memory stays
/// bounded whatever the run's length: by body, one body is computed at a time, chunk by
/// chunk; by time, every body advances one chunk of at most [`RUN_BUFFER_BYTES`] of
/// states, which is written out before the next.
pub fn write_run<W: Write>(
    out: W,
    format: OrbitFormat,
    scenario: &OrbitScenario,
    steps: u64,
    created: &str,
) -> io::Result<W> {
    write_run_reporting(out, format, scenario, steps, created).map(|(out, _)| out)
}

/// [`write_run`], with the catalogue objects SGP4 stopped during the run.
pub fn write_run_reporting<W: Write>(
    out: W,
    format: OrbitFormat,
    scenario: &OrbitScenario,
    steps: u64,
    created: &str,
) -> io::Result<(W, Vec<StopReport>)> {
    let per_state = std::mem::size_of::<OrbitState>();
    let chunk = RUN_BUFFER_BYTES / per_state / scenario.body_count().max(1);
    write_in_chunks(
        out,
        format,
        scenario,
        steps,
        created,
        chunk.clamp(1, 4096) as u64,
    )
}

fn write_in_chunks<W: Write>(
    out: W,
    format: OrbitFormat,
    scenario: &OrbitScenario,
    steps: u64,
    created: &str,
    chunk: u64,
) -> io::Result<(W, Vec<StopReport>)> {
    let mut writer = EphemerisWriter::begin(out, format, scenario, steps, created)?;
    let bodies = scenario.body_count();
    let start = |body: usize| scenario.body(body).expect("index below body_count").state0;
    let mut rotations = FrameRotations::new(scenario);
    match format.order() {
        Order::ByBody => {
            let mut states = Vec::with_capacity(chunk as usize);
            for body in 0..bodies {
                writer.state(body as u32, &start(body))?;
                let mut propagator = BodyPropagator::new(scenario, body);
                let native = propagator.native_frame();
                while propagator.steps_done() < steps {
                    let first = propagator.steps_done();
                    let end = (first + chunk).min(steps);
                    states.clear();
                    propagator
                        .advance(end, &mut states)
                        .map_err(|e| stopped(&e, scenario))?;
                    for (i, s) in states.iter().enumerate() {
                        let s = rotations.to_run_frame(native, first + 1 + i as u64, s);
                        writer.state(body as u32, &s)?;
                    }
                }
            }
        }
        Order::ByTime => {
            for body in 0..bodies {
                writer.state(body as u32, &start(body))?;
            }
            let mut propagators: Vec<BodyPropagator> = (0..bodies)
                .map(|body| BodyPropagator::new(scenario, body))
                .collect();
            let mut states: Vec<Vec<OrbitState>> = vec![Vec::with_capacity(chunk as usize); bodies];
            let mut done = 0;
            while done < steps {
                let end = (done + chunk).min(steps);
                for (propagator, out) in propagators.iter_mut().zip(&mut states) {
                    out.clear();
                    propagator
                        .advance(end, out)
                        .map_err(|e| stopped(&e, scenario))?;
                }
                rotations.prepare(done + 1, (end - done) as usize);
                for k in 0..(end - done) as usize {
                    for (body, out) in states.iter().enumerate() {
                        let native = propagators[body].native_frame();
                        let s = rotations.to_run_frame(native, done + 1 + k as u64, &out[k]);
                        writer.state(body as u32, &s)?;
                    }
                }
                done = end;
            }
        }
    }
    let stops = writer.stop_reports();
    Ok((writer.finish()?, stops))
}

/// A body stopped mid-run, as the writer's error: what was written before it is the
/// run's (every state finite), and nothing after.
fn stopped(e: &crate::orbit::Stopped, scenario: &OrbitScenario) -> io::Error {
    io::Error::other(e.describe(scenario))
}

/// The UTC text of `epoch + t` without an allocation per state: the date changes once
/// a day, so it is kept and only the time of day is laid out each time. It gives
/// exactly [`Epoch::iso_at`]'s text (the tests compare the two).
struct EpochText {
    decimals: u32,
    unit: i128,
    /// Days from 1970-01-01 to the epoch's date.
    epoch_day: i64,
    /// The epoch's time of day, in units of `10^-decimals` s.
    epoch_ticks: i128,
    day: Option<i64>,
    buf: [u8; 32],
}

impl EpochText {
    /// The decimals are the fewest of 3, 6 and 9 in which every output time is whole,
    /// so that consecutive states never share an epoch's text (an OEM needs them to
    /// increase).
    fn new(epoch: Epoch, step_s: f64) -> Self {
        let decimals = [3u32, 6]
            .into_iter()
            .find(|&d| {
                let scaled = step_s * 10f64.powi(d as i32);
                (scaled - scaled.round()).abs() <= 1e-9 * scaled.max(1.0) && scaled >= 1.0
            })
            .unwrap_or(9);
        // The epoch's own text, to the nanosecond: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn`.
        let text = epoch.iso_at(0.0, 9);
        let num = |from: usize, to: usize| -> i64 {
            text[from..to]
                .parse()
                .expect("iso_at writes digits in fixed places")
        };
        let epoch_day = days_from_civil(num(0, 4), num(5, 7), num(8, 10));
        let seconds = num(11, 13) * 3600 + num(14, 16) * 60 + num(17, 19);
        let unit = 10i128.pow(decimals);
        let epoch_ticks = seconds as i128 * unit + num(20, 29) as i128 / 10i128.pow(9 - decimals);
        EpochText {
            decimals,
            unit,
            epoch_day,
            epoch_ticks,
            day: None,
            buf: [0; 32],
        }
    }

    fn format(&mut self, t_s: f64) -> &str {
        // The same rounding as `Epoch::iso_at`.
        let ticks = (t_s * self.unit as f64).round() as i128 + self.epoch_ticks;
        let per_day = 86_400 * self.unit;
        let day = self.epoch_day + ticks.div_euclid(per_day) as i64;
        let of_day = ticks.rem_euclid(per_day);
        if self.day != Some(day) {
            let (y, m, d) = civil_from_days(day);
            let date = format!("{y:04}-{m:02}-{d:02}T");
            self.buf[..11].copy_from_slice(&date.as_bytes()[..11]);
            self.day = Some(day);
        }
        let seconds = of_day / self.unit;
        let fraction = of_day % self.unit;
        let two = |buf: &mut [u8], v: i128| {
            buf[0] = b'0' + (v / 10) as u8;
            buf[1] = b'0' + (v % 10) as u8;
        };
        two(&mut self.buf[11..13], seconds / 3600);
        self.buf[13] = b':';
        two(&mut self.buf[14..16], seconds / 60 % 60);
        self.buf[16] = b':';
        two(&mut self.buf[17..19], seconds % 60);
        self.buf[19] = b'.';
        let end = 20 + self.decimals as usize;
        let mut rest = fraction;
        for place in (20..end).rev() {
            self.buf[place] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        std::str::from_utf8(&self.buf[..end]).expect("ASCII digits and separators")
    }
}

/// The output steps `k` (at most `n`) whose times `k * step` lie in `[from, to]`, as a
/// run computes its times; `None` when none does.
pub fn output_steps(from: f64, to: f64, step: f64, n: u64) -> Option<RangeInclusive<u64>> {
    let time = |k: u64| k as f64 * step;
    // From the quotients, then corrected for their rounding against the times
    // themselves, as the engine computes them.
    let mut first = (from / step).ceil().min(n as f64 + 1.0) as u64;
    while first > 0 && time(first - 1) >= from {
        first -= 1;
    }
    while first <= n && time(first) < from {
        first += 1;
    }
    let mut last = (to / step).floor().min(n as f64) as u64;
    while last < n && time(last + 1) <= to {
        last += 1;
    }
    while last > 0 && time(last) > to {
        last -= 1;
    }
    (time(last) <= to && first <= last).then_some(first..=last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_steps_are_those_inside_the_window() {
        assert_eq!(output_steps(0.0, 100.0, 10.0, 20), Some(0..=10));
        assert_eq!(output_steps(5.0, 95.0, 10.0, 20), Some(1..=9));
        assert_eq!(output_steps(10.0, 10.0, 10.0, 20), Some(1..=1));
        assert_eq!(output_steps(0.0, 1e9, 10.0, 20), Some(0..=20));
        assert_eq!(output_steps(11.0, 19.0, 10.0, 20), None);
        assert_eq!(output_steps(300.0, 400.0, 10.0, 20), None);
        // 0.1 * 3 is 0.30000000000000004: t = 0.3 is not the time of step 3.
        assert_eq!(output_steps(0.0, 0.3, 0.1, 10), Some(0..=2));
        assert_eq!(output_steps(0.3, 0.5, 0.1, 10), Some(3..=5));
    }

    use crate::scenario::ScenarioLimits;

    fn scenario(step: f64, epoch: &str) -> OrbitScenario {
        let doc = format!(
            r#"{{"model": "orbit", "epoch": "{epoch}", "output_step_s": {step},
                "bodies": [{{"name": "sat-1", "elements": {{"a_km": 7200, "e": 0.1}}}},
                           {{"name": "sat 2", "state": [7000, 0, 0, 0, 7.546, 0]}}]}}"#
        );
        match Scenario::parse(&doc, &ScenarioLimits::default()).unwrap() {
            Scenario::Orbit(o) => o,
            Scenario::Nano { .. } => unreachable!(),
        }
    }

    /// States that are not a trajectory but carry every kind of double.
    fn states(step: f64, n: u64, body: u32) -> Vec<OrbitState> {
        (0..=n)
            .map(|k| {
                let x = k as f64 * 0.1 + body as f64;
                OrbitState {
                    t: k as f64 * step,
                    r: [7000.0 + x, -1e-7 * x, 1.5e16 + x],
                    v: [x.sin(), -7.5, 1.0 / 3.0],
                }
            })
            .collect()
    }

    fn write_by_time(format: OrbitFormat, sc: &OrbitScenario, n: u64) -> String {
        let mut w = EphemerisWriter::begin(Vec::new(), format, sc, n, "x").unwrap();
        let all: Vec<_> = (0..2).map(|b| states(sc.output_step_s(), n, b)).collect();
        for k in 0..=n as usize {
            for (body, s) in all.iter().enumerate() {
                w.state(body as u32, &s[k]).unwrap();
            }
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn csv_and_json_hold_every_state_exactly_by_time_then_body() {
        let sc = scenario(10.0, "2026-01-01T00:00:00Z");
        let csv = write_by_time(OrbitFormat::Csv, &sc, 20);
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("t,body,x,y,z,vx,vy,vz"));
        let rows: Vec<Vec<f64>> = lines
            .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
            .collect();

        let json = write_by_time(OrbitFormat::Json, &sc, 20);
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(doc["model"], "orbit");
        assert_eq!(doc["n"], 20);
        assert_eq!(doc["id"], Scenario::Orbit(sc.clone()).run_id().to_string());
        assert_eq!(doc["bodies"], serde_json::json!(["sat-1", "sat 2"]));
        assert_eq!(doc["columns"], serde_json::json!(COLUMNS));
        assert_eq!(doc["scenario"]["output_step_s"], 10.0);
        let records = doc["records"].as_array().unwrap();
        assert_eq!(rows.len(), 2 * 21);
        assert_eq!(records.len(), rows.len());
        for (i, (row, record)) in rows.iter().zip(records).enumerate() {
            let (k, body) = (i / 2, i % 2);
            let s = states(10.0, 20, body as u32)[k];
            let want = [
                s.t,
                body as f64,
                s.r[0],
                s.r[1],
                s.r[2],
                s.v[0],
                s.v[1],
                s.v[2],
            ];
            assert_eq!(row, &want);
            let got: Vec<f64> = record
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn oem_has_a_header_and_one_segment_per_body() {
        let sc = scenario(10.0, "2026-12-31T23:59:30Z");
        let mut w = EphemerisWriter::begin(
            Vec::new(),
            OrbitFormat::Oem,
            &sc,
            5,
            "2026-11-29T00:00:00.000",
        )
        .unwrap();
        for body in 0..2 {
            for s in states(10.0, 5, body) {
                w.state(body, &s).unwrap();
            }
        }
        let oem = String::from_utf8(w.finish().unwrap()).unwrap();
        let lines: Vec<&str> = oem.lines().collect();
        assert_eq!(lines[0], "CCSDS_OEM_VERS = 3.0");
        assert!(lines[1].starts_with("COMMENT "));
        assert_eq!(lines[2], "CREATION_DATE = 2026-11-29T00:00:00.000");
        assert_eq!(lines[3], "ORIGINATOR = SEDARO-NANO");
        let segments: Vec<&str> = oem.split("META_START\n").skip(1).collect();
        assert_eq!(segments.len(), 2);
        for (body, segment) in segments.iter().enumerate() {
            let (meta, data) = segment.split_once("META_STOP\n").unwrap();
            let name = ["sat-1", "sat 2"][body];
            assert_eq!(
                meta,
                format!(
                    "OBJECT_NAME = {name}\nOBJECT_ID = {body}\nCENTER_NAME = EARTH\n\
                     REF_FRAME = EME2000\nTIME_SYSTEM = UTC\n\
                     START_TIME = 2026-12-31T23:59:30.000\nSTOP_TIME = 2027-01-01T00:00:20.000\n"
                )
            );
            let data: Vec<&str> = data.lines().filter(|l| !l.is_empty()).collect();
            let want = states(10.0, 5, body as u32);
            assert_eq!(data.len(), want.len());
            assert_eq!(
                data[3].split(' ').next(),
                Some("2027-01-01T00:00:00.000"),
                "the date turns at midnight"
            );
            for (line, s) in data.iter().zip(&want) {
                let fields: Vec<&str> = line.split(' ').collect();
                assert_eq!(fields[0], sc.epoch().iso_at(s.t, 3));
                let values: Vec<f64> = fields[1..].iter().map(|f| f.parse().unwrap()).collect();
                assert_eq!(values, [s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]]);
            }
        }
    }

    #[test]
    fn states_out_of_the_formats_order_are_refused() {
        let sc = scenario(10.0, "2026-01-01T00:00:00Z");
        let s = states(10.0, 2, 0);
        let mut csv = EphemerisWriter::begin(Vec::new(), OrbitFormat::Csv, &sc, 2, "").unwrap();
        csv.state(0, &s[0]).unwrap();
        csv.state(1, &s[0]).unwrap();
        let err = csv.state(0, &s[0]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("by time, then body"), "{err}");

        let mut oem = EphemerisWriter::begin(Vec::new(), OrbitFormat::Oem, &sc, 2, "").unwrap();
        oem.state(0, &s[0]).unwrap();
        oem.state(0, &s[1]).unwrap();
        assert!(oem.state(0, &s[1]).is_err(), "a repeated time");
        oem.state(1, &s[0]).unwrap();
        assert!(oem.state(0, &s[2]).is_err(), "back to an earlier body");
        assert!(oem
            .state(7, &s[0])
            .unwrap_err()
            .to_string()
            .contains("body 7"));
    }

    #[test]
    fn epoch_text_is_iso_at_to_the_digit() {
        for (epoch, step) in [
            ("2026-01-01T00:00:00Z", 10.0),
            ("2024-02-28T23:59:59.5Z", 0.25),
            ("2026-06-30T12:00:00.123456789Z", 0.000_001),
            ("1999-12-31T23:00:00Z", 58.064_187_6),
        ] {
            let e = Epoch::parse(epoch).unwrap();
            let mut text = EpochText::new(e, step);
            let decimals = text.decimals;
            for k in (0..200_000u64).step_by(997).chain([1, 2, 3]) {
                let t = k as f64 * step;
                assert_eq!(text.format(t), e.iso_at(t, decimals), "{epoch} + {t}");
            }
        }
        let e = Epoch::parse("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(EpochText::new(e, 10.0).decimals, 3);
        assert_eq!(EpochText::new(e, 0.0001).decimals, 6);
        assert_eq!(EpochText::new(e, 58.064_187_6).decimals, 9);
    }

    #[test]
    fn formats_parse_by_name_and_reject_others_by_name() {
        assert_eq!("OEM".parse(), Ok(OrbitFormat::Oem));
        assert_eq!("csv".parse(), Ok(OrbitFormat::Csv));
        assert_eq!(
            "xml".parse::<OrbitFormat>().unwrap_err().to_string(),
            "unknown format 'xml': expected csv, json or oem"
        );
    }

    #[test]
    fn a_computed_run_is_the_same_states_in_every_format() {
        let sc = scenario(30.0, "2026-01-01T00:00:00Z");
        let n = 300;
        let csv = String::from_utf8(write_run(Vec::new(), OrbitFormat::Csv, &sc, n, "x").unwrap())
            .unwrap();
        let oem = String::from_utf8(write_run(Vec::new(), OrbitFormat::Oem, &sc, n, "x").unwrap())
            .unwrap();
        let rows: Vec<Vec<f64>> = csv
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
            .collect();
        assert_eq!(rows.len(), 2 * (n as usize + 1));
        // Cut into chunks of 7 output steps, the bytes do not change.
        for format in [OrbitFormat::Csv, OrbitFormat::Oem] {
            let whole = write_run(Vec::new(), format, &sc, n, "x").unwrap();
            let cut = write_in_chunks(Vec::new(), format, &sc, n, "x", 7)
                .unwrap()
                .0;
            assert!(whole == cut, "{format} in chunks of 7");
        }
        for body in 0..2usize {
            let mut whole = vec![sc.body(body).unwrap().state0];
            BodyPropagator::new(&sc, body)
                .advance(n, &mut whole)
                .unwrap();
            let from_csv: Vec<&Vec<f64>> = rows.iter().filter(|r| r[1] == body as f64).collect();
            let segment = oem.split("META_START\n").nth(body + 1).unwrap();
            let data: Vec<Vec<f64>> = segment
                .split("META_STOP\n")
                .nth(1)
                .unwrap()
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| l.split(' ').skip(1).map(|f| f.parse().unwrap()).collect())
                .collect();
            assert_eq!(from_csv.len(), whole.len());
            assert_eq!(data.len(), whole.len());
            for ((s, row), line) in whole.iter().zip(from_csv).zip(&data) {
                let values = [s.r[0], s.r[1], s.r[2], s.v[0], s.v[1], s.v[2]];
                assert_eq!(row[0], s.t);
                assert_eq!(row[2..], values);
                assert_eq!(line[..], values);
            }
        }
    }
}
