//! Messaging widgets' sockets, counted: connects and refusals, configures, losses and reconnects,
//! messages and their round trips (matched by tracingId), socket-level errors, bad frames; and per
//! time bucket the connect attempts and the sockets configured and lost, from which the report finds
//! an outage's reconnect wave and the time to recover (the series add across shards, so the merged
//! report finds the same).

use super::latency::{micros, new_histogram};
use super::lens::{ExpiryLens, LensSnapshot};
use crate::vocabulary::{Outcome, Phase};
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What a messaging session counts. Each is one event; the report names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    ConnectAttempt,
    /// A connect attempt after the session's socket was lost.
    Reconnect,
    Connected,
    /// The upgrade answered 403: the page's `Origin` is not on the deployment's list.
    RefusedOrigin,
    /// 429 at the upgrade: the deployment has all the sockets it takes.
    RefusedCapacity,
    /// 503 at the upgrade: the service is refusing sockets (an outage).
    RefusedUnavailable,
    RefusedOther,
    /// TCP, TLS or the handshake failed, or timed out.
    ConnectFailed,
    ConfiguredNew,
    ConfiguredResumed,
    /// A configure answered with an error (401, 403, 400) or not at all.
    ConfigureFailed,
    /// The configured socket ended without the widget closing it.
    Lost,
    /// A socket just opened ended before its configure was answered (a drop mid-configure).
    LostConfiguring,
    /// The server said the session's duration ran out.
    SessionExpired,
    /// A session that used up its reconnect attempts and ended without a socket.
    GaveUp,
    /// The widget left: `closeSession` sent.
    Closed,
    MessageSent,
    MessageAnswered,
    /// No answer within the reply timeout, or the socket was lost first.
    MessageUnanswered,
    /// An answer to a message or an echo that came after the widget gave up on it.
    LateAnswer,
    /// The same for a `getJwt`.
    LateJwt,
    EchoSent,
    EchoAnswered,
    JwtFetched,
    /// An authenticated session refreshed its JWT over REST after the socket's 401.
    Reauthenticated,
    /// An authenticated session could not get a JWT over REST (the token endpoint failed).
    NoJwt,
    Unauthorized,
    Forbidden,
    RateLimited,
    BadRequest,
    /// 4011 (text too long) or 4013 (custom attributes too large).
    TooLarge,
    OtherError,
    BadFrameNotJson,
    BadFrameUnknownClass,
    BadFrameBody,
    BadFrameBinary,
    BadFrameTooLarge,
}

pub const EVENTS: usize = Event::BadFrameTooLarge as usize + 1;

/// Where a frame an authenticated session sent with its JWT fell in the JWT's life, as a REST
/// call is placed by its token: its offset to the expiry the client believes in, and its phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub offset_ms: Option<i64>,
    pub phase: Phase,
}

#[derive(Default)]
struct Bucket {
    connect_attempts: AtomicU64,
    reconnects: AtomicU64,
    configured: AtomicU64,
    unconfigured: AtomicU64,
    lost: AtomicU64,
}

/// One bucket of the socket series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketBucket {
    pub connect_attempts: u64,
    /// Of them, attempts after the session's socket was lost.
    pub reconnects: u64,
    /// Sockets that became configured, and configured sockets that ended (lost, closed, expired).
    pub configured: u64,
    pub unconfigured: u64,
    /// Of those that ended, the ones lost without the widget closing them.
    pub lost: u64,
}

pub struct MessagingMetrics {
    events: [AtomicU64; EVENTS],
    /// Sockets configured now (a gauge for the live export).
    open: AtomicU64,
    connect: Mutex<Histogram<u64>>,
    configure: Mutex<Histogram<u64>>,
    message: Mutex<Histogram<u64>>,
    reconnect: Mutex<Histogram<u64>>,
    /// Frames sent with a JWT, by how they were answered: against its expiry and by its phase.
    lens: ExpiryLens,
    by_phase: [[AtomicU64; Outcome::COUNT]; Phase::COUNT],
    width: Duration,
    buckets: Box<[Bucket]>,
}

/// The counts and histograms as plain data.
#[derive(Debug, Clone)]
pub struct MessagingSnapshot {
    pub events: [u64; EVENTS],
    /// TCP, TLS and the upgrade.
    pub connect: Histogram<u64>,
    /// From sending configure to the `SessionResponse`.
    pub configure: Histogram<u64>,
    /// From a message's intended send time to its answer.
    pub message: Histogram<u64>,
    /// From a socket's loss to the session configured again on a new one.
    pub reconnect: Histogram<u64>,
    pub series: Vec<SocketBucket>,
    /// Frames sent with a JWT by their offset to its expiry, and by its phase, with their outcome.
    pub lens: LensSnapshot,
    pub by_phase: [[u64; Outcome::COUNT]; Phase::COUNT],
}

/// A live reading: every count, and the sockets configured now.
#[derive(Debug, Clone, Copy)]
pub struct MessagingLive {
    pub events: [u64; EVENTS],
    pub open: u64,
}

impl MessagingLive {
    pub fn count(&self, event: Event) -> u64 {
        self.events[event as usize]
    }
}

impl MessagingSnapshot {
    pub fn count(&self, event: Event) -> u64 {
        self.events[event as usize]
    }
}

impl MessagingMetrics {
    /// Buckets as wide as the run's time series (`width`), enough for `expected`.
    pub fn new(width: Duration, expected: Duration) -> MessagingMetrics {
        let count = expected.as_nanos() / width.as_nanos().max(1) + 2;
        MessagingMetrics {
            events: std::array::from_fn(|_| AtomicU64::new(0)),
            open: AtomicU64::new(0),
            connect: Mutex::new(new_histogram()),
            configure: Mutex::new(new_histogram()),
            message: Mutex::new(new_histogram()),
            reconnect: Mutex::new(new_histogram()),
            lens: ExpiryLens::new(),
            by_phase: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            width,
            buckets: (0..count).map(|_| Bucket::default()).collect(),
        }
    }

    pub fn count(&self, event: Event) {
        self.events[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn bucket(&self, at: Duration) -> &Bucket {
        let i = (at.as_nanos() / self.width.as_nanos().max(1)) as usize;
        &self.buckets[i.min(self.buckets.len() - 1)]
    }

    /// A connect attempt at `at` from the start; `again`: after the session lost its socket.
    pub fn connect_attempt(&self, at: Duration, again: bool) {
        self.count(Event::ConnectAttempt);
        let bucket = self.bucket(at);
        bucket.connect_attempts.fetch_add(1, Ordering::Relaxed);
        if again {
            self.count(Event::Reconnect);
            bucket.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn connected(&self, took: Duration) {
        self.count(Event::Connected);
        record(&self.connect, took);
    }

    /// A socket configured at `at`, `took` after its configure went out; `fresh`: a socket just
    /// opened (not one configured again after a 401, which stays the one open socket it was).
    pub fn configured(&self, at: Duration, took: Duration, new_session: bool, fresh: bool) {
        self.count(match new_session {
            true => Event::ConfiguredNew,
            false => Event::ConfiguredResumed,
        });
        record(&self.configure, took);
        if fresh {
            self.open.fetch_add(1, Ordering::Relaxed);
            self.bucket(at).configured.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A configured socket ended at `at`; `lost`: without the widget closing it.
    pub fn unconfigured(&self, at: Duration, lost: bool) {
        let bucket = self.bucket(at);
        self.open.fetch_sub(1, Ordering::Relaxed);
        bucket.unconfigured.fetch_add(1, Ordering::Relaxed);
        if lost {
            bucket.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A session configured again `took` after its socket was lost.
    pub fn reconnected(&self, took: Duration) {
        record(&self.reconnect, took);
    }

    /// How a frame sent with a JWT (`at`) was answered, or that it was not.
    pub fn placed(&self, at: Placed, outcome: Outcome) {
        if let Some(offset) = at.offset_ms {
            self.lens.record(offset, outcome);
        }
        self.by_phase[at.phase.index()][outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn answered(&self, round_trip: Duration) {
        self.count(Event::MessageAnswered);
        record(&self.message, round_trip);
    }

    /// The counts and the sockets configured now, without the histograms: the live export's reading.
    pub fn live(&self) -> MessagingLive {
        MessagingLive {
            events: std::array::from_fn(|i| self.events[i].load(Ordering::Relaxed)),
            open: self.open.load(Ordering::Relaxed),
        }
    }

    pub fn snapshot(&self) -> MessagingSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let copy = |h: &Mutex<Histogram<u64>>| h.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut series: Vec<SocketBucket> = self
            .buckets
            .iter()
            .map(|b| SocketBucket {
                connect_attempts: load(&b.connect_attempts),
                reconnects: load(&b.reconnects),
                configured: load(&b.configured),
                unconfigured: load(&b.unconfigured),
                lost: load(&b.lost),
            })
            .collect();
        let used = series
            .iter()
            .rposition(|b| *b != SocketBucket::default())
            .map_or(0, |i| i + 1);
        series.truncate(used);
        MessagingSnapshot {
            events: std::array::from_fn(|i| load(&self.events[i])),
            connect: copy(&self.connect),
            configure: copy(&self.configure),
            message: copy(&self.message),
            reconnect: copy(&self.reconnect),
            series,
            lens: self.lens.snapshot(),
            by_phase: std::array::from_fn(|p| std::array::from_fn(|o| load(&self.by_phase[p][o]))),
        }
    }
}

fn record(histogram: &Mutex<Histogram<u64>>, d: Duration) {
    // Auto-resizing histograms accept any u64, so recording cannot fail.
    let _ = histogram
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(micros(d));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_keeps_each_bucket_and_drops_the_empty_tail() {
        let s = Duration::from_secs;
        let m = MessagingMetrics::new(s(1), s(10));
        m.connect_attempt(s(0), false);
        m.configured(
            Duration::from_millis(300),
            Duration::from_millis(5),
            true,
            true,
        );
        m.unconfigured(Duration::from_millis(2_500), true);
        m.connect_attempt(Duration::from_millis(2_600), true);
        let snap = m.snapshot();
        assert_eq!(snap.series.len(), 3);
        assert_eq!(snap.series[0].configured, 1);
        assert_eq!(
            (snap.series[2].lost, snap.series[2].connect_attempts),
            (1, 1)
        );
        assert_eq!(
            (snap.series[0].reconnects, snap.series[2].reconnects),
            (0, 1)
        );
        assert_eq!(snap.count(Event::Reconnect), 1);
        assert_eq!(snap.count(Event::ConnectAttempt), 2);
        assert_eq!(snap.configure.len(), 1);
    }

    #[test]
    fn a_placed_frame_lands_in_its_bin_and_phase_and_one_without_an_expiry_in_its_phase_only() {
        let m = MessagingMetrics::new(Duration::from_secs(1), Duration::from_secs(10));
        let at = |offset_ms, phase| Placed { offset_ms, phase };
        m.placed(
            at(Some(-1_500), Phase::ExpiredByClaim),
            Outcome::Unauthorized,
        );
        m.placed(at(Some(200), Phase::Expired), Outcome::Unauthorized);
        m.placed(at(None, Phase::Fresh), Outcome::RateLimited);
        let snap = m.snapshot();
        let bin = |offset| {
            let (_, counts) = snap.lens.bins.iter().find(|(o, _)| *o == offset).unwrap();
            counts[Outcome::Unauthorized.index()]
        };
        assert_eq!((bin(-2), bin(-1), bin(0)), (1, 0, 1));
        let placed: u64 = snap
            .lens
            .bins
            .iter()
            .map(|(_, c)| c.iter().sum::<u64>())
            .sum();
        assert_eq!(placed, 2);
        let phase = |p: Phase, o: Outcome| snap.by_phase[p.index()][o.index()];
        assert_eq!(phase(Phase::ExpiredByClaim, Outcome::Unauthorized), 1);
        assert_eq!(phase(Phase::Fresh, Outcome::RateLimited), 1);
    }
}
