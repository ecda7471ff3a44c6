//! The life of one scheduled request: get a token, call the contacts API, and on a 401 (or a 429)
//! refresh or wait and retry as many times as the client model allows.

use super::refresh::{token_for, Need};
use super::Ctx;
use crate::http::{CallVars, Reply};
use crate::profile::schema::TokenScope;
use crate::vocabulary::{Endpoint, Outcome};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn request(ctx: &Arc<Ctx>, session: u32, intended: Instant) {
    let began = Instant::now();
    // How late the pacer released this request: part of its latency, never hidden (wrk2's correction).
    let lateness = began.saturating_duration_since(intended);
    let slot = match ctx.model.scope {
        TokenScope::Org => ctx.session_org[session as usize] as usize,
        TokenScope::Session => session as usize,
    };

    let mut need = Need::Usable;
    let mut held = None;
    let mut reached_api = false;
    let (mut tries_401, mut tries_429, mut attempts) = (0, 0, 0);
    // Time this request spent getting tokens (its own refreshes and waits on others'): part of its
    // latency, also reported on its own.
    let mut token_time = Duration::ZERO;
    // A real target's `total_timeout` bounds the whole request; each step gets what is left of it.
    let deadline = ctx.total_timeout.map(|t| intended + t);
    let outcome = loop {
        let asked = Instant::now();
        let got = within(deadline, token_for(ctx, slot, session, need, held.take())).await;
        token_time += asked.elapsed();
        let token = match got {
            Some(Ok(token)) => token,
            Some(Err(outcome)) => break outcome,
            None => break Outcome::Timeout,
        };
        respect_retry_after(ctx, slot).await;
        if attempts > 0 {
            // Counted only once the repeat call really goes out, so calls = sent - no_token + retries.
            ctx.recorder.retry();
        }
        let sent_at = Instant::now();
        let phase = token.phase(sent_at);
        let org = &ctx.orgs[ctx.session_org[session as usize] as usize];
        let vars = CallVars {
            org: &org.name,
            session,
            deployment_id: &org.deployment_id,
        };
        // Boxed: the call's future is large (hyper's request and response state), and unboxed it made
        // this one ten times larger, copied whole into each worker's loop per request.
        let call = Box::pin(ctx.api.contacts(&token.access, vars));
        let reply = within(deadline, call)
            .await
            .unwrap_or_else(|| Reply::failed(Outcome::Timeout));
        let ended = Instant::now();
        let attempt_start = if attempts == 0 {
            sent_at - lateness
        } else {
            sent_at
        };
        attempts += 1;
        ctx.recorder
            .attempt(Endpoint::Contacts, reply.outcome, attempt_start, ended);
        if attempts == 1 {
            ctx.recorder.first_attempt(reply.outcome);
        }
        let took = ended.saturating_duration_since(attempt_start);
        ctx.recorder.phase(phase, reply.outcome, took);
        let org = ctx.session_org[session as usize] as usize;
        ctx.recorder.org_call(org, reply.outcome, took);
        if reply.outcome == Outcome::Unauthorized
            && token.generation > 1
            && phase != crate::vocabulary::Phase::Expired
        {
            // A refreshed token rejected before the expiry the client believes in (propagation
            // delay, a wrong-tenant refresh, clock offset): how long after the refresh that happened.
            ctx.recorder
                .unauthorized_after_refresh(sent_at.saturating_duration_since(token.received_at));
        }
        if let Some(expires_at) = token.expires_at {
            ctx.recorder
                .lens(signed_ms(sent_at, expires_at), reply.outcome);
        }
        reached_api = true;
        match reply.outcome {
            Outcome::Unauthorized if tries_401 < ctx.model.retries_on_401 => {
                tries_401 += 1;
                need = Need::Rejected {
                    generation: token.generation,
                };
                held = Some(token);
            }
            Outcome::RateLimited => {
                if let Some(wait) = reply.retry_after {
                    ctx.cache.slot(slot).lock().api_retry_until = Some(ended + wait);
                }
                if tries_429 >= ctx.model.retries_on_429 {
                    break reply.outcome;
                }
                tries_429 += 1;
                need = Need::Usable;
            }
            outcome => break outcome,
        }
    };
    let ended = Instant::now();
    ctx.recorder.finished(
        outcome,
        ended.saturating_duration_since(intended),
        ended.saturating_duration_since(began),
        reached_api,
    );
    ctx.recorder.token_time(token_time);
    if attempts > 1 && outcome == Outcome::Ok {
        ctx.recorder.recovered();
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
