//! The open-model arrival schedule as a pure function of time; the engine's pacer follows it.
//!
//! Arrival `n` has a fixed intended time; the pacer only sleeps until the next one is due and
//! releases everything that is due at once when it wakes late. Every request therefore carries the
//! time it *should* have gone, which is what latency is measured from (no coordinated omission).
//!
//! The rate is piecewise linear: a ramp then a hold (`rate`, `ramp_up`), or the profile's stages,
//! each ramping from the previous target to its own.

use std::sync::Arc;
use std::time::Duration;

/// A named stage of the run: `[start, end)` from the start of the variant, the rate ramping linearly
/// from `from_per_s` to `to_per_s` over it.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    pub start: Duration,
    pub end: Duration,
    pub from_per_s: f64,
    pub to_per_s: f64,
}

impl Stage {
    /// Stages laid end to end: each starts where the previous ended, at the rate it ended at.
    pub fn chain(stages: impl IntoIterator<Item = (String, Duration, f64)>) -> Vec<Stage> {
        let (mut at, mut rate) = (Duration::ZERO, 0.0);
        stages
            .into_iter()
            .map(|(name, length, target)| {
                let stage = Stage {
                    name,
                    start: at,
                    end: at + length,
                    from_per_s: rate,
                    to_per_s: target.max(0.0),
                };
                (at, rate) = (stage.end, stage.to_per_s);
                stage
            })
            .collect()
    }
}

/// One linear piece of the rate, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start: f64,
    length: f64,
    from: f64,
    to: f64,
    /// Arrivals expected before the segment starts.
    before: f64,
}

impl Segment {
    /// Arrivals expected in the first `t` seconds of the segment.
    fn arrivals(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.length);
        if self.length <= 0.0 {
            return 0.0;
        }
        self.from * t + (self.to - self.from) * t * t / (2.0 * self.length)
    }

    /// Seconds into the segment at which `m` arrivals have been expected: the inverse of `arrivals`,
    /// in the form that stays exact for a flat rate and either slope.
    fn time_of(&self, m: f64) -> f64 {
        let k = (self.to - self.from) / (2.0 * self.length);
        let root = (self.from * self.from + 4.0 * k * m).max(0.0).sqrt();
        let denominator = self.from + root;
        if denominator <= 0.0 {
            return 0.0;
        }
        (2.0 * m / denominator).clamp(0.0, self.length)
    }
}

/// Arrivals following a piecewise-linear rate, for `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    segments: Arc<[Segment]>,
    duration: f64,
}

impl Schedule {
    /// Arrivals at `rate` per second, climbing linearly from zero over `ramp`, for `duration`.
    pub fn new(rate_per_second: f64, ramp: Duration, duration: Duration) -> Schedule {
        let ramp = ramp.min(duration);
        let rate = rate_per_second.max(0.0);
        Schedule::of(&[(ramp, 0.0, rate), (duration - ramp, rate, rate)])
    }

    /// Arrivals following the stages, which lie end to end from 0.
    pub fn staged(stages: &[Stage]) -> Schedule {
        let pieces: Vec<_> = stages
            .iter()
            .map(|s| (s.end.saturating_sub(s.start), s.from_per_s, s.to_per_s))
            .collect();
        Schedule::of(&pieces)
    }

    fn of(pieces: &[(Duration, f64, f64)]) -> Schedule {
        let (mut start, mut before) = (0.0, 0.0);
        let mut segments = Vec::with_capacity(pieces.len());
        for &(length, from, to) in pieces {
            let segment = Segment {
                start,
                length: length.as_secs_f64(),
                from: from.max(0.0),
                to: to.max(0.0),
                before,
            };
            start += segment.length;
            before += segment.arrivals(segment.length);
            segments.push(segment);
        }
        Schedule {
            segments: segments.into(),
            duration: start,
        }
    }

    /// The same arrivals, ending at `duration` if that comes first.
    pub fn until(mut self, duration: Duration) -> Schedule {
        self.duration = self.duration.min(duration.as_secs_f64());
        self
    }

    /// Arrivals expected in `[0, t)` seconds: the integral of the rate.
    fn arrivals_before(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.duration);
        let i = self
            .segments
            .partition_point(|s| s.start + s.length <= t)
            .min(self.segments.len().saturating_sub(1));
        self.segments
            .get(i)
            .map_or(0.0, |s| s.before + s.arrivals(t - s.start))
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

    /// Arrivals expected over the whole run (the integral of the rate), not rounded.
    pub fn expected_total(&self) -> f64 {
        self.arrivals_before(self.duration)
    }

    /// Intended offset from the start of arrival `n` (0-based): the inverse of `arrivals_before`.
    pub fn intended(&self, n: u64) -> Duration {
        self.time_at(n as f64)
    }

    /// The offset by which `n` arrivals are expected (`n` need not be whole): a Poisson process of
    /// this rate is a unit-rate one whose arrival counts are read through this (time rescaling).
    pub fn time_at(&self, n: f64) -> Duration {
        // The first segment whose arrivals reach past `n` (those without arrivals never do).
        let i = self
            .segments
            .partition_point(|s| s.before + s.arrivals(s.length) <= n);
        let secs = match self.segments.get(i) {
            Some(s) => s.start + s.time_of(n - s.before),
            None => self.duration,
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

    fn stages() -> Vec<Stage> {
        let s = |name: &str, secs: u64, target: f64| {
            (name.to_owned(), Duration::from_secs(secs), target)
        };
        Stage::chain([
            s("warm", 10, 100.0),
            s("hold", 10, 100.0),
            s("jump", 0, 300.0),
            s("peak", 5, 300.0),
            s("cool", 10, 0.0),
        ])
    }

    #[test]
    fn stages_lie_end_to_end_each_from_the_previous_target() {
        let st = stages();
        assert_eq!(st[0].start, Duration::ZERO);
        assert_eq!(st[0].from_per_s, 0.0);
        for pair in st.windows(2) {
            assert_eq!(pair[1].start, pair[0].end);
            assert_eq!(pair[1].from_per_s, pair[0].to_per_s);
        }
        assert_eq!(st[4].end, Duration::from_secs(35));
    }

    #[test]
    fn staged_arrivals_follow_each_stage() {
        let s = Schedule::staged(&stages());
        // Areas: ramp 500, hold 1000, jump 0, peak 1500, ramp down 1500.
        assert_eq!(s.total(), 4500);
        let at = |n: u64| s.intended(n).as_secs_f64();
        assert!((at(500) - 10.0).abs() < 1e-9, "the hold starts at 10 s");
        assert!((at(1500) - 20.0).abs() < 1e-9, "the jump lands at 20 s");
        assert!(
            (at(1501) - at(1500) - 1.0 / 300.0).abs() < 1e-9,
            "peak spacing"
        );
        assert!(
            (at(3000) - 25.0).abs() < 1e-9,
            "the ramp down starts at 25 s"
        );
        // Half the ramp down's arrivals come in its first 10 * (1 - 1/sqrt(2)) s.
        assert!((at(3750) - (25.0 + 10.0 * (1.0 - 0.5f64.sqrt()))).abs() < 1e-6);
        assert!(at(4499) < 35.0);
        for n in [1, 499, 500, 1499, 1500, 2999, 3000, 4499] {
            assert!(at(n) > at(n - 1), "arrival {n} follows {}", n - 1);
            assert_eq!(
                s.due(s.intended(n)),
                n + 1,
                "arrival {n} is due at its own time"
            );
        }
        assert_eq!(s.due(Duration::from_secs(20)), 1501);
    }

    #[test]
    fn a_stage_at_zero_sends_nothing_and_a_shorter_run_cuts_the_stages() {
        let st = Stage::chain([
            ("idle".to_owned(), Duration::from_secs(5), 0.0),
            ("on".to_owned(), Duration::from_secs(0), 10.0),
            ("hold".to_owned(), Duration::from_secs(5), 10.0),
        ]);
        let s = Schedule::staged(&st);
        assert_eq!(s.total(), 50);
        assert_eq!(s.intended(0), Duration::from_secs(5));
        let cut = Schedule::staged(&st).until(Duration::from_secs(7));
        assert_eq!(cut.total(), 20);
        assert_eq!(cut.due(Duration::from_secs(60)), 20);
    }
}
