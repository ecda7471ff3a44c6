//! One call to the token endpoint that gets a slot its first token or replaces the one it holds.

use super::expiry::{jitter_share, windows};
use super::tokens::{RoundResult, Token};
use super::Ctx;
use crate::http::{Credentials, Grant};
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
    let own = &ctx.orgs[slot.org];
    let held_refresh = replacing.as_ref().and_then(|t| t.refresh.as_ref());
    let code;
    let (endpoint, grant, org) = match (ctx.model.refresh_grant, held_refresh) {
        (RefreshGrant::RefreshToken, Some(refresh_token)) => {
            // The known multi-org bug: a partner org's refresh sent with the primary org's client.
            let org = match (ctx.model.partner_credentials, own.primary) {
                (PartnerCredentials::Primary, Some(primary)) => &ctx.orgs[primary],
                _ => own,
            };
            (
                Endpoint::Refresh,
                Grant::RefreshToken { refresh_token },
                org,
            )
        }
        // No refresh token to use: the stand-in for a user signing in again.
        (RefreshGrant::RefreshToken, None) => {
            code = format!("sim-{}-{slot_index}-{session}", own.name);
            (
                Endpoint::Token,
                Grant::AuthorizationCode { code: &code },
                own,
            )
        }
        (RefreshGrant::ClientCredentials, _) => {
            let endpoint = if replacing.is_some() {
                Endpoint::Refresh
            } else {
                Endpoint::Token
            };
            (endpoint, Grant::ClientCredentials, own)
        }
    };
    let replaces = {
        let mut state = slot.lock();
        let replaces = replacing
            .as_ref()
            .map_or(state.last_generation, |t| t.generation);
        // Herds are about expiry: first tokens (and re-grants after invalid_grant) are not refreshes.
        if endpoint == Endpoint::Refresh {
            state.count_refresh(replaces);
        }
        replaces
    };
    respect_retry_after(ctx, slot_index).await;
    let lens_offset = replacing
        .as_ref()
        .and_then(|t| t.expires_at)
        .filter(|_| endpoint == Endpoint::Refresh)
        .map(|expires_at| super::session::signed_ms(Instant::now(), expires_at));
    if let Some(offset) = lens_offset {
        ctx.recorder.refresh_lens(offset);
    }

    let credentials = Credentials {
        org: &org.name,
        session,
        client_id: &org.client_id,
        client_secret: &org.client_secret,
        deployment_id: &org.deployment_id,
    };
    let started = Instant::now();
    let reply = {
        let _in_flight = ctx.recorder.refresh_in_flight(slot.org, started);
        ctx.api.token(credentials, grant).await
    };
    let ended = Instant::now();
    ctx.recorder
        .attempt(endpoint, reply.outcome, started, ended);
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
            let generation = replaces + 1;
            let w = issued.expires_in.map(|ttl| {
                windows(
                    &ctx.model,
                    started,
                    ttl,
                    jitter_share(ctx.seed, slot_index, generation),
                )
            });
            let token = Arc::new(Token {
                access: issued.access_token,
                // A server that does not rotate keeps the old refresh token valid (RFC 6749 6).
                refresh: issued
                    .refresh_token
                    .or_else(|| replacing.as_ref().and_then(|t| t.refresh.clone())),
                expires_at: w.map(|w| w.expires_at),
                refresh_at: w.and_then(|w| w.refresh_at),
                advisory_at: w.and_then(|w| w.advisory_at),
                generation,
                used: Default::default(),
                received_at: Instant::now(),
            });
            let closed = slot.lock().install(token.clone());
            for herd in closed {
                ctx.recorder.herd(herd);
            }
            Ok(token)
        }
        _ => {
            if reply.outcome == Outcome::InvalidGrant {
                ctx.recorder.invalid_grant(slot.org);
                // The refresh token is dead: forget it, so the next request starts over with a fresh grant.
                let mut state = slot.lock();
                if state.token.as_ref().map(|t| t.generation) == Some(replaces) {
                    state.token = None;
                }
            }
            Err(reply.outcome)
        }
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
