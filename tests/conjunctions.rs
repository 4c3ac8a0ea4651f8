//! Screening under manoeuvres through the binary: a small constellation with crossing
//! orbits served by `serve --workers 2`, random manoeuvres posted over HTTP; after
//! each, every body's served states are the tests' own Kepler orbits
//! (`nano_testing::kepler`: the initial state's, then through the previous version's state
//! at each impulse, velocity changed), the conjunctions served for the new version
//! equal the tests' own brute force (`conjunctions::screen_by_sampling`) of those
//! states, the `change` events of `/conjunctions/events` turn the old set into the new
//! one, and version 0 is still served unchanged. States between output times are the
//! tests' own Hermite cubic of the two around. Then the service is restarted, and the
//! conjunctions are served from the log without screening again. The whole run's
//! download (`GET /api/runs/{id}?version=`, CSV and OEM) serves each version: version
//! 0's rows but the manoeuvred bodies' from their manoeuvres on, which are the
//! version's tracks and on the Kepler orbits (a body manoeuvred twice takes its second
//! impulse on its first's orbit).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nano_pipeline::orbit::OrbitState;
use nano_pipeline::screening::Conjunction;
use nano_testing::conjunctions::{assert_same, cubic, screen_by_sampling};
use nano_testing::http::{http, http_post};
use nano_testing::kepler::{distance, Arcs};
use nano_testing::lcg::Lcg;
use nano_testing::process::assert_verified;
use nano_testing::server::{metric, screened, serve, stop, until_ok};
use nano_testing::{crossing, process};
use serde_json::{json, Value};

const D_KM: f64 = 20.0;
const STEPS: u64 = 360;
const STEP_S: f64 = 30.0;
const BODIES: usize = 8;

/// Eight satellites on circular orbits through one point at t = 3,000 s, each from
/// its own direction and a few km apart (`nano_testing::crossing`): they meet there
/// again every period.
fn scenario() -> Value {
    let doc = crossing::scenario(BODIES, 3000.0, STEP_S, |i| [0.0, 2.0 * i as f64, 0.0]);
    serde_json::from_str(&doc).unwrap()
}

/// Every body's expected states: Kepler's orbit through its initial state in the
/// scenario, before any manoeuvre.
fn kepler_orbits() -> Vec<Arcs> {
    scenario()["bodies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            let x: Vec<f64> = b["state"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            Arcs::new(OrbitState {
                t: 0.0,
                r: [x[0], x[1], x[2]],
                v: [x[3], x[4], x[5]],
            })
        })
        .collect()
}

/// Every served state of every body within a decimetre (and 0.1 mm/s) of its expected
/// orbit: DOP853 at 1e-12 against the exact solution over the run.
fn assert_on_orbits(tracks: &[Vec<OrbitState>], orbits: &[Arcs], what: &str) {
    for (body, (track, orbit)) in tracks.iter().zip(orbits).enumerate() {
        for s in track {
            let want = orbit.at(s.t);
            assert!(
                distance(s.r, want.r) < 1e-4 && distance(s.v, want.v) < 1e-7,
                "{what}, body {body}, t = {}: served {s:?}, Kepler {want:?}",
                s.t
            );
        }
    }
}

fn get_json(address: &str, path: &str) -> (Value, Option<String>) {
    // A version whose screening a job is making (one a kept screener could not
    // follow) is a 409 until it is kept.
    let started = Instant::now();
    let response = loop {
        let response = http(address, "127.0.0.1", path, &[]).expect("the service answers");
        if response.status != 409 || started.elapsed() > Duration::from_secs(120) {
            break response;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        response.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&response.body)
    );
    let screened = response.header("x-screened-km").map(str::to_owned);
    (serde_json::from_slice(&response.body).unwrap(), screened)
}

/// Every body's states of `version`, read back through `/bodies/{k}`.
fn states(address: &str, id: &str, version: u32) -> Vec<Vec<OrbitState>> {
    (0..BODIES)
        .map(|k| {
            let (track, _) = get_json(
                address,
                &format!("/api/runs/{id}/bodies/{k}?version={version}"),
            );
            let rows = track["records"].as_array().unwrap();
            assert_eq!(rows.len() as u64, STEPS + 1);
            rows.iter().map(state).collect()
        })
        .collect()
}

/// A row of a JSON read (`[t, body, x, y, z, vx, vy, vz]`) as a state.
fn state(row: &Value) -> OrbitState {
    let x: Vec<f64> = row
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    OrbitState {
        t: x[0],
        r: [x[2], x[3], x[4]],
        v: [x[5], x[6], x[7]],
    }
}

fn conjunction(c: &Value) -> Conjunction {
    let x = |name: &str| c[name].as_f64().unwrap_or_else(|| panic!("{name}: {c}"));
    Conjunction {
        a: c["a"].as_u64().unwrap() as u32,
        b: c["b"].as_u64().unwrap() as u32,
        tca_s: x("tca_s"),
        miss_km: x("miss_km"),
        rel_speed_kms: x("rel_speed_kms"),
        ric_km: [
            x("miss_radial_km"),
            x("miss_in_track_km"),
            x("miss_cross_track_km"),
        ],
    }
}

fn set_of(list: &Value) -> Vec<Conjunction> {
    let mut out: Vec<Conjunction> = list.as_array().unwrap().iter().map(conjunction).collect();
    out.sort();
    out
}

/// The version's conjunctions as served, checked against the brute force on its
/// states, which are checked against their expected `orbits`.
fn served_and_checked(
    address: &str,
    id: &str,
    version: u32,
    orbits: &[Arcs],
) -> (Vec<Conjunction>, Value) {
    let (doc, _) = get_json(
        address,
        &format!("/api/runs/{id}/conjunctions?d={D_KM}&version={version}"),
    );
    assert_eq!(doc["version"], version);
    assert_eq!(doc["bodies"], BODIES);
    let list = doc["conjunctions"].as_array().unwrap();
    assert_eq!(doc["count"], list.len());
    // Sorted by miss distance, with the bodies' names.
    for pair in list.windows(2) {
        assert!(pair[0]["miss_km"].as_f64() <= pair[1]["miss_km"].as_f64());
    }
    for c in list {
        assert_eq!(c["a_name"], format!("c-{}", c["a"]));
    }
    let got = set_of(&doc["conjunctions"]);
    let tracks = states(address, id, version);
    assert_on_orbits(&tracks, orbits, &format!("version {version}"));
    let want = screen_by_sampling(&tracks, D_KM);
    assert_same(&got, &want, &format!("version {version}"));
    (got, doc["conjunctions"].clone())
}

/// A server-sent event stream read on a thread; the events parsed on demand.
struct EventStream {
    seen: Arc<Mutex<Vec<u8>>>,
}

impl EventStream {
    fn open(address: &str, path: &str) -> EventStream {
        let mut stream = TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            while let Ok(n) = stream.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        EventStream { seen }
    }

    /// The events so far: (name, data). axum writes each event in one chunk, so the
    /// chunk-size lines between them are skipped as lines of no field.
    fn events(&self) -> Vec<(String, Value)> {
        let text = String::from_utf8_lossy(&self.seen.lock().unwrap()).to_string();
        let mut out = Vec::new();
        let mut name = None;
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("event: ") {
                name = Some(n.to_owned());
            } else if let Some(data) = line.strip_prefix("data: ") {
                if let Some(n) = name.take() {
                    out.push((n, serde_json::from_str(data).unwrap()));
                }
            }
        }
        out
    }

    fn wait_for(&self, count: usize) -> Vec<(String, Value)> {
        let started = Instant::now();
        loop {
            let events = self.events();
            if events.len() >= count {
                return events;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} events of {count} within a minute: {}",
                events.len(),
                String::from_utf8_lossy(&self.seen.lock().unwrap())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `removed` taken out of `set`, then `added` put in (each must be absent / present).
fn apply(set: &[Conjunction], removed: &Value, added: &Value) -> Vec<Conjunction> {
    let mut out: Vec<Conjunction> = set.to_vec();
    for c in set_of(removed) {
        let at = out
            .iter()
            .position(|x| *x == c)
            .expect("a removed conjunction was there");
        out.remove(at);
    }
    for c in set_of(added) {
        assert!(!out.contains(&c), "an added conjunction was there already");
        out.push(c);
    }
    out.sort();
    out
}

#[test]
fn manoeuvres_change_the_conjunctions_as_a_fresh_screening_would_and_a_restart_serves_them_from_the_log(
) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, address) = serve(&data, &["--memory-mb", "256"]);
    let request = json!({"scenario": scenario(), "steps": STEPS}).to_string();
    let created = http_post(&address, "/api/runs", &request).unwrap();
    assert!(
        created.status < 300,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let id: String = serde_json::from_slice::<Value>(&created.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    until_ok(&address, &format!("/api/runs/{id}"));

    // Reading computes nothing: 409 naming the screening to POST, until it is made.
    let unscreened = http(
        &address,
        "127.0.0.1",
        &format!("/api/runs/{id}/conjunctions?d={D_KM}"),
        &[],
    )
    .unwrap();
    assert_eq!(unscreened.status, 409);
    let said = String::from_utf8_lossy(&unscreened.body);
    assert!(
        said.contains(&format!("POST /api/runs/{id}/screenings")),
        "{said}"
    );
    let job = screened(&address, &id, D_KM, &[]);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(metric(&address, "nano_screenings_total"), 1);

    let events = EventStream::open(
        &address,
        &format!("/api/runs/{id}/conjunctions/events?d={D_KM}"),
    );
    let (snapshot_name, snapshot) = events.wait_for(1).remove(0);
    assert_eq!(snapshot_name, "snapshot");
    assert_eq!(snapshot["version"], 0);
    let states0 = states(&address, &id, 0);
    let mut orbits = kepler_orbits();
    let (mut current, json0) = served_and_checked(&address, &id, 0, &orbits);
    assert!(
        current.len() >= 10,
        "crossing orbits meet: {}",
        current.len()
    );
    assert_eq!(set_of(&snapshot["conjunctions"]), current);

    let mut rng = Lcg(15);
    let t_end = STEPS as f64 * STEP_S;
    let mut kept_current = 0;
    for version in 1..=5u32 {
        let body = (rng.uniform() * BODIES as f64) as usize;
        // Every other one at an output time exactly.
        let t = if version % 2 == 0 {
            (rng.uniform() * STEPS as f64).floor() * STEP_S
        } else {
            rng.uniform() * t_end
        };
        let dv: Vec<f64> = (0..3).map(|_| (rng.uniform() - 0.5) * 0.04).collect();
        let answer = http_post(
            &address,
            &format!("/api/runs/{id}/manoeuvres"),
            &json!({"body": body, "t": t, "dv_kms": dv}).to_string(),
        )
        .unwrap();
        assert_eq!(
            answer.status,
            201,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(
            answer.header("location"),
            Some(format!("/api/runs/{id}?version={version}").as_str())
        );
        let made: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(made["version"], version);
        assert_eq!(made["parent"], version - 1);
        assert_eq!(made["manoeuvre"]["body"], body);
        assert_eq!(made["manoeuvre"]["name"], format!("c-{body}"));
        orbits[body].impulse(t, [dv[0], dv[1], dv[2]]);
        let (new, _) = served_and_checked(&address, &id, version, &orbits);
        // The kept screener's changes, when it followed the manoeuvre.
        for entry in made["conjunctions"].as_array().unwrap() {
            assert_eq!(entry["d_km"], D_KM);
            assert_eq!(apply(&current, &entry["removed"], &entry["added"]), new);
            kept_current += 1;
        }
        let (name, change) = events
            .wait_for(1 + version as usize)
            .remove(version as usize);
        assert_eq!(name, "change");
        assert_eq!(change["version"], version);
        assert_eq!(apply(&current, &change["removed"], &change["added"]), new);
        current = new;
    }
    assert!(
        kept_current >= 3,
        "the kept screener followed {kept_current} of 5 manoeuvres"
    );
    let (versions, _) = get_json(&address, &format!("/api/runs/{id}/versions"));
    assert_eq!(versions["latest"], 5);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 6);

    // The states of every body at a time, at the latest version and at version 0, are
    // their tracks' (at an output time) or the Hermite interpolant of the two around.
    for version in [5u32, 0] {
        let tracks = states(&address, &id, version);
        for (t, k) in [
            (100.0 * STEP_S, 100usize),
            (150.25 * STEP_S, 150),
            (STEPS as f64 * STEP_S, STEPS as usize),
        ] {
            let (at, _) = get_json(
                &address,
                &format!("/api/runs/{id}/states?t={t}&version={version}"),
            );
            for (body, row) in at["records"].as_array().unwrap().iter().enumerate() {
                let got = state(row);
                let want = if k as f64 * STEP_S == t {
                    tracks[body][k]
                } else {
                    cubic(&tracks[body][k], &tracks[body][k + 1], t)
                };
                // Exact at an output time; between two, the same cubic evaluated
                // another way: within rounding of positions of 7,000 km.
                assert!(
                    distance(got.r, want.r) < 1e-9 && distance(got.v, want.v) < 1e-12,
                    "version {version}, body {body}, t = {t}: served {got:?}, the cubic {want:?}"
                );
            }
        }
    }

    // Version 0 is still there, unchanged.
    let again = states(&address, &id, 0);
    for (a, b) in again.iter().zip(&states0) {
        assert_eq!(a, b);
    }
    let (doc0, source) = get_json(
        &address,
        &format!("/api/runs/{id}/conjunctions?d={D_KM}&version=0"),
    );
    assert_eq!(doc0["conjunctions"], json0);
    assert_eq!(source.as_deref(), Some("20"));

    // A hundred distances below the kept one: read from it, filtered, with no new
    // screening and nothing more kept in the log.
    let screenings = metric(&address, "nano_screenings_total");
    let (kept, _) = get_json(&address, &format!("/api/runs/{id}/screenings"));
    // The log's files once sled has flushed what the manoeuvres wrote (it flushes
    // every half second): the size no longer changes.
    let settled = || {
        let mut size = process::dir_size(&data);
        for _ in 0..30 {
            std::thread::sleep(Duration::from_millis(1100));
            let again = process::dir_size(&data);
            if again == size {
                return size;
            }
            size = again;
        }
        panic!("the log's size did not settle: {size}");
    };
    let size = settled();
    for i in 1..=100 {
        let d = D_KM * f64::from(i) / 101.0;
        let (doc, screened_at) = get_json(
            &address,
            &format!("/api/runs/{id}/conjunctions?d={d}&limit=10000"),
        );
        assert_eq!(screened_at.as_deref(), Some("20"));
        let below: Vec<Conjunction> = current.iter().copied().filter(|c| c.miss_km < d).collect();
        assert_eq!(set_of(&doc["conjunctions"]), below, "d = {d}");
    }
    assert_eq!(metric(&address, "nano_screenings_total"), screenings);
    assert_eq!(
        get_json(&address, &format!("/api/runs/{id}/screenings")).0["kept"],
        kept["kept"]
    );
    assert_eq!(settled(), size, "the log grew");

    // A restarted service serves every version's conjunctions from the log.
    stop(server);
    assert_verified(&data);
    let (server, address) = serve(&data, &["--memory-mb", "256"]);
    for version in 0..=5u32 {
        let (doc, source) = get_json(
            &address,
            &format!("/api/runs/{id}/conjunctions?d={D_KM}&version={version}&format=json"),
        );
        assert_eq!(source.as_deref(), Some("20"), "version {version}");
        if version == 5 {
            assert_eq!(set_of(&doc["conjunctions"]), current);
        }
    }
    assert_eq!(metric(&address, "nano_screenings_total"), 0);
    assert_eq!(metric(&address, "nano_conjunctions_from_log_total"), 6);
    // A screening asked again is the kept one: 200, nothing computed.
    let again = screened(&address, &id, D_KM, &[]);
    assert_eq!(again["state"], "done", "{again}");
    assert_eq!(again["screened_km"], D_KM);
    assert_eq!(metric(&address, "nano_screenings_total"), 0);
    // CSV: the header, then one line per conjunction with the names.
    let csv = http(
        &address,
        "127.0.0.1",
        &format!("/api/runs/{id}/conjunctions?d={D_KM}&format=csv"),
        &[],
    )
    .unwrap();
    let text = String::from_utf8(csv.body).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("a,b,a_name,b_name,a_norad,b_norad,tca_s,tca_utc,miss_km,rel_speed_kms,miss_radial_km,miss_in_track_km,miss_cross_track_km")
    );
    let first = lines.next().unwrap();
    let fields: Vec<&str> = first.split(',').collect();
    assert_eq!(fields.len(), 13, "{first}");
    // The miss's components make the miss.
    let ric: Vec<f64> = fields[10..13].iter().map(|x| x.parse().unwrap()).collect();
    let miss: f64 = fields[8].parse().unwrap();
    assert!(
        (ric.iter().map(|x| x * x).sum::<f64>().sqrt() - miss).abs() < 1e-9,
        "{first}"
    );
    assert_eq!(fields[2], format!("c-{}", fields[0]));
    // No catalogue numbers for a scenario's own bodies; TCA in UTC from the epoch.
    assert_eq!((fields[4], fields[5]), ("", ""));
    let tca: f64 = fields[6].parse().unwrap();
    let utc = chrono_free_utc(tca);
    assert_eq!(fields[7], utc, "{first}");
    assert_eq!(text.lines().count(), current.len() + 1);
    stop(server);
}

/// The body of a GET that must answer 200, as text.
fn get_text(address: &str, path: &str) -> String {
    let response = http(address, "127.0.0.1", path, &[]).expect("the service answers");
    let text = String::from_utf8(response.body).unwrap();
    assert_eq!(response.status, 200, "{path}: {text}");
    text
}

/// The numbers of a CSV row `t,body,x,y,z,vx,vy,vz` or an OEM data line (its epoch
/// left out): exact, as both write the shortest round-trip form.
fn numbers<'a>(fields: impl Iterator<Item = &'a str>) -> Vec<f64> {
    fields.map(|f| f.parse::<f64>().unwrap()).collect()
}

#[test]
fn the_runs_download_serves_each_version_over_version_0() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(&dir.path().join("data"), &["--memory-mb", "256"]);
    let request = json!({"scenario": scenario(), "steps": STEPS}).to_string();
    let created = http_post(&address, "/api/runs", &request).unwrap();
    assert!(created.status < 300);
    let id: String = serde_json::from_slice::<Value>(&created.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    until_ok(&address, &format!("/api/runs/{id}"));
    let csv0 = get_text(&address, &format!("/api/runs/{id}?format=csv"));
    assert!(
        get_text(&address, &format!("/api/runs/{id}?format=csv&version=0")) == csv0,
        "version 0 is the run as propagated"
    );

    // Body 3 between two outputs, body 5 at one, body 3 again over its own version,
    // body 6 at t = 0 (its initial state replaced too).
    let manoeuvres = [
        (3usize, 100.5 * STEP_S),
        (5, 200.0 * STEP_S),
        (3, 250.0 * STEP_S),
        (6, 0.0),
    ];
    const DV: [f64; 3] = [0.003, -0.002, 0.001];
    let mut from = Vec::new();
    for (body, t) in manoeuvres {
        let answer = http_post(
            &address,
            &format!("/api/runs/{id}/manoeuvres"),
            &json!({"body": body, "t": t, "dv_kms": DV}).to_string(),
        )
        .unwrap();
        assert_eq!(answer.status, 201);
        let made: Value = serde_json::from_slice(&answer.body).unwrap();
        from.push((body, made["from_output"].as_u64().unwrap() as usize));
    }
    assert_eq!(
        from.iter().map(|f| f.1).collect::<Vec<_>>(),
        [101, 200, 250, 0]
    );

    let lines0: Vec<&str> = csv0.lines().collect();
    assert_eq!(lines0.len(), 1 + (STEPS as usize + 1) * BODIES);
    let mut downloads = Vec::new();
    for version in 0..=manoeuvres.len() as u32 {
        let changed = |body: usize, k: usize| {
            from[..version as usize]
                .iter()
                .any(|&(b, f)| b == body && k >= f)
        };
        let tracks = states(&address, &id, version);
        // The tracks are the Kepler orbits through the version's impulses, each from
        // the orbit before it.
        let mut orbits = kepler_orbits();
        for &(body, t) in &manoeuvres[..version as usize] {
            orbits[body].impulse(t, DV);
        }
        assert_on_orbits(&tracks, &orbits, &format!("version {version}"));
        let csv = get_text(
            &address,
            &format!("/api/runs/{id}?format=csv&version={version}"),
        );
        downloads.push(csv.clone());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), lines0.len(), "version {version}");
        assert_eq!(lines[0], lines0[0]);
        let mut replaced = 0;
        for (i, (line, line0)) in lines[1..].iter().zip(&lines0[1..]).enumerate() {
            let (k, body) = (i / BODIES, i % BODIES);
            if !changed(body, k) {
                assert_eq!(line, line0, "version {version}, body {body}, output {k}");
                continue;
            }
            replaced += 1;
            assert_ne!(line, line0, "version {version}, body {body}, output {k}");
            let x = numbers(line.split(','));
            let want = tracks[body][k];
            assert_eq!((x[0], x[1] as usize), (want.t, body), "{line}");
            assert_eq!((&x[2..5], &x[5..8]), (&want.r[..], &want.v[..]), "{line}");
        }
        let expected: usize = (0..BODIES)
            .map(|b| (0..=STEPS as usize).filter(|&k| changed(b, k)).count())
            .sum();
        assert_eq!(replaced, expected, "version {version}");

        // The OEM, body by body, holds the same states.
        let oem = get_text(
            &address,
            &format!("/api/runs/{id}?format=oem&version={version}"),
        );
        let mut body = None;
        let mut k = 0;
        for line in oem.lines() {
            if let Some(b) = line.strip_prefix("OBJECT_ID = ") {
                body = Some(b.parse::<usize>().unwrap());
                k = 0;
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() != 7 || fields[1..].iter().any(|f| f.parse::<f64>().is_err()) {
                continue;
            }
            let b = body.expect("data after a segment's metadata");
            let want = tracks[b][k];
            let x = numbers(fields[1..].iter().copied());
            assert_eq!((&x[0..3], &x[3..6]), (&want.r[..], &want.v[..]), "{line}");
            k += 1;
        }
        assert_eq!((body, k), (Some(BODIES - 1), STEPS as usize + 1));
    }
    // No version asked for: the latest.
    assert!(
        get_text(&address, &format!("/api/runs/{id}?format=csv"))
            == get_text(&address, &format!("/api/runs/{id}?format=csv&version=4")),
        "with no version= the download is not the latest version's"
    );
    // Version 0 is as it was.
    assert!(
        get_text(&address, &format!("/api/runs/{id}?format=csv&version=0")) == csv0,
        "version 0's download changed after the manoeuvres"
    );
    // A version that does not exist: 404 naming the latest.
    let missing = http(
        &address,
        "127.0.0.1",
        &format!("/api/runs/{id}?format=csv&version=9"),
        &[],
    )
    .unwrap();
    assert_eq!(missing.status, 404);
    let error: Value = serde_json::from_slice(&missing.body).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("the latest is 4"), "{message}");
    stop(server);

    // The command line reads the same versions from the log the service wrote.
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let file = process::write_file(dir.path(), "crossing.json", &scenario().to_string());
    let steps = STEPS.to_string();
    let replay = |extra: &[&str]| {
        let args = [
            &[
                "replay",
                "--scenario",
                &file,
                "--steps",
                &steps,
                "--data",
                data,
            ][..],
            extra,
        ]
        .concat();
        process::run(&args)
    };
    for (version, download) in downloads.iter().enumerate() {
        let out = replay(&["--format", "csv", "--version", &version.to_string()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == download.as_bytes(),
            "replay --version {version} is not the service's download of it"
        );
    }
    let past = replay(&["--version", "5"]);
    assert_eq!(past.status.code(), Some(2));
    let said = String::from_utf8_lossy(&past.stderr);
    assert!(
        said.contains("--version 5: the log holds versions 0 to 4"),
        "{said}"
    );
    let one_body = replay(&["--version", "1", "--body", "3"]);
    assert_eq!(one_body.status.code(), Some(2));
}

/// `t` seconds after the scenarios' epoch, 2026-01-01T00:00:00Z, in UTC to the
/// millisecond (within the first day), written here without the service's calendar.
fn chrono_free_utc(t: f64) -> String {
    let ms = (t * 1000.0).round() as u64;
    let s = ms / 1000;
    assert!(s < 86_400, "within the first day: {t}");
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}
