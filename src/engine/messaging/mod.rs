//! A messaging widget's life on its WebSocket: open and configure the session, send a message after
//! each think time (answers matched by tracingId, as the service may answer out of order), ping and
//! echo to keep the socket healthy, reconnect by the client model's policy when the socket is lost
//! (resuming the same session), and `closeSession` when the user leaves.
//!
//! A message's round trip counts from its intended send time, so time spent reconnecting or waiting
//! out a 4029 is in it, as a user waiting for the answer sees it.

mod configure;
mod converse;

use super::reconnect;
use super::refresh::{token_for, Need};
use super::session::signed_ms;
use super::sessions::Ends;
use super::tokens::Token;
use super::{Ctx, Who};
use crate::http::frames::{Action, BadFrame, Frame, Outgoing, Reply};
use crate::http::socket::{OpenError, Received, Socket, SocketTarget};
use crate::metrics::messaging::{Event, MessagingMetrics, Placed};
use crate::plan::messaging::MessagingPlan;
use crate::plan::sessions::Dist;
use crate::profile::messaging::MessagingAuth;
use crate::vocabulary::Outcome;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    pub ctx: &'a Arc<Ctx>,
    pub who: Who,
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
    /// Where its last sending fell in the life of the session's JWT.
    placed: Option<Placed>,
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
    /// An authenticated session's JWT was refused with a 401.
    Reauthenticate,
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
    /// An authenticated session's JWT from the REST exchange.
    jwt: Option<Arc<Token>>,
}

/// When the next ping and echo go.
struct Timers {
    ping: Instant,
    echo: Option<Instant>,
}

enum Opened {
    // Boxed: a socket is hundreds of bytes, the other answers none.
    Ready(Box<Socket>),
    Retry,
    Over,
}

enum Configured {
    Yes,
    Retry,
    Refused,
}

enum Configure {
    Done,
    Unauthorized,
    Refused,
    Retry,
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
            jwt: None,
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
            let ending = self.on_socket(&mut socket, &mut chat, leave_at, ends).await;
            let now = Instant::now();
            self.metrics
                .unconfigured(self.elapsed(now), matches!(ending, Ending::Lost));
            match ending {
                Ending::Lost => {
                    self.metrics.count(Event::Lost);
                    self.abandon(&mut chat, now, Outcome::ConnectError);
                    lost_at = Some(now);
                }
                Ending::Expired | Ending::Reauthenticate => return Left::Departed,
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

    /// Converses on a configured socket until it ends; an authenticated session whose JWT the socket
    /// refuses (401) gets a new one over REST and configures again on the same socket.
    async fn on_socket(
        &mut self,
        socket: &mut Socket,
        chat: &mut Chat,
        leave_at: Instant,
        ends: &mut Ends,
    ) -> Ending {
        loop {
            match self.converse(socket, chat, leave_at, ends).await {
                Ending::Reauthenticate => match self.authenticate(socket, chat, true).await {
                    Configured::Yes => {}
                    Configured::Retry => return Ending::Lost,
                    // No JWT the socket takes: the widget cannot go on, as if the user left.
                    Configured::Refused => return Ending::Leave,
                },
                ending => return ending,
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
        match self.authenticate(&mut socket, chat, false).await {
            Configured::Yes => Opened::Ready(Box::new(socket)),
            Configured::Retry => Opened::Retry,
            Configured::Refused => Opened::Over,
        }
    }
}

impl Chat {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Where a frame sent now falls in the life of the JWT it carries.
    fn placed(&self, now: Instant) -> Option<Placed> {
        placement(self.jwt.as_deref(), now)
    }
}

/// `None` for a guest: its frames carry the session token, which has no expiry to place them by.
fn placement(jwt: Option<&Token>, now: Instant) -> Option<Placed> {
    let jwt = jwt?;
    Some(Placed {
        offset_ms: jwt.expires_at.map(|at| signed_ms(now, at)),
        phase: jwt.phase(now),
    })
}

impl Widget<'_> {
    /// How a frame sent with the session's JWT was answered (nothing for a guest's).
    fn place(&self, placed: Option<Placed>, outcome: Outcome) {
        if let Some(at) = placed {
            self.metrics.placed(at, outcome);
        }
    }
}

/// An error answer's outcome, as the REST side names a response's.
fn error_outcome(code: u32) -> Outcome {
    match code {
        401 => Outcome::Unauthorized,
        403 => Outcome::Forbidden,
        _ => Outcome::ClientError,
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
