//! What the server answers to each client frame, and the events that end a session; each answer
//! carries the truth counter it bumps when it is sent.

use super::super::state::{ServerState, Shared};
use super::super::tokens::Reject;
use super::super::truth::Count;
use super::super::webdeploy::JWT_MAX_TTL;
use super::frames::{
    ClientFrame, Empty, Envelope, JwtBody, Kind, Loose, ReasonBody, SessionBody, StructuredBody,
    TextMessage, TooManyBody,
};
use super::sessions::Life;
use super::socket::{Bound, Conn};
use super::MAX_ATTRIBUTES_BYTES;
use serde::Serialize;

/// A server frame ready to go.
pub(super) struct Answer {
    text: String,
    count: Option<Count>,
    org: Option<usize>,
    /// The socket closes (1000) once this is sent.
    pub close: bool,
    /// An answer to a client frame waits out the reply-latency fault; events go at once.
    pub delayed: bool,
}

impl Answer {
    fn new<B: Serialize>(kind: Kind, class: &'static str, code: u16, body: B) -> Answer {
        Answer::traced(kind, class, code, body, None)
    }

    fn traced<B: Serialize>(
        kind: Kind,
        class: &'static str,
        code: u16,
        body: B,
        tracing_id: Option<&str>,
    ) -> Answer {
        let envelope = Envelope {
            kind,
            class,
            code,
            body,
            tracing_id,
        };
        Answer {
            text: envelope.text(),
            count: None,
            org: None,
            close: false,
            delayed: kind == Kind::Response,
        }
    }

    fn counting(mut self, count: Count, org: Option<usize>) -> Answer {
        self.count = Some(count);
        self.org = org;
        self
    }

    /// The frame's text, its counter bumped: counted as it is sent.
    pub fn counted(self, state: &ServerState) -> String {
        if let Some(count) = self.count {
            state.truth.add(self.org, count);
        }
        self.text
    }
}

/// An error answer: `class: "string"`, the code, the text as body.
fn error(code: u16, text: &'static str, tracing_id: Option<&str>, org: Option<usize>) -> Answer {
    let count = match code {
        400 => Some(Count::SocketBadRequest),
        401 => Some(Count::SocketUnauthorized),
        403 => Some(Count::SocketForbidden),
        4011 | 4013 => Some(Count::SocketTooLarge),
        _ => None,
    };
    let answer = Answer::traced(Kind::Response, "string", code, text, tracing_id);
    match count {
        Some(c) => answer.counting(c, org),
        None => answer,
    }
}

const FORBIDDEN: &str = "Session authentication failed";

/// 400 "Invalid frame": not JSON, not text, or no action this server knows.
pub(super) fn invalid(org: Option<usize>) -> Answer {
    error(400, "Invalid frame", None, org)
}

/// A JWT the session cannot use: expired (or idle) is 401, so the client refreshes; anything else 403.
fn rejected(why: Reject, tracing_id: Option<&str>, org: Option<usize>) -> Answer {
    match why {
        Reject::Expired | Reject::Idle => error(401, "User is unauthorized", tracing_id, org),
        _ => error(403, FORBIDDEN, tracing_id, org),
    }
}

pub(super) fn frame(state: &Shared, conn: &mut Conn, text: &str) -> Answer {
    let org = conn.opened.org;
    let Ok(frame) = serde_json::from_str::<ClientFrame>(text) else {
        let loose = serde_json::from_str::<Loose>(text).ok();
        let tracing_id = loose.and_then(|l| l.tracing_id);
        return error(400, "Invalid frame", tracing_id.as_deref(), org);
    };
    let tracing_id = frame.tracing_id().map(str::to_owned);
    let tracing = tracing_id.as_deref();
    let (token, request) = match frame {
        ClientFrame::ConfigureSession {
            deployment_id,
            token,
            ..
        } => return configure(state, conn, &deployment_id, &token, None, tracing),
        ClientFrame::ConfigureAuthenticatedSession {
            deployment_id,
            token,
            data,
            ..
        } => {
            return configure(
                state,
                conn,
                &deployment_id,
                &token,
                Some(&data.code),
                tracing,
            )
        }
        ClientFrame::GetJwt { token, .. } => (token, Request::Jwt),
        ClientFrame::OnMessage { token, message, .. } => (token, Request::Message(message)),
        ClientFrame::Echo { token, message, .. } => (token, Request::Echo(message)),
        ClientFrame::CloseSession {
            token,
            close_all_connections,
            ..
        } => (token, Request::Close(close_all_connections)),
    };
    let Some(bound) = &conn.bound else {
        return error(400, "Session not configured", tracing, org);
    };
    if bound.token != token {
        return error(403, FORBIDDEN, tracing, org);
    }
    if let Some(jwt) = &bound.jwt {
        if let Err(why) = state.still_live(jwt) {
            return rejected(why, tracing, org);
        }
    }
    match request {
        Request::Jwt => jwt(state, conn, tracing),
        Request::Message(m) => message(state, conn, &m, tracing, false),
        Request::Echo(m) => message(state, conn, &m, tracing, true),
        Request::Close(all) => close(state, conn, all, tracing),
    }
}

/// A frame of a configured session.
enum Request {
    Jwt,
    Message(TextMessage),
    Echo(TextMessage),
    Close(bool),
}

fn configure(
    state: &Shared,
    conn: &mut Conn,
    deployment_id: &str,
    token: &str,
    jwt: Option<&str>,
    tracing: Option<&str>,
) -> Answer {
    let now = state.clock.now_ns();
    let org = conn.opened.org;
    let deployment = conn
        .opened
        .deployment
        .filter(|&d| deployment_id == conn.opened.deployment_id && !state.clients[d].disabled(now));
    let Some(d) = deployment else {
        let mut answer = error(400, "Deployment not found", tracing, org);
        answer.close = true;
        return answer;
    };
    if conn.bound.as_ref().is_some_and(|b| b.token != token) {
        return error(403, FORBIDDEN, tracing, org);
    }
    let record = match jwt.map(|code| state.validate(code)) {
        None => None,
        Some(Ok(record)) if record.client == d => Some(record),
        Some(Ok(_)) => return error(403, FORBIDDEN, tracing, org),
        Some(Err((why, _))) => return rejected(why, tracing, org),
    };
    let hub = &state.messaging;
    let configured = hub.sessions.configure(d, token, now);
    let body = SessionBody {
        connected: true,
        new_session: configured.new_session,
        read_only: false,
        duration_seconds: hub.config.session_duration.as_secs(),
        expiration_date: state.clock.unix_secs(configured.expires_ns),
    };
    conn.bound = Some(Bound {
        token: token.to_owned(),
        expires_ns: configured.expires_ns,
        life: Some(configured.life),
        jwt: record,
    });
    let count = if configured.new_session {
        Count::SessionsNew
    } else {
        Count::SessionsResumed
    };
    Answer::traced(Kind::Response, "SessionResponse", 200, body, tracing).counting(count, org)
}

/// A JWT for the session's REST calls, as the web-deployments routes issue them.
fn jwt(state: &Shared, conn: &Conn, tracing: Option<&str>) -> Answer {
    let org = conn.opened.org;
    let (Some(d), Some(bound)) = (conn.opened.deployment, &conn.bound) else {
        return error(400, "Session not configured", tracing, org);
    };
    let client = &state.clients[d];
    let family = bound.jwt.as_ref().and_then(|r| r.family.clone());
    let scope = client.scopes.join(" ").into();
    match state.issue_access(d, scope, family, client.ttl.min(JWT_MAX_TTL)) {
        Ok(issued) => {
            let body = JwtBody {
                jwt: &issued.token,
                exp: issued.exp,
            };
            Answer::traced(Kind::Response, "JwtResponse", 200, body, tracing)
                .counting(Count::JwtsIssued, org)
        }
        Err(_) => error(500, "Internal server error", tracing, org),
    }
}

/// `onMessage` and `echo`: the rate limit first, then (messages only) the size limits.
fn message(
    state: &Shared,
    conn: &Conn,
    message: &TextMessage,
    tracing: Option<&str>,
    echo: bool,
) -> Answer {
    let hub = &state.messaging;
    let org = conn.opened.org;
    let limited = match (&hub.buckets, conn.opened.deployment) {
        (Some(buckets), Some(d)) => !buckets.take(d, state.clock.now_ns()),
        _ => false,
    };
    if limited {
        let body = TooManyBody {
            retry_after: hub.config.retry_after.as_secs_f64().ceil().max(1.0) as u64,
            error_code: 4029,
            error_message: "Message rate too high",
        };
        return Answer::traced(
            Kind::Response,
            "TooManyRequestsErrorMessage",
            429,
            body,
            tracing,
        )
        .counting(Count::SocketRateLimited, org);
    }
    if echo {
        let body = StructuredBody {
            kind: "Text",
            text: &message.text,
            direction: "Inbound",
            id: None,
        };
        return Answer::traced(Kind::Response, "StructuredMessage", 200, body, tracing)
            .counting(Count::EchoesAnswered, org);
    }
    if message.text.len() > hub.config.max_text_bytes {
        return error(4011, "Message is too long", tracing, org);
    }
    if message.attributes_bytes() > MAX_ATTRIBUTES_BYTES {
        return error(4013, "Custom attributes are too large", tracing, org);
    }
    let id = hub.replies.message_id(state.next_id());
    let body = StructuredBody {
        kind: "Text",
        text: &message.text,
        direction: "Inbound",
        id: Some(&id),
    };
    Answer::traced(Kind::Response, "StructuredMessage", 200, body, tracing)
        .counting(Count::MessagesAnswered, org)
}

/// `closeSession`: the session is over; the event goes at once and the socket closes after it.
fn close(state: &Shared, conn: &mut Conn, all: bool, tracing: Option<&str>) -> Answer {
    let org = conn.opened.org;
    if let (Some(d), Some(bound)) = (conn.opened.deployment, conn.bound.take()) {
        if state
            .messaging
            .sessions
            .end(d, &bound.token, Life::Closed { all })
        {
            state.truth.add(org, Count::SessionsClosed);
        }
    }
    let body = ReasonBody {
        reason: "closeSession",
    };
    let mut answer = Answer::traced(Kind::Message, "ConnectionClosedEvent", 200, body, tracing);
    answer.close = true;
    answer
}

/// The session's duration ran out (on this socket's timer, or another socket of the session saw it
/// first): `SessionExpiredEvent`, then close.
pub(super) fn expired(state: &Shared, conn: &mut Conn) -> super::socket::End {
    let org = conn.opened.org;
    if let (Some(d), Some(bound)) = (conn.opened.deployment, conn.bound.take()) {
        if state.messaging.sessions.end(d, &bound.token, Life::Expired) {
            state.truth.add(org, Count::SessionsExpired);
        }
    }
    let event = Answer::new(Kind::Message, "SessionExpiredEvent", 200, Empty {});
    super::socket::End::Close(1000, "", Some(event.text))
}

/// Another socket of the session ended it: `closeAllConnections` closes this one too; otherwise
/// this socket is simply no longer configured.
pub(super) fn life_changed(conn: &mut Conn) -> Option<super::socket::End> {
    let life = conn
        .bound
        .as_mut()?
        .life
        .as_mut()
        .map(|rx| *rx.borrow_and_update());
    match life {
        Some(Life::Open) | None => None,
        Some(Life::Expired) => {
            // Announced like this socket's own expiry, without counting it twice.
            let event = Answer::new(Kind::Message, "SessionExpiredEvent", 200, Empty {});
            conn.bound = None;
            Some(super::socket::End::Close(1000, "", Some(event.text)))
        }
        Some(Life::Closed { all: true }) => {
            let body = ReasonBody {
                reason: "closeSession",
            };
            let event = Answer::new(Kind::Message, "ConnectionClosedEvent", 200, body);
            conn.bound = None;
            Some(super::socket::End::Close(1000, "", Some(event.text)))
        }
        Some(Life::Closed { all: false }) => {
            conn.bound = None;
            None
        }
    }
}
