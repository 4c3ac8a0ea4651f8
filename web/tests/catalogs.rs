//! `/api/catalogs` through the service's router (no sockets): catalogue files kept by
//! their content hash, listed and read back, refused with a reason and nothing kept,
//! and still there after a restart on the same log.

use std::io::Write;
use std::process::{Command, Stdio};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use nano_testing::service::{get, memory_cache, send, service, Answer};
use nano_testing::tle::{self, catalogue, FIRST_NUMBER};
use nano_web::app;
use serde_json::Value;

/// POSTs `bytes` to `uri` as `content_type`.
async fn upload(app: &Router, uri: &str, bytes: Vec<u8>, content_type: &str) -> Answer {
    let request = Request::post(uri)
        .header("content-type", content_type)
        .header("content-length", bytes.len())
        .body(Body::from(bytes))
        .unwrap();
    send(app, request).await
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// The first 16 bytes of the SHA-256 of `bytes` in hex, by coreutils' `sha256sum`:
/// an oracle that shares no code with the service.
fn sha256_id(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..32].to_owned()
}

/// `n` good element sets and, after them, one whose second line's checksum is wrong.
fn with_one_bad(n: usize) -> String {
    let mut text = catalogue(n);
    let bad = tle::element_set(
        "BROKEN",
        FIRST_NUMBER + n as u32,
        1.0,
        [51.6, 10.0, 0.001, 20.0, 30.0, 15.5],
    );
    let mut lines: Vec<String> = bad.lines().map(str::to_owned).collect();
    let last = lines[2].pop().unwrap();
    lines[2].push(char::from_digit((last.to_digit(10).unwrap() + 1) % 10, 10).unwrap());
    text.push_str(&(lines.join("\n") + "\n"));
    text
}

fn kept(s: &nano_testing::service::Service) -> usize {
    s.state.log.element_files().unwrap().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_is_kept_by_its_content_hash_and_the_same_bytes_again_are_the_same_catalogue() {
    let s = service(memory_cache());
    let app = app(s.state.clone());
    let file = with_one_bad(300);
    let (status, headers, body) = upload(
        &app,
        "/api/catalogs",
        file.clone().into_bytes(),
        "text/plain",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let answer = json(&body);
    let id = sha256_id(file.as_bytes());
    assert_eq!(answer["id"], id.as_str());
    assert_eq!(headers["location"], format!("/api/catalogs/{id}").as_str());
    assert_eq!(answer["format"], "tle");
    assert_eq!(answer["objects"], 300);
    assert_eq!(answer["bytes"], file.len());
    assert_eq!(answer["refused_count"], 1);
    let refused = &answer["refused"][0];
    assert!(
        refused["object"].as_str().unwrap().contains("40300"),
        "{refused}"
    );
    assert!(
        refused["rule"].as_str().unwrap().contains("checksum")
            || refused["field"].as_str().unwrap().contains("checksum"),
        "{refused}"
    );
    assert_eq!(kept(&s), 1);
    assert_eq!(
        s.state.log.element_file(hex(&id)).unwrap().unwrap(),
        file.as_bytes(),
        "the log keeps the file's bytes"
    );

    // The same bytes again (named as TLE this time): the same catalogue, 200.
    let (status, headers, again) = upload(
        &app,
        "/api/catalogs?format=tle",
        file.clone().into_bytes(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["location"], format!("/api/catalogs/{id}").as_str());
    assert_eq!(json(&again), answer);
    assert_eq!(kept(&s), 1);

    // Other bytes are another catalogue.
    let (status, _, other) = upload(
        &app,
        "/api/catalogs",
        catalogue(5).into_bytes(),
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(json(&other)["id"], answer["id"]);
    assert_eq!(kept(&s), 2);
}

fn hex(id: &str) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap();
    }
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn kept_catalogues_are_listed_and_read_back_a_page_of_objects_at_a_time() {
    let s = service(memory_cache());
    let app = app(s.state.clone());
    let (_, _, body) = upload(
        &app,
        "/api/catalogs",
        catalogue(300).into_bytes(),
        "text/plain",
    )
    .await;
    let id = json(&body)["id"].as_str().unwrap().to_owned();
    let (_, _, body) = upload(
        &app,
        "/api/catalogs",
        with_one_bad(2).into_bytes(),
        "text/plain",
    )
    .await;
    let small = json(&body)["id"].as_str().unwrap().to_owned();

    let (status, _, body) = get(&app, "/api/catalogs").await;
    assert_eq!(status, StatusCode::OK);
    let list = json(&body);
    let listed = list["catalogs"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{list}");
    let of = |id: &str| listed.iter().find(|c| c["id"] == id).unwrap().clone();
    assert_eq!(
        (
            of(&id)["objects"].as_u64(),
            of(&id)["refused_count"].as_u64()
        ),
        (Some(300), Some(0))
    );
    assert_eq!(
        (
            of(&small)["objects"].as_u64(),
            of(&small)["refused_count"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(of(&id)["format"], "tle");
    assert_eq!(of(&id)["bytes"], catalogue(300).len());

    let (status, _, body) = get(&app, &format!("/api/catalogs/{id}?offset=250&limit=100")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let detail = json(&body);
    assert_eq!(detail["objects"], 300);
    assert_eq!(detail["offset"], 250);
    let sets = detail["element_sets"].as_array().unwrap();
    assert_eq!(sets.len(), 50, "the last 50 of 300 from offset 250");
    for (k, set) in sets.iter().enumerate() {
        assert_eq!(set["name"], format!("SAT-{}", 250 + k).as_str());
        assert_eq!(set["norad_id"], FIRST_NUMBER + 250 + k as u32);
        assert!(set["epoch"].as_str().unwrap().starts_with("202"), "{set}");
        let (perigee, apogee) = (
            set["perigee_km"].as_f64().unwrap(),
            set["apogee_km"].as_f64().unwrap(),
        );
        // Mean motion 11 to 15 rev/day, eccentricity below 0.01: low orbits.
        assert!(
            perigee <= apogee && perigee > 300.0 && apogee < 4500.0,
            "{set}"
        );
    }
    // The default page, and a page past the end.
    let (_, _, body) = get(&app, &format!("/api/catalogs/{id}")).await;
    assert_eq!(json(&body)["element_sets"].as_array().unwrap().len(), 300);
    let (_, _, body) = get(&app, &format!("/api/catalogs/{id}?offset=300")).await;
    assert!(json(&body)["element_sets"].as_array().unwrap().is_empty());
    let (_, _, body) = get(&app, &format!("/api/catalogs/{small}")).await;
    assert_eq!(json(&body)["refused"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_a_catalogue_or_has_nothing_good_is_refused_with_the_reason_and_nothing_kept(
) {
    let s = service(memory_cache());
    let app = app(s.state.clone());
    let error = |body: &[u8]| json(body)["error"].clone();

    let (status, _, body) = upload(
        &app,
        "/api/catalogs",
        b"hello, this is no catalogue\n".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = error(&body)["message"].as_str().unwrap().to_owned();
    assert!(message.contains("not a catalogue"), "{message}");
    assert_eq!(error(&body)["field"], "body");

    // Every object refused: 422 with the first refusals.
    let mut broken = String::new();
    for k in 0..3 {
        broken.push_str(&with_one_bad(0).replace("40000", &format!("4000{k}")));
    }
    let (status, _, body) = upload(&app, "/api/catalogs", broken.into_bytes(), "text/plain").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let refused = error(&body)["refused"].as_array().unwrap().clone();
    assert_eq!(refused.len(), 3, "{}", error(&body));
    assert!(refused[0]["rule"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(error(&body)["message"]
        .as_str()
        .unwrap()
        .contains("no element set"));

    // A format by name that is none of ours: 400 naming the parameter.
    let (status, _, body) = upload(
        &app,
        "/api/catalogs?format=yaml",
        catalogue(2).into_bytes(),
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error(&body)["field"], "format");

    // Named as CSV by its content type, a TLE file does not read as one.
    let (status, _, body) =
        upload(&app, "/api/catalogs", catalogue(2).into_bytes(), "text/csv").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );

    // Good objects behind lines that hide the format: read when named, but a kept
    // catalogue is read again by its content alone, so it is refused.
    let hidden = format!("{}{}", "not an element set\n".repeat(9), catalogue(2));
    let (status, _, body) = upload(
        &app,
        "/api/catalogs?format=tle",
        hidden.into_bytes(),
        "text/plain",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(error(&body)["message"]
        .as_str()
        .unwrap()
        .contains("read again by its content"));

    // Over 64 MiB: 413 before it is read.
    let mut huge = catalogue(10).into_bytes();
    huge.resize((64 << 20) + 1, b'\n');
    let (status, _, body) = upload(&app, "/api/catalogs", huge, "text/plain").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error(&body)["message"].as_str().unwrap().contains("64 MiB"));

    assert_eq!(kept(&s), 0, "a refused file is not kept");
    let (_, _, body) = get(&app, "/api/catalogs").await;
    assert_eq!(json(&body)["catalogs"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_catalogue_is_404_and_a_malformed_id_or_page_400() {
    let s = service(memory_cache());
    let app = app(s.state.clone());
    let error = |body: &[u8]| json(body)["error"].clone();
    let (status, _, body) = get(&app, "/api/catalogs/0123456789abcdef0123456789abcdef").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error(&body)["message"]
        .as_str()
        .unwrap()
        .contains("0123456789abcdef0123456789abcdef"));
    for bad in [
        "0123",
        "0123456789ABCDEF0123456789ABCDEF",
        "zz23456789abcdef0123456789abcdef",
    ] {
        let (status, _, body) = get(&app, &format!("/api/catalogs/{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(error(&body)["field"], "id", "{bad}");
    }
    let (_, _, body) = upload(
        &app,
        "/api/catalogs",
        catalogue(3).into_bytes(),
        "text/plain",
    )
    .await;
    let id = json(&body)["id"].as_str().unwrap().to_owned();
    for (query, field) in [
        ("limit=10001", "limit"),
        ("offset=-1", "offset"),
        ("limit=x", "limit"),
    ] {
        let (status, _, body) = get(&app, &format!("/api/catalogs/{id}?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error(&body)["field"], field, "{query}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keeping_a_catalogue_needs_the_token_and_takes_from_the_rate_limit_reading_does_not() {
    let s = service(memory_cache());
    let state = s
        .state
        .clone()
        .with_access(nano_web::access::Access::new(Some("s3cret".into()), 2));
    let app = app(state);
    let file = || catalogue(4).into_bytes();
    let (status, headers, _) = upload(&app, "/api/catalogs", file(), "text/plain").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Bearer");
    let (status, _, _) = upload(
        &app,
        "/api/catalogs?access_token=wrong",
        file(),
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(kept(&s), 0);

    let (status, _, body) = upload(
        &app,
        "/api/catalogs?access_token=s3cret",
        file(),
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = json(&body)["id"].as_str().unwrap().to_owned();
    let request = Request::post("/api/catalogs")
        .header("authorization", "Bearer s3cret")
        .body(Body::from(catalogue(5)))
        .unwrap();
    let (status, _, _) = send(&app, request).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, headers, _) = upload(
        &app,
        "/api/catalogs?access_token=s3cret",
        catalogue(6).into_bytes(),
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(kept(&s), 2);

    let (status, _, _) = get(&app, "/api/catalogs").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(&app, &format!("/api/catalogs/{id}")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kept_catalogue_survives_a_restart_on_the_same_log() {
    let s = service(memory_cache());
    let file = with_one_bad(50);
    let (status, _, body) = upload(
        &app(s.state.clone()),
        "/api/catalogs",
        file.clone().into_bytes(),
        "text/plain",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let first = json(&body);
    let id = first["id"].as_str().unwrap().to_owned();

    let s = s.restart(memory_cache());
    let app = app(s.state.clone());
    let (_, _, body) = get(&app, "/api/catalogs").await;
    let list = json(&body);
    assert_eq!(list["catalogs"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["catalogs"][0]["id"], id.as_str());
    assert_eq!(list["catalogs"][0]["objects"], 50);
    assert_eq!(list["catalogs"][0]["refused_count"], 1);
    let (status, _, body) = get(&app, &format!("/api/catalogs/{id}?limit=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&body)["element_sets"][0]["name"], "SAT-0");
    // Sent again after the restart: already kept.
    let (status, _, again) = upload(&app, "/api/catalogs", file.into_bytes(), "text/plain").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&again), first);
}

/// Starts a run of `scenario` for `steps` steps: the status.
async fn run(app: &Router, scenario: Value, steps: u64) -> Answer {
    nano_testing::service::post(
        app,
        "/api/runs",
        &serde_json::json!({"scenario": scenario, "steps": steps}).to_string(),
        &[],
    )
    .await
}

fn catalogue_scenario(catalog: Value) -> Value {
    serde_json::json!({
        "model": "orbit",
        "epoch": "2026-01-01T12:00:00Z",
        "output_step_s": 60,
        "catalog": catalog,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_names_an_uploaded_catalogue_and_its_selection_and_plays_back_every_object() {
    let s = service(memory_cache());
    let app = app(s.state.clone());
    let (_, _, body) = upload(
        &app,
        "/api/catalogs",
        catalogue(400).into_bytes(),
        "text/plain",
    )
    .await;
    let id = json(&body)["id"].as_str().unwrap().to_owned();

    // The whole catalogue: every object a body, named by its name line.
    let (status, _, body) = run(&app, catalogue_scenario(serde_json::json!({"id": id})), 10).await;
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    let whole = json(&body);
    assert_eq!(whole["bodies"], 400, "{whole}");
    assert_eq!(whole["names"][7], "SAT-7");
    let run_id = whole["id"].as_str().unwrap().to_owned();
    nano_testing::service::until_ready(&app, &format!("/api/runs/{run_id}")).await;
    let (status, _, packed) = get(&app, &format!("/api/runs/{run_id}/positions?t=330")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(packed.len(), 400 * 24);
    let radii: Vec<f64> = packed
        .chunks_exact(24)
        .map(|c| {
            let f = |k: usize| f64::from_le_bytes(c[8 * k..8 * k + 8].try_into().unwrap());
            (f(0) * f(0) + f(1) * f(1) + f(2) * f(2)).sqrt()
        })
        .collect();
    assert!(
        radii.iter().all(|r| (6600.0..10_500.0).contains(r)),
        "every object in a low orbit: {:?}",
        radii
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)))
    );

    // A selection by catalogue number: those objects only, in the catalogue's order.
    let (status, _, body) = run(
        &app,
        catalogue_scenario(serde_json::json!({"id": id, "norad_ids": [40003, 40001, 40100]})),
        5,
    )
    .await;
    assert!(
        status.is_success(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    let picked = json(&body);
    assert_eq!(picked["bodies"], 3, "{picked}");
    let mut names: Vec<&str> = picked["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["SAT-1", "SAT-100", "SAT-3"]);
    // The status says what the selection kept and dropped.
    assert_eq!(picked["catalog"]["id"], id.as_str(), "{picked}");
    assert_eq!(picked["catalog"]["objects"], 3, "{picked}");
    assert_eq!(picked["catalog"]["dropped"]["not_listed"], 397, "{picked}");
    assert_eq!(
        picked["catalog"]["dropped"]["sgp4_at_start"],
        serde_json::json!([])
    );

    // Refused, naming the field: an unknown catalogue, a selection that keeps nothing.
    let error = |body: &[u8]| json(body)["error"].clone();
    let unknown = catalogue_scenario(serde_json::json!({"id": "0123456789abcdef0123456789abcdef"}));
    let (status, _, body) = run(&app, unknown, 5).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&body)["field"],
        "scenario.catalog.id",
        "{}",
        error(&body)
    );
    let nothing = catalogue_scenario(serde_json::json!({"id": id, "min_perigee_km": 30000}));
    let (status, _, body) = run(&app, nothing, 5).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error(&body)["field"],
        "scenario.catalog",
        "{}",
        error(&body)
    );
}

/// The ISS as CelesTrak's OMM JSON writes it (from the element set of the TLE in
/// `nano_pipeline::catalog`'s docs).
const ISS_OMM_JSON: &str = r#"[{"OBJECT_NAME":"ISS (ZARYA)","OBJECT_ID":"1998-067A","EPOCH":"2020-07-12T21:16:01.000416","MEAN_MOTION":15.49507896,"ECCENTRICITY":0.0001413,"INCLINATION":51.6461,"RA_OF_ASC_NODE":221.2784,"ARG_OF_PERICENTER":89.1723,"MEAN_ANOMALY":280.4612,"EPHEMERIS_TYPE":0,"CLASSIFICATION_TYPE":"U","NORAD_CAT_ID":25544,"ELEMENT_SET_NO":999,"REV_AT_EPOCH":23600,"BSTAR":-3.1515e-5,"MEAN_MOTION_DOT":-2.218e-5,"MEAN_MOTION_DDOT":0}]"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_omm_file_is_read_in_the_format_its_content_type_or_format_names() {
    let s = service(memory_cache());
    let app = app(s.state.clone());
    let (status, _, body) = upload(
        &app,
        "/api/catalogs",
        ISS_OMM_JSON.as_bytes().to_vec(),
        "application/json",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let answer = json(&body);
    assert_eq!(
        (answer["format"].as_str(), answer["objects"].as_u64()),
        (Some("json"), Some(1))
    );
    let id = answer["id"].as_str().unwrap().to_owned();
    let (_, _, body) = get(&app, &format!("/api/catalogs/{id}")).await;
    let iss = &json(&body)["element_sets"][0];
    assert_eq!(iss["norad_id"], 25544);
    assert_eq!(iss["name"], "ISS (ZARYA)");
    assert_eq!(iss["object_id"], "1998-067A");
    assert!(
        iss["epoch"]
            .as_str()
            .unwrap()
            .starts_with("2020-07-12T21:16:01"),
        "{iss}"
    );
    let (perigee, apogee) = (
        iss["perigee_km"].as_f64().unwrap(),
        iss["apogee_km"].as_f64().unwrap(),
    );
    assert!(
        (400.0..430.0).contains(&perigee) && (400.0..430.0).contains(&apogee),
        "{iss}"
    );

    // The same bytes named by ?format= (over a content type that names none): the
    // same catalogue; named as XML, they are not one.
    let (status, _, again) = upload(
        &app,
        "/api/catalogs?format=json",
        ISS_OMM_JSON.as_bytes().to_vec(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json(&again)["id"], id.as_str());
    let (status, _, body) = upload(
        &app,
        "/api/catalogs",
        ISS_OMM_JSON.as_bytes().to_vec(),
        "application/xml",
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        json(&body)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("xml"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(kept(&s), 1);
}
