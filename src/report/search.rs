//! A capacity search in report.json (`search`): the answer, the gate that broke, and the evidence per
//! step; and the verdict line and step table the terminal prints.

use super::model::{ThresholdResult, VariantReport};
use crate::profile::search::GrowName;
use crate::vocabulary::{Outcome, SearchVerdict, StepKind};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchReport {
    /// What grew (`rate`: requests per second).
    pub grow: GrowName,
    pub variant: String,
    pub start: f64,
    pub ceiling: f64,
    pub factor: f64,
    pub resolution: f64,
    pub step_s: f64,
    pub settle_s: f64,
    pub verdict: SearchVerdict,
    /// The highest load at which every gate held.
    pub holds: Option<f64>,
    /// The lowest load above it at which a gate failed.
    pub breaks: Option<f64>,
    /// The first gate that failed there, with what was observed.
    pub broke_on: Option<ThresholdResult>,
    /// Every step in the order it ran.
    pub steps: Vec<SearchStep>,
}

/// One step's evidence: every number is over the calls sent in its judged window (after the
/// settling time), except `dropped`, `sent` and `herd_max`, which cover the whole step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchStep {
    /// What grew, in its unit (requests per second, or orgs).
    pub load: f64,
    /// The request rate the step sent (the load itself when the rate grows).
    pub rate_per_s: f64,
    pub kind: StepKind,
    pub held: bool,
    /// The gates that failed, in the profile's order.
    pub failed: Vec<ThresholdResult>,
    pub contacts_p50_ms: f64,
    pub contacts_p99_ms: f64,
    /// `None` when the judged window had no such call (tokens are usually all fetched while settling).
    pub token_p99_ms: Option<f64>,
    pub refresh_p99_ms: Option<f64>,
    /// Shares of the judged contacts calls.
    pub unauthorized_rate: f64,
    pub rate_limited_rate: f64,
    pub error_rate: f64,
    /// Share of token and refresh calls answered `invalid_grant`.
    pub invalid_grant_rate: f64,
    /// Most refreshes one token generation drew.
    pub herd_max: u64,
    /// With `[sessions]`: the most and the mean sessions alive over the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_sessions: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_sessions: Option<f64>,
    pub sent: u64,
    pub dropped: u64,
}

/// The name of the stage a step is judged on.
pub const JUDGED: &str = "judged";

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl SearchStep {
    /// The evidence of a step from its run's report, judged on its `judged` stage.
    pub fn of(
        v: &VariantReport,
        (load, rate_per_s): (f64, f64),
        kind: StepKind,
        failed: Vec<ThresholdResult>,
    ) -> SearchStep {
        let judged = v.stages.iter().find(|s| s.name == JUDGED);
        let e = judged.map_or(&v.endpoints, |s| &s.endpoints);
        let c = &e.contacts;
        let calls = c.outcomes.total();
        let tokens = e.token.outcomes.total() + e.refresh.outcomes.total();
        let invalid =
            e.token.outcomes[Outcome::InvalidGrant] + e.refresh.outcomes[Outcome::InvalidGrant];
        SearchStep {
            load,
            rate_per_s,
            kind,
            held: failed.is_empty(),
            failed,
            contacts_p50_ms: c.latency_ms.p50,
            contacts_p99_ms: c.latency_ms.p99,
            token_p99_ms: (e.token.requests > 0).then_some(e.token.latency_ms.p99),
            refresh_p99_ms: (e.refresh.requests > 0).then_some(e.refresh.latency_ms.p99),
            unauthorized_rate: share(c.outcomes[Outcome::Unauthorized], calls),
            rate_limited_rate: share(c.outcomes[Outcome::RateLimited], calls),
            error_rate: share(calls - c.outcomes[Outcome::Ok], calls),
            invalid_grant_rate: share(invalid, tokens),
            herd_max: v.refresh.per_generation_max,
            peak_sessions: v.sessions.as_ref().map(|s| s.peak_concurrent),
            mean_sessions: v.sessions.as_ref().map(|s| s.mean_concurrent),
            sent: v.requests.sent,
            dropped: v.requests.dropped,
        }
    }
}

/// A load with thousands separators: `1,840`.
pub fn load(v: f64) -> String {
    let whole = v.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How a gate failed, as the verdict line says it: `contacts.p99_ms < 200 (observed 341)`.
pub fn failure(gate: &ThresholdResult) -> String {
    let observed = gate.observed.map_or_else(
        || "no value".to_owned(),
        |o| format!("observed {}", number(o)),
    );
    format!("{} {} ({observed})", gate.metric, gate.condition)
}

/// A gate's observed value with the digits it needs: `341`, `1.25`, `0.0123`.
fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

impl SearchReport {
    /// The one line that answers "how much can we carry?".
    pub fn verdict_line(&self) -> String {
        let unit = self.grow.unit();
        let breaks = || match (&self.breaks, &self.broke_on) {
            (Some(at), Some(gate)) => {
                format!("breaks at {} {unit} on {}", load(*at), failure(gate))
            }
            _ => String::from("breaks: not found"),
        };
        match (self.verdict, self.holds) {
            (SearchVerdict::Found, Some(holds)) => {
                format!(
                    "holds {} {unit}{}; {}",
                    load(holds),
                    self.alive_at(holds),
                    breaks()
                )
            }
            (SearchVerdict::StartFails, _) => format!(
                "fails already at the start, {} {unit}; {}",
                load(self.start),
                breaks()
            ),
            (SearchVerdict::AboveRange, _) => format!(
                "holds the ceiling, {} {unit}: capacity is above the range searched",
                load(self.ceiling)
            ),
            (_, held) => format!(
                "interrupted; highest load that held so far: {}",
                held.map_or_else(|| "none".to_owned(), |h| format!("{} {unit}", load(h)))
            ),
        }
    }

    /// ` (3,900 sessions alive)` at a load, when its step had sessions.
    fn alive_at(&self, at: f64) -> String {
        self.steps
            .iter()
            .rev()
            .find(|s| s.load == at)
            .and_then(|s| s.mean_sessions)
            .map_or_else(String::new, |n| format!(" ({} sessions alive)", load(n)))
    }

    /// The verdict and a table of the steps, for the terminal.
    pub fn render(&self) -> String {
        let mut out = format!("search  {}\n", self.verdict_line());
        let _ = writeln!(
            out,
            "{:>10} {:<7} {:<6} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7} {:>6} {:>8}",
            self.grow.unit(),
            "step",
            "holds",
            "p50",
            "p99",
            "token p99",
            "401",
            "429",
            "errors",
            "herd",
            "dropped"
        );
        for s in &self.steps {
            let ms = |v: f64| super::histogram::format_ms(v, "");
            let pct = |v: f64| format!("{:.2}%", 100.0 * v);
            let kind = s.kind.name();
            let _ = writeln!(
                out,
                "{:>10} {:<7} {:<6} {:>9} {:>9} {:>9} {:>7} {:>7} {:>7} {:>6} {:>8}",
                load(s.load),
                kind,
                if s.held { "yes" } else { "NO" },
                ms(s.contacts_p50_ms),
                ms(s.contacts_p99_ms),
                s.token_p99_ms.map_or_else(|| "-".to_owned(), ms),
                pct(s.unauthorized_rate),
                pct(s.rate_limited_rate),
                pct(s.error_rate),
                s.herd_max,
                s.dropped
            );
        }
        if let Some(spread) = self.spread() {
            let _ = writeln!(out, "repeats {spread}");
        }
        out
    }

    /// How the repeated deciding loads came out: whether the knee is noise.
    pub fn spread(&self) -> Option<String> {
        let at = |load: Option<f64>| -> Option<(usize, usize, f64, f64)> {
            let load = load?;
            let runs: Vec<&SearchStep> = self.steps.iter().filter(|s| s.load == load).collect();
            let held = runs.iter().filter(|s| s.held).count();
            let p99 = runs.iter().map(|s| s.contacts_p99_ms);
            let (lo, hi) = p99.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
            Some((held, runs.len(), lo, hi))
        };
        if !self.steps.iter().any(|s| s.kind == StepKind::Repeat) {
            return None;
        }
        let (h, f) = (at(self.holds)?, at(self.breaks)?);
        let ms = |v: f64| super::histogram::format_ms(v, "");
        let unit = self.grow.unit();
        Some(format!(
            "{} {unit} held {} of {} runs (contacts p99 {}..{}); {} {unit} held {} of {} (p99 {}..{})",
            load(self.holds.unwrap_or_default()),
            h.0,
            h.1,
            ms(h.2),
            ms(h.3),
            load(self.breaks.unwrap_or_default()),
            f.0,
            f.1,
            ms(f.2),
            ms(f.3)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::load;

    #[test]
    fn loads_read_with_thousands_separators() {
        assert_eq!(load(1839.6), "1,840");
        assert_eq!(load(950.0), "950");
        assert_eq!(load(1_234_567.0), "1,234,567");
    }
}
