//! `[search]`: what `tokenstorm search` grows, over which range, how long each step lasts and how
//! narrow the answer must be. The gates that define "holds" are the profile's `[thresholds]`.

use super::problems::Problems;
use super::units::{Rate, Span};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchSection {
    /// What grows: `"rate"` (the open model's request rate), `"session-rate"` (session arrivals
    /// per second, with `[sessions]`), `"sessions"` (concurrent sessions of the fixed pool, each at
    /// the profile's per-session rate) or `"orgs"` (tenants, each with the profile's per-org share
    /// of sessions and rate).
    #[serde(default)]
    pub grow: GrowName,
    /// The first step's load: a rate (`"100/s"`) for `rate` and `session-rate`, a count for
    /// `sessions` and `orgs`.
    pub start: SearchLoad,
    /// The most the search may send. Required: against a real target every step must be one its
    /// owners agreed to.
    pub ceiling: SearchLoad,
    /// Each growing step is this many times the last.
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// How long each step is judged, after its settling time.
    pub step: Span,
    /// How long each step runs before its judged window starts (first tokens, queues filling).
    #[serde(default = "default_settle")]
    pub settle: Span,
    /// The search stops when (lowest failing - highest holding) / highest holding is at most this.
    #[serde(default = "default_resolution")]
    pub resolution: f64,
    /// How many more times the two deciding loads are run, to show whether the knee is noise.
    #[serde(default)]
    pub repeats: u32,
    /// The variant whose client model searches; the first when absent.
    pub variant: Option<String>,
}

#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum GrowName {
    #[default]
    Rate,
    SessionRate,
    /// Concurrent sessions of the fixed pool, each at the profile's per-session rate.
    Sessions,
    Orgs,
}

impl GrowName {
    /// The unit a load of this kind is written in.
    pub fn unit(self) -> &'static str {
        match self {
            GrowName::Rate => "req/s",
            GrowName::SessionRate => "sessions/s",
            GrowName::Sessions => "sessions",
            GrowName::Orgs => "orgs",
        }
    }
}

/// A search's load as written: a rate for `grow = "rate"`, a whole count for `grow = "orgs"`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SearchLoad {
    // First: a bare number is a count, though a rate may be written as one too.
    Count(u32),
    Rate(Rate),
}

impl SearchLoad {
    pub fn value(self) -> f64 {
        match self {
            SearchLoad::Rate(r) => r.per_second,
            SearchLoad::Count(n) => f64::from(n),
        }
    }
}

fn default_factor() -> f64 {
    2.0
}

fn default_settle() -> Span {
    Span(Duration::from_secs(5))
}

fn default_resolution() -> f64 {
    0.05
}

/// The most steps a search may take with its settings: a bound users see before sending anything.
const MAX_REPEATS: u32 = 10;

impl SearchSection {
    pub fn validate(&self, variants: &[&str], problems: &mut Problems) {
        self.check_loads(problems);
        if !(self.factor > 1.0 && self.factor <= 10.0) {
            problems.push("search.factor", "must be above 1 and at most 10");
        }
        if !(self.resolution > 0.0 && self.resolution <= 0.5) {
            problems.push(
                "search.resolution",
                "must be above 0 and at most 0.5 (0.05: within 5 %)",
            );
        }
        if self.step.0.is_zero() {
            problems.push("search.step", "must be above 0s");
        }
        if self.repeats > MAX_REPEATS {
            problems.push("search.repeats", format!("must be at most {MAX_REPEATS}"));
        }
        if let Some(name) = &self.variant {
            if !variants.contains(&name.as_str()) {
                problems.push(
                    "search.variant",
                    format!("no [[variant]] is named `{name}`"),
                );
            }
        }
    }

    /// `start` and `ceiling` in the unit `grow` says, the ceiling not below the start.
    fn check_loads(&self, problems: &mut Problems) {
        for (key, load) in [
            ("search.start", self.start),
            ("search.ceiling", self.ceiling),
        ] {
            match (self.grow, load) {
                (GrowName::Rate | GrowName::SessionRate, SearchLoad::Count(_)) => {
                    problems.push(key, "a rate, e.g. \"100/s\", when a rate grows")
                }
                (GrowName::Orgs | GrowName::Sessions, SearchLoad::Rate(_)) => {
                    problems.push(key, "a count, e.g. 10, when orgs or sessions grow")
                }
                _ if load.value() <= 0.0 => problems.push(key, "must be above 0"),
                _ => {}
            }
        }
        if self.ceiling.value() < self.start.value() {
            problems.push("search.ceiling", "must be at least search.start");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        let section: SearchSection = toml::from_str(text).unwrap();
        let mut p = Problems::default();
        section.validate(&["a"], &mut p);
        p.into_vec().into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn a_search_parses_with_its_defaults() {
        let s: SearchSection =
            toml::from_str("start = \"100/s\"\nceiling = \"2000/s\"\nstep = \"10s\"").unwrap();
        assert_eq!((s.factor, s.resolution, s.repeats), (2.0, 0.05, 0));
        assert_eq!(s.settle.0, Duration::from_secs(5));
        assert_eq!(s.grow, GrowName::Rate);
        assert!(keys("start = \"100/s\"\nceiling = \"2000/s\"\nstep = \"10s\"").is_empty());
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let text = "start = \"0/s\"\nceiling = \"0/s\"\nstep = \"0s\"\nfactor = 1.0\n\
                    resolution = 0.9\nrepeats = 11\nvariant = \"b\"";
        let mut found = keys(text);
        found.sort();
        assert_eq!(
            found,
            [
                "search.ceiling",
                "search.factor",
                "search.repeats",
                "search.resolution",
                "search.start",
                "search.step",
                "search.variant"
            ]
        );
        assert_eq!(
            keys("grow = \"orgs\"\nstart = \"5/s\"\nceiling = 10\nstep = \"1s\""),
            ["search.start"]
        );
        assert_eq!(
            keys("start = 5\nceiling = \"10/s\"\nstep = \"1s\""),
            ["search.start"]
        );
        assert!(keys("grow = \"orgs\"\nstart = 5\nceiling = 40\nstep = \"1s\"").is_empty());
        assert_eq!(
            keys("start = \"500/s\"\nceiling = \"100/s\"\nstep = \"1s\""),
            ["search.ceiling"]
        );
    }
}
