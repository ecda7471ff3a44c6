//! The open model's runners: long-lived tasks that take released arrivals from a queue and run them.
//!
//! A task per arrival costs an allocation the size of the whole request future (about 2.7 KB) per
//! request; glibc serves that size outside its thread caches and consolidates its small-block bins to
//! do it, which made malloc a fifth of the open model's CPU. Runners are spawned only when every
//! existing one is busy, so there are as many as the peak concurrency needed, never more than
//! `max_in_flight` (each running arrival holds one of its permits), and each allocates its future once.

use super::{session, Ctx};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, Mutex, OwnedSemaphorePermit};
use tokio::task::JoinSet;

/// A released arrival: its session, its intended time and its in-flight permit.
type Job = (u32, Instant, OwnedSemaphorePermit);

pub(super) struct Runners {
    queue: mpsc::UnboundedSender<Job>,
    jobs: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    /// Runners waiting for a job (or for their turn at the queue).
    idle: Arc<AtomicUsize>,
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
            idle: Arc::new(AtomicUsize::new(0)),
            ctx: ctx.clone(),
            runtime,
        }
    }

    /// Hands an arrival to an idle runner, starting one in `tasks` when none is idle.
    pub fn run(
        &self,
        tasks: &mut JoinSet<()>,
        session: u32,
        intended: Instant,
        permit: OwnedSemaphorePermit,
    ) {
        if self.idle.load(Ordering::Acquire) == 0 {
            // Counted idle before it exists, so a burst of arrivals starts one runner each, not one
            // runner per arrival per wake.
            self.idle.fetch_add(1, Ordering::AcqRel);
            tasks.spawn_on(
                runner(self.ctx.clone(), self.jobs.clone(), self.idle.clone()),
                &self.runtime,
            );
        }
        // The receiver lives as long as any runner, and a runner was started above if none was idle.
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
    idle: Arc<AtomicUsize>,
) {
    loop {
        let job = jobs.lock().await.recv().await;
        idle.fetch_sub(1, Ordering::AcqRel);
        let Some((session, intended, permit)) = job else {
            return;
        };
        session::request(&ctx, session, intended).await;
        drop(permit);
        idle.fetch_add(1, Ordering::AcqRel);
    }
}
