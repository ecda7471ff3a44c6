//! A messaging widget's life on its WebSocket: open and configure the session, send a message after
//! each think time (answers matched by tracingId, as the service may answer out of order), ping and
//! echo to keep the socket healthy, reconnect by the client model's policy when the socket is lost
//! (resuming the same session), and `closeSession` when the user leaves.
//!
//! A message's round trip counts from its intended send time, so time spent reconnecting or waiting
//! out a 4029 is in it, as a user waiting for the answer sees it.

use super::reconnect;
use super::sessions::Ends;
use super::Ctx;
use crate::http::frames::{Action, BadFrame, Frame, Outgoing, Reply};
use crate::http::socket::{OpenError, Received, Socket, SocketTarget};
use crate::metrics::messaging::{Event, MessagingMetrics};
use crate::plan::messaging::MessagingPlan;
use crate::plan::sessions::Dist;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

/// 4029 answers a message is sent again after, at most (then it counts as unanswered).
const MAX_RESENDS: u32 = 3;

/// How a widget's chat ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Left {
    /// The user left when the session's length ran out (or the server ended the session).
    Departed,
    /// The run ended first (its time was up, or it was stopped).
    Cut,
}

/// One widget: who it is and what it shares with the run.
pub struct Widget<'a> {
    pub ctx: &'a Ctx,
    pub plan: &'a MessagingPlan,
    pub target: &'a SocketTarget,
    pub metrics: &'a MessagingMetrics,
    pub think: &'a Dist,
    pub deployment: &'a str,
    pub rng: ChaCha8Rng,
}

/// The request waiting for its answer, if any: a configure, the message, an echo, a `getJwt`.
struct Pending {
    id: u64,
    kind: Asked,
    /// When it was meant to go (a message's intended time) or went.
    since: Instant,
    deadline: Instant,
    resends: u32,
    /// After a 4029: when it goes again.
    resend_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    Message,
    Echo,
    Jwt,
}

/// Why a conversation on one socket ended.
enum Ending {
    Lost,
    Expired,
    Leave,
    Cut,
}

/// The widget's timers and what it is waiting for, across reconnects.
struct Chat {
    token: String,
    next_id: u64,
    next_message: Instant,
    pending: Vec<Pending>,
    /// When the JWT for REST calls must be fetched again (the SDKs' `exp <= now + 5 s`).
    jwt_due: Option<Instant>,
}

impl Widget<'_> {
    fn elapsed(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.ctx.recorder.start())
    }

    /// The widget from its arrival to its leaving; its first message goes one think time in.
    pub async fn chat(mut self, arrived: Instant, leave_at: Instant, ends: &mut Ends) -> Left {
        let mut chat = Chat {
            token: session_token(&mut self.rng),
            next_id: 0,
            next_message: arrived + self.think.draw(&mut self.rng),
            pending: Vec::new(),
            jwt_due: self.plan.jwt.then_some(arrived),
        };
        let mut lost_at: Option<Instant> = None;
        loop {
            let again = lost_at.is_some();
            let Some(mut socket) = self.connect(&mut chat, again, leave_at, ends).await else {
                return if ends.over(leave_at) {
                    Left::Cut
                } else {
                    Left::Departed
                };
            };
            if let Some(at) = lost_at.take() {
                self.metrics.reconnected(at.elapsed());
            }
            let ending = self.converse(&mut socket, &mut chat, leave_at, ends).await;
            let now = Instant::now();
            self.metrics
                .unconfigured(self.elapsed(now), matches!(ending, Ending::Lost));
            match ending {
                Ending::Lost => {
                    self.metrics.count(Event::Lost);
                    self.abandon(&mut chat, now);
                    lost_at = Some(now);
                }
                Ending::Expired => return Left::Departed,
                Ending::Leave => {
                    self.close(socket, &mut chat).await;
                    return Left::Departed;
                }
                Ending::Cut => {
                    // The run ended (or was stopped): the socket gets a close frame, not a reset.
                    socket.close(Duration::from_millis(500)).await;
                    return Left::Cut;
                }
            }
        }
    }

    /// Opens and configures the session's socket, retrying by the model's policy; `None` when the
    /// attempts are used up, a configure is refused for good, or the session's time ends first.
    async fn connect(
        &mut self,
        chat: &mut Chat,
        mut again: bool,
        leave_at: Instant,
        ends: &mut Ends,
    ) -> Option<Socket> {
        let policy = self.ctx.model.reconnect;
        let mut attempt = u32::from(again);
        loop {
            if attempt > 0 {
                let Some(wait) = reconnect::delay(policy, attempt, &mut self.rng) else {
                    self.metrics.count(Event::GaveUp);
                    return None;
                };
                let at = Instant::now() + wait;
                if at >= leave_at || !ends.wait_until(at).await {
                    return None;
                }
            }
            if ends.over(leave_at) {
                return None;
            }
            match self.open(chat, again).await {
                Opened::Ready(socket) => return Some(*socket),
                Opened::Retry => {}
                Opened::Over => return None,
            }
            attempt += 1;
            again = true;
        }
    }

    /// One attempt: the socket, then the configure and its answer. Not cut short by the run's end
    /// (the connect and reply timeouts bound it), so that what the server answered is counted.
    async fn open(&mut self, chat: &mut Chat, again: bool) -> Opened {
        let began = Instant::now();
        self.metrics.connect_attempt(self.elapsed(began), again);
        let mut socket = match self.target.open(self.deployment).await {
            Ok(socket) => socket,
            Err(e) => {
                self.metrics.count(refusal(e));
                return Opened::Retry;
            }
        };
        self.metrics.connected(began.elapsed());
        let id = chat.id();
        let configure = Action::ConfigureSession {
            deployment_id: self.deployment,
            token: &chat.token,
            tracing_id: &id.to_string(),
        };
        let sent = Instant::now();
        if !socket.send(configure.to_json()).await {
            return Opened::Retry;
        }
        let deadline = sent + self.plan.reply_timeout;
        loop {
            let received = tokio::select! {
                biased;
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.metrics.count(Event::ConfigureFailed);
                    return Opened::Retry;
                }
                received = socket.receive() => received,
            };
            match received {
                Received::Frame(Frame {
                    reply: Reply::Session { new_session },
                    ..
                }) => {
                    let now = Instant::now();
                    self.metrics
                        .configured(self.elapsed(now), now - sent, new_session);
                    return Opened::Ready(Box::new(socket));
                }
                Received::Frame(Frame {
                    reply: Reply::Error { code },
                    ..
                }) => {
                    self.metrics.count(error_event(code));
                    self.metrics.count(Event::ConfigureFailed);
                    // A deployment that does not exist or a session refused stays so: retrying
                    // would only repeat the answer.
                    return Opened::Over;
                }
                Received::Frame(_) => {}
                Received::Bad(bad) => self.metrics.count(bad_event(bad)),
                Received::Closed(_) => return Opened::Retry,
            }
        }
    }
}

/// The conversation on one configured socket.
impl Widget<'_> {
    async fn converse(
        &mut self,
        socket: &mut Socket,
        chat: &mut Chat,
        leave_at: Instant,
        ends: &mut Ends,
    ) -> Ending {
        let now = Instant::now();
        let mut timers = Timers {
            ping: now + self.plan.ping_interval,
            echo: self.plan.echo_interval.map(|every| now + every),
        };
        loop {
            let wake = chat.next_wake(&timers);
            let received = tokio::select! {
                biased;
                left = ends.wait_until(leave_at) => {
                    if left {
                        return Ending::Leave;
                    }
                    self.settle(socket, chat).await;
                    return Ending::Cut;
                }
                received = socket.receive() => Some(received),
                _ = tokio::time::sleep_until(wake.into()) => None,
            };
            let ended = match received {
                Some(received) => self.handle(received, chat),
                None => self.due(socket, chat, &mut timers).await,
            };
            if let Some(ending) = ended {
                return ending;
            }
        }
    }

    /// Acts on what the server sent; `Some` when the socket's conversation is over.
    fn handle(&mut self, received: Received, chat: &mut Chat) -> Option<Ending> {
        let frame = match received {
            Received::Frame(frame) => frame,
            Received::Bad(bad) => {
                self.metrics.count(bad_event(bad));
                // tungstenite cannot go on reading after a frame over its limit.
                return (bad == BadFrame::TooLarge).then_some(Ending::Lost);
            }
            Received::Closed(_) => return Some(Ending::Lost),
        };
        let now = Instant::now();
        let asked = frame
            .tracing_id
            .as_deref()
            .and_then(|t| t.parse::<u64>().ok())
            .and_then(|id| chat.pending.iter().position(|p| p.id == id));
        let Some(index) = asked else {
            return match frame.reply {
                // The answer to a request given up on (its reply timeout passed, or the run ended).
                Reply::Structured if frame.tracing_id.is_some() => {
                    self.metrics.count(Event::LateAnswer);
                    None
                }
                Reply::Jwt { .. } => {
                    self.metrics.count(Event::LateJwt);
                    None
                }
                Reply::SessionExpired => {
                    self.metrics.count(Event::SessionExpired);
                    Some(Ending::Expired)
                }
                Reply::ConnectionClosed => Some(Ending::Lost),
                Reply::Error { code } => {
                    self.metrics.count(error_event(code));
                    None
                }
                _ => None,
            };
        };
        self.answer(chat, index, frame.reply, now);
        None
    }

    /// The answer to pending request `index`.
    fn answer(&mut self, chat: &mut Chat, index: usize, reply: Reply, now: Instant) {
        let kind = chat.pending[index].kind;
        if let Reply::RateLimited { .. } = reply {
            self.metrics.count(Event::RateLimited);
        }
        if let (Reply::RateLimited { retry_after }, Asked::Message) = (&reply, kind) {
            let pending = &mut chat.pending[index];
            if pending.resends < MAX_RESENDS {
                pending.resend_at = Some(now + *retry_after);
                pending.deadline = now + *retry_after + self.plan.reply_timeout;
                return;
            }
        }
        let pending = chat.pending.swap_remove(index);
        match (kind, reply) {
            (Asked::Message, Reply::Structured) => self.metrics.answered(now - pending.since),
            (Asked::Echo, Reply::Structured) => self.metrics.count(Event::EchoAnswered),
            (Asked::Jwt, Reply::Jwt { exp }) => {
                self.metrics.count(Event::JwtFetched);
                chat.jwt_due = Some(jwt_due(exp, now));
            }
            (_, reply) => {
                match reply {
                    Reply::Error { code } => self.metrics.count(error_event(code)),
                    Reply::RateLimited { .. } => {}
                    _ => self.metrics.count(Event::OtherError),
                }
                self.unanswered(chat, kind, now);
            }
        }
        if kind == Asked::Message {
            chat.next_message = now + self.think.draw(&mut self.rng);
        }
    }

    fn unanswered(&mut self, chat: &mut Chat, kind: Asked, now: Instant) {
        match kind {
            Asked::Message => self.metrics.count(Event::MessageUnanswered),
            Asked::Jwt => chat.jwt_due = Some(now + Duration::from_secs(1)),
            Asked::Echo => {}
        }
    }

    /// Sends what has fallen due; `Some` when the socket turned out to be gone.
    async fn due(
        &mut self,
        socket: &mut Socket,
        chat: &mut Chat,
        timers: &mut Timers,
    ) -> Option<Ending> {
        let now = Instant::now();
        if now >= timers.ping {
            timers.ping = now + self.plan.ping_interval;
            if !socket.ping().await {
                return Some(Ending::Lost);
            }
        }
        if let Some(ending) = self.expire(chat, now) {
            return Some(ending);
        }
        for frame in self.due_frames(chat, timers, now) {
            if !socket.send(frame).await {
                return Some(Ending::Lost);
            }
        }
        None
    }

    /// Requests past their deadline; an echo unanswered means a dead connection, as the SDKs take it.
    fn expire(&mut self, chat: &mut Chat, now: Instant) -> Option<Ending> {
        while let Some(i) = chat.pending.iter().position(|p| p.deadline <= now) {
            let pending = chat.pending.swap_remove(i);
            self.unanswered(chat, pending.kind, now);
            match pending.kind {
                Asked::Echo => return Some(Ending::Lost),
                Asked::Message => chat.next_message = now + self.think.draw(&mut self.rng),
                Asked::Jwt => {}
            }
        }
        None
    }

    /// The frames due at `now`: resends after a 4029, the next message, an echo, a `getJwt`.
    fn due_frames(&mut self, chat: &mut Chat, timers: &mut Timers, now: Instant) -> Vec<String> {
        let mut frames = Vec::new();
        let timeout = self.plan.reply_timeout;
        for pending in chat.pending.iter_mut() {
            if pending.resend_at.is_some_and(|at| at <= now) {
                pending.resend_at = None;
                pending.resends += 1;
                frames.push(self.message(&chat.token, pending.id));
                self.metrics.count(Event::MessageSent);
            }
        }
        if !chat.waiting(Asked::Message) && chat.next_message <= now {
            let id = chat.id();
            frames.push(self.message(&chat.token, id));
            self.metrics.count(Event::MessageSent);
            chat.ask(id, Asked::Message, chat.next_message, now + timeout);
        }
        if timers.echo.is_some_and(|at| at <= now) {
            let id = chat.id();
            let echo = Action::Echo {
                token: &chat.token,
                tracing_id: &id.to_string(),
                message: Outgoing::text("ping"),
            };
            frames.push(echo.to_json());
            self.metrics.count(Event::EchoSent);
            chat.ask(id, Asked::Echo, now, now + timeout);
            timers.echo = self.plan.echo_interval.map(|every| now + every);
        }
        if chat.jwt_due.is_some_and(|at| at <= now) && !chat.waiting(Asked::Jwt) {
            let id = chat.id();
            let get = Action::GetJwt {
                token: &chat.token,
                tracing_id: &id.to_string(),
            };
            frames.push(get.to_json());
            chat.jwt_due = None;
            chat.ask(id, Asked::Jwt, now, now + timeout);
        }
        frames
    }

    fn message(&self, token: &str, id: u64) -> String {
        Action::OnMessage {
            token,
            tracing_id: &id.to_string(),
            message: Outgoing {
                kind: "Text",
                text: &self.plan.text,
                channel: self.plan.channel.as_deref(),
            },
        }
        .to_json()
    }

    /// The run ended with this widget still chatting: it sends nothing more, but reads the answers
    /// to what it asked (for at most the reply timeout), so that what the server sent is counted.
    async fn settle(&mut self, socket: &mut Socket, chat: &mut Chat) {
        let until = Instant::now() + self.plan.reply_timeout;
        loop {
            // What waits for a resend after a 4029 will not get one now.
            let (resend, waiting): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut chat.pending)
                .into_iter()
                .partition(|p| p.resend_at.is_some());
            chat.pending = waiting;
            for pending in resend {
                self.unanswered(chat, pending.kind, until);
            }
            if chat.pending.is_empty() {
                return;
            }
            let received = tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => break,
                received = socket.receive() => received,
            };
            if self.handle(received, chat).is_some() {
                break;
            }
        }
        let now = Instant::now();
        self.abandon(chat, now);
    }

    /// The socket was lost: what was waiting for an answer will get none; a `getJwt` goes again.
    fn abandon(&mut self, chat: &mut Chat, now: Instant) {
        for pending in std::mem::take(&mut chat.pending) {
            self.unanswered(chat, pending.kind, now);
            if pending.kind == Asked::Message {
                chat.next_message = now;
            }
        }
    }

    /// The user leaves: `closeSession`, then the server's `ConnectionClosedEvent` or its close.
    async fn close(&mut self, mut socket: Socket, chat: &mut Chat) {
        let id = chat.id();
        let close = Action::CloseSession {
            token: &chat.token,
            tracing_id: &id.to_string(),
            close_all_connections: false,
        };
        self.metrics.count(Event::Closed);
        if socket.send(close.to_json()).await {
            let _ = tokio::time::timeout(self.plan.reply_timeout, async {
                loop {
                    match socket.receive().await {
                        Received::Closed(_)
                        | Received::Frame(Frame {
                            reply: Reply::ConnectionClosed,
                            ..
                        }) => break,
                        _ => {}
                    }
                }
            })
            .await;
        }
        socket.close(Duration::from_secs(1)).await;
    }
}

/// When the next ping and echo go.
struct Timers {
    ping: Instant,
    echo: Option<Instant>,
}

impl Chat {
    fn waiting(&self, kind: Asked) -> bool {
        self.pending.iter().any(|p| p.kind == kind)
    }

    fn ask(&mut self, id: u64, kind: Asked, since: Instant, deadline: Instant) {
        self.pending.push(Pending {
            id,
            kind,
            since,
            deadline,
            resends: 0,
            resend_at: None,
        });
    }

    /// The earliest of everything the widget is waiting for.
    fn next_wake(&self, timers: &Timers) -> Instant {
        let mut wake = timers.ping;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                wake = wake.min(at);
            }
        };
        consider(timers.echo);
        consider((!self.waiting(Asked::Message)).then_some(self.next_message));
        consider(self.jwt_due.filter(|_| !self.waiting(Asked::Jwt)));
        for pending in &self.pending {
            consider(Some(pending.deadline));
            consider(pending.resend_at);
        }
        wake
    }
}

/// When a JWT expiring at `exp` (Unix seconds) is fetched again: 5 s before, by the wall clock; at
/// least a second from now, so a server handing out expired JWTs is not asked in a tight loop.
fn jwt_due(exp: i64, now: Instant) -> Instant {
    let unix_now = time::OffsetDateTime::now_utc().unix_timestamp();
    let left = exp.saturating_sub(unix_now).saturating_sub(5);
    now + Duration::from_secs(left.max(1) as u64)
}

enum Opened {
    // Boxed: a socket is hundreds of bytes, the other answers none.
    Ready(Box<Socket>),
    Retry,
    Over,
}

impl Chat {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// What a refused or failed opening counts as.
fn refusal(e: OpenError) -> Event {
    match e {
        OpenError::Refused(403) => Event::RefusedOrigin,
        OpenError::Refused(429) => Event::RefusedCapacity,
        OpenError::Refused(503) => Event::RefusedUnavailable,
        OpenError::Refused(_) => Event::RefusedOther,
        OpenError::Timeout | OpenError::Connect | OpenError::Handshake => Event::ConnectFailed,
    }
}

/// What an error answer (`class: "string"`) counts as.
fn error_event(code: u32) -> Event {
    match code {
        401 => Event::Unauthorized,
        403 => Event::Forbidden,
        400 => Event::BadRequest,
        4011 | 4013 => Event::TooLarge,
        _ => Event::OtherError,
    }
}

fn bad_event(bad: BadFrame) -> Event {
    match bad {
        BadFrame::NotJson => Event::BadFrameNotJson,
        BadFrame::UnknownClass => Event::BadFrameUnknownClass,
        BadFrame::BadBody => Event::BadFrameBody,
        BadFrame::Binary => Event::BadFrameBinary,
        BadFrame::TooLarge => Event::BadFrameTooLarge,
    }
}

/// A version-4 UUID from the session's own random stream: the guest session token a widget makes
/// up, the same on every reconnect.
fn session_token(rng: &mut ChaCha8Rng) -> String {
    let mut bytes: [u8; 16] = rng.random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
