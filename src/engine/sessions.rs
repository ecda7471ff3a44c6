//! Sessions with a life: a pacer admits sessions at their planned arrival times (beyond `[load]
//! sessions` alive they are refused and counted); each then calls the API, thinks, calls again, until
//! its drawn length ends, and leaves: its token dropped, or revoked (RFC 7009). Concurrency is not
//! set anywhere: it follows from arrivals times length, which the report checks (Little's law).
//!
//! Within a session a call goes when the previous one ended plus the think time (a user waits for the
//! answer); latency counts from that intended time. Across sessions the load is open: arrivals come on
//! schedule whatever the target does, and a call finding `max_in_flight` calls running is dropped.

use super::messaging::{Left, Widget};
use super::timer::Timer;
use super::visits::SavedTokens;
use super::{drain, session, Ctx, Ending, Who};
use crate::plan::messaging::MessagingPlan;
use crate::plan::sessions::{Drawn, SessionPlan};
use crate::plan::Load;
use crate::profile::schema::TokenScope;
use crate::profile::sessions::LeaveKind;
use crate::vocabulary::Outcome;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Room for sessions alive at once, and with per-session tokens the slots they hold.
struct Seats {
    active: AtomicU32,
    max: u32,
    /// Free token slots; `None` when sessions use their org's token.
    free: Option<Mutex<Vec<usize>>>,
}

impl Seats {
    fn new(max: u32, scope: TokenScope) -> Seats {
        Seats {
            active: AtomicU32::new(0),
            max,
            free: (scope == TokenScope::Session)
                .then(|| Mutex::new((0..max as usize).rev().collect())),
        }
    }

    /// A seat for a session of `org`, and the token slot it uses; `None` when every seat is taken.
    fn take(&self, ctx: &Ctx, org: usize) -> Option<usize> {
        if self.active.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let Some(free) = &self.free else {
            return Some(org);
        };
        // As many slots as seats, so a seat taken always finds one; were it not so, the seat goes back.
        let Some(slot) = free.lock().unwrap_or_else(|p| p.into_inner()).pop() else {
            self.active.fetch_sub(1, Ordering::AcqRel);
            return None;
        };
        for herd in ctx.cache.slot(slot).reassign(org) {
            ctx.recorder.herd(herd);
        }
        Some(slot)
    }

    fn give_back(&self, slot: usize) {
        if let Some(free) = &self.free {
            free.lock().unwrap_or_else(|p| p.into_inner()).push(slot);
        }
        self.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where the run is: sessions make the calls (and leave when) intended before its time is up, even
/// when late; after that they make none; a stop ends them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closing {
    Open,
    TimeUp,
    Stopped,
}

/// What the sessions of one run share.
struct Shared {
    ctx: Arc<Ctx>,
    plan: Arc<SessionPlan>,
    seats: Seats,
    permits: Arc<Semaphore>,
    closing: watch::Receiver<Closing>,
    /// When the run's time is up.
    end: Instant,
    /// With `[messaging]`: each session is a widget on a WebSocket.
    messaging: Option<Arc<MessagingPlan>>,
    /// Tokens left by departed sessions, for returning visitors (per-session tokens only: an org's
    /// token is shared, no visitor's own).
    saved: Option<SavedTokens>,
}

pub(crate) async fn run(
    ctx: &Arc<Ctx>,
    load: &Load,
    plan: Arc<SessionPlan>,
    mut stop: watch::Receiver<bool>,
) -> Ending {
    let start = ctx.recorder.start();
    let (closing_tx, closing) = watch::channel(Closing::Open);
    let shared = Arc::new(Shared {
        ctx: ctx.clone(),
        seats: Seats::new(plan.max_active, ctx.model.scope),
        plan: plan.clone(),
        permits: Arc::new(Semaphore::new(load.max_in_flight as usize)),
        closing,
        end: start + load.duration,
        messaging: load.messaging.clone(),
        saved: (plan.returning.is_some() && ctx.model.scope == TokenScope::Session)
            .then(|| SavedTokens::new(ctx.orgs.len(), plan.max_active as usize)),
    });
    let mut tasks = JoinSet::new();
    let mut ending = admit(&shared, load, &mut tasks, &mut stop).await;
    if ending == Ending::Completed {
        // The last arrival is in; the sessions alive go on until the run's time is up.
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => ending = Ending::Stopped,
            _ = tokio::time::sleep_until((start + load.duration).into()) => {}
        }
    }
    let _ = closing_tx.send(match ending {
        Ending::Completed => Closing::TimeUp,
        Ending::Stopped => Closing::Stopped,
    });
    drain(&mut tasks, load.drain, &mut stop).await;
    // Aborted sessions still count their end (their guard records it when dropped).
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    ending
}

/// Admits each planned arrival this process owns at its intended time, until the last or a stop.
async fn admit(
    shared: &Arc<Shared>,
    load: &Load,
    tasks: &mut JoinSet<()>,
    stop: &mut watch::Receiver<bool>,
) -> Ending {
    let (ctx, plan) = (&shared.ctx, &shared.plan);
    let start = ctx.recorder.start();
    let mut timer = Timer::new();
    for (k, offset) in plan.arrivals(load.schedule()).enumerate() {
        let drawn = plan.draw(k as u64);
        if !plan.owned(drawn.org) {
            continue;
        }
        let intended = start + offset;
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return Ending::Stopped,
            _ = timer.sleep_until(intended) => {}
        }
        while tasks.try_join_next().is_some() {}
        let org = drawn.org as usize;
        let Some(slot) = shared.seats.take(ctx, org) else {
            ctx.recorder.session_refused();
            continue;
        };
        ctx.recorder.session_arrived(intended, drawn.length);
        let who = Who {
            // Session numbers name sessions in templates and codes; past 2^32 they wrap.
            session: k as u32,
            org,
            slot,
        };
        let restored = drawn.returning.is_some_and(|age| restore(shared, who, age));
        tasks.spawn(live(shared.clone(), who, intended, drawn, restored));
    }
    Ending::Completed
}

impl Shared {
    /// The messaging widget `who` is, when the run's sessions are messaging ones.
    /// The session's random stream is copied only for a widget: a REST session keeps its own.
    fn widget(&self, who: Who, rng: &ChaCha8Rng) -> Option<Widget<'_>> {
        let (Some(plan), Some(target), Some(metrics)) = (
            self.messaging.as_deref(),
            self.ctx.api.socket(),
            self.ctx.recorder.messaging(),
        ) else {
            return None;
        };
        Some(Widget {
            ctx: &self.ctx,
            who,
            plan,
            target,
            metrics,
            think: &self.plan.think,
            deployment: &self.ctx.orgs[who.org].deployment_id,
            rng: rng.clone(),
        })
    }
}

/// A returning visitor of `who.org` takes the saved token closest to `age` into its slot; false when
/// it arrives as a new visitor, none being saved.
fn restore(shared: &Shared, who: Who, age: Duration) -> bool {
    let ctx = &shared.ctx;
    let now = Instant::now();
    let token = shared
        .saved
        .as_ref()
        .and_then(|saved| saved.restore(who.org, age, now));
    let had = token
        .as_ref()
        .map(|t| now.saturating_duration_since(t.received_at));
    ctx.recorder.session_returned(had);
    let Some(token) = token else {
        return false;
    };
    for herd in ctx.cache.slot(who.slot).lock().install(token) {
        ctx.recorder.herd(herd);
    }
    true
}

/// Records a session's end and frees its seat when it is dropped, so a session aborted after the
/// drain is still counted (as alive at the run's end).
struct Alive {
    shared: Arc<Shared>,
    slot: usize,
    arrived: Instant,
    ended: bool,
}

impl Alive {
    fn end(&mut self, departed: bool) {
        if !self.ended {
            self.ended = true;
            let recorder = &self.shared.ctx.recorder;
            recorder.session_ended(self.arrived, Instant::now(), departed);
        }
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.end(false);
        self.shared.seats.give_back(self.slot);
    }
}

/// One session's life: calls separated by think time until its length ends, then it leaves.
async fn live(shared: Arc<Shared>, who: Who, arrived: Instant, drawn: Drawn, restored: bool) {
    let mut alive = Alive {
        shared: shared.clone(),
        slot: who.slot,
        arrived,
        ended: false,
    };
    let leave_at = arrived + drawn.length;
    let mut ends = Ends {
        closing: shared.closing.clone(),
        end: shared.end,
    };
    let mut rng: ChaCha8Rng = drawn.rng;
    if let Some(widget) = shared.widget(who, &rng) {
        if widget.chat(arrived, leave_at, &mut ends).await == Left::Departed {
            alive.end(true);
        }
        return;
    }
    let mut next = arrived;
    let mut calls = 0u64;
    while next < leave_at {
        if !ends.wait_until(next).await {
            return;
        }
        let step = shared.plan.journey.step(calls, &mut rng);
        // A restored token meets the API first on page load, before any user interaction.
        let on_load = restored && calls == 0;
        calls += 1;
        call(&shared, who, next, step, on_load).await;
        next = Instant::now() + shared.plan.think.draw(&mut rng);
    }
    if !ends.wait_until(leave_at).await {
        return;
    }
    alive.end(true);
    match shared.plan.leave {
        LeaveKind::Revoke => Box::pin(revoke(&shared.ctx, who)).await,
        LeaveKind::Drop => {
            if let Some(saved) = &shared.saved {
                let token = shared.ctx.cache.slot(who.slot).lock().token.clone();
                if let Some(token) = token {
                    saved.save(who.org, token);
                }
            }
        }
    }
}

/// When a session must end before its time: at a stop, or, for a time past the run's end, when its
/// time is up (the session is then alive at the end, not departed).
pub(super) struct Ends {
    closing: watch::Receiver<Closing>,
    end: Instant,
}

impl Ends {
    /// Whether a session waiting for `at` is to end now instead.
    pub(super) fn over(&self, at: Instant) -> bool {
        let state = *self.closing.borrow();
        Self::ends(at < self.end, state)
    }

    fn ends(before_end: bool, state: Closing) -> bool {
        match before_end {
            true => state == Closing::Stopped,
            false => state != Closing::Open,
        }
    }

    /// Sleeps until `at`; false when the session ends first.
    pub(super) async fn wait_until(&mut self, at: Instant) -> bool {
        let before_end = at < self.end;
        if self.over(at) {
            return false;
        }
        tokio::select! {
            biased;
            _ = self.closing.wait_for(|c| Self::ends(before_end, *c)) => false,
            _ = tokio::time::sleep_until(at.into()) => true,
        }
    }
}

/// One user-level request of the session (step `step` of its journey), released at `intended` unless too much is in flight.
async fn call(shared: &Shared, who: Who, intended: Instant, step: usize, on_load: bool) {
    let recorder = &shared.ctx.recorder;
    recorder.scheduled(intended);
    match shared.permits.clone().try_acquire_owned() {
        Ok(_permit) => {
            recorder.sent(intended, Instant::now());
            // Boxed: a request's future (token work, the HTTP exchange) is kilobytes, and inline it
            // would set the size of every session's task, also the many thinking or waiting to leave.
            Box::pin(session::request(&shared.ctx, who, intended, step, on_load)).await;
        }
        Err(_) => recorder.dropped(intended),
    }
}

/// Revocation on leaving: RFC 7009 of the session's refresh token (which takes its access tokens
/// with it), else its access token; or, in the web-deployments dialect, the JWT's revoke. Org tokens are shared with the org's other sessions, so a
/// session of an org-token model has nothing of its own to revoke.
async fn revoke(ctx: &Ctx, who: Who) {
    if ctx.model.scope != TokenScope::Session {
        return;
    }
    let Some(token) = ctx.cache.slot(who.slot).lock().token.take() else {
        return;
    };
    let org = &ctx.orgs[who.org];
    let credentials = crate::http::Credentials {
        org: &org.name,
        session: who.session,
        client_id: &org.client_id,
        client_secret: &org.client_secret,
        deployment_id: &org.deployment_id,
    };
    let outcome = ctx
        .api
        .revoke(credentials, &token.access, token.refresh.as_ref())
        .await;
    ctx.recorder.session_revoked(outcome == Outcome::Ok);
}
