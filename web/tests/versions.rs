//! Manoeuvres, versions and conjunctions through the handlers (tower's `oneshot`):
//! every bad request is a 4xx with a JSON body naming what was wrong, and nothing is
//! logged for it; manoeuvres of one run posted at once make versions that follow each
//! other; a screening too large to keep a screener of is screened in windows, to the
//! brute force's answer, and after a manoeuvre from its parent's screening, to the
//! brute force's answer on the new states.

use std::time::Duration;

use axum::http::StatusCode;
use nano_testing::service::{
    get, memory_cache, post, run_id, screened, service, serving, until_ready,
};
use nano_web::app;
use nano_web::budget::MemoryBudget;
use serde_json::{json, Value};

/// Three bodies, one output every `step` s (each step its own run).
fn scenario(step: f64) -> Value {
    json!({
        "model": "orbit",
        "epoch": "2026-01-01T00:00:00Z",
        "output_step_s": step,
        "bodies": [
            {"name": "a", "elements": {"a_km": 7000, "e": 0.01, "i_deg": 10}},
            {"name": "b", "elements": {"a_km": 7000, "e": 0.01, "i_deg": 80}},
            {"name": "c", "elements": {"a_km": 7100, "e": 0.02, "i_deg": 45, "raan_deg": 60}}
        ]
    })
}

/// Starts the run of `steps` steps and returns its id once it is complete.
async fn complete_run(app: &axum::Router, steps: u64, step: f64) -> String {
    let body = json!({"scenario": scenario(step), "steps": steps}).to_string();
    let (status, _, answer) = post(app, "/api/runs", &body, &[]).await;
    assert!(status.is_success(), "{}", String::from_utf8_lossy(&answer));
    let id = run_id(&answer);
    until_ready(app, &format!("/api/runs/{id}?format=csv")).await;
    id
}

fn error(status: StatusCode, body: &[u8], what: &str) -> Value {
    let doc: Value = serde_json::from_slice(body).unwrap_or_else(|_| {
        panic!(
            "{what}: {status} not JSON: {}",
            String::from_utf8_lossy(body)
        )
    });
    doc["error"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_manoeuvre_or_read_is_a_4xx_naming_its_field_and_nothing_is_logged() {
    let (s, app) = serving(memory_cache());
    let id = complete_run(&app, 100, 60.0).await;
    let manoeuvres = format!("/api/runs/{id}/manoeuvres");
    // t_end = 100 x 60 s.
    // One line a case: what, the body posted, the field the 400 names.
    #[rustfmt::skip]
    let cases: Vec<(&str, &str, &str)> = vec![
        ("not JSON",            "{",                                                     "body"),
        ("not an object",       "[1, 2]",                                                "body"),
        ("no body",             r#"{"t": 10, "dv_kms": [0, 0, 0]}"#,                     "body"),
        ("body past the last",  r#"{"body": 3, "t": 10, "dv_kms": [0, 0, 0]}"#,          "body"),
        ("negative body",       r#"{"body": -1, "t": 10, "dv_kms": [0, 0, 0]}"#,         "body"),
        ("body as text",        r#"{"body": "a", "t": 10, "dv_kms": [0, 0, 0]}"#,        "body"),
        ("no t",                r#"{"body": 0, "dv_kms": [0, 0, 0]}"#,                   "t"),
        ("negative t",          r#"{"body": 0, "t": -1, "dv_kms": [0, 0, 0]}"#,          "t"),
        ("t at the end",        r#"{"body": 0, "t": 6000, "dv_kms": [0, 0, 0]}"#,        "t"),
        ("t as text",           r#"{"body": 0, "t": "10", "dv_kms": [0, 0, 0]}"#,        "t"),
        ("no dv",               r#"{"body": 0, "t": 10}"#,                               "dv_kms"),
        ("two components",      r#"{"body": 0, "t": 10, "dv_kms": [0, 0]}"#,             "dv_kms"),
        ("dv not a list",       r#"{"body": 0, "t": 10, "dv_kms": 1}"#,                  "dv_kms"),
        ("a component as text", r#"{"body": 0, "t": 10, "dv_kms": [0, 0, "x"]}"#,        "dv_kms[2]"),
        ("over 10 km/s",        r#"{"body": 0, "t": 10, "dv_kms": [8, 6, 0.1]}"#,        "dv_kms"),
        ("an unknown field",    r#"{"body": 0, "t": 10, "dv_kms": [0, 0, 0], "dt": 1}"#, "dt"),
    ];
    for (what, body, field) in cases {
        let (status, _, answer) = post(&app, &manoeuvres, body, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        let e = error(status, &answer, what);
        assert_eq!(e["field"], field, "{what}: {e}");
        assert!(!e["rule"].as_str().unwrap().is_empty(), "{what}");
    }
    let good = r#"{"body": 0, "t": 10, "dv_kms": [0, 0.01, 0]}"#;
    // Each a 400 naming the field.
    #[rustfmt::skip]
    let reads: Vec<(String, &str)> = vec![
        (format!("/api/runs/{id}/conjunctions?d=0"),         "d"),
        (format!("/api/runs/{id}/conjunctions?d=100.5"),     "d"),
        (format!("/api/runs/{id}/conjunctions?d=x"),         "d"),
        (format!("/api/runs/{id}/conjunctions?version=-1"),  "version"),
        (format!("/api/runs/{id}/conjunctions?format=xml"),  "format"),
        (format!("/api/runs/{id}/conjunctions?limit=10001"), "limit"),
        (format!("/api/runs/{id}/conjunctions?offset=-1"),   "offset"),
        (format!("/api/runs/{id}/screenings/x"),             "job"),
        (format!("/api/runs/{id}/conjunctions/events?d=-5"), "d"),
        (format!("/api/runs/{id}/states?t=0&version=x"),     "version"),
        (format!("/api/runs/{id}/bodies/0?version=1.5"),     "version"),
        ("/api/runs/5/conjunctions".into(),                  "id"),
        ("/api/runs/xyz/versions".into(),                    "id"),
    ];
    for (uri, field) in reads {
        let (status, _, answer) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(error(status, &answer, &uri)["field"], field, "{uri}");
    }
    // Bad screenings: 400 naming the field, 404 for a version the run lacks.
    let screenings = format!("/api/runs/{id}/screenings");
    #[rustfmt::skip]
    let posts: Vec<(&str, &str)> = vec![
        (r#"{"d": 0}"#,            "d"),
        (r#"{"d": 100.5}"#,        "d"),
        (r#"{"d": "5"}"#,          "d"),
        (r#"{"version": -1}"#,     "version"),
        (r#"{"distance": 5}"#,     "distance"),
        ("[5]",                    "body"),
    ];
    for (body, field) in posts {
        let (status, _, answer) = post(&app, &screenings, body, &[]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(error(status, &answer, body)["field"], field, "{body}");
    }
    let (status, _, answer) = post(&app, &screenings, r#"{"version": 1}"#, &[]).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // Reads that name a body or job the run lacks.
    let (status, _, answer) = get(&app, &format!("/api/runs/{id}/screenings/77")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // A version that does not exist: 404 naming the latest.
    for uri in [
        format!("/api/runs/{id}/conjunctions?version=1"),
        format!("/api/runs/{id}/states?t=0&version=1"),
        format!("/api/runs/{id}/bodies/0?version=7"),
    ] {
        let (status, _, answer) = get(&app, &uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        let message = error(status, &answer, &uri)["message"].to_string();
        assert!(message.contains("the latest is 0"), "{uri}: {message}");
    }
    // Manoeuvres of a nano run, of an unknown run, or sent as another type.
    let (status, _, answer) = post(&app, "/api/runs/5/manoeuvres", good, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(status, &answer, "nano")["field"], "id");
    let unknown = "/api/runs/00000000000000000000000000000000/manoeuvres";
    let (status, _, _) = post(&app, unknown, good, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let plain = axum::http::Request::post(&manoeuvres)
        .header("content-type", "text/plain")
        .body(axum::body::Body::from(good))
        .unwrap();
    let response = tower::ServiceExt::oneshot(app.clone(), plain)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Nothing was logged for any of them.
    let (_, _, listed) = get(&app, &format!("/api/runs/{id}/versions")).await;
    let listed: Value = serde_json::from_slice(&listed).unwrap();
    assert_eq!(listed["latest"], 0);
    assert_eq!(listed["versions"], json!([{"version": 0}]));
    assert!(s.state.log.verify().unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_still_computing_takes_no_manoeuvre() {
    let (_s, app) = serving(memory_cache());
    // Long enough to be still running when the manoeuvre comes, on any machine: the
    // polls below are 10 ms apart, the run some seconds long (it ends with the test
    // binary, whose other tests take longer).
    let body = json!({"scenario": scenario(60.0), "steps": 2_000_000}).to_string();
    let (status, _, answer) = post(&app, "/api/runs", &body, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = run_id(&answer);
    let good = r#"{"body": 0, "t": 10, "dv_kms": [0, 0.01, 0]}"#;
    let uri = format!("/api/runs/{id}/manoeuvres");
    // Until its first block is logged it is unknown (404); then computing (409).
    let mut said = String::new();
    for _ in 0..500 {
        let (status, _, answer) = post(&app, &uri, good, &[]).await;
        if status == StatusCode::CONFLICT {
            said = error(status, &answer, "computing")["message"].to_string();
            break;
        }
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(said.contains("still being computed"), "{said}");
    let (status, _, _) = get(&app, &format!("/api/runs/{id}/conjunctions")).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread")]
async fn manoeuvres_posted_at_once_make_versions_that_follow_each_other() {
    let (s, app) = serving(memory_cache());
    let id = complete_run(&app, 200, 60.0).await;
    let uri = format!("/api/runs/{id}/manoeuvres");
    let posts: Vec<_> = (0..6)
        .map(|i| {
            let (app, uri) = (app.clone(), uri.clone());
            tokio::spawn(async move {
                let body = json!({"body": i % 3, "t": 100.0 * i as f64 + 7.5, "dv_kms": [0.001 * (i + 1) as f64, 0, 0]});
                post(&app, &uri, &body.to_string(), &[]).await
            })
        })
        .collect();
    let mut made = Vec::new();
    for p in posts {
        let (status, headers, answer) = p.await.unwrap();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        let v = answer["version"].as_u64().unwrap();
        assert_eq!(answer["parent"], v - 1);
        assert_eq!(headers["location"], format!("/api/runs/{id}?version={v}"));
        made.push(v);
    }
    made.sort_unstable();
    assert_eq!(made, [1, 2, 3, 4, 5, 6]);
    let (_, _, listed) = get(&app, &format!("/api/runs/{id}/versions")).await;
    let listed: Value = serde_json::from_slice(&listed).unwrap();
    assert_eq!(listed["latest"], 6);
    let report = s.state.log.verify().unwrap();
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.versions, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_screening_too_large_to_keep_is_screened_in_windows_to_the_brute_forces_answer() {
    let budget = MemoryBudget::megabytes(128).unwrap();
    let s = service(memory_cache());
    let state = s.state.clone().with_budget(budget);
    let app = app(state.clone());
    // 3 bodies x 10,001 outputs at 640 bytes is past the 16 MB share: windowed.
    let id = complete_run(&app, 10_000, 60.0).await;
    let job = screened(&app, &id, 50.0, None).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["windowed"], true, "{job}");
    // Nothing held once it ended, and no screener kept.
    assert_eq!(state.screenings.in_use(), 0);
    assert_eq!(state.screenings.kept_count(), 0);
    let (status, headers, answer) = get(
        &app,
        &format!("/api/runs/{id}/conjunctions?d=50&limit=10000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-screened-km"], "50");
    let doc: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(doc["count"], job["count"]);
    // The brute force over every pair and interval of the logged states.
    let run = nano_pipeline::runs::LoggedRun::open(&state.log, id.parse().unwrap()).unwrap();
    let want = brute_force(&state.log, &run, nano_pipeline::runs::Overlay::default());
    assert!(!want.is_empty());
    assert_eq!(quadruples(&doc), want);

    // A manoeuvre of body 1 mid-run: the new version is screened from the parent's
    // kept screening (body 1's pairs from the manoeuvre on), to the brute force's
    // answer on the new states, bit for bit.
    let made = json!({"body": 1, "t": 300_000.0, "dv_kms": [0.0, 0.02, 0.01]}).to_string();
    let (status, _, answer) = post(&app, &format!("/api/runs/{id}/manoeuvres"), &made, &[]).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let job = screened(&app, &id, 50.0, Some(1)).await;
    assert_eq!(job["state"], "done", "{job}");
    let (_, _, list) = get(&app, &format!("/api/runs/{id}/screenings")).await;
    let list: Value = serde_json::from_slice(&list).unwrap();
    let jobs = list["jobs"].as_array().unwrap();
    let again = jobs
        .iter()
        .find(|j| j["version"] == 1)
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(again["incremental"], true, "{again}");
    let (status, _, answer) = get(
        &app,
        &format!("/api/runs/{id}/conjunctions?d=50&version=1&limit=10000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&answer).unwrap();
    let versions = state.log.versions(run.key).unwrap();
    let overlay = nano_pipeline::runs::Overlay::new(versions, run.step());
    let want1 = brute_force(&state.log, &run, overlay);
    assert_ne!(want1, want, "the manoeuvre changed no conjunction");
    assert_eq!(quadruples(&doc), want1);

    // A shorter run of the same service fits: screened at once, its screener kept.
    let id = complete_run(&app, 1_000, 30.0).await;
    let job = screened(&app, &id, 5.0, None).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["windowed"], false, "{job}");
    assert_eq!(state.screenings.kept_count(), 1);
}

type Quadruple = (u64, u64, f64, f64);

/// The brute force at 50 km over every pair and interval of the three bodies' 10,001
/// logged states as `overlay` makes them, closest first.
fn brute_force(
    log: &nano_store::Log,
    run: &nano_pipeline::runs::LoggedRun,
    mut overlay: nano_pipeline::runs::Overlay,
) -> Vec<Quadruple> {
    let bodies: Vec<_> = (0..3)
        .map(|b| run.body_states(log, &mut overlay, b, 0..10_001).unwrap())
        .collect();
    let mut want = nano_pipeline::screening::oracle::screen(&bodies, 50.0);
    nano_pipeline::screening::report::by_miss(&mut want);
    want.iter()
        .map(|c| (u64::from(c.a), u64::from(c.b), c.tca_s, c.miss_km))
        .collect()
}

/// An answer's conjunctions as `(a, b, tca_s, miss_km)`, in its order.
fn quadruples(doc: &Value) -> Vec<Quadruple> {
    doc["conjunctions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["a"].as_u64().unwrap(),
                c["b"].as_u64().unwrap(),
                c["tca_s"].as_f64().unwrap(),
                c["miss_km"].as_f64().unwrap(),
            )
        })
        .collect()
}
