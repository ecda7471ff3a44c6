//! The closed model: a fixed set of workers, each sending its next request only after its previous one
//! ended, as wrk and oha do. Paced (`rate` above 0) it is wrk2's model: arrival `n` keeps its intended
//! time, a worker that falls behind sends at once, and latency counts from the intended time, so a
//! stalled target shows in the percentiles instead of quietly slowing the generator down. Arrivals
//! still unsent when pacing ends are counted as dropped: the generator could not keep up, and says so.

use super::{drain, session, Arrivals, Ctx, Ending};
use crate::plan::schedule::Schedule;
use crate::plan::Load;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Shared by the workers: the next arrival to take, and how many were really released.
#[derive(Default)]
struct Counters {
    next: AtomicU64,
    released: AtomicU64,
}

pub(crate) async fn run(
    ctx: &Arc<Ctx>,
    load: &Load,
    arrivals: Arrivals,
    workers: u32,
    mut stop: watch::Receiver<bool>,
) -> Ending {
    let start = ctx.recorder.start();
    let schedule = (load.rate_per_second > 0.0).then(|| load.schedule());
    let counters = Arc::new(Counters::default());
    let arrivals = Arc::new(arrivals);
    let (closing_tx, closing) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for _ in 0..workers {
        let worker = Worker {
            ctx: ctx.clone(),
            arrivals: arrivals.clone(),
            counters: counters.clone(),
            schedule: schedule.clone(),
            closing: closing.clone(),
        };
        tasks.spawn(worker.run());
    }

    let end = start + load.duration;
    let ending = tokio::select! {
        biased;
        _ = stop.wait_for(|s| *s) => Ending::Stopped,
        _ = tokio::time::sleep_until(end.into()) => Ending::Completed,
        // A paced schedule can run out before the deadline when every arrival was taken early.
        _ = async { while tasks.join_next().await.is_some() {} } => Ending::Completed,
    };
    let closed_at = Instant::now();
    let _ = closing_tx.send(true);
    drain(&mut tasks, load.drain, &mut stop).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}

    if let Some(schedule) = &schedule {
        let due = arrivals
            .slice
            .owned_before(schedule.due(closed_at.saturating_duration_since(start)));
        let released = counters.released.load(Ordering::Relaxed);
        for k in released..due {
            let intended = start + schedule.intended(arrivals.slice.global(k));
            ctx.recorder.scheduled(intended);
            ctx.recorder.dropped(intended);
        }
    }
    ending
}

struct Worker {
    ctx: Arc<Ctx>,
    arrivals: Arc<Arrivals>,
    counters: Arc<Counters>,
    schedule: Option<Schedule>,
    closing: watch::Receiver<bool>,
}

impl Worker {
    async fn run(mut self) {
        let start = self.ctx.recorder.start();
        let total = self
            .schedule
            .as_ref()
            .map_or(u64::MAX, |s| self.arrivals.slice.owned_before(s.total()));
        while !*self.closing.borrow() {
            let k = self.counters.next.fetch_add(1, Ordering::Relaxed);
            if k >= total {
                break;
            }
            let (arrival, session) = self.arrivals.nth(k);
            let intended = match &self.schedule {
                Some(s) => start + s.intended(arrival),
                None => Instant::now(),
            };
            if intended > Instant::now() {
                tokio::select! {
                    biased;
                    _ = self.closing.wait_for(|c| *c) => break,
                    _ = tokio::time::sleep_until(intended.into()) => {}
                }
            }
            // Arrivals are released in order of `n` per worker but not across workers, so the count
            // of released arrivals, not the highest `n`, says how many went out.
            self.counters.released.fetch_add(1, Ordering::Relaxed);
            self.ctx.recorder.scheduled(intended);
            self.ctx.recorder.sent(intended, Instant::now());
            session::request(&self.ctx, self.ctx.who(session), intended, 0, false).await;
        }
    }
}
