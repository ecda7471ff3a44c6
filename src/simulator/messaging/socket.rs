//! One socket's life: read frames, send their answers (at once, or after the reply-latency fault),
//! announce the session's end, and close or drop the socket when its time comes.

use super::super::state::Shared;
use super::super::tokens::AccessRecord;
use super::super::truth::Count;
use super::admission::Slot;
use super::answer::{self, Answer};
use super::sessions::Life;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use ws_protocol::error::{CapacityError, Error as WsError};

/// How long a closing socket waits for the client's close frame before it lets the TCP go.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// What the upgrade decided about a socket before it opened.
pub(super) struct Opened {
    /// The deployment the URL names, when it exists and is enabled.
    pub deployment: Option<usize>,
    pub deployment_id: String,
    pub org: Option<usize>,
    /// When the drop-all fault drops this socket.
    pub drop_at_ns: Option<i64>,
    /// Held for its `Drop`: the deployment's count and the gauge go down when the socket ends.
    pub _slot: Slot,
}

/// A socket's session, once configured.
pub(super) struct Bound {
    pub token: String,
    pub expires_ns: i64,
    pub life: Option<watch::Receiver<Life>>,
    /// The JWT an authenticated session was configured with: every later frame checks it.
    pub jwt: Option<Arc<AccessRecord>>,
}

pub(super) struct Conn {
    pub opened: Opened,
    pub bound: Option<Bound>,
}

/// How a socket ends.
pub(super) enum End {
    /// The drop-all fault: no close frame, the TCP connection just closes.
    Drop,
    /// A close frame, after a last text frame if there is one.
    Close(u16, &'static str, Option<String>),
    /// The client went away (closed, or the connection failed).
    Gone,
}

enum Event {
    Stop,
    Drop,
    Expired,
    Life,
    Due,
    Frame(Option<Result<Message, axum::Error>>),
}

/// An answer waiting out its reply latency; ordered by when it is due, then by arrival.
struct Due {
    at: Instant,
    seq: u64,
    answer: Answer,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub(super) async fn run(mut ws: WebSocket, state: Shared, opened: Opened) {
    let mut conn = Conn {
        opened,
        bound: None,
    };
    let mut pending = BinaryHeap::new();
    let mut stopping = state.messaging.stopping.subscribe();
    let end = loop {
        if *stopping.borrow_and_update() {
            break End::Close(1001, "server stopping", None);
        }
        let event = next(&mut ws, &state, &mut conn, &mut pending, &mut stopping).await;
        if let Some(end) = handle(event, &mut ws, &state, &mut conn, &mut pending).await {
            break end;
        }
    };
    finish(ws, &state, conn, end).await;
}

async fn next(
    ws: &mut WebSocket,
    state: &Shared,
    conn: &mut Conn,
    pending: &mut BinaryHeap<Reverse<Due>>,
    stopping: &mut watch::Receiver<bool>,
) -> Event {
    let clock = &state.clock;
    let drop_at = conn.opened.drop_at_ns;
    let expires = conn.bound.as_ref().map(|b| b.expires_ns);
    let due = pending.peek().map(|Reverse(d)| d.at);
    let life = conn.bound.as_mut().and_then(|b| b.life.as_mut());
    let watching = life.is_some();
    let life_changed = async {
        match life {
            Some(rx) => rx.changed().await.is_ok(),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        _ = stopping.changed() => Event::Stop,
        () = clock.sleep_until_ns(drop_at.unwrap_or(i64::MAX)), if drop_at.is_some() => Event::Drop,
        () = clock.sleep_until_ns(expires.unwrap_or(i64::MAX)), if expires.is_some() => Event::Expired,
        open = life_changed, if watching => if open { Event::Life } else { Event::Expired },
        () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => Event::Due,
        frame = ws.recv() => Event::Frame(frame),
    }
}

async fn handle(
    event: Event,
    ws: &mut WebSocket,
    state: &Shared,
    conn: &mut Conn,
    pending: &mut BinaryHeap<Reverse<Due>>,
) -> Option<End> {
    match event {
        Event::Stop => Some(End::Close(1001, "server stopping", None)),
        Event::Drop => Some(End::Drop),
        Event::Expired => Some(answer::expired(state, conn)),
        Event::Life => answer::life_changed(conn),
        Event::Due => {
            let Reverse(due) = pending.pop()?;
            deliver(ws, state, due.answer).await
        }
        Event::Frame(None) => Some(End::Gone),
        Event::Frame(Some(Err(e))) => Some(read_failed(state, conn, e)),
        Event::Frame(Some(Ok(message))) => {
            let answer = match message {
                Message::Text(text) => answer::frame(state, conn, text.as_str()),
                Message::Binary(_) => answer::invalid(conn.opened.org),
                Message::Close(_) => return Some(End::Gone),
                // tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) => return None,
            };
            let (seq, delay) = state.messaging.replies.next();
            if answer.delayed && !delay.is_zero() {
                let at = Instant::now() + delay;
                pending.push(Reverse(Due { at, seq, answer }));
                None
            } else {
                deliver(ws, state, answer).await
            }
        }
    }
}

/// Sends an answer, counted as it goes; one that closes the socket is sent by `finish`.
async fn deliver(ws: &mut WebSocket, state: &Shared, answer: Answer) -> Option<End> {
    if answer.close {
        return Some(End::Close(1000, "", Some(answer.counted(state))));
    }
    let text = answer.counted(state);
    match ws.send(Message::Text(text.into())).await {
        Ok(()) => None,
        Err(_) => Some(End::Gone),
    }
}

/// A frame over the size limit is refused with 1009 before it is read; any other failure is the
/// connection's.
fn read_failed(state: &Shared, conn: &Conn, error: axum::Error) -> End {
    let too_long = error
        .into_inner()
        .downcast_ref::<WsError>()
        .is_some_and(|e| matches!(e, WsError::Capacity(CapacityError::MessageTooLong { .. })));
    if too_long {
        state.truth.add(conn.opened.org, Count::SocketTooLarge);
        End::Close(1009, "Message too big", None)
    } else {
        End::Gone
    }
}

/// Lets the socket go. The counts (and the open-sockets gauge) are settled before anything reaches
/// the client, so a client that sees its socket end sees the truth already counting it.
async fn finish(mut ws: WebSocket, state: &Shared, conn: Conn, end: End) {
    let org = conn.opened.org;
    match end {
        End::Drop => {
            state.truth.add(org, Count::SocketsDropped);
            drop(conn);
            drop(ws);
        }
        End::Gone => {
            drop(conn);
            // A close from the client is answered on the next read; a failed socket ends at once.
            let _ = tokio::time::timeout(CLOSE_WAIT, ws.recv()).await;
        }
        End::Close(code, reason, last) => {
            drop(conn);
            if let Some(text) = last {
                let _ = ws.send(Message::Text(text.into())).await;
            }
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            if ws.send(Message::Close(Some(frame))).await.is_ok() {
                let _ = tokio::time::timeout(CLOSE_WAIT, async {
                    while let Some(Ok(_)) = ws.recv().await {}
                })
                .await;
            }
        }
    }
}
