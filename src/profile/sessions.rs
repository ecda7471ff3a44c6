//! `[sessions]`: widget sessions with a life. They arrive by a seeded process at a session arrival
//! rate, are spread over orgs by weight, call the API with think time between calls until their
//! drawn length ends, then leave. Without this section the load is the fixed pool of `[load] sessions`.

use super::journey::{JourneyOrder, StepSection};
use super::problems::Problems;
use super::schema::Profile;
use super::units::{Rate, Span};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

const MAX_ARRIVAL_RATE: f64 = 1_000_000.0;
const MAX_LENGTH: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsSection {
    /// How arrivals are spaced: `poisson` (exponential gaps, as page loads come) or `uniform`
    /// (evenly spaced at the rate).
    #[serde(default)]
    pub arrival: ArrivalProcess,
    /// Sessions arriving per second. Leave out with `[[load.stage]]`, whose targets then give it.
    #[serde(default)]
    pub arrival_rate: Option<Rate>,
    /// How long each session lives, from its arrival to its leaving.
    pub length: DistSection,
    /// The pause between the end of one API call and the start of the next.
    pub think: DistSection,
    /// What a leaving session does with its token: `drop` it, or `revoke` it (RFC 7009).
    #[serde(default)]
    pub leave: LeaveKind,
    /// How sessions spread over the orgs: `"equal"`, `"long-tail"` (org i has weight 1/(i+1)), or
    /// one weight per org.
    #[serde(default)]
    pub org_weights: OrgWeights,
    /// How a session picks its next step: `sequence` (in order, then again) or `weighted`.
    #[serde(default)]
    pub journey: JourneyOrder,
    /// The journey's API calls (`[[sessions.step]]`); without them a session makes `[target.api]`'s
    /// call, reported as `contacts`.
    #[serde(default, rename = "step")]
    pub steps: Vec<StepSection>,
    /// Returning visitors: a share of the arrivals restore a token an earlier session saved.
    #[serde(default)]
    pub returning: Option<ReturningSection>,
}

/// `[sessions.returning]`: `share = 0.4`, `age = { dist = "uniform", min = "0s", max = "40s" }`.
/// Sessions that leave with `drop` save their token; a returning visitor restores the saved token of
/// its org whose age is closest to its drawn age, or arrives as a new visitor when none is saved.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturningSection {
    /// The share of arriving sessions that are returning visitors, 0 to 1.
    pub share: f64,
    /// How old the token a returning visitor wants to restore is (time since it was issued).
    pub age: DistSection,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalProcess {
    #[default]
    Poisson,
    Uniform,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LeaveKind {
    /// The widget is closed: its token is forgotten and expires on the server.
    #[default]
    Drop,
    /// The widget logs out: its token (the refresh token when it has one) is revoked, RFC 7009.
    Revoke,
}

/// A distribution of durations: `{ dist = "fixed", value = "30s" }`,
/// `{ dist = "uniform", min = "1s", max = "5s" }` or `{ dist = "lognormal", p50 = "30s", p99 = "5m" }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum DistSection {
    Fixed { value: Span },
    Uniform { min: Span, max: Span },
    Lognormal { p50: Span, p99: Span },
}

/// How sessions spread over the orgs.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum OrgWeights {
    #[default]
    Equal,
    /// Org i weighs 1/(i+1) (Zipf, s = 1): a few large orgs and many small ones.
    LongTail,
    /// One weight per org, in org order.
    Given(Vec<f64>),
}

impl<'de> Deserialize<'de> for OrgWeights {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrgWeights;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"equal\", \"long-tail\" or an array of one weight per org")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OrgWeights, E> {
                match v {
                    "equal" => Ok(OrgWeights::Equal),
                    "long-tail" => Ok(OrgWeights::LongTail),
                    other => Err(E::unknown_variant(other, &["equal", "long-tail"])),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrgWeights, A::Error> {
                let mut weights = Vec::new();
                while let Some(w) = seq.next_element::<f64>()? {
                    weights.push(w);
                }
                Ok(OrgWeights::Given(weights))
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for OrgWeights {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OrgWeights".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "How sessions spread over the orgs: \"equal\", \"long-tail\" (org i weighs 1/(i+1)), or one weight per org.",
            "oneOf": [
                { "type": "string", "enum": ["equal", "long-tail"] },
                { "type": "array", "items": { "type": "number", "minimum": 0 } }
            ]
        })
    }
}

impl DistSection {
    /// Checks the distribution's parameters; `positive`: a draw of 0 would be meaningless.
    fn validate(&self, key: &str, positive: bool, problems: &mut Problems) {
        let long = |span: Span| span.0 > MAX_LENGTH;
        match *self {
            DistSection::Fixed { value } => {
                if positive && value.0.is_zero() {
                    problems.push(format!("{key}.value"), "must be more than 0s");
                }
                if long(value) {
                    problems.push(format!("{key}.value"), "must be at most 24h");
                }
            }
            DistSection::Uniform { min, max } => {
                if min > max {
                    problems.push(format!("{key}.min"), "must be at most max");
                }
                if max.0.is_zero() || long(max) {
                    problems.push(format!("{key}.max"), "must be more than 0s and at most 24h");
                }
            }
            DistSection::Lognormal { p50, p99 } => {
                if p50.0.is_zero() {
                    problems.push(format!("{key}.p50"), "must be more than 0s");
                }
                if p99 <= p50 || long(p99) {
                    problems.push(
                        format!("{key}.p99"),
                        "must be longer than p50 and at most 24h",
                    );
                }
            }
        }
    }
}

/// The checks `[sessions]` brings: its own values, what it cannot be combined with, and gates on
/// sessions in a profile without it.
pub fn validate_in(profile: &Profile, problems: &mut Problems) {
    match &profile.sessions {
        Some(sessions) => check_sessions(profile, sessions, problems),
        None => check_no_session_gates(profile, problems),
    }
}

/// `sessions.*` gates have nothing to judge in a fixed-pool run, so they would always fail.
fn check_no_session_gates(profile: &Profile, problems: &mut Problems) {
    refuse_gates(
        profile,
        "sessions.",
        "applies to sessions with a life: the profile has no [sessions]",
        problems,
    );
}

/// Every threshold, the profile's and its variants', whose name starts with `prefix` is a problem.
pub fn refuse_gates(profile: &Profile, prefix: &str, why: &str, problems: &mut Problems) {
    let variants = profile
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("variant[{i}].thresholds"), &v.thresholds));
    let all = std::iter::once(("thresholds".to_owned(), &profile.thresholds)).chain(variants);
    for (key, thresholds) in all {
        for name in thresholds.keys().filter(|n| n.starts_with(prefix)) {
            problems.push(format!("{key}.\"{name}\""), why);
        }
    }
}

/// `[sessions]` replaces the fixed pool's request rate and closed model: think time paces the calls.
fn check_sessions(profile: &Profile, sessions: &SessionsSection, problems: &mut Problems) {
    let load = &profile.load;
    let exclusive = [
        ("load.rate", load.rate.is_some()),
        ("load.connections", load.connections.is_some()),
        ("load.org_start_spread", !load.org_start_spread.0.is_zero()),
    ];
    for (key, set) in exclusive {
        if set {
            problems.push(
                key,
                "cannot be combined with [sessions]: sessions arrive at sessions.arrival_rate and think between calls",
            );
        }
    }
    let context = Context {
        orgs: load.orgs,
        staged: !load.stages.is_empty(),
    };
    sessions.validate(&context, problems);
}

/// What the rest of the profile says, as far as `[sessions]` needs it.
pub struct Context {
    pub orgs: u32,
    pub staged: bool,
}

impl SessionsSection {
    pub fn validate(&self, at: &Context, problems: &mut Problems) {
        match (&self.arrival_rate, at.staged) {
            (None, false) => problems.push(
                "sessions.arrival_rate",
                "is required (or give [[load.stage]]s, whose targets are then session arrivals/s)",
            ),
            (Some(_), true) => problems.push(
                "sessions.arrival_rate",
                "cannot be combined with [[load.stage]]: the stages' targets give the arrival rate",
            ),
            (Some(rate), false)
                if !(rate.per_second > 0.0 && rate.per_second <= MAX_ARRIVAL_RATE) =>
            {
                problems.push(
                    "sessions.arrival_rate",
                    format!("must be more than 0/s and at most {MAX_ARRIVAL_RATE}/s"),
                )
            }
            _ => {}
        }
        self.length.validate("sessions.length", true, problems);
        self.think.validate("sessions.think", false, problems);
        if let OrgWeights::Given(weights) = &self.org_weights {
            check_weights(weights, at.orgs, problems);
        }
        super::journey::validate(&self.steps, self.journey, problems);
        if let Some(returning) = &self.returning {
            if !(0.0..=1.0).contains(&returning.share) {
                problems.push("sessions.returning.share", "must be from 0 to 1");
            }
            returning
                .age
                .validate("sessions.returning.age", false, problems);
            if self.leave == LeaveKind::Revoke {
                problems.push(
                    "sessions.returning",
                    "needs leave = \"drop\": sessions that log out (revoke) leave no token to restore",
                );
            }
        }
    }
}

fn check_weights(weights: &[f64], orgs: u32, problems: &mut Problems) {
    let key = "sessions.org_weights";
    if weights.len() != orgs as usize {
        problems.push(
            key,
            format!(
                "has {} weights; give one per org (load.orgs = {orgs})",
                weights.len()
            ),
        );
    }
    if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
        problems.push(key, "weights must be finite and at least 0");
    } else if weights.iter().sum::<f64>() <= 0.0 {
        problems.push(key, "at least one weight must be more than 0");
    }
}
