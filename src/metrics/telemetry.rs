//! A live reading of the recorder for export while a run goes: the recorder's own counters and
//! histograms, read without stopping the hot path (atomics, and each latency shard's lock held once
//! for one pass over its per-endpoint histograms).

use super::latency::{new_histogram, Latencies};
use super::Recorder;
use crate::vocabulary::{Endpoint, Outcome, Phase};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Counts of HTTP exchanges by endpoint and outcome.
pub type Calls = [[u64; Outcome::COUNT]; Endpoint::COUNT];

/// What the recorder holds now, as plain data. Every count only grows during a run (gauges aside).
#[derive(Clone)]
pub struct Telemetry {
    pub elapsed: Duration,
    /// HTTP exchanges by endpoint and outcome: the same counters as report.json's `endpoints`.
    pub calls: Calls,
    /// The same exchanges by the profile's stage they were sent in (empty without stages); what
    /// was sent after the last stage (the drain) is `calls` less their sum.
    pub calls_by_stage: Vec<Calls>,
    /// Contacts calls by their token's phase and outcome.
    pub by_phase: [[u64; Outcome::COUNT]; Phase::COUNT],
    /// User-level requests by final outcome.
    pub requests: [u64; Outcome::COUNT],
    pub scheduled: u64,
    pub sent: u64,
    pub dropped: u64,
    pub retries: u64,
    pub in_flight: u64,
    pub refreshes_in_flight: u64,
    pub waiter_timeouts: u64,
    /// Latency of every exchange per endpoint, all outcomes together, in microseconds.
    pub latency: [Option<Histogram<u64>>; Endpoint::COUNT],
    /// Time callers waited on someone else's refresh, in microseconds.
    pub refresh_wait: Option<Histogram<u64>>,
    /// Herd size -> how many token generations drew that many refreshes.
    pub herds: BTreeMap<u64, u64>,
    /// Sessions with a life (`[sessions]`): the same counts as report.json's `sessions` block;
    /// `None` for the fixed pool.
    pub sessions: Option<super::sessions::SessionsSnapshot>,
    /// Messaging widgets' sockets (`[messaging]`): the counts of report.json's `messaging` block.
    pub messaging: Option<super::messaging::MessagingLive>,
}

impl Recorder {
    /// The live reading; `calls` and `calls_by_stage` come from one pass over the latency shards,
    /// so the two agree with each other at every reading.
    pub fn telemetry(&self, now: std::time::Instant) -> Telemetry {
        let c = &self.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let (calls, mut calls_by_stage, latency, refresh_wait) = read_latencies(&self.latencies);
        // Every stage from the start, so a run makes the same series whichever stage it is in.
        if calls_by_stage.len() < self.stage_ends.len() {
            calls_by_stage.resize(
                self.stage_ends.len(),
                [[0; Outcome::COUNT]; Endpoint::COUNT],
            );
        }
        Telemetry {
            elapsed: self.elapsed(now),
            calls,
            calls_by_stage,
            by_phase: std::array::from_fn(|p| std::array::from_fn(|o| load(&c.by_phase[p][o]))),
            requests: std::array::from_fn(|o| load(&c.finished[o])),
            scheduled: load(&c.scheduled),
            sent: load(&c.sent),
            dropped: load(&c.dropped),
            retries: load(&c.retries),
            in_flight: load(&c.in_flight),
            refreshes_in_flight: self.contention.total_in_flight(),
            waiter_timeouts: load(&c.waiter_timeouts),
            latency,
            refresh_wait,
            herds: self.contention.herds(),
            sessions: self
                .sessions
                .as_ref()
                .map(super::sessions::SessionMetrics::snapshot),
            messaging: self
                .messaging()
                .map(super::messaging::MessagingMetrics::live),
        }
    }
}

type Read = (
    Calls,
    Vec<Calls>,
    [Option<Histogram<u64>>; Endpoint::COUNT],
    Option<Histogram<u64>>,
);

fn read_latencies(latencies: &Latencies) -> Read {
    let mut calls = [[0; Outcome::COUNT]; Endpoint::COUNT];
    let mut by_stage: Vec<Calls> = Vec::new();
    let mut latency: [Option<Histogram<u64>>; Endpoint::COUNT] = Default::default();
    let mut wait: Option<Histogram<u64>> = None;
    latencies.each_shard(|s| {
        for (e, row) in s.by_endpoint.iter().enumerate() {
            for (o, h) in row.iter().enumerate() {
                if let Some(h) = h {
                    calls[e][o] += h.len();
                    // Same precision, auto-resizing: adding cannot fail.
                    let _ = latency[e].get_or_insert_with(new_histogram).add(h);
                }
            }
        }
        if by_stage.len() < s.by_stage.len() {
            by_stage.resize(s.by_stage.len(), [[0; Outcome::COUNT]; Endpoint::COUNT]);
        }
        for (into, stage) in by_stage.iter_mut().zip(&s.by_stage) {
            for (e, row) in stage.iter().enumerate() {
                for (o, h) in row.iter().enumerate() {
                    into[e][o] += h.as_ref().map_or(0, Histogram::len);
                }
            }
        }
        if let Some(h) = &s.refresh_wait {
            let _ = wait.get_or_insert_with(new_histogram).add(h);
        }
    });
    (calls, by_stage, latency, wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn the_reading_matches_the_snapshot_and_splits_by_stage() {
        let start = Instant::now();
        let r = Recorder::new(1, start, Duration::from_secs(10))
            .with_stages(vec![Duration::from_secs(1), Duration::from_secs(2)]);
        let at = |ms| start + Duration::from_millis(ms);
        r.attempt(Endpoint::Contacts, Outcome::Ok, at(100), at(110));
        r.attempt(
            Endpoint::Contacts,
            Outcome::Unauthorized,
            at(1500),
            at(1510),
        );
        r.attempt(Endpoint::Token, Outcome::Ok, at(2500), at(2600));
        r.herd(3);
        r.refresh_wait(Duration::from_millis(20));
        let t = r.telemetry(at(3000));
        let s = r.snapshot(at(3000));
        assert_eq!(t.calls, s.attempts);
        let (c, tok) = (Endpoint::Contacts.index(), Endpoint::Token.index());
        assert_eq!(t.calls_by_stage.len(), 2);
        assert_eq!(t.calls_by_stage[0][c][Outcome::Ok.index()], 1);
        assert_eq!(t.calls_by_stage[1][c][Outcome::Unauthorized.index()], 1);
        // The token call was sent after the last stage: in `calls`, in no stage.
        assert_eq!(t.calls[tok][Outcome::Ok.index()], 1);
        assert_eq!(t.calls_by_stage.iter().map(|s| s[tok][0]).sum::<u64>(), 0);
        assert_eq!(t.latency[c].as_ref().map(Histogram::len), Some(2));
        assert_eq!(t.refresh_wait.as_ref().map(Histogram::len), Some(1));
        assert_eq!(t.herds.get(&3), Some(&1));
    }
}
