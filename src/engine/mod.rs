//! The engine: releases scheduled requests at the planned rate (or, with sessions with a life,
//! admits sessions that pace their own calls), caps what is in flight, and runs each request through
//! the client model's token handling. It measures through the recorder and nothing else.

pub mod closed;
pub mod expiry;

mod messaging;
pub mod reconnect;
pub mod refresh;
pub mod renew;
mod runners;
pub mod search;
pub mod session;
mod sessions;
mod timer;
pub mod tokens;
mod visits;

use crate::http::Api;
use crate::metrics::Recorder;
use crate::plan::shard::Slice;
use crate::plan::{ClientModel, Load, Org};
use crate::profile::schema::TokenScope;
use runners::Runners;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timer::Timer;
use tokens::TokenCache;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// What every request of one variant's run shares.
pub struct Ctx {
    pub api: Api,
    pub recorder: Arc<Recorder>,
    pub model: ClientModel,
    pub orgs: Arc<[Org]>,
    pub cache: TokenCache,
    pub session_org: Arc<[u32]>,
    /// How long a caller waits for someone else's refresh before giving up, when the model does not say.
    pub wait_limit: Duration,
    /// Seeds per-token jitter.
    pub seed: u64,
    /// Bound on a whole user-level request, from its intended send time.
    pub total_timeout: Option<Duration>,
    /// Background refreshes, aborted when the run ends so none outlives it.
    background: std::sync::Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Ctx {
    /// One token slot per org, or one per session, as the model's scope says.
    pub fn new(
        api: Api,
        recorder: Arc<Recorder>,
        model: ClientModel,
        orgs: Arc<[Org]>,
        session_org: Arc<[u32]>,
        wait_limit: Duration,
        seed: u64,
    ) -> Ctx {
        let slot_orgs: Vec<usize> = match model.scope {
            TokenScope::Org => (0..orgs.len()).collect(),
            TokenScope::Session => session_org.iter().map(|&o| o as usize).collect(),
        };
        Ctx {
            api,
            recorder,
            wait_limit,
            model,
            orgs,
            cache: TokenCache::new(slot_orgs),
            session_org,
            seed,
            total_timeout: None,
            background: Default::default(),
        }
    }

    /// Who sends for a session of the fixed pool: its org, and its org's slot or its own.
    pub fn who(&self, session: u32) -> Who {
        let org = self.session_org[session as usize] as usize;
        Who {
            session,
            org,
            slot: match self.model.scope {
                TokenScope::Org => org,
                TokenScope::Session => session as usize,
            },
        }
    }

    pub fn track_background(&self, task: tokio::task::AbortHandle) {
        let mut tasks = self.background.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    fn abort_background(&self) {
        for task in self
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }
}

/// The session a request is for, its org, and the token slot it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who {
    pub session: u32,
    pub org: usize,
    pub slot: usize,
}

/// One variant's run.
pub struct Run<'a> {
    pub load: &'a Load,
    pub model: ClientModel,
    pub orgs: Arc<[Org]>,
    pub session_org: Arc<[u32]>,
    pub arrival_order: Arc<[u32]>,
    /// The arrivals this process sends (all of them, or its shard's), numbered as in the whole schedule.
    pub slice: Slice,
    pub api: Api,
    pub seed: u64,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every scheduled request was released and the drain finished or ran out.
    Completed,
    /// Stopped early (Ctrl-C, or a threshold that aborts).
    Stopped,
}

/// Runs until the schedule is done or `stop` turns true, then drains in-flight work for at most
/// `load.drain`. The recorder holds the results; requests still unfinished after the drain are counted
/// as such by the recorder.
pub async fn run(run: Run<'_>, recorder: Arc<Recorder>, stop: watch::Receiver<bool>) -> Ending {
    let load = run.load;
    let ctx = Arc::new(Ctx {
        total_timeout: load.total_timeout,
        ..Ctx::new(
            run.api,
            recorder.clone(),
            run.model,
            run.orgs,
            run.session_org,
            load.request_timeout * 2,
            run.seed,
        )
    });
    let arrivals = Arrivals {
        order: run.arrival_order,
        slice: run.slice,
        org_start: load.org_start.clone(),
        session_org: ctx.session_org.clone(),
    };
    // With per-session tokens the fixed pool's slots (one per `[load] sessions`) serve sessions with
    // a life too: as many as may be alive at once, each handed to the next session that arrives.
    let ending = match (&load.sessions, load.connections) {
        (Some(plan), _) => sessions::run(&ctx, load, plan.clone(), stop).await,
        (None, None) => paced_apart(ctx.clone(), load.clone(), arrivals, stop).await,
        (None, Some(workers)) => closed::run(&ctx, load, arrivals, workers, stop).await,
    };
    ctx.abort_background();
    for slot in ctx.cache.slots() {
        for herd in slot.lock().drain_herds() {
            recorder.herd(herd);
        }
    }
    ending
}

/// Which arrivals this process sends and which session sends each. Arrival numbers stay global, so a
/// shard's requests keep their single-process instants; slice-local counters count only its own.
pub(crate) struct Arrivals {
    order: Arc<[u32]>,
    slice: Slice,
    org_start: Arc<[Duration]>,
    session_org: Arc<[u32]>,
}

impl Arrivals {
    /// Whether the session's org has joined `offset` into the run (`org_start_spread`).
    fn joined(&self, session: u32, offset: Duration) -> bool {
        let org = self.session_org[session as usize] as usize;
        self.org_start.get(org).is_none_or(|at| offset >= *at)
    }

    /// The global arrival number and the session of this slice's `k`-th arrival.
    fn nth(&self, k: u64) -> (u64, u32) {
        let arrival = self.slice.global(k);
        (
            arrival,
            self.order[(arrival % self.order.len() as u64) as usize],
        )
    }
}

/// Runs the open model's pacer on a thread and runtime of its own, so its timer wakes that thread
/// directly instead of waiting for a busy worker to poll the shared reactor; requests still run on the
/// caller's runtime. Falls back to pacing on the caller's runtime if the thread cannot be started.
async fn paced_apart(
    ctx: Arc<Ctx>,
    load: Load,
    arrivals: Arrivals,
    stop: watch::Receiver<bool>,
) -> Ending {
    let runners = tokio::runtime::Handle::current();
    let Ok(pacer) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return open(&ctx, &load, arrivals, stop, runners).await;
    };
    let (done, ended) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("tokenstorm-pacer".into())
        .spawn(move || {
            let ending = pacer.block_on(open(&ctx, &load, arrivals, stop, runners));
            let _ = done.send(ending);
        });
    match spawned {
        Ok(_) => ended.await.unwrap_or(Ending::Stopped),
        // The arrivals went down with the closure: nothing was sent, and the report says so.
        Err(_) => Ending::Stopped,
    }
}

/// The shortest time between two wakes of the open-model pacer.
const PACER_QUANTUM: Duration = Duration::from_micros(500);

/// The open model: every arrival is released at its intended time to a runner, whatever the target's
/// response time; beyond `max_in_flight` an arrival is dropped (and counted), never delayed.
async fn open(
    ctx: &Arc<Ctx>,
    load: &Load,
    arrivals: Arrivals,
    mut stop: watch::Receiver<bool>,
    runtime: tokio::runtime::Handle,
) -> Ending {
    let recorder = &ctx.recorder;
    let schedule = load.schedule();
    let permits = Arc::new(Semaphore::new(load.max_in_flight as usize));
    let start = recorder.start();
    let slice = &arrivals.slice;
    let total = slice.owned_before(schedule.total());
    let mut tasks = JoinSet::new();
    let runners = Runners::new(ctx, runtime);
    let mut next: u64 = 0;
    let mut ending = Ending::Completed;
    let mut timer = Timer::new();
    let mut woke = start;

    while next < total {
        // At most one wake per quantum: above 1/QUANTUM arrivals a second each wake releases the few
        // that fell due since the last, so lateness stays under the quantum while the cost of waking
        // (tens of microseconds on a VM) stays bounded.
        let wake_at = (start + schedule.intended(slice.global(next))).max(woke + PACER_QUANTUM);
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => { ending = Ending::Stopped; break; }
            _ = timer.sleep_until(wake_at) => {}
        }
        woke = Instant::now();
        let due = slice.owned_before(schedule.due(start.elapsed()));
        while next < due {
            let (arrival, session) = arrivals.nth(next);
            let offset = schedule.intended(arrival);
            let intended = start + offset;
            next += 1;
            if !arrivals.joined(session, offset) {
                // Its org has not joined yet: this arrival does not exist (and is not counted).
                continue;
            }
            recorder.scheduled(intended);
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    recorder.sent(intended, Instant::now());
                    runners.run(&mut tasks, session, intended, permit);
                }
                // Too much in flight: this request is lost to the target, and the report says so.
                Err(_) => recorder.dropped(intended),
            }
        }
    }

    runners.close();
    drain(&mut tasks, load.drain, &mut stop).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    ending
}

/// Lets in-flight requests finish, for at most `limit` (or until a second stop signal).
async fn drain(tasks: &mut JoinSet<()>, limit: Duration, stop: &mut watch::Receiver<bool>) {
    let all_done = async { while tasks.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(limit, async {
        tokio::select! {
            _ = all_done => {}
            // A stop that arrives while draining shortens the drain to nothing.
            _ = async { if !*stop.borrow() { let _ = stop.wait_for(|s| *s).await; } else { std::future::pending::<()>().await } } => {}
        }
    })
    .await;
}
