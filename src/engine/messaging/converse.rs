//! The conversation on a configured socket: answers matched by tracingId, messages after think
//! time, resends after a 4029 or a 401, pings and echoes, and what a widget does when the run ends
//! or the user leaves.

use super::*;

/// 4029 answers a message is sent again after, at most (then it counts as unanswered).
const MAX_RESENDS: u32 = 3;

/// The conversation on one configured socket.
impl Widget<'_> {
    pub(super) async fn converse(
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
                    self.reauthenticates(code)
                }
                _ => None,
            };
        };
        let refused = match frame.reply {
            Reply::Error { code } => self.reauthenticates(code),
            _ => None,
        };
        self.answer(chat, index, frame.reply, now);
        refused
    }

    /// An authenticated session meets a 401: its JWT has expired (or was revoked).
    fn reauthenticates(&self, code: u32) -> Option<Ending> {
        (code == 401 && self.plan.auth == MessagingAuth::Authenticated)
            .then_some(Ending::Reauthenticate)
    }

    /// The answer to pending request `index`.
    fn answer(&mut self, chat: &mut Chat, index: usize, reply: Reply, now: Instant) {
        let kind = chat.pending[index].kind;
        let outcome = match (kind, &reply) {
            (Asked::Message | Asked::Echo, Reply::Structured) | (Asked::Jwt, Reply::Jwt { .. }) => {
                Outcome::Ok
            }
            (_, Reply::Error { code }) => error_outcome(*code),
            (_, Reply::RateLimited { .. }) => Outcome::RateLimited,
            _ => Outcome::BadResponse,
        };
        self.place(chat.pending[index].placed, outcome);
        if let Reply::RateLimited { .. } = reply {
            self.metrics.count(Event::RateLimited);
        }
        if let (Reply::Error { code: 401 }, Asked::Message) = (&reply, kind) {
            let pending = &mut chat.pending[index];
            if self.plan.auth == MessagingAuth::Authenticated && pending.resends < MAX_RESENDS {
                // Sent again once the session is configured with a new JWT.
                self.metrics.count(Event::Unauthorized);
                pending.resend_at = Some(now);
                pending.deadline = now + self.plan.reply_timeout;
                return;
            }
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
            self.place(pending.placed, Outcome::Timeout);
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
        // Borrowed apart: a resend is placed by the JWT while its request is changed.
        let Chat {
            pending,
            jwt,
            token,
            ..
        } = &mut *chat;
        for pending in pending.iter_mut() {
            if pending.resend_at.is_some_and(|at| at <= now) {
                pending.resend_at = None;
                pending.resends += 1;
                pending.placed = placement(jwt.as_deref(), now);
                frames.push(self.message(token, pending.id));
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
        let gone = loop {
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
                _ = tokio::time::sleep_until(until.into()) => break Outcome::Timeout,
                received = socket.receive() => received,
            };
            if self.handle(received, chat).is_some() {
                break Outcome::ConnectError;
            }
        };
        let now = Instant::now();
        self.abandon(chat, now, gone);
    }

    /// The socket was lost (or the widget stopped waiting: `outcome`): what was waiting for an
    /// answer will get none; a `getJwt` goes again.
    pub(super) fn abandon(&mut self, chat: &mut Chat, now: Instant, outcome: Outcome) {
        for pending in std::mem::take(&mut chat.pending) {
            self.place(pending.placed, outcome);
            self.unanswered(chat, pending.kind, now);
            if pending.kind == Asked::Message {
                chat.next_message = now;
            }
        }
    }

    /// The user leaves: `closeSession`, then the server's `ConnectionClosedEvent` or its close.
    pub(super) async fn close(&mut self, mut socket: Socket, chat: &mut Chat) {
        let id = chat.id();
        let close = Action::CloseSession {
            token: &chat.token,
            tracing_id: &id.to_string(),
            close_all_connections: false,
        };
        self.metrics.count(Event::Closed);
        let placed = chat.placed(Instant::now());
        if socket.send(close.to_json()).await {
            let timeout = self.plan.reply_timeout;
            let answered = tokio::time::timeout(timeout, self.closed(&mut socket, chat)).await;
            self.place(placed, answered.unwrap_or(Outcome::Timeout));
        }
        socket.close(Duration::from_secs(1)).await;
    }

    /// What the server answers a `closeSession`.
    async fn closed(&mut self, socket: &mut Socket, chat: &mut Chat) -> Outcome {
        let mut answer = Outcome::Ok;
        loop {
            match socket.receive().await {
                Received::Closed(_)
                | Received::Frame(Frame {
                    reply: Reply::ConnectionClosed,
                    ..
                }) => return answer,
                // A 401 here: the JWT expired since the last frame; the session is left to expire
                // on the server.
                Received::Frame(Frame {
                    reply: Reply::Error { code },
                    ..
                }) => {
                    self.metrics.count(error_event(code));
                    answer = error_outcome(code);
                    if code == 401 {
                        return answer;
                    }
                }
                Received::Frame(frame) => {
                    let _ = self.handle(Received::Frame(frame), chat);
                }
                Received::Bad(bad) => self.metrics.count(bad_event(bad)),
            }
        }
    }
}

impl Chat {
    fn waiting(&self, kind: Asked) -> bool {
        self.pending.iter().any(|p| p.kind == kind)
    }

    /// Waits for the answer to request `id`, sent now with the session's JWT.
    fn ask(&mut self, id: u64, kind: Asked, since: Instant, deadline: Instant) {
        let placed = self.placed(Instant::now());
        self.pending.push(Pending {
            id,
            kind,
            since,
            deadline,
            resends: 0,
            resend_at: None,
            placed,
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
