//! The recorder: everything measured during a variant's run, in memory that does not grow with its length.

pub mod contention;
pub mod latency;
pub mod lens;
pub mod messaging;
pub mod outcomes;
pub mod requests;
pub mod series;
pub mod sessions;
pub mod telemetry;
pub mod tenants;

use crate::vocabulary::Phase;
use crate::vocabulary::{Endpoint, Outcome};
use contention::{Contention, ContentionSnapshot, InFlight};
use latency::{Latencies, LatencySnapshot};
use lens::{ExpiryLens, LensSnapshot};
use outcomes::Outcomes;
use requests::RequestCounts;
use series::{BucketSnapshot, TimeSeries};
use sessions::{SessionMetrics, SessionsSnapshot};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Request-level counters (one scheduled request may make several HTTP attempts).
#[derive(Default)]
struct Counters {
    scheduled: AtomicU64,
    sent: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
    no_token: AtomicU64,
    in_flight: AtomicU64,
    refresh_waits: AtomicU64,
    waiter_timeouts: AtomicU64,
    background_refreshes: AtomicU64,
    inside_window: AtomicU64,
    retry_after_respected: AtomicU64,
    retry_after_violated: AtomicU64,
    finished: [AtomicU64; Outcome::COUNT],
    first_attempt: [AtomicU64; Outcome::COUNT],
    by_phase: [[AtomicU64; Outcome::COUNT]; Phase::COUNT],
    recovered: AtomicU64,
    /// Longest time after a refresh at which the refreshed token still met a 401, in ms, plus one
    /// (0: never happened).
    unauthorized_after_refresh: AtomicU64,
    attempts: [[AtomicU64; Outcome::COUNT]; Endpoint::COUNT],
    stale_resends: [AtomicU64; Endpoint::COUNT],
}

pub struct Recorder {
    start: Instant,
    counters: Counters,
    latencies: Latencies,
    lens: ExpiryLens,
    /// The same calls placed by their token's `exp` claim (the issuer's clock), when it has one.
    claim_lens: ExpiryLens,
    series: TimeSeries,
    contention: Contention,
    tenants: tenants::Tenants,
    /// Where each of the profile's stages ends, from the start (empty without stages).
    stage_ends: Vec<Duration>,
    /// Sessions with a life, when the run has them.
    sessions: Option<SessionMetrics>,
    /// Messaging widgets' sockets, when the sessions are messaging ones.
    messaging: Option<messaging::MessagingMetrics>,
    /// One lens per step of the journey (none for the single-call journey, whose calls are `lens`'s).
    step_lenses: Vec<ExpiryLens>,
}

/// A live view for the progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Live {
    pub sent: u64,
    pub dropped: u64,
    pub unauthorized: u64,
    pub refreshes: u64,
}

/// Everything recorded, as plain data for the report.
#[derive(Clone)]
pub struct Snapshot {
    pub elapsed: Duration,
    /// `unfinished` counts the requests sent but not finished when the snapshot was taken.
    pub requests: RequestCounts,
    pub refresh_waits: u64,
    pub waiter_timeouts: u64,
    pub background_refreshes: u64,
    /// Longest time after a refresh at which the refreshed token met a 401; `None` if none did.
    pub unauthorized_after_refresh: Option<Duration>,
    /// Contacts calls by their token's phase and outcome.
    pub by_phase: [[u64; Outcome::COUNT]; Phase::COUNT],
    pub attempts: [[u64; Outcome::COUNT]; Endpoint::COUNT],
    /// Calls sent a second time on a new connection, after a reused one closed under them.
    pub stale_resends: [u64; Endpoint::COUNT],
    pub latency: LatencySnapshot,
    pub lens: LensSnapshot,
    /// Calls placed by their token's `exp` claim; only calls with JWT tokens are in it (its
    /// refresh rows stay empty).
    pub claim_lens: LensSnapshot,
    pub series: Vec<BucketSnapshot>,
    pub series_width: Duration,
    pub contention: ContentionSnapshot,
    pub tenants: tenants::TenantsSnapshot,
    /// Sessions with a life; `None` for the fixed pool.
    pub sessions: Option<SessionsSnapshot>,
    /// Messaging sockets; `None` unless the sessions are messaging widgets.
    pub messaging: Option<messaging::MessagingSnapshot>,
    /// Per step of the journey, its calls placed by their token's expiry (empty for one call).
    pub step_lenses: Vec<LensSnapshot>,
}

impl Counters {
    /// The request counters as they stand.
    fn requests(&self) -> RequestCounts {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let outcomes =
            |by: &[AtomicU64; Outcome::COUNT]| Outcomes(std::array::from_fn(|o| load(&by[o])));
        RequestCounts {
            scheduled: load(&self.scheduled),
            sent: load(&self.sent),
            dropped: load(&self.dropped),
            retries: load(&self.retries),
            no_token: load(&self.no_token),
            unfinished: load(&self.in_flight),
            inside_refresh_window: load(&self.inside_window),
            retry_after_respected: load(&self.retry_after_respected),
            retry_after_violated: load(&self.retry_after_violated),
            outcomes: outcomes(&self.finished),
            first_attempt: outcomes(&self.first_attempt),
            recovered_by_retry: load(&self.recovered),
        }
    }
}

impl Recorder {
    /// `expected` bounds the run (duration plus drain), for sizing the time series.
    pub fn new(orgs: usize, start: Instant, expected: Duration) -> Recorder {
        Recorder {
            start,
            counters: Counters::default(),
            latencies: Latencies::new(),
            lens: ExpiryLens::new(),
            claim_lens: ExpiryLens::new(),
            series: TimeSeries::new(expected),
            contention: Contention::new(orgs),
            tenants: tenants::Tenants::new(orgs, &[]),
            stage_ends: Vec::new(),
            sessions: None,
            messaging: None,
            step_lenses: Vec::new(),
        }
    }

    /// Records the API calls of each of the journey's `steps` apart too (0: the single-call journey).
    pub fn with_steps(mut self, steps: usize) -> Recorder {
        self.step_lenses = (0..steps).map(|_| ExpiryLens::new()).collect();
        self
    }

    /// An API call of the journey's step `step`, also recorded by [`Recorder::attempt`] as contacts.
    pub fn step_attempt(&self, step: usize, outcome: Outcome, started: Instant, ended: Instant) {
        if step < self.step_lenses.len() {
            let latency = ended.saturating_duration_since(started);
            self.latencies.step(step, outcome, latency);
        }
    }

    /// Where a call of step `step` sat relative to its token's expiry.
    pub fn step_lens(&self, step: usize, offset_ms: i64, outcome: Outcome) {
        if let Some(lens) = self.step_lenses.get(step) {
            lens.record(offset_ms, outcome);
        }
    }

    /// Counts messaging sockets, in buckets as wide as the time series', over `expected`.
    pub fn with_messaging(mut self, expected: Duration) -> Recorder {
        self.messaging = Some(messaging::MessagingMetrics::new(
            self.series.width(),
            expected,
        ));
        self
    }

    /// Where messaging sessions count; `None` unless the run has them.
    pub fn messaging(&self) -> Option<&messaging::MessagingMetrics> {
        self.messaging.as_ref()
    }

    /// Counts sessions with a life; Little's law is checked over `window` (from the start).
    pub fn with_sessions(mut self, window: Option<(Duration, Duration)>) -> Recorder {
        self.sessions = Some(SessionMetrics::new(window));
        self
    }

    /// A session arrived at its intended time `at`, to live for `drawn`.
    pub fn session_arrived(&self, at: Instant, drawn: Duration) {
        let offset = self.elapsed(at);
        self.series.session_arrived(offset);
        if let Some(s) = &self.sessions {
            s.arrived(offset, drawn);
        }
    }

    /// An arriving session found `[load] sessions` alive already.
    pub fn session_refused(&self) {
        if let Some(s) = &self.sessions {
            s.refused();
        }
    }

    /// A session that arrived at `arrived` left at `ended` (`departed`), or was cut by the run's end.
    pub fn session_ended(&self, arrived: Instant, ended: Instant, departed: bool) {
        let end = self.elapsed(ended);
        self.series.session_ended(end);
        if let Some(s) = &self.sessions {
            s.ended(self.elapsed(arrived), end, departed);
        }
    }

    /// A returning visitor arrived: it restored a token this old, or found none saved.
    pub fn session_returned(&self, restored: Option<Duration>) {
        if let Some(s) = &self.sessions {
            s.returned(restored);
        }
    }

    /// A returning visitor's first call met a 401 with its restored token, this old.
    pub fn unauthorized_on_load(&self, age: Duration) {
        if let Some(s) = &self.sessions {
            s.unauthorized_on_load(age);
        }
    }

    /// A leaving session's revocation call, and whether the server took it.
    pub fn session_revoked(&self, ok: bool) {
        if let Some(s) = &self.sessions {
            s.revoked(ok);
        }
    }

    /// Sorts calls by the stage they were sent in; `ends` are the stages' ends, in order.
    pub fn with_stages(mut self, ends: Vec<Duration>) -> Recorder {
        self.stage_ends = ends;
        self
    }

    /// The stage a call sent at `at` belongs to; `None` without stages or after the last.
    fn stage(&self, at: Instant) -> Option<usize> {
        if self.stage_ends.is_empty() {
            return None;
        }
        let offset = self.elapsed(at);
        let i = self.stage_ends.partition_point(|end| *end <= offset);
        (i < self.stage_ends.len()).then_some(i)
    }

    /// Gives these orgs (the busiest) latency histograms of their own; all others share one.
    pub fn with_top_orgs(mut self, top: &[usize]) -> Recorder {
        self.tenants = tenants::Tenants::new(self.tenants.orgs(), top);
        self
    }

    /// One contacts call of `org`, for the per-tenant views.
    pub fn org_call(&self, org: usize, outcome: Outcome, latency: Duration) {
        if let Some(slot) = self.tenants.call(org, outcome) {
            self.latencies.tenant(slot, latency);
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    fn elapsed(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.start)
    }

    pub fn scheduled(&self, intended: Instant) {
        self.counters.scheduled.fetch_add(1, Ordering::Relaxed);
        self.series.scheduled(self.elapsed(intended));
    }

    pub fn dropped(&self, intended: Instant) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        self.series.dropped(self.elapsed(intended));
    }

    /// A scheduled request started; its outcome must follow through [`Recorder::finished`].
    pub fn sent(&self, intended: Instant, now: Instant) {
        self.latencies
            .lateness(now.saturating_duration_since(intended));
        self.counters.sent.fetch_add(1, Ordering::Relaxed);
        let in_flight = self.counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.series.in_flight(
            self.elapsed(now),
            in_flight,
            self.contention.total_in_flight(),
        );
    }

    /// A user-level request ended; `latency` runs from its intended send time, `service` from when it
    /// really started (kept only to show what coordinated omission would have hidden).
    pub fn finished(
        &self,
        outcome: Outcome,
        latency: Duration,
        service: Duration,
        reached_api: bool,
    ) {
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.counters.finished[outcome.index()].fetch_add(1, Ordering::Relaxed);
        if !reached_api {
            self.counters.no_token.fetch_add(1, Ordering::Relaxed);
        }
        // The request ends now; its bucket is where the time series counts its last attempt too.
        let bucket = self.series.index(self.elapsed(Instant::now()));
        self.latencies.request(latency, service, bucket);
    }

    /// One HTTP exchange. `started` is when it was meant to go (the intended time for a first API attempt).
    pub fn attempt(&self, endpoint: Endpoint, outcome: Outcome, started: Instant, ended: Instant) {
        self.counters.attempts[endpoint.index()][outcome.index()].fetch_add(1, Ordering::Relaxed);
        let latency = ended.saturating_duration_since(started);
        self.latencies
            .attempt(endpoint, outcome, latency, self.stage(started));
        self.series.attempt(self.elapsed(ended), endpoint, outcome);
    }

    /// A call that went out a second time on a new connection, after the reused one it was written
    /// to closed before any answer: the server's idle timeout, not a failure of the server.
    pub fn stale_resend(&self, endpoint: Endpoint) {
        self.counters.stale_resends[endpoint.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// The outcome of a request's first API call.
    pub fn first_attempt(&self, outcome: Outcome) {
        self.counters.first_attempt[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// A contacts call, under its token's phase.
    pub fn phase(&self, phase: Phase, outcome: Outcome, latency: Duration) {
        self.counters.by_phase[phase.index()][outcome.index()].fetch_add(1, Ordering::Relaxed);
        self.latencies.phase(phase, outcome, latency);
    }

    /// A token got by a refresh was rejected `after` it arrived.
    pub fn unauthorized_after_refresh(&self, after: Duration) {
        let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX - 1);
        self.counters
            .unauthorized_after_refresh
            .fetch_max(ms + 1, Ordering::Relaxed);
    }

    /// A request that failed its first call ended `ok` after a retry.
    pub fn recovered(&self) {
        self.counters.recovered.fetch_add(1, Ordering::Relaxed);
    }

    /// Time one request spent getting tokens.
    pub fn token_time(&self, spent: Duration) {
        self.latencies.token_time(spent);
    }

    pub fn retry(&self) {
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// Where an API request sat relative to its token's expiry, and how it went.
    pub fn lens(&self, offset_ms: i64, outcome: Outcome) {
        self.lens.record(offset_ms, outcome);
    }

    /// Where an API request sat relative to its token's `exp` claim, and how it went.
    pub fn claim_lens(&self, offset_ms: i64, outcome: Outcome) {
        self.claim_lens.record(offset_ms, outcome);
    }

    /// Where a refresh started relative to the expiry of the token it replaces.
    pub fn refresh_lens(&self, offset_ms: i64) {
        self.lens.record_refresh(offset_ms);
    }

    /// How a refresh placed with [`Recorder::refresh_lens`] ended.
    pub fn refresh_lens_outcome(&self, offset_ms: i64, outcome: Outcome) {
        self.lens.record_refresh_outcome(offset_ms, outcome);
    }

    pub fn refresh_in_flight(&self, org: usize, now: Instant) -> InFlight<'_> {
        let guard = self.contention.begin(org);
        self.series.in_flight(
            self.elapsed(now),
            self.counters.in_flight.load(Ordering::Relaxed),
            self.contention.total_in_flight(),
        );
        guard
    }

    pub fn invalid_grant(&self, org: usize) {
        self.contention.invalid_grant(org);
    }

    pub fn herd(&self, size: u64) {
        self.contention.herd(size);
    }

    pub fn refresh_wait(&self, wait: Duration) {
        self.counters.refresh_waits.fetch_add(1, Ordering::Relaxed);
        self.latencies.refresh_wait(wait);
    }

    /// A caller gave up waiting for someone else's refresh.
    pub fn waiter_timeout(&self) {
        self.counters
            .waiter_timeouts
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A refresh started in the background (advisory window) while callers kept the old token.
    pub fn background_refresh(&self) {
        self.counters
            .background_refreshes
            .fetch_add(1, Ordering::Relaxed);
    }

    /// A request went out with a token the client knew was inside its refresh window.
    pub fn used_inside_window(&self) {
        self.counters.inside_window.fetch_add(1, Ordering::Relaxed);
    }

    /// The call after a 429 with `Retry-After`: did it wait as long as the server asked?
    pub fn retry_after(&self, respected: bool) {
        let counter = if respected {
            &self.counters.retry_after_respected
        } else {
            &self.counters.retry_after_violated
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn live(&self) -> Live {
        let c = &self.counters;
        let attempts = |e: Endpoint| -> u64 {
            c.attempts[e.index()]
                .iter()
                .map(|a| a.load(Ordering::Relaxed))
                .sum()
        };
        Live {
            sent: c.sent.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            unauthorized: c.attempts[Endpoint::Contacts.index()][Outcome::Unauthorized.index()]
                .load(Ordering::Relaxed),
            refreshes: attempts(Endpoint::Refresh),
        }
    }

    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            elapsed: self.elapsed(now),
            requests: c.requests(),
            refresh_waits: load(&c.refresh_waits),
            waiter_timeouts: load(&c.waiter_timeouts),
            background_refreshes: load(&c.background_refreshes),
            unauthorized_after_refresh: match load(&c.unauthorized_after_refresh) {
                0 => None,
                ms => Some(Duration::from_millis(ms - 1)),
            },
            by_phase: std::array::from_fn(|p| std::array::from_fn(|o| load(&c.by_phase[p][o]))),
            attempts: std::array::from_fn(|e| std::array::from_fn(|o| load(&c.attempts[e][o]))),
            stale_resends: std::array::from_fn(|e| load(&c.stale_resends[e])),
            latency: self.latencies.snapshot(),
            lens: self.lens.snapshot(),
            claim_lens: self.claim_lens.snapshot(),
            series: self.series.snapshot(),
            series_width: self.series.width(),
            contention: self.contention.snapshot(),
            tenants: self.tenants.snapshot(),
            sessions: self.sessions.as_ref().map(SessionMetrics::snapshot),
            messaging: self
                .messaging
                .as_ref()
                .map(messaging::MessagingMetrics::snapshot),
            step_lenses: self.step_lenses.iter().map(ExpiryLens::snapshot).collect(),
        }
    }
}
