//! Getting a usable token for a request: use the cached one, or refresh the way the client model says
//! (alone, or as the leader or a waiter of a single-flight round).

use super::tokens::{Round, RoundResult, Slot, Token};
use super::Ctx;
use crate::http::{Credentials, Endpoint, Grant, Outcome};
use crate::plan::RefreshTrigger;
use crate::profile::schema::{Coalesce, RefreshGrant, TokenScope};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Why a token is being asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Before a request: use the cached token unless the model says it is due for refresh.
    Usable,
    /// After the API rejected the token of this generation.
    Rejected { generation: u64 },
}

enum Step {
    Ready(Arc<Token>),
    Lead(
        Option<Arc<Token>>,
        Option<watch::Sender<Option<RoundResult>>>,
    ),
    Wait(Round),
}

fn due_for_refresh(model_trigger: RefreshTrigger, token: &Token, now: Instant) -> bool {
    match (model_trigger, token.expires_at) {
        (RefreshTrigger::Preemptive { margin }, Some(expires_at)) => now + margin >= expires_at,
        _ => false,
    }
}

/// A token to send with, or the outcome that stopped the client from getting one.
pub async fn token_for(
    ctx: &Ctx,
    slot: &Slot,
    session: u32,
    need: Need,
    held: Option<Arc<Token>>,
) -> RoundResult {
    let now = Instant::now();
    let step = {
        let mut state = slot.lock();
        let current = state.token.clone();
        let fresh = match (&current, need) {
            (Some(t), Need::Usable) if !due_for_refresh(ctx.model.trigger, t, now) => {
                Some(t.clone())
            }
            // Someone already replaced the rejected token: a coalescing client just uses the new one.
            (Some(t), Need::Rejected { generation })
                if t.generation > generation && ctx.model.coalesce == Coalesce::SingleFlight =>
            {
                Some(t.clone())
            }
            _ => None,
        };
        match fresh {
            Some(t) => Step::Ready(t),
            None => match ctx.model.coalesce {
                Coalesce::SingleFlight => match &state.pending {
                    Some(round) => Step::Wait(round.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        state.pending = Some(rx);
                        Step::Lead(current, Some(tx))
                    }
                },
                // A client without coalescing refreshes with the token it holds, not the shared one.
                Coalesce::None => Step::Lead(held.or(current), None),
            },
        }
    };
    match step {
        Step::Ready(token) => Ok(token),
        Step::Wait(round) => wait(ctx, round).await,
        Step::Lead(replacing, round) => {
            let result = renew(ctx, slot, session, replacing).await;
            if let Some(tx) = round {
                slot.lock().pending = None;
                // Waiters may all have gone (their requests were cancelled); nothing to tell then.
                let _ = tx.send(Some(result.clone()));
            }
            result
        }
    }
}

async fn wait(ctx: &Ctx, mut round: Round) -> RoundResult {
    let started = Instant::now();
    let waited = tokio::time::timeout(ctx.wait_limit, round.wait_for(|r| r.is_some())).await;
    ctx.recorder.refresh_wait(started.elapsed());
    match waited {
        Ok(Ok(result)) => result.clone().unwrap_or(Err(Outcome::Timeout)),
        // The leader's request was cancelled mid-refresh.
        Ok(Err(_)) => Err(Outcome::ConnectError),
        Err(_) => Err(Outcome::Timeout),
    }
}

/// One HTTP call to the token endpoint that replaces `replacing` (or gets a first token).
async fn renew(ctx: &Ctx, slot: &Slot, session: u32, replacing: Option<Arc<Token>>) -> RoundResult {
    let org = &ctx.orgs[slot.org];
    let credentials = Credentials {
        client_id: &org.client_id,
        client_secret: &org.client_secret,
    };
    let code;
    let (endpoint, grant) = match (&replacing, ctx.model.refresh_grant) {
        (Some(old), RefreshGrant::RefreshToken) if old.refresh.is_some() => (
            Endpoint::Refresh,
            Grant::RefreshToken {
                refresh_token: old
                    .refresh
                    .as_ref()
                    .unwrap_or_else(|| unreachable!("checked in the guard")),
            },
        ),
        (Some(_), RefreshGrant::ClientCredentials) => (Endpoint::Refresh, Grant::ClientCredentials),
        (_, _) if ctx.model.scope == TokenScope::Session => {
            code = format!("sim-session-{session}");
            (Endpoint::Token, Grant::AuthorizationCode { code: &code })
        }
        _ => (Endpoint::Token, Grant::ClientCredentials),
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

    let started = Instant::now();
    let reply = {
        let _in_flight = ctx.recorder.refresh_in_flight(slot.org, started);
        ctx.api.token(credentials, grant).await
    };
    let ended = Instant::now();
    ctx.recorder
        .attempt(endpoint, reply.outcome, started, ended);

    match reply.value {
        Some(issued) if reply.outcome == Outcome::Ok => {
            let token = Arc::new(Token {
                access: issued.access_token,
                // A server that does not rotate keeps the old refresh token valid (RFC 6749 6).
                refresh: issued
                    .refresh_token
                    .or_else(|| replacing.as_ref().and_then(|t| t.refresh.clone())),
                expires_at: issued.expires_in.map(|ttl| started + ttl),
                generation: replaces + 1,
            });
            let closed = slot.lock().install(token.clone());
            for herd in closed {
                ctx.recorder.herd(herd);
            }
            Ok(token)
        }
        _ => {
            if reply.outcome == Outcome::InvalidGrant {
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
