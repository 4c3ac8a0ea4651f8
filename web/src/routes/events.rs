//! `/api/propagate/{n}/events`: server-sent progress of a run, ending with `complete`
//! or `error`.

use std::convert::Infallible;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use nano_pipeline::job::{JobEvent, JobHandle};
use nano_pipeline::RunKey;
use serde_json::json;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};

use crate::clients::StreamPlace;
use crate::error::ApiError;
use crate::routes::api::{peer_ip, start_blocking, stream_permit};
use crate::{params, AppState};

/// A server-sent event `name` whose data is `data`'s JSON.
pub(crate) fn event(name: &str, data: serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

/// Starts (or joins) the run and streams its progress.
#[utoipa::path(get, path = "/api/propagate/{n}/events", tag = "runs",
    params(
        ("n" = u64, Path, description = "Iterations, from 1 to --max-steps", minimum = 1),
        ("seed" = Option<u64>, Query, description = "The run's seed (default 0)"),
        ("access_token" = Option<String>, Query, description = "The API token (EventSource cannot send headers)"),
    ),
    responses(
        (status = 200, description = "Server-sent `progress` events, ending with `complete` or `error`", content_type = "text/event-stream"),
        (status = 401, description = "Starting a run needs the API token", body = crate::schemas::ErrorBody),
        (status = 429, description = "Too many new runs from this client, or it holds its share of the open streams (--client-share; Retry-After)", body = crate::schemas::ErrorBody),
        (status = 503, description = "Too many runs in flight, or the log cannot be written", body = crate::schemas::ErrorBody),
        (status = 400, description = "A bad parameter, named", body = crate::schemas::ErrorBody),
        (status = 404, description = "No such resource", body = crate::schemas::ErrorBody),
        (status = 408, description = "The request took too long", body = crate::schemas::ErrorBody),
        (status = 413, description = "A body over 16 KiB", body = crate::schemas::ErrorBody),
        (status = 500, description = "An internal error (logged)", body = crate::schemas::ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    Path(n): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let query = params::query(raw.as_deref())?;
    let request = params::run_request(&n, &query, state.limits.max_steps)?;
    let n = request.n;
    let address = state.access.client(peer_ip(&peer), &headers);
    let permit = stream_permit(&state, address)?;
    let token = query.get("access_token").map(|t| t.to_string());
    let job = start_blocking(
        &state,
        RunKey::nano(request.seed),
        n,
        headers,
        token,
        address,
    )
    .await?;
    Ok(follow(&state, job, n, "n", permit))
}

/// The progress of `job`, a run of `n` steps, as server-sent events: `progress` and
/// then `complete` or `error`, each `{"iterations_done": K, <total>: n}`. An async
/// task, not a thread, follows the job; a client that takes nothing for the send
/// timeout loses the stream. `permit` (a place among the open streams) is held until
/// the stream ends.
pub fn follow(
    state: &AppState,
    mut job: JobHandle,
    n: u64,
    total: &'static str,
    permit: StreamPlace,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let stopping = state.stopping.wait();
    let send_timeout = state.limits.send_timeout;
    // An async task, not a thread: it waits on the job's events and on the client. A
    // client that takes nothing for `send_timeout` loses the stream.
    tokio::spawn(async move {
        let _permit = permit;
        let send = |e: Event| {
            let sender = sender.clone();
            async move { sender.send_timeout(e, send_timeout).await.is_ok() }
        };
        let first = event(
            "progress",
            json!({"iterations_done": job.joined_at.min(n), total: n}),
        );
        if !send(first).await {
            return;
        }
        tokio::pin!(stopping);
        loop {
            let next = tokio::select! {
                next = job.recv() => next,
                () = &mut stopping => {
                    send(event(
                        "error",
                        json!({"reason": "the service is stopping; the run continues from the log when it restarts"}),
                    ))
                    .await;
                    return;
                }
            };
            let Some(e) = next else { break };
            let (sse, last) = match e {
                JobEvent::Progress { iterations, .. } => (
                    event("progress", json!({"iterations_done": iterations, total: n})),
                    false,
                ),
                JobEvent::Complete { .. } => (
                    event("complete", json!({"iterations_done": n, total: n})),
                    true,
                ),
                JobEvent::Failed(reason) => (event("error", json!({"reason": reason})), true),
                JobEvent::Records(_) => continue,
            };
            if !send(sse).await || last {
                return;
            }
        }
        send(event(
            "error",
            json!({"reason": "the service stopped before the run completed"}),
        ))
        .await;
    });
    Sse::new(ReceiverStream::new(receiver).map(Ok)).keep_alive(KeepAlive::default())
}
