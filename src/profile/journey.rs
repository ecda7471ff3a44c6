//! `[[sessions.step]]`: a session's journey as a list of API calls ("search contacts, open one, update
//! it"), taken in order or drawn by weight. Each step is an endpoint of its own in the report and in
//! thresholds (`"open.p99_ms" = "< 200"`). Without steps a session makes the one call of `[target.api]`
//! (a contacts search on the embedded target): the journey of a single step, reported as `contacts`.

use super::problems::Problems;
use super::template::Template;
use serde::Deserialize;
use std::collections::HashSet;

/// At most this many steps: each keeps histograms and an expiry lens of its own.
pub const MAX_STEPS: usize = 16;

/// Names a step cannot take: they are the scopes thresholds already give a meaning to.
const RESERVED: [&str; 8] = [
    "token",
    "refresh",
    "contacts",
    "requests",
    "sessions",
    "truth",
    "conservation",
    "messaging",
];

/// How a session picks its next step.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum JourneyOrder {
    /// The steps in the order written, then again from the first.
    #[default]
    Sequence,
    /// Each call draws its step by the steps' `weight`s, from the session's seeded stream.
    Weighted,
}

/// One API call of the journey: `{ name = "open", method = "GET", path = "/api/v2/externalcontacts/contacts/{contact_id}" }`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepSection {
    /// The step's endpoint name in the report and thresholds: 1-32 of a-z, 0-9, '_' and '-'.
    pub name: String,
    /// HTTP method.
    #[serde(default = "get")]
    pub method: String,
    /// Path (and query) on the API host (`[target] api_base`, or the embedded target), with the same
    /// variables as `[target.api] path`.
    pub path: Template,
    /// Request body (sent as `application/json` unless `[target.api] headers` say otherwise).
    #[serde(default)]
    pub body: Option<Template>,
    /// With `journey = "weighted"`: the step's share of the calls (weights need not add up to 1).
    #[serde(default)]
    pub weight: Option<f64>,
}

fn get() -> String {
    "GET".into()
}

pub fn validate(steps: &[StepSection], order: JourneyOrder, problems: &mut Problems) {
    if steps.len() > MAX_STEPS {
        problems.push(
            "sessions.step",
            format!("has {} steps; at most {MAX_STEPS}", steps.len()),
        );
    }
    if steps.is_empty() && order == JourneyOrder::Weighted {
        problems.push(
            "sessions.journey",
            "\"weighted\" draws among [[sessions.step]]s: give some",
        );
    }
    let mut seen = HashSet::new();
    for (i, step) in steps.iter().enumerate() {
        let key = |field: &str| format!("sessions.step[{i}].{field}");
        check_name(&step.name, &key("name"), problems);
        if !seen.insert(step.name.as_str()) {
            problems.push(
                key("name"),
                format!(
                    "`{}` names an earlier step too; names must be unique",
                    step.name
                ),
            );
        }
        if http::Method::from_bytes(step.method.as_bytes()).is_err() {
            problems.push(
                key("method"),
                format!("`{}` is not an HTTP method", step.method),
            );
        }
        if !step.path.to_string().starts_with('/') {
            problems.push(
                key("path"),
                "must start with `/` (it is joined to the API's base)",
            );
        }
        match (order, step.weight) {
            (JourneyOrder::Sequence, Some(_)) => problems.push(
                key("weight"),
                "applies to journey = \"weighted\" (the sequence takes every step in turn)",
            ),
            (JourneyOrder::Weighted, None) => {
                problems.push(key("weight"), "is required with journey = \"weighted\"")
            }
            (JourneyOrder::Weighted, Some(w)) if !(w.is_finite() && w >= 0.0) => {
                problems.push(key("weight"), "must be finite and at least 0")
            }
            _ => {}
        }
    }
    let total: f64 = steps.iter().filter_map(|s| s.weight).sum();
    if order == JourneyOrder::Weighted
        && !steps.is_empty()
        && total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
    {
        problems.push(
            "sessions.step",
            "at least one step's weight must be more than 0",
        );
    }
}

/// A step name that a threshold can name without clashing with the scopes it already knows.
pub fn is_step_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
        && !RESERVED.contains(&name)
}

fn check_name(name: &str, key: &str, problems: &mut Problems) {
    if !is_step_name(name) {
        problems.push(
            key,
            format!(
                "`{name}` must be 1-32 characters of a-z, 0-9, '_' or '-', and none of {}",
                RESERVED.join(", ")
            ),
        );
    }
}
