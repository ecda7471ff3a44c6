//! The statistical half of `compare`: for each endpoint and token phase, whether the candidate's
//! latency percentiles, latency distribution and failure rates differ from the base's beyond chance.

use super::histogram::decode;
use super::model::{EndpointReport, VariantReport};
use super::stats::{self, Buckets};
use super::words::words;
use crate::profile::thresholds::Scope;
use crate::vocabulary::Outcome;
use serde::{Deserialize, Serialize};

words! {
    /// What a test concluded, at the comparison's confidence.
    pub enum Verdict {
        Regressed = "regressed",
        Improved = "improved",
        NoChange = "no significant change",
    }
}

/// One test: a metric, both sides, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Significance {
    /// `contacts.p99_ms`, `contacts[expired].p50_ms`, `token.latency_distribution`,
    /// `contacts.unauthorized_rate`, ...
    pub metric: String,
    pub base: Option<f64>,
    pub candidate: Option<f64>,
    /// Confidence interval of candidate minus base (percentiles, by bootstrap).
    pub diff_low: Option<f64>,
    pub diff_high: Option<f64>,
    /// Two-sided p-value (distributions and rates).
    pub p_value: Option<f64>,
    /// Vargha-Delaney A for distributions: the chance a candidate call is slower than a base call.
    pub effect_a: Option<f64>,
    pub verdict: Verdict,
}

/// Seeds the bootstrap, so the same two reports always give the same intervals.
const BOOTSTRAP_SEED: u64 = 0x5EED;

pub fn tests(
    base: &VariantReport,
    candidate: &VariantReport,
    confidence: f64,
) -> Vec<Significance> {
    let mut out = Vec::new();
    let endpoints = [
        ("token", &base.endpoints.token, &candidate.endpoints.token),
        (
            "refresh",
            &base.endpoints.refresh,
            &candidate.endpoints.refresh,
        ),
        (
            "contacts",
            &base.endpoints.contacts,
            &candidate.endpoints.contacts,
        ),
    ];
    for (name, b, c) in endpoints {
        latency(&mut out, name, b, c, confidence);
    }
    for (phase, b) in &base.phases {
        if let Some(c) = candidate.phases.get(phase) {
            latency(&mut out, &format!("contacts[{phase}]"), b, c, confidence);
        }
    }
    let rates = [
        (Scope::Contacts, Outcome::Unauthorized),
        (Scope::Token, Outcome::InvalidGrant),
        (Scope::Refresh, Outcome::InvalidGrant),
        (Scope::Contacts, Outcome::RateLimited),
    ];
    for (scope, outcome) in rates {
        out.push(rate(base, candidate, scope, outcome, confidence));
    }
    messaging(&mut out, base, candidate, confidence);
    out
}

/// All of an endpoint's calls as one histogram; `None` when it has none or a histogram is corrupt
/// (report loading already refuses corrupt ones, so this is only for hand-built reports).
fn all_calls(e: &EndpointReport) -> Option<Buckets> {
    let mut all = crate::metrics::latency::new_histogram();
    for text in e.histograms.values() {
        all.add(decode(text).ok()?).ok()?;
    }
    (!all.is_empty()).then(|| stats::buckets(&all))
}

fn latency(
    out: &mut Vec<Significance>,
    name: &str,
    b: &EndpointReport,
    c: &EndpointReport,
    confidence: f64,
) {
    if let (Some(bb), Some(cb)) = (all_calls(b), all_calls(c)) {
        distributions(out, name, &bb, &cb, confidence);
    }
}

/// The messaging widgets' latencies (message round trip, configure, time away after a loss), when
/// both sides have them.
fn messaging(
    out: &mut Vec<Significance>,
    base: &VariantReport,
    candidate: &VariantReport,
    confidence: f64,
) {
    let (Some(b), Some(c)) = (&base.messaging, &candidate.messaging) else {
        return;
    };
    let timings = [
        ("messaging.message", &b.message_ms, &c.message_ms),
        ("messaging.configure", &b.configure_ms, &c.configure_ms),
        ("messaging.reconnect", &b.reconnect_ms, &c.reconnect_ms),
    ];
    for (name, b, c) in timings {
        let buckets = |t: &super::messaging::Timing| {
            let h = decode(&t.histogram).ok()?;
            (!h.is_empty()).then(|| stats::buckets(&h))
        };
        if let (Some(bb), Some(cb)) = (buckets(b), buckets(c)) {
            distributions(out, name, &bb, &cb, confidence);
        }
    }
}

/// Percentile differences (bootstrap) and the rank test of two latency distributions.
fn distributions(
    out: &mut Vec<Significance>,
    name: &str,
    bb: &Buckets,
    cb: &Buckets,
    confidence: f64,
) {
    let diffs = stats::percentile_diffs(bb, cb, &[0.5, 0.99], confidence, BOOTSTRAP_SEED);
    for (label, d) in ["p50_ms", "p99_ms"]
        .into_iter()
        .zip(diffs.into_iter().flatten())
    {
        let verdict = if d.diff_low_ms > 0.0 {
            Verdict::Regressed
        } else if d.diff_high_ms < 0.0 {
            Verdict::Improved
        } else {
            Verdict::NoChange
        };
        out.push(Significance {
            metric: format!("{name}.{label}"),
            base: Some(d.base_ms),
            candidate: Some(d.candidate_ms),
            diff_low: Some(d.diff_low_ms),
            diff_high: Some(d.diff_high_ms),
            p_value: None,
            effect_a: None,
            verdict,
        });
    }
    if let Some(t) = stats::mann_whitney(bb, cb) {
        let verdict = match (t.differs(confidence), t.a > 0.5) {
            (false, _) => Verdict::NoChange,
            (true, true) => Verdict::Regressed,
            (true, false) => Verdict::Improved,
        };
        out.push(Significance {
            metric: format!("{name}.latency_distribution"),
            base: None,
            candidate: None,
            diff_low: None,
            diff_high: None,
            p_value: Some(t.p_value),
            effect_a: Some(t.a),
            verdict,
        });
    }
}

/// Batches of the time series for the batch-means test: about 20 per run, at least 1 s each.
const BATCHES: usize = 20;

fn batch_rates(v: &VariantReport, scope: Scope, outcome: Outcome) -> Vec<f64> {
    let buckets = &v.timeseries.buckets;
    let size = buckets.len().div_ceil(BATCHES).max(1);
    buckets
        .chunks(size)
        .filter_map(|chunk| {
            let (mut hit, mut all) = (0u64, 0u64);
            for b in chunk {
                let o = match scope {
                    Scope::Token => &b.token,
                    Scope::Refresh => &b.refresh,
                    _ => &b.contacts,
                };
                hit += o[outcome];
                all += o.total();
            }
            (all > 0).then(|| hit as f64 / all as f64)
        })
        .collect()
}

/// A failure rate: the whole-run shares, tested on batch means of the time series (calls within one
/// storm are not independent, so a test on calls would call two equal runs different).
fn rate<'a>(
    base: &'a VariantReport,
    candidate: &'a VariantReport,
    scope: Scope,
    outcome: Outcome,
    confidence: f64,
) -> Significance {
    let endpoint = |v: &'a VariantReport| -> &'a EndpointReport {
        match scope {
            Scope::Token => &v.endpoints.token,
            Scope::Refresh => &v.endpoints.refresh,
            _ => &v.endpoints.contacts,
        }
    };
    let (b, c) = (endpoint(base), endpoint(candidate));
    let share = |e: &EndpointReport| {
        let n = e.outcomes.total();
        (n > 0).then(|| e.outcomes[outcome] as f64 / n as f64)
    };
    let (rb, rc) = (share(b), share(c));
    let p = stats::welch(
        &batch_rates(base, scope, outcome),
        &batch_rates(candidate, scope, outcome),
    );
    let verdict = match (rb, rc) {
        (Some(rb), Some(rc)) if p < 1.0 - confidence && rc > rb => Verdict::Regressed,
        (Some(rb), Some(rc)) if p < 1.0 - confidence && rc < rb => Verdict::Improved,
        _ => Verdict::NoChange,
    };
    let name = match scope {
        Scope::Token => "token",
        Scope::Refresh => "refresh",
        _ => "contacts",
    };
    Significance {
        metric: format!("{name}.{}_rate", outcome.name()),
        base: rb,
        candidate: rc,
        diff_low: None,
        diff_high: None,
        p_value: Some(p),
        effect_a: None,
        verdict,
    }
}
