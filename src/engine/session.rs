//! The life of one scheduled request: get a token, call the contacts API, and on a 401 refresh and retry
//! as many times as the client model allows.

use super::refresh::{token_for, Need};
use super::Ctx;
use crate::http::{Endpoint, Outcome};
use crate::profile::schema::TokenScope;
use std::time::Instant;

pub async fn request(ctx: &Ctx, session: u32, intended: Instant) {
    let began = Instant::now();
    // How late the pacer released this request: part of its latency, never hidden (wrk2's correction).
    let lateness = began.saturating_duration_since(intended);
    let slot_index = match ctx.model.scope {
        TokenScope::Org => ctx.session_org[session as usize] as usize,
        TokenScope::Session => session as usize,
    };
    let slot = ctx.cache.slot(slot_index);

    let mut need = super::refresh::Need::Usable;
    let mut held = None;
    let mut reached_api = false;
    let mut tries = 0;
    let outcome = loop {
        let token = match token_for(ctx, slot, session, need, held.take()).await {
            Ok(token) => token,
            Err(outcome) => break outcome,
        };
        let sent_at = Instant::now();
        let reply = ctx.api.contacts(&token.access).await;
        let ended = Instant::now();
        let attempt_start = if tries == 0 {
            sent_at - lateness
        } else {
            sent_at
        };
        ctx.recorder
            .attempt(Endpoint::Contacts, reply.outcome, attempt_start, ended);
        if let Some(expires_at) = token.expires_at {
            ctx.recorder
                .lens(signed_ms(sent_at, expires_at), reply.outcome);
        }
        reached_api = true;
        if reply.outcome == Outcome::Unauthorized && tries < ctx.model.retries_on_401 {
            tries += 1;
            ctx.recorder.retry();
            need = Need::Rejected {
                generation: token.generation,
            };
            held = Some(token);
            continue;
        }
        break reply.outcome;
    };
    ctx.recorder.finished(
        outcome,
        Instant::now().saturating_duration_since(intended),
        reached_api,
    );
}

/// `a - b` in whole milliseconds, rounded down (so 0.5 ms before expiry is -1, not 0).
fn signed_ms(a: Instant, b: Instant) -> i64 {
    let micros = match a.checked_duration_since(b) {
        Some(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        None => -i64::try_from(b.duration_since(a).as_micros()).unwrap_or(i64::MAX),
    };
    micros.div_euclid(1000)
}
