//! Getting a usable token for a request: use the cached one, or get a new one the way the client model
//! coalesces (alone, as leader or waiter of a single-flight round, or under a lock with a time to live).

use super::renew::renew;
use super::tokens::{Round, RoundResult, Token};
use super::Ctx;
use crate::plan::Coalescing;
use crate::profile::schema::OnWaitTimeout;
use crate::vocabulary::Outcome;
use std::sync::Arc;
use std::time::{Duration, Instant};
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
    Use(Arc<Token>),
    /// Use the token, and refresh in the background as the leader of a new round (advisory window).
    UseAndRefresh(Arc<Token>, Option<watch::Sender<Option<RoundResult>>>),
    Lead(
        Option<Arc<Token>>,
        Option<watch::Sender<Option<RoundResult>>>,
    ),
    LeadLocked(Option<Arc<Token>>, u64),
    Wait(Round),
    Poll,
}

/// How often a caller blocked by a `lock` looks again (the Genesys Go SDK polls every 200 ms).
const LOCK_POLL: Duration = Duration::from_millis(200);

/// A token to send with, or the outcome that stopped the client from getting one.
///
/// Nearly every call finds a usable token in the cache; only the rest pay for the refresh machinery's
/// future, boxed, so the caller's future (moved and copied per request) stays small.
pub async fn token_for(
    ctx: &Arc<Ctx>,
    slot: usize,
    session: u32,
    need: Need,
    held: Option<Arc<Token>>,
) -> RoundResult {
    let began = Instant::now();
    match decide(ctx, slot, need, held, began) {
        Step::Use(token) => Ok(token),
        first => {
            Box::pin(async move {
                let mut polls = 0;
                let result =
                    refresh_or_wait(ctx, slot, session, need, first, began, &mut polls).await;
                if polls > 0 {
                    // A lock waiter's wait is the whole time it polled, recorded once.
                    ctx.recorder.refresh_wait(began.elapsed());
                }
                result
            })
            .await
        }
    }
}

/// Carries out the decided steps until one ends with a token or an outcome: refresh alone, as a
/// round's leader or under a lock; wait for another's round; or poll a lock someone else holds.
async fn refresh_or_wait(
    ctx: &Arc<Ctx>,
    slot: usize,
    session: u32,
    need: Need,
    first: Step,
    began: Instant,
    polls: &mut u32,
) -> RoundResult {
    let mut next = Some(first);
    loop {
        let step = match next.take() {
            Some(step) => step,
            None => decide(ctx, slot, need, None, Instant::now()),
        };
        match step {
            Step::Use(token) => return Ok(token),
            Step::UseAndRefresh(token, round) => {
                ctx.recorder.background_refresh();
                let (task_ctx, current) = (ctx.clone(), token.clone());
                let task = tokio::spawn(async move {
                    lead(&task_ctx, slot, session, Some(current), round).await
                });
                ctx.track_background(task.abort_handle());
                return Ok(token);
            }
            Step::Lead(replacing, round) => {
                return lead(ctx, slot, session, replacing, round).await
            }
            Step::LeadLocked(replacing, lock_id) => {
                let result = renew(ctx, slot, session, replacing).await;
                let mut state = ctx.cache.slot(slot).lock();
                if state.lock_id == lock_id {
                    state.lock_until = None;
                }
                return result;
            }
            Step::Wait(round) => {
                let (timeout, on_timeout) = match ctx.model.coalesce {
                    Coalescing::SingleFlight {
                        wait_timeout,
                        on_timeout,
                    } => (wait_timeout, on_timeout),
                    _ => (ctx.wait_limit, OnWaitTimeout::Fail),
                };
                match wait(ctx, round, timeout).await {
                    WaitEnd::Done(result) => return result,
                    // The leader's request was cancelled (its own total_timeout): decide again,
                    // which may make this caller the next leader.
                    WaitEnd::LeaderGone => continue,
                    WaitEnd::TimedOut if on_timeout == OnWaitTimeout::Refresh => {
                        let replacing = ctx.cache.slot(slot).lock().token.clone();
                        return renew(ctx, slot, session, replacing).await;
                    }
                    WaitEnd::TimedOut => return Err(Outcome::Timeout),
                }
            }
            Step::Poll => {
                let limit = match ctx.model.coalesce {
                    Coalescing::Lock { wait_timeout, .. } => wait_timeout,
                    _ => ctx.wait_limit,
                };
                if began.elapsed() >= limit {
                    ctx.recorder.waiter_timeout();
                    return Err(Outcome::Timeout);
                }
                *polls += 1;
                tokio::time::sleep(LOCK_POLL).await;
            }
        }
    }
}

fn decide(ctx: &Ctx, slot: usize, need: Need, held: Option<Arc<Token>>, now: Instant) -> Step {
    let mut state = ctx.cache.slot(slot).lock();
    let current = state.token.clone();
    let coalescing = !matches!(ctx.model.coalesce, Coalescing::None);
    let usable = match (&current, need) {
        (Some(t), Need::Usable) => !t.must_refresh(now),
        // Someone already replaced the rejected token: a coalescing client just uses the new one.
        (Some(t), Need::Rejected { generation }) => {
            coalescing && t.generation > generation && !t.must_refresh(now)
        }
        (None, _) => false,
    };
    if let (true, Some(token)) = (usable, current.clone()) {
        if need == Need::Usable && token.in_advisory_window(now) {
            ctx.recorder.used_inside_window();
            if state.background_for < token.generation && state.pending.is_none() {
                state.background_for = token.generation;
                let round = coalescing.then(|| {
                    let (tx, rx) = watch::channel(None);
                    state.pending = Some(rx);
                    tx
                });
                return Step::UseAndRefresh(token, round);
            }
        }
        return Step::Use(token);
    }
    match ctx.model.coalesce {
        // A client without coalescing refreshes with the token it holds, not the shared one.
        Coalescing::None => Step::Lead(held.or(current), None),
        Coalescing::SingleFlight { .. } => match &state.pending {
            // A round whose leader was cancelled has no sender left: nobody will finish it.
            Some(round) if round.has_changed().is_ok() => Step::Wait(round.clone()),
            _ => {
                let (tx, rx) = watch::channel(None);
                state.pending = Some(rx);
                Step::Lead(current, Some(tx))
            }
        },
        Coalescing::Lock { ttl, .. } => {
            if state.lock_until.is_some_and(|until| now < until) {
                Step::Poll
            } else {
                // Free, or expired while its holder is still refreshing: the oauth2-proxy duplicate.
                state.lock_until = Some(now + ttl);
                state.lock_id += 1;
                Step::LeadLocked(current, state.lock_id)
            }
        }
    }
}

async fn lead(
    ctx: &Ctx,
    slot: usize,
    session: u32,
    replacing: Option<Arc<Token>>,
    round: Option<watch::Sender<Option<RoundResult>>>,
) -> RoundResult {
    let result = renew(ctx, slot, session, replacing).await;
    if let Some(tx) = round {
        ctx.cache.slot(slot).lock().pending = None;
        // Waiters may all have gone (their requests were cancelled); nothing to tell then.
        let _ = tx.send(Some(result.clone()));
    }
    result
}

enum WaitEnd {
    Done(RoundResult),
    TimedOut,
    /// The leader's request was cancelled mid-refresh, so the round will never end.
    LeaderGone,
}

async fn wait(ctx: &Ctx, mut round: Round, timeout: Duration) -> WaitEnd {
    let started = Instant::now();
    let waited = tokio::time::timeout(timeout, round.wait_for(|r| r.is_some())).await;
    ctx.recorder.refresh_wait(started.elapsed());
    match waited {
        Ok(Ok(result)) => WaitEnd::Done(result.clone().unwrap_or(Err(Outcome::Timeout))),
        Ok(Err(_)) => WaitEnd::LeaderGone,
        Err(_) => {
            ctx.recorder.waiter_timeout();
            WaitEnd::TimedOut
        }
    }
}
