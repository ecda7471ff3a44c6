//! The `sessions` block of a variant (sessions with a life): what arrived, left and was alive, and
//! Little's law as a self-check of the engine. Built from the recorder, or from shards' blocks, whose
//! raw totals (whole microseconds) add exactly; everything derived is computed again from them.

use super::model::{Bucket, TimeSeries, VariantReport};
use crate::metrics::sessions::SessionsSnapshot;
use crate::plan::Load;
use crate::profile::sessions::{ArrivalProcess, LeaveKind};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The check's tolerance is never below this: the engine's own granularity (a call in flight when a
/// session's length ends finishes first; the pacer's timer) moves the measured mean by a little.
pub const MIN_TOLERANCE: f64 = 0.05;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsReport {
    /// `poisson` or `uniform`.
    pub arrival: ArrivalProcess,
    /// `drop` or `revoke`.
    pub leave: LeaveKind,
    /// `[load] sessions`: the most alive at once (per shard in a shard's report).
    pub max_alive: u64,
    /// Sessions admitted.
    pub arrived: u64,
    /// Arrivals refused because `max_alive` sessions were alive.
    pub refused: u64,
    /// Sessions that left at the end of their length.
    pub departed: u64,
    /// Sessions still alive when the run's time was up.
    pub alive_at_end: u64,
    /// Most sessions alive at a bucket boundary of the time series (so shards add exactly).
    pub peak_concurrent: u64,
    /// Time-averaged sessions alive over the planned duration.
    pub mean_concurrent: f64,
    /// Mean of the drawn lengths of every arrived session.
    pub mean_length_s: f64,
    /// Mean time departed sessions were alive (their drawn length, plus a call that ran over).
    pub departed_mean_length_s: f64,
    /// `leave = "revoke"`: revocations the server took, and those that failed.
    pub revoked: u64,
    pub revoke_failed: u64,
    /// Little's law over the steady window; absent under stages, or when the run is shorter than
    /// its ramp plus the sessions' p99 length.
    pub little: Option<Little>,
    /// Returning visitors (`[sessions.returning]`); absent without them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returning: Option<super::returning::ReturningReport>,
    /// What everything above is computed from: shards' totals add.
    pub totals: SessionTotals,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTotals {
    pub alive_us: u64,
    pub departed_alive_us: u64,
    pub drawn_us: u64,
    pub drawn_sq_s2: f64,
    pub window_from_s: Option<f64>,
    pub window_to_s: Option<f64>,
    pub window_arrivals: u64,
    pub window_alive_us: u64,
}

/// mean concurrency = arrival rate x mean session length, on the steady window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Little {
    pub from_s: f64,
    pub to_s: f64,
    /// Sessions arrived in the window per second.
    pub arrival_rate_per_s: f64,
    pub mean_length_s: f64,
    /// `arrival_rate_per_s * mean_length_s`.
    pub expected_concurrent: f64,
    /// Time-averaged sessions alive in the window, measured.
    pub mean_concurrent: f64,
    /// `|mean - expected| / expected`.
    pub relative_error: f64,
    /// 3 standard deviations of the window's time-averaged concurrency in an M/G/infinity system,
    /// relative: `3 sqrt(E[L^2] / (rate * window)) / E[L]`, and at least 5 %.
    pub tolerance: f64,
    pub holds: bool,
}

/// The block for one variant's run, from what the recorder counted.
pub fn build(s: &SessionsSnapshot, load: &Load, series: &TimeSeries) -> Option<SessionsReport> {
    let plan = load.sessions.as_ref()?;
    let totals = SessionTotals {
        alive_us: s.alive_us,
        departed_alive_us: s.departed_alive_us,
        drawn_us: s.drawn_us,
        drawn_sq_s2: s.drawn_sq_s2,
        window_from_s: s.window.map(|(from, _)| from.as_secs_f64()),
        window_to_s: s.window.map(|(_, to)| to.as_secs_f64()),
        window_arrivals: s.window_arrivals,
        window_alive_us: s.window_alive_us,
    };
    let mut report = SessionsReport {
        arrival: plan.arrival,
        leave: plan.leave,
        max_alive: u64::from(plan.max_active),
        arrived: s.arrived,
        refused: s.refused,
        departed: s.departed,
        alive_at_end: s.cut,
        revoked: s.revoked_ok,
        revoke_failed: s.revoke_failed,
        totals,
        returning: plan
            .returning
            .map(|(share, _)| super::returning::ReturningReport::build(s, share)),
        peak_concurrent: 0,
        mean_concurrent: 0.0,
        mean_length_s: 0.0,
        departed_mean_length_s: 0.0,
        little: None,
    };
    report.derive(load.duration.as_secs_f64(), series);
    Some(report)
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

impl SessionsReport {
    /// Everything computed from the counts and totals: means, the peak, Little's law.
    pub fn derive(&mut self, duration_s: f64, series: &TimeSeries) {
        let t = &self.totals;
        let us = |v: u64| v as f64 / 1e6;
        self.mean_concurrent = ratio(us(t.alive_us), duration_s);
        self.mean_length_s = ratio(us(t.drawn_us), self.arrived as f64);
        self.departed_mean_length_s = ratio(us(t.departed_alive_us), self.departed as f64);
        self.peak_concurrent = series
            .buckets
            .iter()
            .map(|b| b.active_sessions)
            .max()
            .unwrap_or(0);
        self.little = self.little_law();
    }

    fn little_law(&self) -> Option<Little> {
        let t = &self.totals;
        let (from, to) = (t.window_from_s?, t.window_to_s?);
        let window = to - from;
        if window <= 0.0 || self.arrived == 0 {
            return None;
        }
        let rate = t.window_arrivals as f64 / window;
        let mean_length = self.mean_length_s;
        let expected = rate * mean_length;
        let measured = t.window_alive_us as f64 / 1e6 / window;
        let second_moment = t.drawn_sq_s2 / self.arrived as f64;
        let spread = ratio((ratio(second_moment, rate * window)).sqrt(), mean_length);
        let tolerance = (3.0 * spread).max(MIN_TOLERANCE);
        let relative_error = ratio((measured - expected).abs(), expected);
        Some(Little {
            from_s: from,
            to_s: to,
            arrival_rate_per_s: rate,
            mean_length_s: mean_length,
            expected_concurrent: expected,
            mean_concurrent: measured,
            relative_error,
            tolerance,
            holds: expected > 0.0 && relative_error <= tolerance,
        })
    }

    /// Shards' blocks joined: counts and totals add, the window is the plan's (the same in each).
    pub fn merge<'a>(
        mut parts: impl Iterator<Item = &'a SessionsReport>,
        duration_s: f64,
        series: &TimeSeries,
    ) -> Option<SessionsReport> {
        let mut sum = parts.next()?.clone();
        for p in parts {
            sum.max_alive += p.max_alive;
            sum.arrived += p.arrived;
            sum.refused += p.refused;
            sum.departed += p.departed;
            sum.alive_at_end += p.alive_at_end;
            sum.revoked += p.revoked;
            sum.revoke_failed += p.revoke_failed;
            if let (Some(into), Some(from)) = (&mut sum.returning, &p.returning) {
                into.add(from);
            }
            let (t, o) = (&mut sum.totals, &p.totals);
            t.alive_us += o.alive_us;
            t.departed_alive_us += o.departed_alive_us;
            t.drawn_us += o.drawn_us;
            t.drawn_sq_s2 += o.drawn_sq_s2;
            t.window_arrivals += o.window_arrivals;
            t.window_alive_us += o.window_alive_us;
        }
        sum.derive(duration_s, series);
        Some(sum)
    }
}

/// Sessions alive at the end of each bucket: arrivals so far minus ends so far.
pub fn fill_active(buckets: &mut [Bucket]) {
    let mut alive: u64 = 0;
    for b in buckets {
        alive = (alive + b.session_arrivals).saturating_sub(b.session_ends);
        b.active_sessions = alive;
    }
}

/// The summary's `sessions` and `little` lines, for a run with sessions.
pub fn summary(out: &mut String, v: &VariantReport) {
    if let Some((sessions, little)) = lines(v) {
        let _ = writeln!(out, "sessions  {sessions}");
        let _ = writeln!(out, "little    {little}");
    }
    if let Some(r) = v.sessions.as_ref().and_then(|s| s.returning.as_ref()) {
        let _ = writeln!(out, "returning {}", r.line());
    }
}

/// What the sessions did, and Little's law, in words (the summary and the HTML page say the same).
pub fn lines(v: &VariantReport) -> Option<(String, String)> {
    let s = v.sessions.as_ref()?;
    let revoked = match s.leave {
        LeaveKind::Revoke => format!("  revoked {} (failed {})", s.revoked, s.revoke_failed),
        LeaveKind::Drop => String::new(),
    };
    let sessions = format!(
        "arrived {}  departed {}  alive at end {}  refused {}  peak {}  mean {:.1}  mean length {:.2}s (departed {:.2}s){revoked}",
        s.arrived,
        s.departed,
        s.alive_at_end,
        s.refused,
        s.peak_concurrent,
        s.mean_concurrent,
        s.mean_length_s,
        s.departed_mean_length_s,
    );
    let little = match &s.little {
        Some(l) => format!(
            "mean alive {:.1} vs {:.2}/s x {:.2}s = {:.1} over [{:.0}-{:.0}s]: off by {:.1}%, tolerance {:.1}%: {}",
            l.mean_concurrent,
            l.arrival_rate_per_s,
            l.mean_length_s,
            l.expected_concurrent,
            l.from_s,
            l.to_s,
            100.0 * l.relative_error,
            100.0 * l.tolerance,
            if l.holds { "holds" } else { "DOES NOT HOLD (an engine bug, or sessions that could not keep their length)" }
        ),
        None if !v.stages.is_empty() => "not checked: the stages keep changing the arrival rate".to_owned(),
        None => "not checked: the run is not longer than its ramp plus the sessions' p99 length".to_owned(),
    };
    Some((sessions, little))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(t_s: f64, arrivals: u64, ends: u64) -> Bucket {
        let json = serde_json::json!({
            "t_s": t_s, "scheduled": 0, "dropped": 0,
            "contacts": {}, "token": {}, "refresh": {},
            "refreshes_in_flight_max": 0, "requests_in_flight_max": 0,
            "session_arrivals": arrivals, "session_ends": ends,
        });
        serde_json::from_value(json).unwrap()
    }

    fn report(window_arrivals: u64, window_alive_s: f64) -> SessionsReport {
        SessionsReport {
            arrival: ArrivalProcess::Poisson,
            leave: LeaveKind::Drop,
            max_alive: 100,
            arrived: 200,
            refused: 0,
            departed: 150,
            alive_at_end: 50,
            peak_concurrent: 0,
            mean_concurrent: 0.0,
            mean_length_s: 0.0,
            departed_mean_length_s: 0.0,
            revoked: 0,
            revoke_failed: 0,
            little: None,
            returning: None,
            totals: SessionTotals {
                alive_us: 400_000_000,
                departed_alive_us: 300_000_000,
                drawn_us: 400_000_000,
                drawn_sq_s2: 800.0,
                window_from_s: Some(10.0),
                window_to_s: Some(20.0),
                window_arrivals,
                window_alive_us: (window_alive_s * 1e6) as u64,
            },
        }
    }

    #[test]
    fn sessions_alive_follow_arrivals_and_ends() {
        let mut buckets = vec![bucket(0.0, 5, 0), bucket(1.0, 3, 4), bucket(2.0, 0, 4)];
        fill_active(&mut buckets);
        let alive: Vec<u64> = buckets.iter().map(|b| b.active_sessions).collect();
        assert_eq!(alive, [5, 4, 0]);
    }

    #[test]
    fn littles_law_compares_the_window_with_rate_times_length() {
        let mut series = TimeSeries {
            bucket_s: 1.0,
            buckets: vec![bucket(0.0, 7, 0), bucket(1.0, 0, 2)],
        };
        fill_active(&mut series.buckets);
        // 100 arrivals in 10 s, mean drawn length 2 s: 20 alive expected; 19 measured.
        let mut r = report(100, 190.0);
        r.derive(20.0, &series);
        assert_eq!(
            (r.mean_length_s, r.mean_concurrent, r.peak_concurrent),
            (2.0, 20.0, 7)
        );
        assert_eq!(r.departed_mean_length_s, 2.0);
        let l = r.little.clone().unwrap();
        assert_eq!((l.arrival_rate_per_s, l.expected_concurrent), (10.0, 20.0));
        assert!((l.relative_error - 0.05).abs() < 1e-12);
        // E[L^2] = 4 s^2: 3 * sqrt(4 / (10 * 10)) / 2 = 0.3.
        assert!((l.tolerance - 0.3).abs() < 1e-12, "{}", l.tolerance);
        assert!(l.holds);
        let mut off = report(100, 120.0);
        off.derive(20.0, &series);
        assert!(!off.little.unwrap().holds, "40 % off is beyond the bound");
    }

    #[test]
    fn shards_add_their_totals_and_derive_again() {
        let series = TimeSeries {
            bucket_s: 1.0,
            buckets: vec![],
        };
        let (mut a, mut b) = (report(60, 110.0), report(40, 80.0));
        a.derive(20.0, &series);
        b.derive(20.0, &series);
        let m = SessionsReport::merge([&a, &b].into_iter(), 20.0, &series).unwrap();
        assert_eq!((m.arrived, m.departed, m.max_alive), (400, 300, 200));
        assert_eq!(m.totals.window_alive_us, 190_000_000);
        let l = m.little.unwrap();
        assert_eq!((l.arrival_rate_per_s, l.mean_concurrent), (10.0, 19.0));
    }
}
