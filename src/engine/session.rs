//! The life of one scheduled request: get a token, call the contacts API, and on a 401 (or a 429)
//! refresh or wait and retry as many times as the client model allows.

use super::refresh::{token_for, Need};
use super::tokens::Token;
use super::{Ctx, Who};
use crate::http::{CallVars, Reply};
use crate::vocabulary::{Endpoint, Outcome, Phase};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Step `step` of the journey (0 when it has one call), intended at `intended`; `on_load`: a
/// returning visitor's first call, with the token it restored.
pub async fn request(ctx: &Arc<Ctx>, who: Who, intended: Instant, step: usize, on_load: bool) {
    let mut request = Request::new(ctx, who, intended, step);
    request.on_load = on_load;
    request.unchecked = on_load && !ctx.model.check_saved_expiry;
    request.check_restored = on_load && ctx.model.check_saved_expiry;
    let outcome = loop {
        let token = match request.token().await {
            Ok(token) => token,
            // The token endpoint's 429: the model may ask again, once its `Retry-After` has passed
            // (the renewal waits it out when the model honours it).
            Err(Outcome::RateLimited) if request.may_retry_429() => continue,
            Err(outcome) => break outcome,
        };
        let attempt = request.call(&token).await;
        request.record(&token, &attempt);
        if let Some(outcome) = request.retry_or_end(token, &attempt) {
            break outcome;
        }
    };
    request.finish(outcome);
}

/// One user-level request as it goes: its token work, its calls, and what the model lets it retry.
struct Request<'a> {
    ctx: &'a Arc<Ctx>,
    session: u32,
    /// The token slot it uses: its org's or its own, as the model's scope says.
    slot: usize,
    org: usize,
    /// Which of the journey's steps it calls.
    step: usize,
    /// A returning visitor's first call, with its restored token.
    on_load: bool,
    /// The model sends the restored token as saved, without looking at its expiry first.
    unchecked: bool,
    /// The model looks at the restored token's expiry first, and replaces it when it has passed
    /// (whatever its refresh trigger: a reactive client checks a saved token too).
    check_restored: bool,
    intended: Instant,
    began: Instant,
    /// How late the pacer released it: part of its latency, never hidden (wrk2's correction).
    lateness: Duration,
    /// A real target's `total_timeout` bounds the whole request; each step gets what is left of it.
    deadline: Option<Instant>,
    need: Need,
    /// The token the API rejected, for a refresh that must replace it.
    held: Option<Arc<Token>>,
    reached_api: bool,
    tries_401: u32,
    tries_429: u32,
    attempts: u32,
    /// Time spent getting tokens (its own refreshes and waits on others'): part of its latency, also
    /// reported on its own.
    token_time: Duration,
}

/// One call to the API and when it happened.
struct Attempt {
    reply: Reply<()>,
    phase: Phase,
    sent_at: Instant,
    /// Where its latency starts: the intended time for the first call, the send for a retry.
    started: Instant,
    ended: Instant,
}

impl<'a> Request<'a> {
    fn new(ctx: &'a Arc<Ctx>, who: Who, intended: Instant, step: usize) -> Request<'a> {
        let began = Instant::now();
        Request {
            ctx,
            session: who.session,
            slot: who.slot,
            org: who.org,
            step,
            on_load: false,
            unchecked: false,
            check_restored: false,
            intended,
            began,
            lateness: began.saturating_duration_since(intended),
            deadline: ctx.total_timeout.map(|t| intended + t),
            need: Need::Usable,
            held: None,
            reached_api: false,
            tries_401: 0,
            tries_429: 0,
            attempts: 0,
            token_time: Duration::ZERO,
        }
    }

    /// A token to call with, from the cache or the client model's refresh.
    async fn token(&mut self) -> Result<Arc<Token>, Outcome> {
        let restored = || self.ctx.cache.slot(self.slot).lock().token.clone();
        if std::mem::take(&mut self.unchecked) {
            if let Some(token) = restored() {
                return Ok(token);
            }
        }
        if std::mem::take(&mut self.check_restored) {
            let now = Instant::now();
            let expired = restored().filter(|t| t.expires_at.is_some_and(|at| now >= at));
            if let Some(token) = expired {
                self.need = Need::Rejected {
                    generation: token.generation,
                };
                self.held = Some(token);
            }
        }
        let asked = Instant::now();
        let wanted = token_for(
            self.ctx,
            self.slot,
            self.session,
            self.need,
            self.held.take(),
        );
        let got = within(self.deadline, wanted).await;
        self.token_time += asked.elapsed();
        got.unwrap_or(Err(Outcome::Timeout))
    }

    /// The API call with `token`, once a pending `Retry-After` allows it.
    async fn call(&mut self, token: &Token) -> Attempt {
        respect_retry_after(self.ctx, self.slot).await;
        if self.attempts > 0 {
            // Counted only once the repeat call really goes out, so calls = sent - no_token + retries.
            self.ctx.recorder.retry();
        }
        let sent_at = Instant::now();
        let phase = token.phase(sent_at);
        let org = &self.ctx.orgs[self.org];
        let vars = CallVars {
            org: &org.name,
            org_index: self.org,
            session: self.session,
            deployment_id: &org.deployment_id,
        };
        // Boxed: the call's future holds the HTTP client's whole exchange (the request, the HTTP/1.1
        // or HTTP/2 state, the timeout's timer), far more than the rest of this request's state; inline,
        // it would set the size of this future, which a runner moves into place for every request.
        let call = Box::pin(self.ctx.api.step(self.step, &token.access, vars));
        let reply = within(self.deadline, call)
            .await
            .unwrap_or_else(|| Reply::failed(Outcome::Timeout));
        let started = if self.attempts == 0 {
            sent_at - self.lateness
        } else {
            sent_at
        };
        self.attempts += 1;
        self.reached_api = true;
        Attempt {
            reply,
            phase,
            sent_at,
            started,
            ended: Instant::now(),
        }
    }

    /// What the recorder learns from one call: its latency by endpoint, phase and org, and where it
    /// fell against the token's expiry.
    fn record(&self, token: &Token, a: &Attempt) {
        let recorder = &self.ctx.recorder;
        let outcome = a.reply.outcome;
        recorder.attempt(Endpoint::Contacts, outcome, a.started, a.ended);
        recorder.step_attempt(self.step, outcome, a.started, a.ended);
        if a.reply.resent {
            recorder.stale_resend(Endpoint::Contacts);
        }
        if self.attempts == 1 {
            recorder.first_attempt(outcome);
            if self.on_load && outcome == Outcome::Unauthorized {
                recorder
                    .unauthorized_on_load(a.sent_at.saturating_duration_since(token.received_at));
            }
        }
        let took = a.ended.saturating_duration_since(a.started);
        recorder.phase(a.phase, outcome, took);
        recorder.org_call(self.org, outcome, took);
        let expired = matches!(a.phase, Phase::Expired | Phase::ExpiredByClaim);
        if outcome == Outcome::Unauthorized && token.generation > 1 && !expired {
            // A refreshed token rejected before any expiry it carries (propagation delay, a
            // wrong-tenant refresh, clock offset): how long after the refresh that happened.
            recorder
                .unauthorized_after_refresh(a.sent_at.saturating_duration_since(token.received_at));
        }
        if let Some(expires_at) = token.expires_at {
            let offset = signed_ms(a.sent_at, expires_at);
            recorder.lens(offset, outcome);
            recorder.step_lens(self.step, offset, outcome);
        }
        if let Some(exp) = token.claim_expires_at {
            recorder.claim_lens(signed_ms(a.sent_at, exp), outcome);
        }
    }

    /// Whether the model has a 429 retry left, using it up if so.
    fn may_retry_429(&mut self) -> bool {
        let left = self.tries_429 < self.ctx.model.retries_on_429;
        self.tries_429 += u32::from(left);
        left
    }

    /// `None` to try again (a 401 the model retries with a new token, a 429 it retries after the
    /// server's wait); otherwise the request's outcome.
    fn retry_or_end(&mut self, token: Arc<Token>, a: &Attempt) -> Option<Outcome> {
        let model = &self.ctx.model;
        match a.reply.outcome {
            Outcome::Unauthorized if self.tries_401 < model.retries_on_401 => {
                self.tries_401 += 1;
                self.need = Need::Rejected {
                    generation: token.generation,
                };
                self.held = Some(token);
                None
            }
            Outcome::RateLimited => {
                if let Some(wait) = a.reply.retry_after {
                    self.ctx.cache.slot(self.slot).lock().api_retry_until = Some(a.ended + wait);
                }
                if !self.may_retry_429() {
                    return Some(Outcome::RateLimited);
                }
                self.need = Need::Usable;
                None
            }
            outcome => Some(outcome),
        }
    }

    fn finish(self, outcome: Outcome) {
        let recorder = &self.ctx.recorder;
        let ended = Instant::now();
        recorder.finished(
            outcome,
            ended.saturating_duration_since(self.intended),
            ended.saturating_duration_since(self.began),
            self.reached_api,
        );
        recorder.token_time(self.token_time);
        if self.attempts > 1 && outcome == Outcome::Ok {
            recorder.recovered();
        }
    }
}

/// `None` when the deadline passed first.
async fn within<T>(
    deadline: Option<Instant>,
    work: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at.into(), work).await.ok(),
        None => Some(work.await),
    }
}

/// Before an API call while a `Retry-After` is pending for this token: a client that honours it waits it
/// out; either way the recorder learns whether the call came after the time the server asked for.
async fn respect_retry_after(ctx: &Ctx, slot: usize) {
    let Some(until) = ctx.cache.slot(slot).lock().api_retry_until else {
        return;
    };
    if ctx.model.honor_retry_after {
        tokio::time::sleep_until(until.into()).await;
    }
    let respected = Instant::now() >= until;
    ctx.recorder.retry_after(respected);
    if respected {
        let mut state = ctx.cache.slot(slot).lock();
        if state.api_retry_until == Some(until) {
            state.api_retry_until = None;
        }
    }
}

/// `a - b` in whole milliseconds, rounded down (so 0.5 ms before expiry is -1, not 0).
pub(super) fn signed_ms(a: Instant, b: Instant) -> i64 {
    let micros = match a.checked_duration_since(b) {
        Some(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        None => -i64::try_from(b.duration_since(a).as_micros()).unwrap_or(i64::MAX),
    };
    micros.div_euclid(1000)
}
