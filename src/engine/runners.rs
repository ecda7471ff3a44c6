//! The open model's runners: long-lived tasks that take released arrivals from a queue and run them.
//!
//! A task per arrival would cost an allocation the size of the whole request future (kilobytes) per
//! request, a size glibc serves outside its thread caches, consolidating its small-block bins to do
//! it: malloc would take a large share of the open model's CPU. Runners are spawned only when every
//! existing one is busy, so there are as many as the peak concurrency needed, never more than
//! `max_in_flight` (each running arrival holds one of its permits), and each allocates its future once.

use super::{session, Ctx};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, Mutex, OwnedSemaphorePermit};
use tokio::task::JoinSet;

/// A released arrival: its session, its intended time and its in-flight permit.
type Job = (u32, Instant, OwnedSemaphorePermit);

pub(super) struct Runners {
    queue: mpsc::UnboundedSender<Job>,
    jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    /// Idle runners not yet promised to a queued job. Every queued job has a runner promised to it,
    /// so no arrival waits for another request to finish before it is sent.
    spare: Arc<AtomicIsize>,
    ctx: Arc<Ctx>,
    /// The runtime runners run on (the pacer may wait on a runtime of its own).
    runtime: tokio::runtime::Handle,
}

impl Runners {
    pub fn new(ctx: &Arc<Ctx>, runtime: tokio::runtime::Handle) -> Runners {
        let (queue, jobs) = mpsc::unbounded_channel();
        Runners {
            queue,
            jobs: Arc::new(Mutex::new(jobs)),
            spare: Arc::new(AtomicIsize::new(0)),
            ctx: ctx.clone(),
            runtime,
        }
    }

    /// Hands an arrival to an idle runner, starting one in `tasks` when none is spare.
    pub fn run(
        &self,
        tasks: &mut JoinSet<()>,
        session: u32,
        intended: Instant,
        permit: OwnedSemaphorePermit,
    ) {
        if self.spare.fetch_sub(1, Ordering::AcqRel) <= 0 {
            // None was spare: a new runner is this job's. (A runner freed meanwhile just stays spare.)
            self.spare.fetch_add(1, Ordering::AcqRel);
            tasks.spawn_on(
                runner(self.ctx.clone(), self.jobs.clone(), self.spare.clone()),
                &self.runtime,
            );
        }
        // The receiver lives as long as any runner, and this job has one promised to it.
        let _ = self.queue.send((session, intended, permit));
    }

    /// No more arrivals: runners finish the queue and their requests, then end.
    pub fn close(self) {
        drop(self.queue);
    }
}

async fn runner(
    ctx: Arc<Ctx>,
    jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    spare: Arc<AtomicIsize>,
) {
    // A new runner starts promised to the job that started it, so it is not spare yet.
    loop {
        let job = jobs.lock().await.recv().await;
        let Some((session, intended, permit)) = job else {
            return;
        };
        session::request(&ctx, ctx.who(session), intended, 0, false).await;
        drop(permit);
        spare.fetch_add(1, Ordering::AcqRel);
    }
}
