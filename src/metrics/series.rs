//! Counts over the run in fixed time buckets (1 s, wider for long runs so a report stays small).

use crate::vocabulary::{Endpoint, Outcome};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// At most this many buckets, whatever the run length: a 1 h run gets 6 s buckets.
const MAX_BUCKETS: u64 = 600;

#[derive(Default)]
struct Bucket {
    scheduled: AtomicU64,
    dropped: AtomicU64,
    attempts: [[AtomicU64; Outcome::COUNT]; Endpoint::COUNT],
    refreshes_in_flight_max: AtomicU64,
    requests_in_flight_max: AtomicU64,
    session_arrivals: AtomicU64,
    session_ends: AtomicU64,
}

pub struct TimeSeries {
    width: Duration,
    buckets: Box<[Bucket]>,
}

/// One bucket's counts, in plain numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketSnapshot {
    pub start_s: f64,
    pub scheduled: u64,
    pub dropped: u64,
    pub attempts: [[u64; Outcome::COUNT]; Endpoint::COUNT],
    pub refreshes_in_flight_max: u64,
    pub requests_in_flight_max: u64,
    /// Sessions with a life that arrived, and that ended (left, or were alive when the run ended).
    pub session_arrivals: u64,
    pub session_ends: u64,
}

impl TimeSeries {
    /// `expected` is the longest the run can take; later samples go to the last bucket.
    pub fn new(expected: Duration) -> TimeSeries {
        let secs = expected.as_secs().max(1);
        let width_s = secs.div_ceil(MAX_BUCKETS).max(1);
        let count = secs.div_ceil(width_s) + 1;
        TimeSeries {
            width: Duration::from_secs(width_s),
            buckets: (0..count).map(|_| Bucket::default()).collect(),
        }
    }

    pub fn width(&self) -> Duration {
        self.width
    }

    /// The bucket `elapsed` falls in; later samples go to the last one.
    pub fn index(&self, elapsed: Duration) -> usize {
        let i = (elapsed.as_nanos() / self.width.as_nanos().max(1)) as usize;
        i.min(self.buckets.len() - 1)
    }

    fn at(&self, elapsed: Duration) -> &Bucket {
        &self.buckets[self.index(elapsed)]
    }

    pub fn scheduled(&self, elapsed: Duration) {
        self.at(elapsed).scheduled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dropped(&self, elapsed: Duration) {
        self.at(elapsed).dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub fn attempt(&self, elapsed: Duration, endpoint: Endpoint, outcome: Outcome) {
        self.at(elapsed).attempts[endpoint.index()][outcome.index()]
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_arrived(&self, elapsed: Duration) {
        self.at(elapsed)
            .session_arrivals
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn session_ended(&self, elapsed: Duration) {
        self.at(elapsed)
            .session_ends
            .fetch_add(1, Ordering::Relaxed);
    }

    pub fn in_flight(&self, elapsed: Duration, requests: u64, refreshes: u64) {
        let b = self.at(elapsed);
        b.requests_in_flight_max
            .fetch_max(requests, Ordering::Relaxed);
        b.refreshes_in_flight_max
            .fetch_max(refreshes, Ordering::Relaxed);
    }

    /// Buckets up to and including the last one that saw anything.
    pub fn snapshot(&self) -> Vec<BucketSnapshot> {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out: Vec<BucketSnapshot> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, b)| BucketSnapshot {
                start_s: (self.width * i as u32).as_secs_f64(),
                scheduled: load(&b.scheduled),
                dropped: load(&b.dropped),
                attempts: std::array::from_fn(|e| std::array::from_fn(|o| load(&b.attempts[e][o]))),
                refreshes_in_flight_max: load(&b.refreshes_in_flight_max),
                requests_in_flight_max: load(&b.requests_in_flight_max),
                session_arrivals: load(&b.session_arrivals),
                session_ends: load(&b.session_ends),
            })
            .collect();
        let used = out
            .iter()
            .rposition(|b| {
                *b != BucketSnapshot {
                    start_s: b.start_s,
                    ..Default::default()
                }
            })
            .map_or(0, |i| i + 1);
        out.truncate(used);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_runs_get_wider_buckets_and_late_samples_are_kept() {
        let short = TimeSeries::new(Duration::from_secs(30));
        assert_eq!(short.width(), Duration::from_secs(1));
        let long = TimeSeries::new(Duration::from_secs(3600));
        assert_eq!(long.width(), Duration::from_secs(6));
        short.scheduled(Duration::from_millis(1500));
        short.scheduled(Duration::from_secs(999));
        let snap = short.snapshot();
        assert_eq!(snap[1].scheduled, 1);
        assert_eq!(snap.last().map(|b| b.scheduled), Some(1));
        assert_eq!(snap.iter().map(|b| b.scheduled).sum::<u64>(), 2);
    }
}
