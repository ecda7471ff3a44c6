//! Configuring a widget's session: a guest's at once, an authenticated one's with its JWT from the
//! REST code exchange, refreshed through the client model's token machinery after a 401.

use super::*;
use crate::http::frames::AuthData;

/// Configures an authenticated session tries after a 401, each with a JWT refreshed over REST (the
/// SDKs' 3).
const MAX_REAUTHENTICATIONS: u32 = 3;

impl Widget<'_> {
    /// Configures the session on `socket`: a guest at once; an authenticated session with its JWT,
    /// and after a 401 with one refreshed over REST, up to 3 times. `rejected`: the JWT the session
    /// holds was just refused (a 401 on the configured socket).
    pub(super) async fn authenticate(
        &mut self,
        socket: &mut Socket,
        chat: &mut Chat,
        rejected: bool,
    ) -> Configured {
        let fresh = !rejected;
        let mut rejected = rejected;
        for _ in 0..=MAX_REAUTHENTICATIONS {
            let jwt = match self.plan.auth {
                MessagingAuth::Guest => None,
                MessagingAuth::Authenticated => match self.jwt(chat, rejected).await {
                    Some(jwt) => Some(jwt),
                    None => return Configured::Retry,
                },
            };
            match self.configure(socket, chat, jwt.as_deref(), fresh).await {
                Configure::Done => return Configured::Yes,
                Configure::Unauthorized if jwt.is_some() => rejected = true,
                Configure::Unauthorized | Configure::Refused => return Configured::Refused,
                Configure::Retry => return Configured::Retry,
            }
        }
        Configured::Refused
    }

    /// The session's JWT from the token machinery (the client model's cache, refresh and
    /// coalescing, as for REST calls); a new one when `rejected`. `None` when the REST side failed.
    async fn jwt(&mut self, chat: &mut Chat, rejected: bool) -> Option<String> {
        let held = chat.jwt.take();
        let need = match (&held, rejected) {
            (Some(token), true) => {
                self.metrics.count(Event::Reauthenticated);
                Need::Rejected {
                    generation: token.generation,
                }
            }
            _ => Need::Usable,
        };
        match token_for(self.ctx, self.who.slot, self.who.session, need, held).await {
            Ok(token) => {
                let jwt = token.access.expose().to_owned();
                chat.jwt = Some(token);
                Some(jwt)
            }
            Err(_) => {
                self.metrics.count(Event::NoJwt);
                None
            }
        }
    }

    /// One configure and its answer. `fresh`: on a socket just opened (a configure on a socket
    /// already configured, after a 401, is no new socket in the series).
    async fn configure(
        &mut self,
        socket: &mut Socket,
        chat: &mut Chat,
        jwt: Option<&str>,
        fresh: bool,
    ) -> Configure {
        let id = chat.id();
        let tracing_id = id.to_string();
        let configure = match jwt {
            None => Action::ConfigureSession {
                deployment_id: self.deployment,
                token: &chat.token,
                tracing_id: &tracing_id,
            },
            Some(code) => Action::ConfigureAuthenticatedSession {
                deployment_id: self.deployment,
                token: &chat.token,
                tracing_id: &tracing_id,
                data: AuthData { code },
            },
        };
        let sent = Instant::now();
        let placed = chat.placed(sent);
        if !socket.send(configure.to_json()).await {
            return Configure::Retry;
        }
        let deadline = sent + self.plan.reply_timeout;
        loop {
            let received = tokio::select! {
                biased;
                _ = tokio::time::sleep_until(deadline.into()) => {
                    self.metrics.count(Event::ConfigureFailed);
                    self.place(placed, Outcome::Timeout);
                    return Configure::Retry;
                }
                received = socket.receive() => received,
            };
            match received {
                Received::Frame(Frame {
                    reply: Reply::Session { new_session },
                    ..
                }) => {
                    let now = Instant::now();
                    self.place(placed, Outcome::Ok);
                    self.metrics
                        .configured(self.elapsed(now), now - sent, new_session, fresh);
                    return Configure::Done;
                }
                Received::Frame(Frame {
                    reply: Reply::Error { code },
                    ..
                }) => {
                    self.metrics.count(error_event(code));
                    self.metrics.count(Event::ConfigureFailed);
                    self.place(placed, error_outcome(code));
                    // A deployment that does not exist or a session refused stays so: retrying
                    // would only repeat the answer. A 401 may be cured by a new JWT.
                    return match code {
                        401 => Configure::Unauthorized,
                        _ => Configure::Refused,
                    };
                }
                Received::Frame(_) => {}
                Received::Bad(bad) => self.metrics.count(bad_event(bad)),
                Received::Closed(_) => {
                    if fresh {
                        self.metrics.count(Event::LostConfiguring);
                    }
                    self.place(placed, Outcome::ConnectError);
                    return Configure::Retry;
                }
            }
        }
    }
}
