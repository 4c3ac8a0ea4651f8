use serde_json::Value;

use super::*;

/// `docs/orbits.md`'s document. Its sat-1 is at 7,200 km: at the 7,000 km it once
/// had, its periapsis (6,300 km) is inside the Earth, which the sane region refuses
/// (see `the_old_reference_document_meets_the_earth`).
const DOC: &str = r#"{
  "model": "orbit",
  "epoch": "2026-01-01T00:00:00Z",
  "forces": ["point_mass"],
  "integrator": {"method": "dop853", "tolerance": 1e-12},
  "output_step_s": 10.0,
  "bodies": [
    {"name": "sat-1", "elements": {"a_km": 7200.0, "e": 0.1, "i_deg": 53.0,
                                   "raan_deg": 0.0, "argp_deg": 0.0, "nu_deg": 0.0}},
    {"name": "sat-2", "state": [7000.0, 0.0, 0.0, 0.0, 7.546, 0.0]}
  ]
}"#;

fn parse(doc: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(doc, &ScenarioLimits::default())
}

fn orbit(doc: &str) -> OrbitScenario {
    match parse(doc).unwrap() {
        Scenario::Orbit(o) => o,
        other => panic!("not an orbit scenario: {other:?}"),
    }
}

/// The example document of `docs/orbits.md` with one JSON pointer replaced (or
/// removed with `None`).
fn edit(pointer: &str, value: Option<Value>) -> String {
    let mut doc: Value = serde_json::from_str(DOC).unwrap();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = doc.pointer_mut(parent).unwrap();
    match (target, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key.to_string(), v);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v,
        (t, v) => panic!("cannot edit {t} with {v:?}"),
    }
    doc.to_string()
}

#[test]
fn the_reference_document_parses() {
    let o = orbit(DOC);
    assert_eq!(o.epoch().to_string(), "2026-01-01T00:00:00Z");
    assert_eq!(o.integrator(), Integrator::Dop853 { tolerance: 1e-12 });
    assert_eq!(o.forces(), Forces { j2: false });
    assert_eq!(o.output_step_s(), 10.0);
    assert_eq!(o.central_body(), CentralBody::EARTH);
    let bodies = o.bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[1].name, "sat-2");
    assert_eq!(bodies[1].state0.r, [7000.0, 0.0, 0.0]);
    assert_eq!(bodies[1].state0.v, [0.0, 7.546, 0.0]);
}

#[test]
fn broken_documents_name_their_field() {
    use serde_json::json;
    let walker = |w: Value| edit("/walker", Some(w));
    let cases: Vec<(String, &str, &str)> = vec![
        ("not json".into(), "", "not a JSON document"),
        ("[1, 2]".into(), "", "must be a JSON object"),
        (r#"{"seed": 1}"#.into(), "model", "is required"),
        (r#"{"model": "planets"}"#.into(), "model", "\"planets\""),
        (r#"{"model": "nano"}"#.into(), "seed", "is required"),
        (r#"{"model": "nano", "seed": -1}"#.into(), "seed", "non-negative integer"),
        (r#"{"model": "nano", "seed": 1, "x": 2}"#.into(), "x", "unknown field"),
        (edit("/tolerence", Some(json!(1e-9))), "tolerence", "unknown field"),
        (edit("/epoch", None), "epoch", "is required"),
        (edit("/epoch", Some(json!("2026-02-30T00:00:00Z"))), "epoch", "no such date"),
        (edit("/epoch", Some(json!("2026-01-01 00:00:00"))), "epoch", "2026-01-01 00:00:00"),
        (edit("/epoch", Some(json!("2026-01-01T24:00:00Z"))), "epoch", "no such time"),
        (edit("/epoch", Some(json!(5))), "epoch", "must be a string"),
        (edit("/forces", Some(json!(["point_mass", "drag"]))), "forces[1]", "unknown force \"drag\""),
        (edit("/forces", Some(json!(["j2"]))), "forces", "point_mass"),
        (edit("/forces", Some(json!(["point_mass", "point_mass"]))), "forces[1]", "twice"),
        (edit("/forces", Some(json!("j2"))), "forces", "must be an array"),
        (edit("/integrator", Some(json!({"method": "euler"}))), "integrator.method", "unknown method \"euler\""),
        (edit("/integrator", Some(json!({"tolerance": 1e-9}))), "integrator.method", "is required"),
        (edit("/integrator", Some(json!({"method": "dop853", "tolerance": 0}))), "integrator.tolerance", "got 0e0"),
        (edit("/integrator", Some(json!({"method": "dop853", "tolerance": 1}))), "integrator.tolerance", "below 1"),
        (edit("/integrator", Some(json!({"method": "dop853", "tolerance": 1e-20}))), "integrator.tolerance", "at least 1e-14"),
        (edit("/integrator", Some(json!({"method": "dop853", "step_s": 1}))), "integrator.step_s", "unknown field"),
        (edit("/integrator", Some(json!({"method": "rk4"}))), "integrator.step_s", "is required"),
        (edit("/integrator", Some(json!({"method": "rk4", "step_s": -1.0}))), "integrator.step_s", "greater than 0, got -1"),
        (edit("/integrator", Some(json!({"method": "yoshida4", "step_s": 0}))), "integrator.step_s", "greater than 0"),
        (edit("/integrator", Some(json!({"method": "yoshida4", "step_s": 1e-5}))), "integrator.step_s", "at most 100000 steps per output"),
        (edit("/output_step_s", Some(json!(0))), "output_step_s", "greater than 0"),
        (edit("/output_step_s", Some(json!(-10.0))), "output_step_s", "got -10"),
        (edit("/output_step_s", Some(json!("10"))), "output_step_s", "finite number"),
        (edit("/output_step_s", None), "output_step_s", "is required"),
        (edit("/bodies", Some(json!([]))), "bodies", "no bodies"),
        (edit("/bodies", None), "bodies", "no bodies"),
        (edit("/bodies", Some(json!({}))), "bodies", "must be an array"),
        (edit("/bodies/0/elements/e", Some(json!(1.0))), "bodies[0].elements.e", "below 1"),
        (edit("/bodies/0/elements/e", Some(json!(1.5))), "bodies[0].elements.e", "got 1.5"),
        (edit("/bodies/0/elements/e", Some(json!(-0.1))), "bodies[0].elements.e", "at least 0"),
        (edit("/bodies/0/elements/a_km", Some(json!(0))), "bodies[0].elements.a_km", "greater than 0"),
        (edit("/bodies/0/elements/a_km", Some(json!(-7000))), "bodies[0].elements.a_km", "got -7000"),
        (edit("/bodies/0/elements/a_km", None), "bodies[0].elements.a_km", "is required"),
        (edit("/bodies/0/elements/i_deg", Some(json!(181))), "bodies[0].elements.i_deg", "between 0 and 180"),
        (edit("/bodies/0/elements/nu_deg", Some(json!(null))), "bodies[0].elements.nu_deg", "finite number"),
        (edit("/bodies/0/elements/M_deg", Some(json!(3))), "bodies[0].elements.M_deg", "unknown field"),
        (edit("/bodies/1/state", Some(json!([7000, 0, 0, 0, 7.5]))), "bodies[1].state", "[x, y, z, vx, vy, vz]"),
        (edit("/bodies/1/state", Some(json!([7000, 0, 0, 0, 11, 0]))), "bodies[1].state", "escape speed"),
        (edit("/bodies/1/state", Some(json!([0, 0, 0, 0, 1, 0]))), "bodies[1].state", "centre"),
        (edit("/bodies/1/state", Some(json!([7000, 0, 0, 1, 0, 0]))), "bodies[1].state", "radial"),
        (edit("/bodies/1/state", Some(json!([7000, 0, 0, 0, "7.5", 0]))), "bodies[1].state[4]", "finite number"),
        (edit("/bodies/1", Some(json!({"name": "x"}))), "bodies[1]", "needs `elements` or `state`"),
        (edit("/bodies/1/elements", Some(json!({"a_km": 7000, "e": 0}))), "bodies[1]", "not both"),
        (edit("/bodies/1/name", Some(json!("sat-1"))), "bodies[1].name", "\"sat-1\" is taken"),
        (edit("/bodies/1/name", Some(json!("a\nb"))), "bodies[1].name", "a\\nb"),
        (edit("/bodies/1/name", Some(json!(""))), "bodies[1].name", "1 to 64 characters"),
        (walker(json!({"i_deg": 53, "total": 10, "planes": 3, "phasing": 1, "altitude_km": 550})), "walker.total", "multiple of planes (3), got 10"),
        (walker(json!({"i_deg": 53, "total": 9, "planes": 3, "phasing": 3, "altitude_km": 550})), "walker.phasing", "below planes (3), got 3"),
        (walker(json!({"i_deg": 53, "total": 9, "planes": 0, "phasing": 0, "altitude_km": 550})), "walker.planes", "at least 1"),
        (walker(json!({"i_deg": 53, "total": 0, "planes": 1, "phasing": 0, "altitude_km": 550})), "walker.total", "at least 1"),
        (walker(json!({"i_deg": 53, "total": 9, "planes": 3, "phasing": 1, "altitude_km": -5})), "walker.altitude_km", "greater than 0"),
        (walker(json!({"i_deg": 53, "total": 9, "planes": 3, "phasing": 1})), "walker.altitude_km", "is required"),
        (walker(json!({"i_deg": 53, "total": 9.5, "planes": 3, "phasing": 1, "altitude_km": 550})), "walker.total", "non-negative integer"),
        (walker(json!({"i_deg": 53, "total": 200000, "planes": 1, "phasing": 0, "altitude_km": 550})), "walker.total", "at most 100000"),
        (walker(json!({"i_deg": 53, "total": 4, "planes": 2, "phasing": 0, "altitude_km": 550, "shells": 2})), "walker.shells", "unknown field"),
        (edit("/bodies/1/name", Some(json!("p1-s0"))).replace("\"model\"", r#""walker": {"i_deg": 53, "total": 4, "planes": 2, "phasing": 0, "altitude_km": 550}, "model""#), "bodies[1].name", "\"p1-s0\" is taken"),
        (edit("/central_body", Some(json!({"mu_km3_s2": 0}))), "central_body.mu_km3_s2", "greater than 0"),
        (edit("/central_body", Some(json!({"radius": 6000}))), "central_body.radius", "unknown field"),
        (r#"{"model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 1, "bodies": [{"elements": {"a_km": 7000, "e": 1e400}}]}"#.into(), "", "not a JSON document"),
    ];
    for (doc, field, rule) in cases {
        match parse(&doc) {
            Ok(s) => {
                panic!("accepted a broken document (expected {field}: {rule}): {doc}\n{s:?}")
            }
            Err(err) => {
                assert_eq!(err.field, field, "document: {doc}\nerror: {err}");
                assert!(
                    err.rule.contains(rule),
                    "rule '{}' lacks '{rule}' (document: {doc})",
                    err.rule
                );
                assert!(err.to_string().contains(&err.rule));
            }
        }
    }
}

#[test]
fn the_old_reference_document_meets_the_earth() {
    let verbatim = DOC.replace("7200.0", "7000.0");
    let err = parse(&verbatim).unwrap_err();
    assert_eq!(err.field, "bodies[0].elements.e");
    assert!(err.rule.contains("6300"), "{err}");
    // The log's documents are read without the bounds.
    assert!(Scenario::parse_logged(&verbatim).is_ok());
}

#[test]
fn the_sane_region_is_refused_by_field() {
    use serde_json::json;
    let state = |s: Value| edit("/bodies/1/state", Some(s));
    let walker = |altitude: f64| {
        edit(
            "/walker",
            Some(
                json!({"i_deg": 53, "total": 2, "planes": 1, "phasing": 0, "altitude_km": altitude}),
            ),
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        (
            edit("/bodies/0/elements/a_km", Some(json!(1e308))),
            "bodies[0].elements.a_km",
            "at most 6378137",
        ),
        (
            edit("/bodies/0/elements/a_km", Some(json!(1e-300))),
            "bodies[0].elements.a_km",
            "at least the central body's radius",
        ),
        (
            edit("/bodies/0/elements/a_km", Some(json!(1e-3))),
            "bodies[0].elements.a_km",
            "inside it",
        ),
        (
            edit("/bodies/0/elements/e", Some(json!(0.999999))),
            "bodies[0].elements.e",
            "must be at most 0.114",
        ),
        (
            edit("/output_step_s", Some(json!(1e308))),
            "output_step_s",
            "ten days",
        ),
        (
            edit("/output_step_s", Some(json!(1e12))),
            "output_step_s",
            "got 1000000000000",
        ),
        (
            edit("/output_step_s", Some(json!(1e-300))),
            "output_step_s",
            "from 0.001 s",
        ),
        (
            state(json!([1e-3, 0, 0, 0, 0.1, 0])),
            "bodies[1].state",
            "inside the central body",
        ),
        (
            state(json!([6400, 0, 0, 0, 7.0, 0])),
            "bodies[1].state",
            "periapsis",
        ),
        (
            state(json!([7000, 0, 0, 0, 10.67, 0])),
            "bodies[1].state",
            "semi-major axis",
        ),
        (
            state(json!([1e300, 0, 0, 0, 1e300, 0])),
            "bodies[1].state",
            "escape speed",
        ),
        (walker(1e9), "walker.altitude_km", "at most"),
        (
            edit("/central_body", Some(json!({"mu_km3_s2": 1e300}))),
            "central_body.mu_km3_s2",
            "1e12",
        ),
        (
            edit("/central_body", Some(json!({"radius_km": 1e-9}))),
            "central_body.radius_km",
            "0.1",
        ),
    ];
    for (doc, field, rule) in cases {
        let err = parse(&doc).expect_err(&doc);
        assert_eq!(err.field, field, "{doc}: {err}");
        assert!(
            err.rule.contains(rule),
            "{doc}: rule '{}' lacks '{rule}'",
            err.rule
        );
    }
    // Within the bounds: a Molniya orbit, a geostationary one, a 200 km circle, a
    // Walker shell at 550 km, a state on a low ellipse.
    for doc in [
        edit(
            "/bodies/0/elements",
            Some(json!({"a_km": 26_600, "e": 0.74, "i_deg": 63.4})),
        ),
        edit("/bodies/0/elements", Some(json!({"a_km": 42_164, "e": 0}))),
        edit(
            "/bodies/0/elements",
            Some(json!({"a_km": 6578.137, "e": 0})),
        ),
        walker(550.0),
        state(json!([6600, 0, 0, 0, 8.0, 0])),
        edit("/output_step_s", Some(json!(864_000))),
    ] {
        parse(&doc).unwrap_or_else(|e| panic!("{doc}: {e}"));
    }
    // The span: a hundred years of output steps, and not one more.
    let o = orbit(&edit("/output_step_s", Some(json!(864_000))));
    assert!(o.check_span(3652).is_ok());
    let err = o.check_span(3653).unwrap_err();
    assert_eq!(err.field, "steps");
    assert!(err.rule.contains("at most 3652 steps"), "{err}");
}

#[test]
fn more_bodies_than_the_limit_are_refused() {
    let limits = ScenarioLimits { max_bodies: 1 };
    let err = Scenario::parse(DOC, &limits).unwrap_err();
    assert_eq!(err.field, "bodies");
    assert!(err.rule.contains("at most 1 bodies"), "{err}");
    let with_walker = DOC.replace(
        "\"model\"",
        r#""walker": {"i_deg": 53, "total": 2, "planes": 1, "phasing": 0, "altitude_km": 550}, "model""#,
    );
    let err = Scenario::parse(&with_walker, &ScenarioLimits { max_bodies: 3 }).unwrap_err();
    assert_eq!(err.field, "bodies");
    assert!(err.rule.contains("got 4"), "{err}");
    assert!(Scenario::parse(&with_walker, &ScenarioLimits { max_bodies: 4 }).is_ok());
}

#[test]
fn canonical_form_fills_defaults_and_is_stable() {
    let terse = r#"{"bodies":[{"elements":{"e":0,"a_km":7000}}],"output_step_s":10,
                    "epoch":"2026-01-01T00:00:00.000Z","model":"orbit"}"#;
    let full = r#"{"model":"orbit","epoch":"2026-01-01T00:00:00Z","forces":["point_mass"],
        "integrator":{"method":"dop853","tolerance":1e-12},"output_step_s":10.0,
        "central_body":{"j2":1.08262668e-3,"mu_km3_s2":398600.4418,"radius_km":6378.137},
        "bodies":[{"name":"body-0","elements":{"a_km":7000.0,"e":-0.0,"i_deg":0,
        "raan_deg":0,"argp_deg":0,"nu_deg":0}}]}"#;
    let (a, b) = (parse(terse).unwrap(), parse(full).unwrap());
    assert_eq!(a, b);
    assert_eq!(a.canonical(), b.canonical());
    assert_eq!(a.run_id(), b.run_id());
    assert_eq!(
        a.canonical(),
        concat!(
            r#"{"model":"orbit","epoch":"2026-01-01T00:00:00Z","#,
            r#""central_body":{"mu_km3_s2":398600.4418,"radius_km":6378.137,"j2":0.00108262668},"#,
            r#""forces":["point_mass"],"integrator":{"method":"dop853","tolerance":1e-12},"#,
            r#""output_step_s":10.0,"bodies":[{"name":"body-0","elements":{"a_km":7000.0,"#,
            r#""e":0.0,"i_deg":0.0,"raan_deg":0.0,"argp_deg":0.0,"nu_deg":0.0}}]}"#
        )
    );
    // The canonical text reads back to the same scenario, and is its own canonical form.
    let again = parse(&a.canonical()).unwrap();
    assert_eq!(again, a);
    assert_eq!(again.canonical(), a.canonical());
    // serde writes the same document.
    assert_eq!(serde_json::to_string(&a).unwrap(), a.canonical());
    let back: Scenario = serde_json::from_str(&a.canonical()).unwrap();
    assert_eq!(back, a);
}

#[test]
fn run_ids_are_sha256_of_the_canonical_form() {
    let s = parse(DOC).unwrap();
    let digest = Sha256::digest(s.canonical().as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(s.run_id().to_string(), hex);
    assert_eq!(hex.parse::<RunId>().unwrap(), s.run_id());
    // Any change of meaning changes the id.
    let other = parse(&edit("/output_step_s", Some(serde_json::json!(10.5)))).unwrap();
    assert_ne!(other.run_id(), s.run_id());
    let j2 = parse(&edit(
        "/forces",
        Some(serde_json::json!(["j2", "point_mass"])),
    ))
    .unwrap();
    assert_ne!(j2.run_id(), s.run_id());
    // Nano keeps its seed.
    let nano = parse(r#"{"model":"nano","seed":42}"#).unwrap();
    assert_eq!(nano.run_id(), RunId::Nano(42));
    assert_eq!(nano.canonical(), r#"{"model":"nano","seed":42}"#);
    assert_eq!("42".parse::<RunId>().unwrap(), RunId::Nano(42));
    assert!("xyz".parse::<RunId>().is_err());
    assert_eq!("0".parse::<RunId>().unwrap(), RunId::Nano(0));
    assert_eq!(
        "18446744073709551615".parse::<RunId>().unwrap(),
        RunId::Nano(u64::MAX)
    );
    for other_spelling in [
        "00",
        "042",
        &"0".repeat(31),
        "+42",
        "",
        "18446744073709551616",
    ] {
        let e = other_spelling.parse::<RunId>().unwrap_err();
        assert_eq!(e.field, "id", "{other_spelling}");
    }
    assert!(hex.to_uppercase().parse::<RunId>().is_err());
}

#[test]
fn epochs_read_and_write_utc() {
    let e = Epoch::parse("2024-02-29T23:59:59.25Z").unwrap();
    assert_eq!(e.to_string(), "2024-02-29T23:59:59.25Z");
    assert_eq!(e.iso_at(0.75, 3), "2024-03-01T00:00:00.000");
    assert_eq!(e.iso_at(86_400.0 * 366.0, 2), "2025-03-01T23:59:59.25");
    let j2000 = Epoch::parse("2000-01-01T12:00:00Z").unwrap();
    assert_eq!(j2000.unix_s, 946_728_000);
    assert_eq!(j2000.iso_at(-43_200.5, 1), "1999-12-31T23:59:59.5");
    assert!(Epoch::parse("2023-02-29T00:00:00Z").is_err());
    assert!(Epoch::parse("2026-01-01T00:00:60Z").is_err());
    assert!(Epoch::parse("2026-01-01T00:00:00.Z").is_err());
    assert!(Epoch::parse("2026-01-01T00:00:00+01:00").is_err());
}

/// Elements from a state by the textbook formulas, written apart from
/// [`Elements::to_state`]: (a, e, i, raan, argp, nu) in km and degrees.
fn elements_of(r: [f64; 3], v: [f64; 3], mu: f64) -> [f64; 6] {
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let cross = |a: [f64; 3], b: [f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let rn = dot(r, r).sqrt();
    let energy = dot(v, v) / 2.0 - mu / rn;
    let a = -mu / (2.0 * energy);
    let h = cross(r, v);
    let hn = dot(h, h).sqrt();
    let vxh = cross(v, h);
    let ev: [f64; 3] = std::array::from_fn(|k| vxh[k] / mu - r[k] / rn);
    let e = dot(ev, ev).sqrt();
    let i = (h[2] / hn).acos().to_degrees();
    let node = [-h[1], h[0], 0.0];
    let nn = dot(node, node).sqrt();
    let raan = h[0].atan2(-h[1]).to_degrees().rem_euclid(360.0);
    let mut argp = (dot(node, ev) / (nn * e))
        .clamp(-1.0, 1.0)
        .acos()
        .to_degrees();
    if ev[2] < 0.0 {
        argp = 360.0 - argp;
    }
    let mut nu = (dot(ev, r) / (e * rn)).clamp(-1.0, 1.0).acos().to_degrees();
    if dot(r, v) < 0.0 {
        nu = 360.0 - nu;
    }
    [a, e, i, raan, argp, nu]
}

#[test]
fn elements_to_state_agrees_with_the_textbook_inverse() {
    let mu = EARTH_MU;
    for (a, e, i, raan, argp, nu) in [
        (7000.0, 0.1, 53.0, 20.0, 30.0, 40.0),
        (26_560.0, 0.7, 63.4, 300.0, 270.0, 200.0),
        (42_164.0, 0.3, 120.0, 100.0, 10.0, 350.0),
        (8000.0, 0.01, 98.0, 190.0, 150.0, 95.0),
    ] {
        let el = Elements {
            a_km: a,
            e,
            i_deg: i,
            raan_deg: raan,
            argp_deg: argp,
            nu_deg: nu,
        };
        let (r, v) = el.to_state(mu);
        let got = elements_of(r, v, mu);
        let want = [a, e, i, raan, argp, nu];
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            let tol = if k == 0 { 1e-9 * a } else { 1e-9 };
            assert!((g - w).abs() < tol, "element {k} of {want:?}: got {g}");
        }
        // Vis-viva and h = sqrt(mu p), independently of the angles.
        let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
        let v2 = v[0] * v[0] + v[1] * v[1] + v[2] * v[2];
        assert!((v2 - mu * (2.0 / rn - 1.0 / a)).abs() < 1e-12 * v2);
    }
}

#[test]
fn walker_bodies_follow_orbits_md() {
    let doc = DOC.replace(
        "\"model\"",
        r#""walker": {"i_deg": 53, "total": 12, "planes": 4, "phasing": 1, "altitude_km": 550}, "model""#,
    );
    let o = orbit(&doc);
    assert_eq!(o.body_count(), 14);
    let bodies = o.bodies();
    let names: Vec<&str> = bodies.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(&names[..4], ["p0-s0", "p0-s1", "p0-s2", "p1-s0"]);
    assert_eq!(&names[11..], ["p3-s2", "sat-1", "sat-2"]);
    let w = o.walker().unwrap();
    for (index, body) in bodies.iter().take(12).enumerate() {
        let (k, j) = (index / 3, index % 3);
        let el = elements_of(body.state0.r, body.state0.v, EARTH_MU);
        assert!((el[0] - (EARTH_RADIUS_KM + 550.0)).abs() < 1e-8, "{el:?}");
        assert!(el[1] < 1e-12, "circular: {el:?}");
        assert!((el[2] - 53.0).abs() < 1e-9);
        let raan = 90.0 * k as f64;
        assert!(
            (el[3] - raan).abs() < 1e-9 || (el[3] - raan).abs() > 359.999_999,
            "{el:?}"
        );
        // On a circular orbit the argument of latitude is the angle from the node.
        let node = [raan.to_radians().cos(), raan.to_radians().sin(), 0.0];
        let r = body.state0.r;
        let rn = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
        let cos_u = (r[0] * node[0] + r[1] * node[1]) / rn;
        let mut u = cos_u.clamp(-1.0, 1.0).acos().to_degrees();
        if r[2] < 0.0 {
            u = 360.0 - u;
        }
        let want = (120.0 * j as f64 + 30.0 * k as f64) % 360.0;
        let diff = (u - want).abs();
        assert!(
            diff < 1e-7 || (360.0 - diff) < 1e-7,
            "body {index}: u = {u}, want {want}"
        );
        assert_eq!(w.satellite(index as u64, &CentralBody::EARTH).0, body.name);
    }
    assert_eq!(o.body(14), None);
}
