//! One call to the token endpoint that gets a slot its first token or replaces the one it holds.

use super::expiry::{jitter_share, windows};
use super::tokens::{RoundResult, Slot, Token};
use super::Ctx;
use crate::http::{Credentials, Grant, Issued};
use crate::plan::Org;
use crate::profile::schema::{PartnerCredentials, RefreshGrant};
use crate::vocabulary::{Endpoint, Outcome};
use std::sync::Arc;
use std::time::Instant;

pub async fn renew(
    ctx: &Ctx,
    slot_index: usize,
    session: u32,
    replacing: Option<Arc<Token>>,
) -> RoundResult {
    let slot = ctx.cache.slot(slot_index);
    let epoch = slot.lock().epoch;
    let replacing = replacing.as_deref();
    let mut code = None;
    let ask = ask(ctx, slot, slot_index, session, replacing, &mut code);
    let replaces = count_refresh(slot, replacing, ask.endpoint);
    respect_retry_after(ctx, slot_index).await;
    let lens_offset = replacing
        .and_then(|t| t.expires_at)
        .filter(|_| ask.endpoint == Endpoint::Refresh)
        .map(|expires_at| super::session::signed_ms(Instant::now(), expires_at));
    if let Some(offset) = lens_offset {
        ctx.recorder.refresh_lens(offset);
    }
    let started = Instant::now();
    let reply = {
        let _in_flight = ctx.recorder.refresh_in_flight(slot.org(), started);
        ctx.api
            .token(credentials(ask.org, session), ask.grant)
            .await
    };
    let ended = Instant::now();
    ctx.recorder
        .attempt(ask.endpoint, reply.outcome, started, ended);
    if reply.resent {
        ctx.recorder.stale_resend(ask.endpoint);
    }
    if let Some(offset) = lens_offset {
        ctx.recorder.refresh_lens_outcome(offset, reply.outcome);
    }
    if let Some(wait) = reply
        .retry_after
        .filter(|_| reply.outcome == Outcome::RateLimited)
    {
        slot.lock().token_retry_until = Some(ended + wait);
    }
    match reply.value {
        Some(issued) if reply.outcome == Outcome::Ok => {
            let token = token(ctx, slot_index, issued, replacing, replaces + 1, started);
            let closed = {
                let mut state = slot.lock();
                match state.epoch == epoch {
                    true => state.install(token.clone()),
                    // The session it was for has left and another holds the slot now.
                    false => Vec::new(),
                }
            };
            for herd in closed {
                ctx.recorder.herd(herd);
            }
            Ok(token)
        }
        _ => {
            if reply.outcome == Outcome::InvalidGrant {
                forget_dead_token(ctx, slot, replaces);
            }
            Err(reply.outcome)
        }
    }
}

/// What a renewal asks the token endpoint for, which endpoint it counts against, and whose client
/// asks.
struct Ask<'a> {
    endpoint: Endpoint,
    grant: Grant<'a>,
    org: &'a Org,
}

/// The grant the client model uses to replace `replacing` (or to get a first token); `code` holds
/// the sign-in stand-in's code while the request needs it.
fn ask<'a>(
    ctx: &'a Ctx,
    slot: &Slot,
    slot_index: usize,
    session: u32,
    replacing: Option<&'a Token>,
    code: &'a mut Option<String>,
) -> Ask<'a> {
    let own = &ctx.orgs[slot.org()];
    let held_refresh = replacing.and_then(|t| t.refresh.as_ref());
    match (ctx.model.refresh_grant, held_refresh) {
        (RefreshGrant::RefreshToken, Some(refresh_token)) => Ask {
            endpoint: Endpoint::Refresh,
            grant: Grant::RefreshToken { refresh_token },
            // The known multi-org bug: a partner org's refresh sent with the primary org's client.
            org: match (ctx.model.partner_credentials, own.primary) {
                (PartnerCredentials::Primary, Some(primary)) => &ctx.orgs[primary],
                _ => own,
            },
        },
        // No refresh token to use: the stand-in for a user signing in again.
        (RefreshGrant::RefreshToken, None) => Ask {
            endpoint: Endpoint::Token,
            grant: Grant::AuthorizationCode {
                code: code.insert(format!("sim-{}-{slot_index}-{session}", own.name)),
            },
            org: own,
        },
        (RefreshGrant::ClientCredentials, _) => Ask {
            endpoint: if replacing.is_some() {
                Endpoint::Refresh
            } else {
                Endpoint::Token
            },
            grant: Grant::ClientCredentials,
            org: own,
        },
    }
}

/// The generation this renewal replaces, counted as a refresh of it when it is one.
fn count_refresh(slot: &Slot, replacing: Option<&Token>, endpoint: Endpoint) -> u64 {
    let mut state = slot.lock();
    let replaces = replacing.map_or(state.last_generation, |t| t.generation);
    // Herds are about expiry: first tokens (and re-grants after invalid_grant) are not refreshes.
    if endpoint == Endpoint::Refresh {
        state.count_refresh(replaces);
    }
    replaces
}

fn credentials(org: &Org, session: u32) -> Credentials<'_> {
    Credentials {
        org: &org.name,
        session,
        client_id: &org.client_id,
        client_secret: &org.client_secret,
        deployment_id: &org.deployment_id,
    }
}

/// The issued token as the client holds it, its refresh scheduled by the client model.
fn token(
    ctx: &Ctx,
    slot_index: usize,
    issued: Issued,
    replacing: Option<&Token>,
    generation: u64,
    asked_at: Instant,
) -> Arc<Token> {
    let w = issued.expires_in.map(|ttl| {
        windows(
            &ctx.model,
            asked_at,
            ttl,
            jitter_share(ctx.seed, slot_index, generation),
        )
    });
    // Read together, so the claim's wall-clock time maps onto the monotonic clock the engine uses.
    let (received_at, wall_now) = (Instant::now(), std::time::SystemTime::now());
    Arc::new(Token {
        claim_expires_at: issued.claims.and_then(|c| c.exp_at(received_at, wall_now)),
        access: issued.access_token,
        // A server that does not rotate keeps the old refresh token valid (RFC 6749 6).
        refresh: issued
            .refresh_token
            .or_else(|| replacing.and_then(|t| t.refresh.clone())),
        expires_at: w.map(|w| w.expires_at),
        refresh_at: w.and_then(|w| w.refresh_at),
        advisory_at: w.and_then(|w| w.advisory_at),
        generation,
        used: Default::default(),
        received_at,
    })
}

/// After `invalid_grant` the refresh token is dead: forget it, so the next request starts over with
/// a fresh grant.
fn forget_dead_token(ctx: &Ctx, slot: &Slot, replaced: u64) {
    ctx.recorder.invalid_grant(slot.org());
    let mut state = slot.lock();
    if state.token.as_ref().map(|t| t.generation) == Some(replaced) {
        state.token = None;
    }
}

/// Before a token call: a client that honours `Retry-After` waits it out; either way the recorder
/// learns whether this call came after the time the server asked for.
async fn respect_retry_after(ctx: &Ctx, slot_index: usize) {
    let until = ctx.cache.slot(slot_index).lock().token_retry_until.take();
    if let Some(until) = until {
        if ctx.model.honor_retry_after {
            tokio::time::sleep_until(until.into()).await;
        }
        ctx.recorder.retry_after(Instant::now() >= until);
    }
}
