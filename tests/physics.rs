//! Physics that is physical, and jobs that cannot stall the engine, through the
//! binary: a scenario outside the sane region (an orbit through the central body or
//! escaping it, sizes and steps beyond their bounds) is a 400 naming its field, and
//! exit 2 naming it in the CLI; a body whose integration leaves the sane region, or
//! passes the work bound, fails its job with the reason while another job completes
//! with the right bytes; `/readyz` tells a stuck engine; SIGTERM ends a process whose
//! worker is stuck in a computation within its grace; and random scenarios never
//! crash the service, never yield a non-finite number, never stop another job.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nano_testing::http::{http_get, http_post};
use nano_testing::kepler::{MU, RADIUS_KM};
use nano_testing::process;
use nano_testing::process::{assert_verified, bin, write_file, Proc};
use nano_testing::server::{serve, stop};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};

/// Two bodies clear of the Earth: one by elements, one by state.
fn good() -> Value {
    json!({
        "model": "orbit",
        "epoch": "2026-01-01T00:00:00Z",
        "output_step_s": 60,
        "bodies": [
            {"name": "leo", "elements": {"a_km": 7000, "e": 0.01, "i_deg": 53}},
            {"name": "ring", "state": [7200, 0, 0, 0, 7.4, 0.5]}
        ]
    })
}

fn edited(edit: impl Fn(&mut Value)) -> Value {
    let mut doc = good();
    edit(&mut doc);
    doc
}

/// The requests of the table: the scenario, its steps, and the field the refusal names
/// (as the API names it: the CLI's is the same without `scenario.`).
fn unphysical() -> Vec<(&'static str, Value, u64, &'static str)> {
    let a = "scenario.bodies[0].elements.a_km";
    let e = "scenario.bodies[0].elements.e";
    vec![
        (
            "a_km 1e308",
            edited(|d| d["bodies"][0]["elements"]["a_km"] = json!(1e308)),
            10,
            a,
        ),
        (
            "a_km 1e-300",
            edited(|d| d["bodies"][0]["elements"]["a_km"] = json!(1e-300)),
            10,
            a,
        ),
        (
            "output_step_s 1e308",
            edited(|d| d["output_step_s"] = json!(1e308)),
            10,
            "scenario.output_step_s",
        ),
        (
            "output_step_s 1e12",
            edited(|d| d["output_step_s"] = json!(1e12)),
            10,
            "scenario.output_step_s",
        ),
        (
            "periapsis below the surface",
            edited(|d| d["bodies"][0]["elements"] = json!({"a_km": 7000, "e": 0.1})),
            10,
            e,
        ),
        (
            "a_km 1e-3",
            edited(|d| d["bodies"][0]["elements"]["a_km"] = json!(1e-3)),
            10,
            a,
        ),
        (
            "e 0.999999",
            edited(|d| d["bodies"][0]["elements"]["e"] = json!(0.999999)),
            10,
            e,
        ),
        (
            "the state [1e-3,0,0,0,0.1,0]",
            edited(|d| d["bodies"][0] = json!({"name": "x", "state": [1e-3, 0, 0, 0, 0.1, 0]})),
            10,
            "scenario.bodies[0].state",
        ),
        (
            "a Walker shell far beyond the Moon",
            edited(|d| {
                d["walker"] =
                    json!({"i_deg": 53, "total": 2, "planes": 1, "phasing": 0, "altitude_km": 1e9})
            }),
            10,
            "scenario.walker.altitude_km",
        ),
        (
            "a run of 274,000 years",
            edited(|d| d["output_step_s"] = json!(864_000)),
            10_000_000,
            "steps",
        ),
    ]
}

fn request(scenario: &Value, steps: u64) -> String {
    json!({"scenario": scenario, "steps": steps}).to_string()
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

/// POSTs a run; the status and the body as JSON.
fn post_run(address: &str, scenario: &Value, steps: u64) -> (u16, Value) {
    let response = http_post(address, "/api/runs", &request(scenario, steps))
        .expect("the service answers a POST");
    (response.status, json_of(&response.body))
}

/// The run's status object once it is no longer running (complete or stopped).
fn settled(address: &str, id: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) =
            http_get(address, &format!("/api/runs/{id}/status")).expect("the service answers");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let doc = json_of(&body);
        if doc["status"] != "running" {
            return doc;
        }
        assert!(started.elapsed() < within, "run {id} still running: {doc}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `propagate --scenario F --steps N --format csv`, the reference bytes.
fn cli_csv(dir: &Path, scenario: &Value, steps: u64) -> Vec<u8> {
    let file = write_file(dir, "reference.json", &scenario.to_string());
    let out = process::run(&[
        "propagate",
        "--scenario",
        &file,
        "--steps",
        &steps.to_string(),
        "--format",
        "csv",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs the binary with `args`, killed if it has not ended within `bound` (an
/// unbounded computation must fail the test, not hang it): its exit code and stderr.
fn run_bounded(args: &[&str], bound: Duration) -> (Option<i32>, String) {
    let mut child = Proc(
        bin()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts"),
    );
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            let mut said = String::new();
            std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut said).unwrap();
            return (status.code(), said);
        }
        assert!(
            started.elapsed() < bound,
            "`{}` still running after {bound:?}",
            args.join(" ")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn unphysical_scenarios_are_400s_naming_their_field_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(dir.path(), &[]);
    for (what, scenario, steps, field) in unphysical() {
        let (status, body) = post_run(&address, &scenario, steps);
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"]["field"], field, "{what}: {body}");
        assert!(
            !body["error"]["rule"].as_str().unwrap_or("").is_empty(),
            "{what}: no rule in {body}"
        );
    }
    // Nothing was logged for them, and the engine is free: a good run completes with
    // the bytes the CLI writes, and the service says it is ready.
    let (_, runs) = http_get(&address, "/api/runs").unwrap();
    assert_eq!(json_of(&runs)["runs"], json!([]));
    let (status, body) = post_run(&address, &good(), 200);
    assert!(status == 202 || status == 200, "{status} {body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        settled(&address, &id, Duration::from_secs(60))["status"],
        "complete"
    );
    let (status, csv) = http_get(&address, &format!("/api/runs/{id}?format=csv")).unwrap();
    assert_eq!(status, 200);
    assert!(
        csv == cli_csv(dir.path(), &good(), 200),
        "the served run differs from the CLI's"
    );
    let (status, ready) = http_get(&address, "/readyz").unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&ready));
    assert_eq!(json_of(&ready)["status"], "ready");
    stop(server);
    assert_verified(dir.path());
}

#[test]
fn the_cli_refuses_unphysical_scenarios_with_exit_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (what, scenario, steps, field) in unphysical() {
        let file = write_file(dir.path(), "scenario.json", &scenario.to_string());
        let steps = steps.to_string();
        let args = [
            "propagate",
            "--scenario",
            &file,
            "--steps",
            &steps,
            "--format",
            "csv",
        ];
        let (code, said) = run_bounded(&args, Duration::from_secs(60));
        assert_eq!(code, Some(2), "{what}: {said}");
        let field = field.strip_prefix("scenario.").unwrap_or("--steps");
        assert!(
            said.contains(field),
            "{what}: '{said}' does not name {field}"
        );
    }
}

/// A validated scenario whose integration leaves the sane region: `rk4` at a third
/// of the orbit per step, which no error control holds on the orbit.
fn leaves_the_sane_region() -> Value {
    json!({
        "model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 2000,
        "integrator": {"method": "rk4", "step_s": 2000},
        "bodies": [{"name": "coarse", "elements": {"a_km": 7000, "e": 0}}]
    })
}

/// A validated scenario past the work bound: around a body the size of a town with the
/// mass of the Sun, a two-kilometre orbit takes 18 microseconds, so one output step of
/// a second crosses 56,000 orbits, far more `dop853` steps than one output may take.
fn past_the_work_bound() -> Value {
    json!({
        "model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 1,
        "central_body": {"mu_km3_s2": 1e12, "radius_km": 1, "j2": 0},
        "bodies": [{"name": "grazer", "elements": {"a_km": 2, "e": 0}}]
    })
}

/// Why the run's job failed, once it has: its status answers 422 with the reason while
/// nothing of the run is logged (it failed in its first round), else `stopped` with it.
fn failure_of(address: &str, id: &str) -> String {
    let started = Instant::now();
    loop {
        let (status, body) =
            http_get(address, &format!("/api/runs/{id}/status")).expect("the service answers");
        let doc = json_of(&body);
        match status {
            422 => return doc["error"]["message"].as_str().unwrap().to_owned(),
            200 if doc["status"] == "stopped" => return doc["reason"].as_str().unwrap().to_owned(),
            200 => assert_eq!(doc["status"], "running", "{doc}"),
            other => panic!("{other} {doc}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "run {id} never failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_body_leaving_the_sane_region_or_the_work_bound_fails_its_job_and_others_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(dir.path(), &[]);
    let steps = 3000;
    let mut ids = Vec::new();
    for scenario in [leaves_the_sane_region(), past_the_work_bound(), good()] {
        let (status, body) = post_run(&address, &scenario, steps);
        let id = match status {
            202 => body["id"].as_str().unwrap().to_owned(),
            // Failed already: "run <id> failed before its first block was logged: ..".
            422 => body["error"]["message"].as_str().unwrap()[4..36].to_owned(),
            other => panic!("{other} {body}"),
        };
        ids.push(id);
    }
    let (coarse, grazer, fine) = (&ids[0], &ids[1], &ids[2]);
    let reason = failure_of(&address, coarse);
    assert!(
        reason.contains("body 0 (coarse) stopped at output")
            && [
                "struck the central body",
                "escaped",
                "left the sane region",
                "not finite"
            ]
            .iter()
            .any(|cause| reason.contains(cause)),
        "{reason}"
    );
    let reason = failure_of(&address, grazer);
    assert!(
        reason.contains("body 0 (grazer) stopped at output 1 (t = 1 s)")
            && reason.contains("the work bound"),
        "{reason}"
    );
    // The other job, started beside them, completes with the CLI's bytes.
    assert_eq!(
        settled(&address, fine, Duration::from_secs(120))["status"],
        "complete"
    );
    let (status, csv) = http_get(&address, &format!("/api/runs/{fine}?format=csv")).unwrap();
    assert_eq!(status, 200);
    assert!(
        csv == cli_csv(dir.path(), &good(), steps),
        "the good run's bytes differ"
    );
    // Nothing of the failed runs is logged (they stopped in their first round).
    let (_, runs) = http_get(&address, "/api/runs").unwrap();
    assert_eq!(json_of(&runs)["runs"].as_array().unwrap().len(), 1);
    // The CLI stops the same body with the same reason, and says so.
    let file = write_file(
        dir.path(),
        "coarse.json",
        &leaves_the_sane_region().to_string(),
    );
    let (code, said) = run_bounded(
        &[
            "propagate",
            "--scenario",
            &file,
            "--steps",
            "3000",
            "--format",
            "csv",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("body 0 (coarse) stopped at output"), "{said}");
    stop(server);
    assert_verified(dir.path());
}

/// Heavy but within the work bound: each output step of the town-sized Sun's orbit
/// crosses some hundred orbits (a few thousand `dop853` steps), and a round holds tens
/// of thousands of output steps: one round keeps a worker for minutes.
fn one_round_takes_minutes() -> Value {
    json!({
        "model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 0.002,
        "central_body": {"mu_km3_s2": 1e12, "radius_km": 1, "j2": 0},
        "bodies": [{"name": "grind", "elements": {"a_km": 2, "e": 0}}]
    })
}

/// Starts the heavy run on `server` and waits until its worker has used half a second
/// of CPU on it (the round is under way).
fn grind(server: &Proc, address: &str) {
    let pid = server.0.id().to_string();
    let before = process::cpu_ticks(&pid);
    let (status, body) = post_run(address, &one_round_takes_minutes(), 1_000_000);
    assert_eq!(status, 202, "{body}");
    let started = Instant::now();
    while process::cpu_ticks(&pid) < before + 50 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn readyz_says_the_engine_is_stuck_while_a_round_outlasts_stall_after() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(dir.path(), &["--stall-after", "1"]);
    let (status, _) = http_get(&address, "/readyz").unwrap();
    assert_eq!(status, 200);
    grind(&server, &address);
    let started = Instant::now();
    let doc = loop {
        let (status, body) = http_get(&address, "/readyz").unwrap();
        if status == 503 {
            break json_of(&body);
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "/readyz never said stuck"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(doc["status"], "stuck", "{doc}");
    assert_eq!(doc["engine"]["status"], "stuck", "{doc}");
    assert!(
        doc["engine"]["reason"]
            .as_str()
            .unwrap()
            .contains("no round committed"),
        "{doc}"
    );
    // Alive all the same: logged runs are served.
    assert_eq!(http_get(&address, "/healthz").unwrap().0, 200);
}

#[test]
fn sigterm_ends_the_process_within_its_grace_while_a_worker_is_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, address) = serve(dir.path(), &["--shutdown-grace", "2"]);
    grind(&server, &address);
    process::signal(&server.0.id().to_string(), "-TERM");
    // The bound of the test is generous; the grace is the behaviour: the watchdog's
    // status says it ended the process because the worker did not stop.
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(30),
            "serve still running 30 s after SIGTERM with a 2 s grace"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        status.code(),
        Some(4),
        "the watchdog's status (fail-stop is 3)"
    );
    drop(server);
    assert_verified(dir.path());
}

/// A number as a hostile client writes one: ordinary, huge, tiny, negative, zero, or
/// not a number at all (strings JSON cannot hold as numbers).
fn wild_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (-20.0f64..20.0).prop_map(|x| json!(10f64.powf(x))),
        2 => (-1e5f64..1e5).prop_map(|x| json!(x)),
        1 => Just(json!(1e308)),
        1 => Just(json!(-1e308)),
        1 => Just(json!(5e-324)),
        1 => Just(json!(0)),
        1 => prop_oneof![Just("NaN"), Just("inf"), Just("-0"), Just("1e999"), Just("")]
            .prop_map(|s| json!(s)),
    ]
}

/// An eccentricity: ordinary, near 1 from below, 1 and past it, or wild.
fn wild_e() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (0.0f64..1.0).prop_map(|e| json!(e)),
        2 => (1.0f64..16.0).prop_map(|k| json!(1.0 - 10f64.powf(-k))),
        1 => Just(json!(1.0)),
        1 => wild_number(),
    ]
}

/// Periapsis and apoapsis (km) of an Earth orbit in the sane region: the periapsis
/// just clear of the surface (the region's floor, `RADIUS_KM`) up to four radii, the
/// apoapsis from there, log-uniformly, to just under the ceiling the semi-major axis
/// leaves it (`1000` radii: `a = (periapsis + apoapsis) / 2`).
fn sane_apsides() -> impl Strategy<Value = (f64, f64)> {
    ((1.001 * RADIUS_KM)..(4.0 * RADIUS_KM), 0.0f64..1.0).prop_map(|(periapsis, f)| {
        let ceiling = 0.999 * (2.0 * 1000.0 * RADIUS_KM - periapsis);
        (periapsis, periapsis * (ceiling / periapsis).powf(f))
    })
}

/// A body on an orbit of [`sane_apsides`]: by elements (any inclination and anomaly),
/// or by its state at periapsis (the velocity normal to the position, turned by any
/// angle about it).
fn sane_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        (sane_apsides(), 0.0f64..180.0, 0.0f64..360.0).prop_map(|((rp, ra), i, nu)| {
            let (a, e) = ((rp + ra) / 2.0, (ra - rp) / (ra + rp));
            json!({"elements": {"a_km": a, "e": e, "i_deg": i, "nu_deg": nu}})
        }),
        (sane_apsides(), 0.0f64..std::f64::consts::TAU).prop_map(|((rp, ra), turn)| {
            let a = (rp + ra) / 2.0;
            let speed = (MU * (2.0 / rp - 1.0 / a)).sqrt();
            json!({"state": [rp, 0, 0, 0, speed * turn.cos(), speed * turn.sin()]})
        }),
    ]
}

/// A body as a hostile client writes one: mostly [`sane_body`], now and then with wild
/// numbers (most of which the sane region refuses).
fn wild_body() -> impl Strategy<Value = Value> {
    prop_oneof![
        12 => sane_body(),
        1 => (
            prop_oneof![3 => (6500.0f64..50_000.0).prop_map(|a| json!(a)), 2 => wild_number()],
            wild_e(),
            (0.0f64..180.0),
            wild_number()
        )
            .prop_map(
                |(a, e, i, nu)| json!({"elements": {"a_km": a, "e": e, "i_deg": i, "nu_deg": nu}})
            ),
        1 => (
            prop_oneof![3 => (6000.0f64..20_000.0).prop_map(|x| json!(x)), 1 => wild_number()],
            prop_oneof![3 => (0.0f64..12.0).prop_map(|v| json!(v)), 1 => wild_number()],
            wild_number(),
        )
            .prop_map(|(x, vy, vz)| json!({"state": [x, 0, 0, 0, vy, vz]})),
    ]
}

/// A scenario as a hostile client writes one: each part mostly sane, now and then
/// wild, so that most scenarios are accepted and some are refused.
fn wild_scenario() -> impl Strategy<Value = Value> {
    (
        prop_oneof![12 => (1.0f64..3600.0).prop_map(|s| json!(s)), 1 => wild_number()],
        prop::collection::vec(wild_body(), 1..3),
        prop_oneof![
            8 => Just(json!({"method": "dop853"})),
            2 => (-12.0f64..-6.0).prop_map(|t| json!({"method": "dop853", "tolerance": 10f64.powf(t)})),
            2 => (1.0f64..30.0).prop_map(|s| json!({"method": "rk4", "step_s": s})),
            2 => (1.0f64..30.0).prop_map(|s| json!({"method": "yoshida4", "step_s": s})),
            1 => wild_number().prop_map(|t| json!({"method": "dop853", "tolerance": t})),
            1 => wild_number().prop_map(|s| json!({"method": "rk4", "step_s": s})),
            1 => wild_number().prop_map(|s| json!({"method": "yoshida4", "step_s": s})),
        ],
        prop_oneof![
            12 => Just(None),
            1 => (wild_number(), wild_number()).prop_map(|(mu, r)| Some(json!({"mu_km3_s2": mu, "radius_km": r}))),
        ],
        any::<bool>(),
    )
        .prop_map(|(step, bodies, integrator, central, j2)| {
            let mut doc = json!({
                "model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": step,
                "integrator": integrator, "bodies": bodies,
                "forces": if j2 { json!(["point_mass", "j2"]) } else { json!(["point_mass"]) },
            });
            if let Some(central) = central {
                doc["central_body"] = central;
            }
            doc
        })
}

/// Every number of a CSV body, after its header.
fn csv_numbers(csv: &[u8]) -> Vec<f64> {
    String::from_utf8_lossy(csv)
        .lines()
        .skip(1)
        .flat_map(|line| {
            line.split(',')
                .skip(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|field| field.parse::<f64>().unwrap_or(f64::NAN))
        .collect()
}

/// Random scenarios drawn.
const CASES: u32 = 48;

#[test]
fn random_scenarios_never_crash_the_service_nor_write_a_non_finite_number_nor_stop_another_job() {
    let dir = tempfile::tempdir().unwrap();
    let (server, address) = serve(dir.path(), &["--rate-limit", "100000"]);
    // Another job, long enough to run through the whole property.
    let nano = json!({"model": "nano", "seed": 5});
    let (status, body) = post_run(&address, &nano, 10_000_000);
    assert_eq!(status, 202, "{body}");
    let progress = || {
        let (_, body) = http_get(&address, "/api/runs/5/status").unwrap();
        json_of(&body)["iterations_done"].as_u64().unwrap()
    };
    let at_start = progress();
    let (accepted, refused) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    // The same draws on every run: a fixed generator, seeded.
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    runner
        .run(&(wild_scenario(), 1u64..6), |(scenario, steps)| {
            let (status, body) = post_run(&address, &scenario, steps);
            match status {
                400 => {
                    refused.set(refused.get() + 1);
                    let field = body["error"]["field"].as_str().unwrap_or("");
                    prop_assert!(
                        field.starts_with("scenario") || field == "steps",
                        "{body} for {scenario}"
                    );
                }
                200 | 202 => {
                    accepted.set(accepted.get() + 1);
                    let id = body["id"].as_str().unwrap().to_owned();
                    let end = settled(&address, &id, Duration::from_secs(60));
                    if end["status"] == "complete" {
                        let (status, csv) =
                            http_get(&address, &format!("/api/runs/{id}?format=csv")).unwrap();
                        prop_assert_eq!(status, 200);
                        let numbers = csv_numbers(&csv);
                        prop_assert!(!numbers.is_empty());
                        prop_assert!(
                            numbers.iter().all(|x| x.is_finite()),
                            "a non-finite number in the run of {}",
                            scenario
                        );
                    }
                }
                other => prop_assert!(false, "{other} {body} for {scenario}"),
            }
            Ok(())
        })
        .unwrap();
    let (accepted, refused) = (accepted.get(), refused.get());
    eprintln!("{accepted} scenarios accepted, {refused} refused");
    // Most draws are accepted (and each checked above), some refused.
    assert!(
        2 * accepted > CASES && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
    // The other job advanced all along (or completed).
    let (_, body) = http_get(&address, "/api/runs/5/status").unwrap();
    let end = json_of(&body);
    assert!(
        end["status"] == "complete" || progress() > at_start,
        "the nano run did not advance: {end}"
    );
    let (status, _) = http_get(&address, "/readyz").unwrap();
    assert_eq!(status, 200);
    stop(server);
    assert_verified(dir.path());
}
