//! The open-model arrival schedule as a pure function of time; the engine's pacer follows it.
//!
//! Arrival `n` has a fixed intended time; the pacer only sleeps until the next one is due and
//! releases everything that is due at once when it wakes late. Every request therefore carries the
//! time it *should* have gone, which is what latency is measured from (no coordinated omission).

use std::time::Duration;

/// Arrivals at `rate` per second, climbing linearly from zero over `ramp`, for `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    ramp: f64,
    duration: f64,
}

impl Schedule {
    pub fn new(rate_per_second: f64, ramp: Duration, duration: Duration) -> Schedule {
        Schedule {
            rate: rate_per_second.max(0.0),
            ramp: ramp.as_secs_f64().min(duration.as_secs_f64()),
            duration: duration.as_secs_f64(),
        }
    }

    /// Arrivals expected in `[0, t)` seconds: the integral of the rate.
    fn arrivals_before(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.duration);
        if t < self.ramp {
            self.rate * t * t / (2.0 * self.ramp)
        } else {
            self.rate * (self.ramp / 2.0 + (t - self.ramp))
        }
    }

    /// How many arrivals the whole run has.
    pub fn total(&self) -> u64 {
        let n = self.arrivals_before(self.duration);
        // An arrival falling exactly on the end belongs to the next run, not this one.
        let whole = n.ceil();
        if whole.is_finite() {
            whole as u64
        } else {
            0
        }
    }

    /// Intended offset from the start of arrival `n` (0-based): the inverse of `arrivals_before`.
    pub fn intended(&self, n: u64) -> Duration {
        let n = n as f64;
        let secs = if self.rate <= 0.0 {
            self.duration
        } else if n < self.rate * self.ramp / 2.0 {
            (2.0 * n * self.ramp / self.rate).sqrt()
        } else {
            self.ramp + (n - self.rate * self.ramp / 2.0) / self.rate
        };
        Duration::from_secs_f64(secs.clamp(0.0, self.duration))
    }

    /// How many arrivals are due by `elapsed` (their intended time is at or before it).
    pub fn due(&self, elapsed: Duration) -> u64 {
        let total = self.total();
        if total == 0 {
            return 0;
        }
        let estimate = self.arrivals_before(elapsed.as_secs_f64()).floor() as u64 + 1;
        // Floating point can land one off around bin edges; settle it against `intended` itself.
        let mut due = estimate.min(total);
        while due < total && self.intended(due) <= elapsed {
            due += 1;
        }
        while due > 0 && self.intended(due - 1) > elapsed {
            due -= 1;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let s = Schedule::new(1000.0, Duration::ZERO, Duration::from_secs(2));
        assert_eq!(s.total(), 2000);
        assert_eq!(s.intended(0), Duration::ZERO);
        assert_eq!(s.intended(1), ms(1));
        assert_eq!(s.intended(1999), ms(1999));
        let table = [(0, 1), (1, 2), (999, 1000), (1000, 1001), (5000, 2000)];
        for (elapsed, due) in table {
            assert_eq!(s.due(ms(elapsed)), due, "at {elapsed} ms");
        }
    }

    #[test]
    fn ramp_starts_slow_and_reaches_full_rate() {
        let s = Schedule::new(100.0, Duration::from_secs(10), Duration::from_secs(20));
        // Half the ramp's area, then full rate: 100 * 10 / 2 + 100 * 10.
        assert_eq!(s.total(), 1500);
        assert!(s.due(Duration::from_secs(1)) <= 6);
        let first_after_ramp = s.intended(500);
        assert!((first_after_ramp.as_secs_f64() - 10.0).abs() < 1e-9);
        for n in [1, 10, 100, 499, 500, 1499] {
            assert!(
                s.intended(n) > s.intended(n - 1),
                "arrival {n} must follow {}",
                n - 1
            );
            assert_eq!(
                s.due(s.intended(n)),
                n + 1,
                "arrival {n} is due at its own time"
            );
        }
    }

    #[test]
    fn zero_and_extreme_inputs_do_not_misbehave() {
        let none = Schedule::new(0.0, Duration::ZERO, Duration::from_secs(5));
        assert_eq!(none.total(), 0);
        assert_eq!(none.due(Duration::from_secs(10)), 0);
        let empty = Schedule::new(1000.0, Duration::ZERO, Duration::ZERO);
        assert_eq!(empty.total(), 0);
        let fast = Schedule::new(1e7, Duration::ZERO, Duration::from_secs(604_800));
        assert_eq!(fast.total(), 6_048_000_000_000);
        assert_eq!(fast.due(Duration::from_secs(u64::MAX / 2)), fast.total());
        // Ramp longer than the run is cut to the run.
        let ramp = Schedule::new(10.0, Duration::from_secs(100), Duration::from_secs(10));
        assert_eq!(ramp.total(), 50);
    }
}
