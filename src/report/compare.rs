//! Two variants side by side (two SDK versions): the key metrics, their deltas, and regression limits.

use super::gates;
use super::model::VariantReport;
use super::significance::{self, Significance, Verdict};
use super::words::words;
use crate::profile::thresholds::GateName;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::str::FromStr;

/// The rows of the comparison; lower is better for every one of them.
pub const KEY_METRICS: [&str; 16] = [
    "contacts.p50_ms",
    "contacts.p99_ms",
    "contacts.p999_ms",
    "requests.p99_ms",
    "token.p99_ms",
    "refresh.p99_ms",
    "contacts.unauthorized_rate",
    "contacts.unauthorized",
    "contacts.error_rate",
    "token.invalid_grant",
    "refresh.invalid_grant",
    "refresh.per_generation_mean",
    "refresh.per_generation_max",
    "refresh.max_in_flight_per_org",
    "refresh.token_endpoint_peak_per_s",
    "requests.dropped_rate",
];

/// The rows of two runs of messaging widgets, after the key metrics; lower is better here too.
pub const MESSAGING_METRICS: [&str; 8] = [
    "messaging.message_p99_ms",
    "messaging.configure_p99_ms",
    "messaging.unauthorized_before_expiry",
    "messaging.recovery_s",
    "messaging.reconnect_peak_per_s",
    "messaging.gave_up",
    "messaging.unanswered",
    "messaging.refused",
];

/// With sessions with a life on both sides: how the sessions went. Arrivals and concurrency follow
/// the profile more than the client, so they are shown, not judged (`moved`); refusals are judged.
const SESSION_ROWS: [(&str, bool); 5] = [
    ("sessions.arrived", false),
    ("sessions.refused", true),
    ("sessions.peak_concurrent", false),
    ("sessions.mean_concurrent", false),
    ("sessions.unauthorized_on_load", true),
];

/// Per step of the journey both sides ran: the rows a step is judged by.
const STEP_STATS: [&str; 3] = ["p99_ms", "unauthorized_rate", "error_rate"];

/// How much worse the candidate may be: `+10%` of the base, or `+0.5` in the metric's own unit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Allowance {
    Percent(f64),
    Absolute(f64),
}

/// A regression limit, written `contacts.p99_ms=+10%` or `contacts.unauthorized_rate=+0`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub metric: String,
    pub allowance: Allowance,
}

impl FromStr for Limit {
    type Err = String;

    fn from_str(s: &str) -> Result<Limit, String> {
        let bad = || {
            format!(
                "`{s}` is not a limit; write METRIC=+N% or METRIC=+N, e.g. contacts.p99_ms=+10%"
            )
        };
        let (metric, allowed) = s.split_once('=').ok_or_else(bad)?;
        let metric = metric.trim();
        metric.parse::<GateName>()?;
        let allowed = allowed.trim();
        let allowed = allowed.strip_prefix('+').unwrap_or(allowed);
        let allowance = match allowed.strip_suffix('%') {
            Some(p) => Allowance::Percent(p.trim().parse().map_err(|_| bad())?),
            None => Allowance::Absolute(allowed.parse().map_err(|_| bad())?),
        };
        let value = match allowance {
            Allowance::Percent(v) | Allowance::Absolute(v) => v,
        };
        if !value.is_finite() || value < 0.0 {
            return Err(bad());
        }
        Ok(Limit {
            metric: metric.to_owned(),
            allowance,
        })
    }
}

/// The limits `--fail-on-regression` uses when none are given.
pub fn default_limits() -> Vec<Limit> {
    [
        "contacts.p99_ms=+10%",
        "contacts.unauthorized_rate=+0",
        "token.invalid_grant=+0",
        "refresh.invalid_grant=+0",
        "requests.dropped_rate=+0",
    ]
    .iter()
    .filter_map(|s| s.parse().ok())
    .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub metric: String,
    pub base: Option<f64>,
    pub candidate: Option<f64>,
    pub delta: Option<f64>,
    /// Relative change, when the base is not zero.
    pub delta_pct: Option<f64>,
    pub verdict: Change,
}

words! {
    /// Which way a row moved, lower being better.
    pub enum Change {
        Better = "better",
        Worse = "worse",
        Same = "same",
        /// A row shown for context, where lower is not better: it changed.
        Moved = "moved",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitResult {
    pub metric: String,
    pub allowance: Allowance,
    pub base: Option<f64>,
    pub candidate: Option<f64>,
    /// The highest candidate value the limit accepts.
    pub allowed_up_to: Option<f64>,
    /// The candidate is past the limit.
    pub exceeded: bool,
    /// Whether the statistical test of this metric (when it has one) found a significant regression.
    pub significant: Option<bool>,
    /// Exceeded, and not ruled noise by a test: only these fail `--fail-on-regression`.
    pub regressed: bool,
}

/// `compare.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub base: String,
    pub candidate: String,
    pub rows: Vec<Row>,
    /// Confidence level of the statistical tests (e.g. 0.95).
    pub confidence: f64,
    pub significance: Vec<Significance>,
    pub limits: Vec<LimitResult>,
    pub regressed: bool,
    /// Two capacity searches: their answers side by side (a lowered capacity is a regression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<super::capacity::CapacityComparison>,
}

fn value(v: &VariantReport, metric: &str) -> Option<f64> {
    gates::value_of(v, &metric.parse().ok()?)
}

/// Every row's metric, and whether lower is better for it: the key metrics, then the journey's
/// steps that both sides have, then the sessions when both sides have them.
fn row_metrics(base: &VariantReport, candidate: &VariantReport) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = KEY_METRICS.iter().map(|m| (m.to_string(), true)).collect();
    for step in &base.steps {
        if candidate.steps.iter().any(|s| s.name == step.name) {
            out.extend(
                STEP_STATS
                    .iter()
                    .map(|s| (format!("{}.{s}", step.name), true)),
            );
        }
    }
    if base.sessions.is_some() && candidate.sessions.is_some() {
        out.extend(
            SESSION_ROWS
                .iter()
                .map(|(m, judged)| (m.to_string(), *judged)),
        );
    }
    if base.messaging.is_some() && candidate.messaging.is_some() {
        out.extend(MESSAGING_METRICS.iter().map(|m| (m.to_string(), true)));
    }
    out
}

fn row(base: &VariantReport, candidate: &VariantReport, metric: String, judged: bool) -> Row {
    let (b, c) = (value(base, &metric), value(candidate, &metric));
    let delta = b.zip(c).map(|(b, c)| c - b);
    let delta_pct = b
        .zip(delta)
        .and_then(|(b, d)| (b != 0.0).then(|| 100.0 * d / b));
    // Differences below 0.5 % of the larger value are noise in the last printed digit.
    let verdict = match (b, c) {
        (Some(b), Some(c)) if (c - b).abs() <= 0.005 * b.abs().max(c.abs()) => Change::Same,
        (Some(_), Some(_)) if !judged => Change::Moved,
        (Some(b), Some(c)) if c < b => Change::Better,
        (Some(_), Some(_)) => Change::Worse,
        _ => Change::Same,
    };
    Row {
        metric,
        base: b,
        candidate: c,
        delta,
        delta_pct,
        verdict,
    }
}

pub fn compare(
    base: &VariantReport,
    candidate: &VariantReport,
    base_label: &str,
    candidate_label: &str,
    limits: &[Limit],
    confidence: f64,
) -> Comparison {
    let significance = significance::tests(base, candidate, confidence);
    let rows = row_metrics(base, candidate)
        .into_iter()
        .map(|(metric, judged)| row(base, candidate, metric, judged))
        .collect();
    let limits: Vec<LimitResult> = limits
        .iter()
        .map(|l| {
            let (b, c) = (value(base, &l.metric), value(candidate, &l.metric));
            let allowed_up_to = b.map(|b| match l.allowance {
                Allowance::Percent(p) => b + b.abs() * p / 100.0,
                Allowance::Absolute(a) => b + a,
            });
            let exceeded = match (c, allowed_up_to) {
                (Some(c), Some(up_to)) => c > up_to + f64::EPSILON * up_to.abs().max(1.0),
                _ => true,
            };
            let significant = significance
                .iter()
                .find(|t| t.metric == l.metric)
                .map(|t| t.verdict == Verdict::Regressed);
            LimitResult {
                metric: l.metric.clone(),
                allowance: l.allowance,
                base: b,
                candidate: c,
                allowed_up_to,
                exceeded,
                significant,
                regressed: exceeded && significant != Some(false),
            }
        })
        .collect();
    Comparison {
        base: base_label.to_owned(),
        candidate: candidate_label.to_owned(),
        regressed: limits.iter().any(|l| l.regressed),
        capacity: None,
        rows,
        confidence,
        significance,
        limits,
    }
}

/// Whole numbers as such, shares (below 1) with four significant digits, the rest with two decimals.
fn num(v: Option<f64>) -> String {
    match v {
        None => "n/a".to_owned(),
        Some(v) if v == v.trunc() && v.abs() < 1e12 => format!("{v:.0}"),
        Some(v) if v.abs() < 1.0 => {
            let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
            format!("{v:.digits$}")
        }
        Some(v) => format!("{v:.2}"),
    }
}

/// The side-by-side table for the terminal.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "base: {}    candidate: {}", c.base, c.candidate);
    if let Some(capacity) = &c.capacity {
        let _ = writeln!(out, "{}", capacity.line());
    }
    render_rows(&mut out, &c.rows);
    if !c.significance.is_empty() {
        render_significance(&mut out, c);
    }
    if !c.limits.is_empty() {
        render_limits(&mut out, c);
    }
    out
}

fn render_rows(out: &mut String, rows: &[Row]) {
    let _ = writeln!(
        out,
        "{:<36} {:>12} {:>12} {:>12} {:>9}  verdict",
        "metric", "base", "candidate", "delta", "delta %"
    );
    for r in rows {
        let pct = r.delta_pct.map_or("".to_owned(), |p| format!("{p:+.1}%"));
        let mark = match r.verdict {
            Change::Better => "better +",
            Change::Worse => "WORSE -",
            Change::Same => "same =",
            Change::Moved => "moved ~",
        };
        let delta = r.delta.map_or("n/a".to_owned(), |d| {
            if d >= 0.0 {
                format!("+{}", num(Some(d)))
            } else {
                num(Some(d))
            }
        });
        let _ = writeln!(
            out,
            "{:<36} {:>12} {:>12} {:>12} {:>9}  {mark}",
            r.metric,
            num(r.base),
            num(r.candidate),
            delta,
            pct
        );
    }
}

fn render_significance(out: &mut String, c: &Comparison) {
    let _ = writeln!(
        out,
        "\nsignificance at {:.0}% confidence (candidate - base)",
        100.0 * c.confidence
    );
    for t in &c.significance {
        let evidence = match (t.diff_low, t.diff_high, t.p_value, t.effect_a) {
            (Some(lo), Some(hi), _, _) => format!("CI [{lo:+.2}, {hi:+.2}] ms"),
            (_, _, Some(p), Some(a)) => format!("p {p:.2e}, A {a:.3}"),
            (_, _, Some(p), None) => format!("p {p:.2e}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<40} {:>12} {:>12}  {:<26} {}",
            t.metric,
            num(t.base),
            num(t.candidate),
            evidence,
            t.verdict.name()
        );
    }
}

fn render_limits(out: &mut String, c: &Comparison) {
    let _ = writeln!(out, "\nregression limits");
    for l in &c.limits {
        let allowance = match l.allowance {
            Allowance::Percent(p) => format!("+{p}%"),
            Allowance::Absolute(a) => format!("+{a}"),
        };
        let status = match (l.regressed, l.exceeded) {
            (true, _) => "FAIL",
            (false, true) => "noise",
            _ => "pass",
        };
        let _ = writeln!(
            out,
            "  {}  {:<36} {:<8} candidate {} allowed up to {}",
            status,
            l.metric,
            allowance,
            num(l.candidate),
            num(l.allowed_up_to)
        );
    }
    let _ = writeln!(
        out,
        "{}",
        if c.regressed {
            "FAIL: the candidate regressed"
        } else {
            "PASS: no regression beyond the limits"
        }
    );
}
