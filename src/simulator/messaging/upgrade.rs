//! The HTTP side of a socket: the checks an upgrade passes (outage, origin, capacity) before it is
//! accepted, and the counts of accepted and refused upgrades.

use super::super::state::Shared;
use super::super::truth::Count;
use super::admission::origin_allowed;
use super::{socket, MAX_FRAME_BYTES};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Duration;

/// A socket's read buffer: a page, several typical frames; a longer one is read in several reads.
/// tungstenite zero-fills all of it before each read, so all of it is resident: at 8 KiB the target
/// held 12.4 KB of RSS per idle socket at 10,000 (benches/messaging.sh).
const READ_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SocketQuery {
    #[serde(default)]
    deployment_id: String,
}

/// `GET /v1?deploymentId=`: refused with 503 in an outage window, 403 for an origin off the
/// deployment's list (or the endpoint's) and 429 for a full deployment; otherwise upgraded, an
/// unknown deployment too (it is told on the socket).
pub(crate) async fn upgrade(
    State(state): State<Shared>,
    Query(query): Query<SocketQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let now = state.clock.now_ns();
    let hub = &state.messaging;
    let client = state.client_by_id(&query.deployment_id);
    // A disabled deployment's sockets still count for its org; it is told on the socket as unknown.
    let org = client.map(|(_, c)| c.org);
    let deployment = client.filter(|(_, c)| !c.disabled(now)).map(|(i, _)| i);
    if let Some(left) = hub.outages.refusing(now) {
        state.truth.add(org, Count::SocketsRefusedOutage);
        return refusal(StatusCode::SERVICE_UNAVAILABLE, left);
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    // An unknown deployment has no list of its own: the endpoint's applies.
    let own = client.and_then(|(_, c)| c.allowed_origins.as_deref());
    if !origin_allowed(own, &hub.config.allowed_origins, origin) {
        state.truth.add(org, Count::SocketsRefusedOrigin);
        return (StatusCode::FORBIDDEN, "Origin not allowed").into_response();
    }
    let Some(slot) = hub.capacity.take(deployment, &state.truth, org) else {
        state.truth.add(org, Count::SocketsRefusedCapacity);
        return refusal(StatusCode::TOO_MANY_REQUESTS, hub.config.retry_after);
    };
    // Counted here, before the 101 goes out, so a client that has its socket sees it counted.
    state.truth.add(org, Count::SocketsOpened);
    let opened = socket::Opened {
        deployment,
        deployment_id: query.deployment_id,
        org,
        drop_at_ns: hub.outages.next_drop(now),
        _slot: slot,
    };
    // tungstenite reserves a 128 KiB read buffer per socket by default; widget frames are small,
    // and 100,000 idle sockets should not hold 12 GiB of address space for them.
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |ws| socket::run(ws, state, opened))
}

/// A refused upgrade with `Retry-After` in whole seconds (at least 1).
fn refusal(status: StatusCode, retry_after: Duration) -> Response {
    let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let text = if status == StatusCode::TOO_MANY_REQUESTS {
        "Too many sockets for this deployment"
    } else {
        "Web messaging is unavailable"
    };
    (status, [(header::RETRY_AFTER, secs.to_string())], text).into_response()
}
