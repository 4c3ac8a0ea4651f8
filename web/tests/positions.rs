//! `/api/runs/{id}/positions?t=`: the playback page's frame, packed, holds exactly the
//! positions `/states` gives at the same time, at output times and between them.

use axum::http::StatusCode;
use nano_testing::service::{get, memory_cache, post, run_id, serving, until_ready};
use serde_json::{json, Value};

/// Little-endian f64 triples, by body.
fn unpack(bytes: &[u8]) -> Vec<[f64; 3]> {
    assert_eq!(bytes.len() % 24, 0, "{} bytes", bytes.len());
    bytes
        .chunks_exact(24)
        .map(|c| {
            let f = |k: usize| f64::from_le_bytes(c[8 * k..8 * k + 8].try_into().unwrap());
            [f(0), f(1), f(2)]
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn positions_are_the_states_positions_packed_by_body() {
    let (_s, app) = serving(memory_cache());
    let scenario = json!({
        "model": "orbit", "epoch": "2026-01-01T00:00:00Z", "output_step_s": 60.0,
        "walker": {"i_deg": 53, "total": 30, "planes": 5, "phasing": 1, "altitude_km": 550}
    });
    let (status, _, body) = post(
        &app,
        "/api/runs",
        &json!({"scenario": scenario, "steps": 50}).to_string(),
        &[],
    )
    .await;
    assert!(status.is_success(), "{status}");
    let id = run_id(&body);
    until_ready(&app, &format!("/api/runs/{id}")).await;

    for t in [0.0, 60.0, 90.5, 1234.5, 3000.0] {
        let (status, headers, packed) = get(&app, &format!("/api/runs/{id}/positions?t={t}")).await;
        assert_eq!(status, StatusCode::OK, "t = {t}");
        assert_eq!(headers["content-type"], "application/octet-stream");
        let got = unpack(&packed);
        let (_, _, states) = get(&app, &format!("/api/runs/{id}/states?t={t}")).await;
        let states: Value = serde_json::from_slice(&states).unwrap();
        let records = states["records"].as_array().unwrap();
        assert_eq!(got.len(), 30);
        assert_eq!(records.len(), 30);
        for record in records {
            let body = record[1].as_u64().unwrap() as usize;
            for k in 0..3 {
                assert_eq!(
                    got[body][k],
                    record[2 + k].as_f64().unwrap(),
                    "t = {t}, body {body}"
                );
            }
        }
    }
    let (status, _, body) = get(&app, &format!("/api/runs/{id}/positions?t=3060")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let (status, _, body) = get(&app, &format!("/api/runs/{id}/positions")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["field"], "t");
    let (status, _, _) = get(
        &app,
        "/api/runs/0123456789abcdef0123456789abcdef/positions?t=0",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
