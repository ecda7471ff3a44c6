//! Thresholds evaluated on a variant's report: the numbers a release gate passes or fails on.

use super::model::{EndpointReport, Requests, ThresholdResult, VariantReport};
use crate::profile::thresholds::{GateName, Metric, Rule, Scope, Stat, Thresholds};
use crate::vocabulary::Outcome;

/// A threshold ready to evaluate: its name as written, the parsed metric, and the rule.
#[derive(Debug, Clone)]
pub struct Gate {
    pub name: String,
    pub metric: Metric,
    /// Only the calls sent in this stage count (`[stage=NAME]`).
    pub stage: Option<String>,
    /// The journey's step a `Metric::Step` is about.
    pub step: Option<String>,
    pub rule: Rule,
}

/// The gates that apply to a variant: the profile's, with the variant's own replacing same-named ones.
/// Names were validated with the profile, so a name that does not parse cannot reach here; it is skipped.
pub fn for_variant(profile: &Thresholds, variant: &Thresholds) -> Vec<Gate> {
    let mut merged = profile.clone();
    merged.extend(variant.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged
        .into_iter()
        .filter_map(|(name, rule)| {
            let GateName {
                metric,
                stage,
                step,
            } = name.parse().ok()?;
            Some(Gate {
                name,
                metric,
                stage,
                step,
                rule,
            })
        })
        .collect()
}

pub fn evaluate(variant: &VariantReport, gates: &[Gate]) -> Vec<ThresholdResult> {
    gates
        .iter()
        .map(|gate| {
            let name = GateName {
                metric: gate.metric,
                stage: gate.stage.clone(),
                step: gate.step.clone(),
            };
            let observed = value_of(variant, &name);
            ThresholdResult {
                variant: variant.name.clone(),
                metric: gate.name.clone(),
                condition: gate.rule.condition.to_string(),
                observed,
                passed: observed
                    .is_some_and(|v| gate.rule.condition.op.holds(v, gate.rule.condition.value)),
            }
        })
        .collect()
}

/// A gate's metric on this report, scoped to its stage or step when it names one.
pub fn value_of(v: &VariantReport, name: &GateName) -> Option<f64> {
    match (&name.stage, &name.step) {
        (Some(stage), _) => stage_value(v, stage, name.metric),
        (None, Some(step)) => step_value(v, step, name.metric),
        (None, None) => value(v, name.metric),
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The metric's value on this report, or `None` when the run has no such number.
pub fn value(v: &VariantReport, metric: Metric) -> Option<f64> {
    let r = &v.requests;
    let f = &v.refresh;
    Some(match metric {
        Metric::Endpoint(scope, stat) => return endpoint_value(v, scope, stat),
        // A step's name travels with its gate (`step_value`); alone the metric names no calls.
        Metric::Step(_) => return None,
        Metric::Phase { phase, stat } => {
            let empty = EndpointReport::default();
            let calls = v.phases.get(phase.name()).unwrap_or(&empty);
            return stat_value(parts(calls), stat);
        }
        Metric::Windowed {
            scope,
            stat,
            window_s,
        } => return super::windows::worst(v, scope, stat, window_s),
        Metric::Scheduled => r.scheduled as f64,
        Metric::Sent => r.sent as f64,
        Metric::Dropped => r.dropped as f64,
        Metric::DroppedRate => ratio(r.dropped, r.scheduled),
        Metric::Retries => r.retries as f64,
        Metric::NoToken => r.no_token as f64,
        Metric::Unfinished => r.unfinished as f64,
        Metric::RefreshMaxInFlightPerOrg => f.max_in_flight_per_org as f64,
        Metric::RefreshPerGenerationMax => f.per_generation_max as f64,
        Metric::RefreshPerGenerationMean => f.per_generation_mean,
        Metric::RefreshWaits => f.waits as f64,
        Metric::RefreshWaitP99Ms => f.wait_ms.p99,
        Metric::TokenEndpointPeak => f.token_endpoint_peak_per_s as f64,
        Metric::RefreshWaiterTimeouts => f.waiter_timeouts as f64,
        Metric::RetryAfterViolated => r.retry_after_violated as f64,
        Metric::UnauthorizedAfterRefreshMs => f.unauthorized_after_refresh_ms.unwrap_or(0.0),
        Metric::SessionsArrived => v.sessions.as_ref()?.arrived as f64,
        Metric::SessionsRefused => v.sessions.as_ref()?.refused as f64,
        Metric::SessionsPeak => v.sessions.as_ref()?.peak_concurrent as f64,
        Metric::SessionsMean => v.sessions.as_ref()?.mean_concurrent,
        Metric::SessionsUnauthorizedOnLoad => {
            let returning = v.sessions.as_ref()?.returning.as_ref();
            returning.map_or(0.0, |r| r.unauthorized_on_load.count as f64)
        }
        Metric::LittleBroken => match v.sessions.as_ref()?.little.as_ref()?.holds {
            true => 0.0,
            false => 1.0,
        },
        Metric::Messaging(stat) => return super::messaging::value(v.messaging.as_ref()?, stat),
        Metric::TruthMismatch => {
            v.truth.as_ref()?.checks.iter().filter(|c| !c.equal).count() as f64
        }
        Metric::ConservationBroken => {
            let c = &v.conservation;
            [
                c.scheduled_is_sent_plus_dropped,
                c.sent_is_finished_plus_unfinished,
                c.contacts_calls_match_requests,
            ]
            .iter()
            .filter(|ok| !**ok)
            .count() as f64
        }
    })
}

/// A token, refresh or contacts metric over the calls sent in one stage; `None` when the report has
/// no such stage.
fn stage_value(v: &VariantReport, stage: &str, metric: Metric) -> Option<f64> {
    let stage = v.stages.iter().find(|s| s.name == stage)?;
    let Metric::Endpoint(scope, stat) = metric else {
        return None;
    };
    let e = &stage.endpoints;
    let calls = match scope {
        Scope::Token => &e.token,
        Scope::Refresh => &e.refresh,
        Scope::Contacts => &e.contacts,
        Scope::Requests => return None,
    };
    stat_value(parts(calls), stat)
}

/// A statistic of one step of the journey; `None` when the report has no such step.
fn step_value(v: &VariantReport, step: &str, metric: Metric) -> Option<f64> {
    let Metric::Step(stat) = metric else {
        return None;
    };
    let step = v.steps.iter().find(|s| s.name == step)?;
    stat_value(parts(&step.calls), stat)
}

fn endpoint_value(v: &VariantReport, scope: Scope, stat: Stat) -> Option<f64> {
    stat_value(
        match scope {
            Scope::Token => parts(&v.endpoints.token),
            Scope::Refresh => parts(&v.endpoints.refresh),
            Scope::Contacts => parts(&v.endpoints.contacts),
            Scope::Requests => requests_parts(&v.requests),
        },
        stat,
    )
}

fn stat_value((outcomes, latency): Parts<'_>, stat: Stat) -> Option<f64> {
    let calls = outcomes.total();
    Some(match stat {
        Stat::Percentile(50) => latency.p50,
        Stat::Percentile(90) => latency.p90,
        Stat::Percentile(99) => latency.p99,
        Stat::Percentile(999) => latency.p999,
        Stat::Percentile(_) => latency.max,
        Stat::MeanMs => latency.mean,
        Stat::Count(o) => outcomes[o] as f64,
        Stat::Rate(o) => ratio(outcomes[o], calls),
        Stat::ErrorRate => ratio(calls - outcomes[Outcome::Ok], calls),
        Stat::Calls => calls as f64,
    })
}

type Parts<'a> = (
    &'a super::outcomes::Outcomes,
    &'a super::histogram::Percentiles,
);

fn parts(e: &EndpointReport) -> Parts<'_> {
    (&e.outcomes, &e.latency_ms)
}

fn requests_parts(r: &Requests) -> Parts<'_> {
    (&r.outcomes, &r.latency_ms)
}
