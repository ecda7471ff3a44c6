//! Thresholds as written in a profile (`"contacts.p99_ms" = "< 250"`), parsed into typed metrics and
//! conditions before any load is sent. Evaluation happens on the report (report::gates).

use super::units::Span;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The HTTP endpoints and the user-level requests a metric can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Token,
    Refresh,
    Contacts,
    Requests,
}

/// What is measured on a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stat {
    /// Latency percentile in ms: 50, 90, 99, 99.9 (as 999), 100 (max); mean separately.
    Percentile(u16),
    MeanMs,
    /// Count of calls (or requests) with this outcome.
    Count(crate::vocabulary::Outcome),
    /// Share of calls with this outcome, 0..1.
    Rate(crate::vocabulary::Outcome),
    /// Share of calls that were not `ok`.
    ErrorRate,
    /// All calls.
    Calls,
}

/// A metric a threshold can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Endpoint(Scope, Stat),
    Scheduled,
    Sent,
    Dropped,
    DroppedRate,
    Retries,
    NoToken,
    Unfinished,
    RefreshMaxInFlightPerOrg,
    RefreshPerGenerationMax,
    RefreshPerGenerationMean,
    RefreshWaits,
    RefreshWaitP99Ms,
    /// Most token-endpoint calls in any one second.
    TokenEndpointPeak,
    RefreshWaiterTimeouts,
    /// Calls after a 429 that came before its `Retry-After` had passed.
    RetryAfterViolated,
    /// Truth checks where client and server disagree (embedded target only).
    TruthMismatch,
    /// Conservation identities that failed.
    ConservationBroken,
    /// Longest time after a refresh at which the refreshed token met a 401 before its believed expiry
    /// (0 when none did).
    UnauthorizedAfterRefreshMs,
    /// Sessions with a life (`[sessions]`): admitted, refused at `[load] sessions` alive, the peak and
    /// mean alive, and 1 when Little's law does not hold (0 when it does).
    SessionsArrived,
    SessionsRefused,
    SessionsPeak,
    SessionsMean,
    LittleBroken,
    /// The messaging widgets' sockets (`[messaging]`).
    Messaging(super::messaging::MessagingStat),
    /// Returning visitors whose first call met a 401 with their restored token.
    SessionsUnauthorizedOnLoad,
    /// A statistic of one step of the journey (`open.p99_ms`); its name is the gate's `step`.
    Step(Stat),
    /// A contacts statistic over only the calls sent in one token phase (`contacts[expiring].p99_ms`).
    Phase {
        phase: crate::vocabulary::Phase,
        stat: Stat,
    },
    /// A count or rate of an endpoint over its worst sliding window of `window_s` seconds
    /// (`contacts.unauthorized_rate.max_10s`): a short storm that a whole-run rate would dilute.
    Windowed {
        scope: Scope,
        stat: Stat,
        window_s: u32,
    },
}

const NAMED: [(&str, Metric); 24] = [
    ("requests.scheduled", Metric::Scheduled),
    ("requests.sent", Metric::Sent),
    ("requests.dropped", Metric::Dropped),
    ("requests.dropped_rate", Metric::DroppedRate),
    ("requests.retries", Metric::Retries),
    ("requests.no_token", Metric::NoToken),
    ("requests.unfinished", Metric::Unfinished),
    (
        "refresh.max_in_flight_per_org",
        Metric::RefreshMaxInFlightPerOrg,
    ),
    (
        "refresh.per_generation_max",
        Metric::RefreshPerGenerationMax,
    ),
    (
        "refresh.per_generation_mean",
        Metric::RefreshPerGenerationMean,
    ),
    ("refresh.waits", Metric::RefreshWaits),
    ("refresh.wait_p99_ms", Metric::RefreshWaitP99Ms),
    (
        "refresh.token_endpoint_peak_per_s",
        Metric::TokenEndpointPeak,
    ),
    ("refresh.waiter_timeouts", Metric::RefreshWaiterTimeouts),
    ("requests.retry_after_violated", Metric::RetryAfterViolated),
    ("truth.mismatch", Metric::TruthMismatch),
    ("conservation.broken", Metric::ConservationBroken),
    (
        "contacts.unauthorized_after_refresh_ms",
        Metric::UnauthorizedAfterRefreshMs,
    ),
    ("sessions.arrived", Metric::SessionsArrived),
    ("sessions.refused", Metric::SessionsRefused),
    ("sessions.peak_concurrent", Metric::SessionsPeak),
    ("sessions.mean_concurrent", Metric::SessionsMean),
    ("sessions.little_broken", Metric::LittleBroken),
    (
        "sessions.unauthorized_on_load",
        Metric::SessionsUnauthorizedOnLoad,
    ),
];

const PERCENTILES: [(&str, u16); 5] = [
    ("p50_ms", 50),
    ("p90_ms", 90),
    ("p99_ms", 99),
    ("p999_ms", 999),
    ("max_ms", 100),
];

fn metric_help() -> String {
    let outcomes: Vec<&str> = crate::vocabulary::Outcome::ALL
        .iter()
        .map(|o| o.name())
        .collect();
    format!(
        "a metric is <token|refresh|contacts|requests>.<stat> with stat one of p50_ms, p90_ms, p99_ms, p999_ms, max_ms, \
         mean_ms, calls, error_rate, <outcome>, <outcome>_rate (outcomes: {}); contacts[<phase>].<stat> for the calls sent \
         in one token phase (fresh, first_after_refresh, expiring, expired); <token|refresh|contacts>.<count or rate \
         stat>.max_<N>s for the worst N-second window; <token|refresh|contacts>.<stat>[stage=<name>] for the calls \
         sent in one [[load.stage]]; <step>.<stat> for the calls of one [[sessions.step]]; or one of: {}",
        outcomes.join(", "),
        NAMED
            .iter()
            .map(|(n, _)| *n)
            .chain(super::messaging::MESSAGING_METRICS.iter().map(|(n, _)| *n))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

impl FromStr for Metric {
    type Err = String;

    fn from_str(s: &str) -> Result<Metric, String> {
        if let Some((_, m)) = NAMED.iter().find(|(n, _)| *n == s) {
            return Ok(*m);
        }
        let messaging = super::messaging::MESSAGING_METRICS.iter();
        if let Some((_, stat)) = messaging.clone().find(|(n, _)| *n == s) {
            return Ok(Metric::Messaging(*stat));
        }
        let unknown = || format!("unknown metric `{s}`: {}", metric_help());
        if let Some((inner, window)) = s.rsplit_once(".max_").filter(|_| s.split('.').count() == 3)
        {
            return windowed(inner, window).map_err(|why| format!("metric `{s}`: {why}"));
        }
        let (scope, stat) = s.split_once('.').ok_or_else(unknown)?;
        if let Some(phase) = scope
            .strip_prefix("contacts[")
            .and_then(|p| p.strip_suffix(']'))
        {
            let phase = crate::vocabulary::Phase::from_name(phase).ok_or_else(|| {
                format!(
                    "metric `{s}`: unknown token phase `{phase}` (phases: fresh, first_after_refresh, expiring, expired)"
                )
            })?;
            return match format!("contacts.{stat}").parse::<Metric>()? {
                Metric::Endpoint(_, stat) => Ok(Metric::Phase { phase, stat }),
                _ => Err(unknown()),
            };
        }
        let scope = match scope {
            "token" => Scope::Token,
            "refresh" => Scope::Refresh,
            "contacts" => Scope::Contacts,
            "requests" => Scope::Requests,
            _ => return Err(unknown()),
        };
        let stat = if let Some((_, p)) = PERCENTILES.iter().find(|(n, _)| *n == stat) {
            Stat::Percentile(*p)
        } else {
            match stat {
                "mean_ms" => Stat::MeanMs,
                "calls" => Stat::Calls,
                "error_rate" => Stat::ErrorRate,
                _ => match stat.strip_suffix("_rate") {
                    Some(o) => {
                        Stat::Rate(crate::vocabulary::Outcome::from_name(o).ok_or_else(unknown)?)
                    }
                    None => Stat::Count(
                        crate::vocabulary::Outcome::from_name(stat).ok_or_else(unknown)?,
                    ),
                },
            }
        };
        Ok(Metric::Endpoint(scope, stat))
    }
}

/// `contacts.unauthorized_rate` + `10s`: the series holds per-second counts of the three endpoints, so
/// any count or rate of theirs can be taken over a window; latency percentiles and requests cannot.
fn windowed(inner: &str, window: &str) -> Result<Metric, String> {
    let window_s = window
        .strip_suffix('s')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=3600).contains(n))
        .ok_or("the window is written max_<N>s with N from 1 to 3600, e.g. max_10s")?;
    match inner.parse::<Metric>()? {
        Metric::Endpoint(scope, stat)
            if scope != Scope::Requests
                && matches!(
                    stat,
                    Stat::Count(_) | Stat::Rate(_) | Stat::ErrorRate | Stat::Calls
                ) =>
        {
            Ok(Metric::Windowed {
                scope,
                stat,
                window_s,
            })
        }
        _ => Err(
            "a window applies to token, refresh or contacts counts and rates (calls, error_rate, <outcome>, <outcome>_rate)"
                .into(),
        ),
    }
}

/// A threshold's name parsed: its metric, and the stage it is scoped to, if any
/// (`contacts.p99_ms[stage=peak]`: only the calls sent during the stage named `peak`), or the
/// journey's step it is about (`open.p99_ms`: the calls of the step named `open`).
#[derive(Debug, Clone, PartialEq)]
pub struct GateName {
    pub metric: Metric,
    pub stage: Option<String>,
    pub step: Option<String>,
}

/// `open.p99_ms`: a step's name, then any statistic a contacts gate takes; `None` when `s` is not
/// of that form (the step's existence is the profile's to check).
fn step_gate(s: &str) -> Option<GateName> {
    let (step, stat) = s.split_once('.')?;
    if !super::journey::is_step_name(step) {
        return None;
    }
    match format!("contacts.{stat}").parse::<Metric>().ok()? {
        Metric::Endpoint(Scope::Contacts, stat) => Some(GateName {
            metric: Metric::Step(stat),
            stage: None,
            step: Some(step.to_owned()),
        }),
        _ => None,
    }
}

impl FromStr for GateName {
    type Err = String;

    fn from_str(s: &str) -> Result<GateName, String> {
        let Some((metric, stage)) = s
            .strip_suffix(']')
            .and_then(|rest| rest.rsplit_once("[stage="))
        else {
            return match s.parse::<Metric>() {
                Ok(metric) => Ok(GateName {
                    metric,
                    stage: None,
                    step: None,
                }),
                Err(e) => step_gate(s).ok_or(e),
            };
        };
        match metric.parse::<Metric>()? {
            metric @ Metric::Endpoint(scope, _) if scope != Scope::Requests && !stage.is_empty() => {
                Ok(GateName {
                    metric,
                    stage: Some(stage.to_owned()),
                    step: None,
                })
            }
            _ => Err(format!(
                "metric `{s}`: a stage scope (`[stage=NAME]`) applies to token, refresh and contacts \
                 metrics, e.g. contacts.p99_ms[stage=peak]"
            )),
        }
    }
}

/// Comparison operators, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Op {
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }

    pub fn holds(self, observed: f64, bound: f64) -> bool {
        match self {
            Op::Lt => observed < bound,
            Op::Le => observed <= bound,
            Op::Gt => observed > bound,
            Op::Ge => observed >= bound,
            Op::Eq => observed == bound,
            Op::Ne => observed != bound,
        }
    }
}

/// `< 250`, `<= 0.01`, `== 0`; a value may carry `ms` or `s` for latency metrics (`< 1.5s`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    pub op: Op,
    pub value: f64,
}

impl FromStr for Condition {
    type Err = String;

    fn from_str(s: &str) -> Result<Condition, String> {
        let bad = || {
            format!("`{s}` is not a condition; write e.g. \"< 250\", \"<= 0.01\", \"== 0\" (operators < <= > >= == !=)")
        };
        let t = s.trim();
        let ops = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        let (op, rest) = ops
            .iter()
            .find_map(|(sym, op)| t.strip_prefix(sym).map(|rest| (*op, rest.trim())))
            .ok_or_else(bad)?;
        let value = if let Some(ms) = rest.strip_suffix("ms") {
            ms.trim().parse::<f64>().map_err(|_| bad())?
        } else if let Some(secs) = rest.strip_suffix('s') {
            secs.trim().parse::<f64>().map_err(|_| bad())? * 1000.0
        } else {
            rest.parse::<f64>().map_err(|_| bad())?
        };
        if !value.is_finite() {
            return Err(bad());
        }
        Ok(Condition { op, value })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.value)
    }
}

/// One threshold's settings: the condition, and whether failing it stops the run early.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub condition: Condition,
    pub abort_on_fail: bool,
    /// How long into the run before an abort may trigger (k6's delayAbortEval).
    pub abort_delay: Span,
}

/// `[thresholds]`: metric name -> rule, as written (validated into `Metric` by `validate`).
pub type Thresholds = BTreeMap<String, Rule>;

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Long {
            condition: String,
            #[serde(default)]
            abort_on_fail: bool,
            #[serde(default)]
            abort_delay: Span,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Rule;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a condition such as \"< 250\", or a table { condition = \"< 250\", abort_on_fail = true, abort_delay = \"10s\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rule, E> {
                Ok(Rule {
                    condition: v.parse().map_err(E::custom)?,
                    abort_on_fail: false,
                    abort_delay: Span::default(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Rule, A::Error> {
                let long = Long::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Rule {
                    condition: long.condition.parse().map_err(de::Error::custom)?,
                    abort_on_fail: long.abort_on_fail,
                    abort_delay: long.abort_delay,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Rule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Threshold".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let duration = generator.subschema_for::<super::units::Span>();
        let condition = schemars::json_schema!({
            "type": "string",
            "description": "A comparison: \"< 250\", \"<= 0.01\", \"== 0\" (operators < <= > >= == !=); latency may carry ms or s",
            "pattern": r"^\s*(<=|>=|==|!=|<|>)\s*-?[0-9.]+\s*(ms|s)?\s*$"
        });
        schemars::json_schema!({
            "description": "A condition, or a table with the condition and whether failing it stops the run",
            "anyOf": [
                condition,
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["condition"],
                    "properties": {
                        "condition": condition,
                        "abort_on_fail": { "type": "boolean", "description": "Stop the run as soon as the threshold fails" },
                        "abort_delay": duration
                    }
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocabulary::Outcome;

    #[test]
    fn every_metric_family_parses() {
        let cases = [
            (
                "contacts.p99_ms",
                Metric::Endpoint(Scope::Contacts, Stat::Percentile(99)),
            ),
            (
                "token.max_ms",
                Metric::Endpoint(Scope::Token, Stat::Percentile(100)),
            ),
            (
                "requests.mean_ms",
                Metric::Endpoint(Scope::Requests, Stat::MeanMs),
            ),
            (
                "contacts.unauthorized_rate",
                Metric::Endpoint(Scope::Contacts, Stat::Rate(Outcome::Unauthorized)),
            ),
            (
                "refresh.invalid_grant",
                Metric::Endpoint(Scope::Refresh, Stat::Count(Outcome::InvalidGrant)),
            ),
            (
                "contacts.error_rate",
                Metric::Endpoint(Scope::Contacts, Stat::ErrorRate),
            ),
            ("token.calls", Metric::Endpoint(Scope::Token, Stat::Calls)),
            (
                "refresh.max_in_flight_per_org",
                Metric::RefreshMaxInFlightPerOrg,
            ),
            ("requests.dropped_rate", Metric::DroppedRate),
            ("truth.mismatch", Metric::TruthMismatch),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Metric>(), Ok(want), "{text}");
        }
        for bad in [
            "contacts",
            "contacts.p98_ms",
            "api.p99_ms",
            "refresh.invalid_grunt_rate",
            "",
        ] {
            let err = bad.parse::<Metric>().unwrap_err();
            assert!(
                err.contains("unknown metric") && err.contains("p99_ms"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn every_operator_parses_with_units() {
        let cases = [
            ("< 250", Op::Lt, 250.0),
            ("<=1", Op::Le, 1.0),
            ("> 0.99", Op::Gt, 0.99),
            (">= 5", Op::Ge, 5.0),
            ("== 0", Op::Eq, 0.0),
            ("!= 3", Op::Ne, 3.0),
            ("< 250ms", Op::Lt, 250.0),
            ("< 1.5s", Op::Lt, 1500.0),
        ];
        for (text, op, value) in cases {
            assert_eq!(
                text.parse::<Condition>(),
                Ok(Condition { op, value }),
                "{text}"
            );
        }
        for bad in ["250", "<", "=< 3", "< fast", "~ 3", "< inf"] {
            assert!(bad.parse::<Condition>().is_err(), "{bad}");
        }
        assert!(Op::Le.holds(1.0, 1.0) && !Op::Lt.holds(1.0, 1.0) && Op::Ne.holds(0.0, 1.0));
    }
}
