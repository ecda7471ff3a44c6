//! Sessions with a life, counted: arrivals, refusals, departures, the time sessions were alive (in
//! whole microseconds, so shards add exactly), their drawn lengths, and the same over the steady
//! window in which Little's law is checked.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Default)]
pub struct SessionMetrics {
    arrived: AtomicU64,
    refused: AtomicU64,
    departed: AtomicU64,
    cut: AtomicU64,
    alive_us: AtomicU64,
    departed_alive_us: AtomicU64,
    drawn_us: AtomicU64,
    /// Sum of the squared drawn lengths, in s² (only the check's tolerance reads it).
    drawn_sq_s2: Mutex<f64>,
    /// `[from, to)` from the start: where arrivals come at a steady rate and the sessions alive are
    /// theirs; `None` when the run has no such window.
    window: Option<(Duration, Duration)>,
    window_arrivals: AtomicU64,
    window_alive_us: AtomicU64,
    revoked_ok: AtomicU64,
    revoke_failed: AtomicU64,
    /// Returning visitors: arrived, and of them those with nothing saved to restore.
    returning: AtomicU64,
    nothing_saved: AtomicU64,
    /// The ages of the tokens restored, and of those that met a 401 on page load.
    restored: Ages,
    unauthorized_on_load: Ages,
}

/// How many, and their ages in whole microseconds (so shards add exactly).
#[derive(Default)]
struct Ages {
    count: AtomicU64,
    sum_us: AtomicU64,
    min_us: AtomicU64,
    max_us: AtomicU64,
}

impl Ages {
    fn add(&self, age: Duration) {
        let us = micros(age);
        // The first one sets the minimum; `min_us` is 0 until then.
        if self.count.fetch_add(1, Ordering::Relaxed) == 0 {
            self.min_us.store(us, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.min_us.fetch_min(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    fn snapshot(&self) -> AgeCounts {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AgeCounts {
            count: load(&self.count),
            sum_us: load(&self.sum_us),
            min_us: load(&self.min_us),
            max_us: load(&self.max_us),
        }
    }
}

/// Tokens counted with their ages, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AgeCounts {
    pub count: u64,
    pub sum_us: u64,
    pub min_us: u64,
    pub max_us: u64,
}

/// The counts as plain numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionsSnapshot {
    pub arrived: u64,
    pub refused: u64,
    pub departed: u64,
    pub cut: u64,
    pub alive_us: u64,
    pub departed_alive_us: u64,
    pub drawn_us: u64,
    pub drawn_sq_s2: f64,
    pub window: Option<(Duration, Duration)>,
    pub window_arrivals: u64,
    pub window_alive_us: u64,
    pub revoked_ok: u64,
    pub revoke_failed: u64,
    pub returning: u64,
    pub nothing_saved: u64,
    pub restored: AgeCounts,
    pub unauthorized_on_load: AgeCounts,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl SessionMetrics {
    pub fn new(window: Option<(Duration, Duration)>) -> SessionMetrics {
        SessionMetrics {
            window,
            ..Default::default()
        }
    }

    /// A session arrived `at` (from the start) with this drawn length.
    pub fn arrived(&self, at: Duration, drawn: Duration) {
        self.arrived.fetch_add(1, Ordering::Relaxed);
        self.drawn_us.fetch_add(micros(drawn), Ordering::Relaxed);
        let mut sq = self.drawn_sq_s2.lock().unwrap_or_else(|p| p.into_inner());
        *sq += drawn.as_secs_f64() * drawn.as_secs_f64();
        if self.window.is_some_and(|(from, to)| at >= from && at < to) {
            self.window_arrivals.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn refused(&self) {
        self.refused.fetch_add(1, Ordering::Relaxed);
    }

    /// A session alive over `[arrived, ended)` left (`departed`) or was still alive when the run ended.
    pub fn ended(&self, arrived: Duration, ended: Duration, departed: bool) {
        let alive = micros(ended.saturating_sub(arrived));
        self.alive_us.fetch_add(alive, Ordering::Relaxed);
        match departed {
            true => {
                self.departed.fetch_add(1, Ordering::Relaxed);
                self.departed_alive_us.fetch_add(alive, Ordering::Relaxed);
            }
            false => {
                self.cut.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some((from, to)) = self.window {
            let overlap = ended.min(to).saturating_sub(arrived.max(from));
            self.window_alive_us
                .fetch_add(micros(overlap), Ordering::Relaxed);
        }
    }

    pub fn revoked(&self, ok: bool) {
        let counter = if ok {
            &self.revoked_ok
        } else {
            &self.revoke_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A returning visitor arrived; it restored a token this old, or found none saved.
    pub fn returned(&self, restored: Option<Duration>) {
        self.returning.fetch_add(1, Ordering::Relaxed);
        match restored {
            Some(age) => self.restored.add(age),
            None => {
                self.nothing_saved.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A returning visitor's first call met a 401 with the restored token, this old.
    pub fn unauthorized_on_load(&self, age: Duration) {
        self.unauthorized_on_load.add(age);
    }

    pub fn snapshot(&self) -> SessionsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SessionsSnapshot {
            arrived: load(&self.arrived),
            refused: load(&self.refused),
            departed: load(&self.departed),
            cut: load(&self.cut),
            alive_us: load(&self.alive_us),
            departed_alive_us: load(&self.departed_alive_us),
            drawn_us: load(&self.drawn_us),
            drawn_sq_s2: *self.drawn_sq_s2.lock().unwrap_or_else(|p| p.into_inner()),
            window: self.window,
            window_arrivals: load(&self.window_arrivals),
            window_alive_us: load(&self.window_alive_us),
            revoked_ok: load(&self.revoked_ok),
            revoke_failed: load(&self.revoke_failed),
            returning: load(&self.returning),
            nothing_saved: load(&self.nothing_saved),
            restored: self.restored.snapshot(),
            unauthorized_on_load: self.unauthorized_on_load.snapshot(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_only_what_lies_inside_it() {
        let s = |v: u64| Duration::from_secs(v);
        let m = SessionMetrics::new(Some((s(10), s(20))));
        m.arrived(s(5), s(10));
        m.arrived(s(12), s(3));
        m.ended(s(5), s(15), true);
        m.ended(s(12), s(15), true);
        m.arrived(s(18), s(100));
        m.ended(s(18), s(20), false);
        let snap = m.snapshot();
        assert_eq!(snap.window_arrivals, 2);
        assert_eq!(snap.window_alive_us, 5_000_000 + 3_000_000 + 2_000_000);
        assert_eq!((snap.departed, snap.cut), (2, 1));
        assert_eq!(snap.alive_us, 15_000_000);
        assert_eq!(snap.drawn_us, 113_000_000);
    }
}
