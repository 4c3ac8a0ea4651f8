//! The runs API (`/api/runs...`): scenarios posted, refused by field, computed once,
//! served as the CLI writes them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use nano_pipeline::ephemeris::{self, OrbitFormat};
use nano_pipeline::scenario::{Scenario, ScenarioLimits};
use nano_testing::service::{
    get, memory_cache, post, run_id, service, service_in, service_with, serving, until_ready,
    Answer,
};
use nano_testing::tmpfs::Tmpfs;
use nano_web::{app, Limits};
use serde_json::{json, Value};

/// Two bodies on different orbits, one given by elements and one by state.
fn two_body(step: f64) -> Value {
    json!({
        "model": "orbit",
        "epoch": "2026-01-01T00:00:00Z",
        "output_step_s": step,
        "bodies": [
            {"name": "sat-1", "elements": {"a_km": 7200, "e": 0.1, "i_deg": 53}},
            {"name": "sat-2", "state": [7200, 0, 0, 0, 7.4, 0.5]}
        ]
    })
}

fn request(scenario: &Value, steps: u64) -> String {
    json!({"scenario": scenario, "steps": steps}).to_string()
}

/// Posts the run of `steps` steps of `scenario`: the service's answer.
async fn start(app: &axum::Router, scenario: &Value, steps: u64) -> Answer {
    post(app, "/api/runs", &request(scenario, steps), &[]).await
}

/// The run as the CLI's `propagate --scenario F --steps N --format F` writes it (the
/// reference computation, no log).
fn cli_output(scenario: &Value, steps: u64, format: OrbitFormat) -> Vec<u8> {
    let Scenario::Orbit(orbit) =
        Scenario::parse(&scenario.to_string(), &ScenarioLimits::default()).unwrap()
    else {
        unreachable!()
    };
    ephemeris::write_run(Vec::new(), format, &orbit, steps, "").unwrap()
}

fn error(body: &[u8]) -> Value {
    let doc: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    doc["error"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_broken_scenario_is_a_400_naming_its_field_and_nothing_is_logged() {
    let limits = Limits {
        max_steps: 1000,
        max_bodies: 3,
        ..Limits::default()
    };
    let s = service_with(memory_cache(), limits);
    let app = app(s.state.clone());
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut doc = two_body(60.0);
        edit(&mut doc);
        doc
    };
    let walker = |total: u64, planes: u64| json!({"i_deg": 53, "total": total, "planes": planes, "phasing": 0, "altitude_km": 550});
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown method",
            request(&with(&|d| d["integrator"] = json!({"method": "euler"})), 10),
            "scenario.integrator.method",
        ),
        (
            "e >= 1",
            request(&with(&|d| d["bodies"][0]["elements"]["e"] = json!(1.0)), 10),
            "scenario.bodies[0].elements.e",
        ),
        (
            "negative output step",
            request(&with(&|d| d["output_step_s"] = json!(-60)), 10),
            "scenario.output_step_s",
        ),
        (
            "negative integrator step",
            request(
                &with(&|d| d["integrator"] = json!({"method": "rk4", "step_s": -1})),
                10,
            ),
            "scenario.integrator.step_s",
        ),
        (
            "no bodies",
            request(&with(&|d| d["bodies"] = json!([])), 10),
            "scenario.bodies",
        ),
        (
            "more bodies than --max-bodies",
            request(
                &with(&|d| {
                    let body = d["bodies"][1].clone();
                    d["bodies"] = json!([body, body, body, body]);
                }),
                10,
            ),
            "scenario.bodies",
        ),
        (
            "a generated constellation past --max-bodies",
            request(&with(&|d| d["walker"] = walker(4, 2)), 10),
            "scenario.walker.total",
        ),
        (
            "unknown field",
            request(
                &with(&|d| d["integrator"] = json!({"method": "dop853", "tolerence": 1e-9})),
                10,
            ),
            "scenario.integrator.tolerence",
        ),
        (
            "bad epoch",
            request(&with(&|d| d["epoch"] = json!("2026-13-01T00:00:00Z")), 10),
            "scenario.epoch",
        ),
        (
            "walker total not a multiple of planes",
            request(
                &with(&|d| {
                    d["walker"] = walker(3, 2);
                    d["bodies"] = json!([]);
                }),
                10,
            ),
            "scenario.walker.total",
        ),
        ("steps 0", request(&two_body(60.0), 0), "steps"),
        (
            "steps over --max-steps",
            request(&two_body(60.0), 1001),
            "steps",
        ),
        (
            "steps negative",
            request(&two_body(60.0), 0).replace(":0}", ":-5}"),
            "steps",
        ),
        (
            "no steps",
            json!({"scenario": two_body(60.0)}).to_string(),
            "steps",
        ),
        ("no scenario", json!({"steps": 10}).to_string(), "scenario"),
        (
            "an unknown field of the request",
            json!({"scenario": two_body(60.0), "steps": 10, "workers": 4}).to_string(),
            "workers",
        ),
        ("not JSON", "{\"scenario\":".into(), "body"),
        (
            "a nano scenario without its seed",
            request(&json!({"model": "nano"}), 10),
            "scenario.seed",
        ),
    ];
    for (what, body, field) in &cases {
        let (status, headers, answer) = post(&app, "/api/runs", body, &[]).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            String::from_utf8_lossy(&answer)
        );
        assert_eq!(headers["content-type"], "application/json", "{what}");
        let error = error(&answer);
        assert_eq!(error["field"], *field, "{what}: {error}");
        let message = error["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{what}: {message}"
        );
        assert!(!error["rule"].as_str().unwrap().is_empty(), "{what}");
    }
    // A body not declared as JSON is refused before it is read.
    let response = tower::ServiceExt::oneshot(
        app.clone(),
        axum::http::Request::post("/api/runs")
            .header("content-type", "text/plain")
            .body(axum::body::Body::from(request(&two_body(60.0), 10)))
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // The good document under the same limits is accepted: the refusals were the edits.
    let (status, _, answer) = post(&app, "/api/runs", &request(&two_body(60.0), 10), &[]).await;
    assert!(
        status == StatusCode::ACCEPTED || status == StatusCode::OK,
        "{status} {}",
        String::from_utf8_lossy(&answer)
    );
    let id = run_id(&answer);
    until_ready(&app, &format!("/api/runs/{id}")).await;
    let catalog = s.state.log.catalog().unwrap();
    assert_eq!(catalog.len(), 1, "only the good run is logged: {catalog:?}");
    assert_eq!(s.state.metrics.jobs_started.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_body_run_is_accepted_then_served_as_the_cli_writes_it() {
    let (s, app) = serving(memory_cache());
    let scenario = two_body(30.0);
    // Forty blocks: still running when the answer comes.
    let steps = 20_000;
    let (status, headers, body) = start(&app, &scenario, steps).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let started: Value = serde_json::from_slice(&body).unwrap();
    let id = started["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert_eq!(headers["location"], format!("/api/runs/{id}"));
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(started["model"], "orbit");
    assert_eq!(started["steps"], steps);
    assert_eq!(started["bodies"], 2);
    assert_eq!(started["output_step_s"], 30.0);
    assert_eq!(started["epoch"], "2026-01-01T00:00:00Z");
    assert_eq!(started["names"], json!(["sat-1", "sat-2"]));
    assert_eq!(started["scenario"]["integrator"]["method"], "dop853");
    assert_eq!(started["links"]["self"], format!("/api/runs/{id}"));
    assert_eq!(started["links"]["events"], format!("/api/runs/{id}/events"));
    assert_eq!(started["links"]["page"], format!("/runs/{id}"));
    assert!(
        started["status"] == "running" || started["status"] == "complete",
        "{started}"
    );

    let json_bytes = until_ready(&app, &format!("/api/runs/{id}")).await;
    let want = cli_output(&scenario, steps, OrbitFormat::Json);
    assert!(
        json_bytes == want,
        "the JSON differs from the CLI's ({} bytes, the CLI's {})",
        json_bytes.len(),
        want.len()
    );
    let (status, headers, csv) = get(&app, &format!("/api/runs/{id}?format=csv")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv == cli_output(&scenario, steps, OrbitFormat::Csv),
        "the CSV differs"
    );
    assert_eq!(
        String::from_utf8(csv).unwrap().lines().count() as u64,
        1 + 2 * (steps + 1)
    );

    let (status, _, body) = get(&app, &format!("/api/runs/{id}/status")).await;
    assert_eq!(status, StatusCode::OK);
    let done: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(done["status"], "complete");
    assert_eq!(done["iterations_done"], steps);
    // Asked again: the log holds it, 200 and nothing new computed.
    let (status, headers, _) = start(&app, &scenario, steps).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["location"], format!("/api/runs/{id}"));
    assert_eq!(s.state.metrics.jobs_started.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn points_keep_at_most_k_output_times_per_body_with_the_first_and_last() {
    let (_s, app) = serving(memory_cache());
    let scenario = two_body(60.0);
    let steps = 1000;
    let (_, _, body) = start(&app, &scenario, steps).await;
    let id = run_id(&body);
    let all =
        String::from_utf8(until_ready(&app, &format!("/api/runs/{id}?format=csv")).await).unwrap();
    let rows: Vec<&str> = all.lines().skip(1).collect();
    for points in [2u64, 7, 100, 1001, 5000] {
        let (status, _, body) =
            get(&app, &format!("/api/runs/{id}?format=csv&points={points}")).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(body).unwrap();
        let kept: Vec<&str> = text.lines().skip(1).collect();
        let times: Vec<f64> = kept
            .iter()
            .step_by(2)
            .map(|l| l.split(',').next().unwrap().parse().unwrap())
            .collect();
        assert!(times.len() as u64 <= points, "{points}: {}", times.len());
        if points > steps {
            assert_eq!(times.len() as u64, steps + 1, "{points}: all fit");
        } else {
            // The stride is the smallest that keeps at most `points`: one less keeps
            // more.
            let stride = ((times[1] - times[0]) / 60.0) as u64;
            let kept = |m: u64| steps / m + 1 + u64::from(!steps.is_multiple_of(m));
            assert_eq!(kept(stride), times.len() as u64, "{points}");
            assert!(
                stride == 1 || kept(stride - 1) > points,
                "{points}: {stride}"
            );
        }
        assert_eq!(times[0], 0.0);
        assert_eq!(*times.last().unwrap(), steps as f64 * 60.0);
        // Every kept row is the whole run's row at that time, both bodies.
        for row in &kept {
            assert!(rows.contains(row), "{points}: {row} is not in the run");
        }
        let every = times[1] - times[0];
        assert!(
            times.windows(2).rev().skip(1).all(|w| w[1] - w[0] == every),
            "{points}: evenly spaced but for the last"
        );
    }
    let (_, _, json_body) = get(&app, &format!("/api/runs/{id}?points=3")).await;
    let doc: Value = serde_json::from_slice(&json_body).unwrap();
    assert_eq!(doc["records"].as_array().unwrap().len(), 3 * 2);
    for bad in ["points=1", "points=x", "format=xml"] {
        let (status, _, body) = get(&app, &format!("/api/runs/{id}?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        let field = bad.split('=').next().unwrap();
        assert_eq!(error(&body)["field"], field, "{bad}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn posting_needs_the_token_when_one_is_set_and_takes_from_the_rate_limit() {
    let s = service(memory_cache());
    let state = s
        .state
        .clone()
        .with_access(nano_web::access::Access::new(Some("s3cret".into()), 2));
    let app = app(state.clone());
    let body = request(&two_body(60.0), 100);
    let (status, headers, answer) = post(&app, "/api/runs", &body, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert!(error(&answer)["message"]
        .as_str()
        .unwrap()
        .contains("Bearer"));
    let (status, _, _) = post(&app, "/api/runs?access_token=wrong", &body, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        s.state.log.catalog().unwrap().is_empty(),
        "refused requests log nothing"
    );
    assert_eq!(state.metrics.jobs_started.load(Ordering::Relaxed), 0);

    let bearer = [("authorization", "Bearer s3cret")];
    let (status, _, answer) = post(&app, "/api/runs", &body, &bearer).await;
    // A run of one block may be logged before the answer: 200 then.
    assert!(
        status == StatusCode::ACCEPTED || status == StatusCode::OK,
        "{status} {}",
        String::from_utf8_lossy(&answer)
    );
    let id = run_id(&answer);
    // Reading needs no token.
    until_ready(&app, &format!("/api/runs/{id}")).await;
    let (status, _, _) = get(&app, &format!("/api/runs/{id}/status")).await;
    assert_eq!(status, StatusCode::OK);

    let other = request(&two_body(61.0), 100);
    let (status, _, _) = post(&app, "/api/runs?access_token=s3cret", &other, &[]).await;
    assert!(
        status == StatusCode::ACCEPTED || status == StatusCode::OK,
        "the query token works too: {status}"
    );
    let third = request(&two_body(62.0), 100);
    let (status, headers, answer) = post(&app, "/api/runs", &third, &bearer).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(headers.contains_key("retry-after"));
    // Asking for a logged run again is not new computation: no token, no allowance.
    let (status, _, _) = post(&app, "/api/runs", &body, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state.metrics.jobs_started.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_posts_of_one_scenario_start_one_job_and_events_end_with_complete() {
    let (s, app) = serving(memory_cache());
    let body = request(&two_body(10.0), 20_000);
    let (a, b) = tokio::join!(
        post(&app, "/api/runs", &body, &[]),
        post(&app, "/api/runs", &body, &[])
    );
    assert_eq!(a.0, StatusCode::ACCEPTED);
    assert!(b.0 == StatusCode::ACCEPTED || b.0 == StatusCode::OK);
    let id = run_id(&a.2);
    assert_eq!(
        serde_json::from_slice::<Value>(&b.2).unwrap()["id"],
        id.as_str()
    );
    let (status, headers, events) = get(&app, &format!("/api/runs/{id}/events")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    let text = String::from_utf8(events).unwrap();
    assert!(text.starts_with("event: progress\n"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("event: complete\ndata: {\"iterations_done\":20000,\"steps\":20000}"),
        "{text}"
    );
    assert_eq!(s.state.metrics.jobs_started.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_ids_are_404_and_malformed_ones_400_naming_the_id() {
    let (s, app) = serving(memory_cache());
    for route in ["", "/status", "/events"] {
        for id in ["00000000000000000000000000000000", "12345"] {
            let (status, _, body) = get(&app, &format!("/api/runs/{id}{route}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{id}{route}");
            assert!(error(&body)["message"].as_str().unwrap().contains(id));
        }
        for id in [
            "xyz",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "0000000000000000000000000000000g",
            "ABCDEF00000000000000000000000000",
            "-1",
            // Seed 0 and seed 5 in spellings `Display` never writes.
            "0000000000000000000000000000000",
            "005",
            "+5",
        ] {
            let (status, _, body) = get(&app, &format!("/api/runs/{id}{route}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{id}{route}");
            assert_eq!(error(&body)["field"], "id", "{id}{route}");
        }
    }
    assert!(s.state.log.catalog().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nano_scenario_is_the_run_of_its_seed_byte_for_byte() {
    let (s, app) = serving(memory_cache());
    let body = request(&json!({"model": "nano", "seed": 5}), 3000);
    let (status, headers, answer) = post(&app, "/api/runs", &body, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["location"], "/api/runs/5");
    let started: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(started["model"], "nano");
    assert_eq!(started["id"], "5");
    assert_eq!(started["links"]["page"], "/propagate/3000?seed=5");
    let by_id = until_ready(&app, "/api/runs/5").await;
    let by_seed = until_ready(&app, "/api/propagate/3000?seed=5").await;
    assert!(by_id == by_seed, "the JSON differs");
    let doc: Value = serde_json::from_slice(&by_id).unwrap();
    assert_eq!(
        (doc["n"].as_u64(), doc["seed"].as_u64()),
        (Some(3000), Some(5))
    );
    for query in ["format=csv", "points=50"] {
        let (_, _, a) = get(&app, &format!("/api/runs/5?{query}")).await;
        let (_, _, b) = get(&app, &format!("/api/propagate/3000?seed=5&{query}")).await;
        assert!(a == b, "{query} differs");
    }
    let (status, _, body) = get(&app, "/api/runs/5?format=oem").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&body)["field"], "format");
    assert_eq!(s.state.metrics.jobs_started.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scenario_over_16_kib_is_taken_and_one_over_1_mib_is_413() {
    let (_s, app) = serving(memory_cache());
    let listed = |n: usize| {
        let bodies: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("debris-{i:05}"), "elements": {"a_km": 7000 + i, "e": 0.01}}))
            .collect();
        let mut doc = two_body(60.0);
        doc["bodies"] = json!(bodies);
        request(&doc, 2)
    };
    let big = listed(400);
    assert!(
        big.len() > 16 * 1024 && big.len() < 1 << 20,
        "{}",
        big.len()
    );
    let (status, _, answer) = post(&app, "/api/runs", &big, &[]).await;
    // A run of two steps may be logged before the answer: 200 then.
    assert!(
        status == StatusCode::ACCEPTED || status == StatusCode::OK,
        "{status} {}",
        String::from_utf8_lossy(&answer[..answer.len().min(300)])
    );

    let started: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(started["bodies"], 400);
    let too_big = listed(20_000);
    assert!(too_big.len() > 1 << 20, "{}", too_big.len());
    let (status, _, answer) = post(&app, "/api/runs", &too_big, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(!error(&answer)["message"].as_str().unwrap().is_empty());
    // Every other route keeps 16 KiB.
    let (status, _, _) = post(&app, "/api/runs/5/status", &big, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// The lines of an OEM but its `CREATION_DATE`, which says when it was written.
fn without_creation_date(oem: &[u8]) -> Vec<String> {
    String::from_utf8(oem.to_vec())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("CREATION_DATE = "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_oem_of_a_logged_run_is_the_reference_oem_but_for_its_creation_date() {
    let (_s, app) = serving(memory_cache());
    let scenario = two_body(20.0);
    // Blocks of 500 steps: the tracks cross a block.
    let steps = 1200;
    let (_, _, body) = start(&app, &scenario, steps).await;
    let id = run_id(&body);
    let oem = until_ready(&app, &format!("/api/runs/{id}?format=oem")).await;
    let want = cli_output(&scenario, steps, OrbitFormat::Oem);
    let (got, want) = (without_creation_date(&oem), without_creation_date(&want));
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the OEM differs from the reference");
    let text = String::from_utf8(oem).unwrap();
    let created = text
        .lines()
        .find_map(|l| l.strip_prefix("CREATION_DATE = "))
        .expect("a CREATION_DATE");
    assert_eq!(created.len(), "2026-11-29T12:00:00.000".len(), "{created}");
    assert_eq!(text.matches("META_START").count(), 2);

    let (status, headers, decimated) =
        get(&app, &format!("/api/runs/{id}?format=oem&points=10")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    let decimated = String::from_utf8(decimated).unwrap();
    for segment in decimated.split("META_START\n").skip(1) {
        let data: Vec<&str> = segment
            .split("META_STOP\n")
            .nth(1)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .collect();
        assert!(data.len() <= 10 && data.len() >= 5, "{}", data.len());
        assert!(
            data[0].starts_with("2026-01-01T00:00:00.000 "),
            "{}",
            data[0]
        );
        assert!(
            data.last().unwrap().starts_with("2026-01-01T06:40:00.000 "),
            "t = 24,000 s"
        );
        for line in &data {
            assert!(want.contains(&line.to_string()), "{line} is not in the run");
        }
    }
}

/// `bodies` bodies on nearby orbits: enough work that a run of a few blocks takes a
/// while.
fn swarm(bodies: usize) -> Value {
    let listed: Vec<Value> = (0..bodies)
        .map(|i| json!({"name": format!("sat-{i:03}"), "elements": {"a_km": 7000 + 10 * i, "e": 0.01}}))
        .collect();
    let mut doc = two_body(60.0);
    doc["bodies"] = json!(listed);
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stopped_short_is_a_409_saying_how_far_the_log_holds_it() {
    // A volume with room for a block or two of the run (beside the log's 4 MiB
    // ballast and 4 MiB reserve): the job fails when the next block does not fit.
    let parent = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(parent.path().join("disk"), "16m");
    let s = service_in(tempfile::tempdir_in(disk.path()).unwrap(), memory_cache());
    let scenario = swarm(100);
    let steps = 20_000;
    let (status, _, answer) = post(
        &app(s.state.clone()),
        "/api/runs",
        &request(&scenario, steps),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let id = run_id(&answer);
    let key = nano_pipeline::RunKey::orbit(nano_store::RunId(
        u128::from_str_radix(&id, 16).unwrap().to_be_bytes(),
    ));
    // A client polling Location hears 202 while the job runs, then the truth.
    let mut answer = None;
    for _ in 0..3000 {
        let (status, headers, body) = get(&app(s.state.clone()), &format!("/api/runs/{id}")).await;
        if status != StatusCode::ACCEPTED {
            answer = Some((status, headers, body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answer = answer.expect("still 202 after 30 s");
    let held = s
        .state
        .log
        .entry(key)
        .unwrap()
        .expect("a block logged")
        .iterations;
    assert!(
        held > 0 && held < steps,
        "the log holds {held} of {steps} steps: the run was not stopped short"
    );
    assert_stopped(answer, &id, held, steps);

    // A fresh process over that log: the volume is still full, so nothing resumes the
    // run, and asking again says so (it used to be 202 for ever).
    let s = s.restart(memory_cache());
    let app = app(s.state.clone());
    assert_eq!(s.state.log.entry(key).unwrap().unwrap().iterations, held);
    for _ in 0..3 {
        assert_stopped(
            get(&app, &format!("/api/runs/{id}")).await,
            &id,
            held,
            steps,
        );
    }
    let (status, _, body) = get(&app, &format!("/api/runs/{id}/status")).await;
    assert_eq!(status, StatusCode::OK);
    let known: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(known["status"], "stopped");
    assert_eq!(known["iterations_done"], held);
    assert_eq!(s.state.metrics.jobs_started.load(Ordering::Relaxed), 0);
}

/// The 409 of a stopped run: named, how far the log holds it, how to continue it, and
/// its status object.
fn assert_stopped(
    (status, headers, body): (StatusCode, axum::http::HeaderMap, Vec<u8>),
    id: &str,
    held: u64,
    steps: u64,
) {
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        headers.get("retry-after").is_none(),
        "waiting will not help"
    );
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains(id), "{message}");
    assert!(message.contains("is stopped"), "{message}");
    assert!(
        message.contains(&format!("{held} of its {steps} steps")),
        "{message}"
    );
    assert!(message.contains("POST /api/runs"), "{message}");
    assert_eq!(doc["run"]["status"], "stopped");
    assert_eq!(doc["run"]["iterations_done"], held);
    assert_eq!(doc["run"]["steps"], steps);
    assert_eq!(doc["run"]["id"], id);
}
