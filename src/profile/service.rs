//! `[server.service.token]` and `[server.service.contacts]`: the embedded target's workers, service
//! time and queue per endpoint family, which give it a capacity and a knee as a real service has.

use super::problems::Problems;
use super::units::Span;
use serde::Deserialize;

/// More workers than this is not a model of a service but of no limit (leave the table out).
const MAX_WORKERS: usize = 100_000;
const MAX_QUEUE: usize = 10_000_000;

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSection {
    /// Every token-issuing route (grants are CPU-bound on real servers: each signs a JWT).
    pub token: Option<StationSection>,
    /// The contacts API.
    pub contacts: Option<StationSection>,
}

/// A service station: `workers` requests served at once, each for a service time; up to `queue`
/// more wait in arrival order; beyond that, refused at once. It carries about workers / mean
/// service time requests per second.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StationSection {
    pub workers: usize,
    /// Fixed service time, or `service_time_p50` with `service_time_p99` (log-normal).
    pub service_time: Option<Span>,
    pub service_time_p50: Option<Span>,
    pub service_time_p99: Option<Span>,
    /// Requests that may wait for a worker.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// How a full station answers: `"unavailable"` (503) or `"rate-limited"` (429, `Retry-After: 1`).
    #[serde(default)]
    pub refuse: RefuseName,
}

fn default_queue() -> usize {
    100
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RefuseName {
    #[default]
    Unavailable,
    RateLimited,
}

impl ServiceSection {
    pub fn validate(&self, problems: &mut Problems) {
        for (name, station) in [("token", &self.token), ("contacts", &self.contacts)] {
            if let Some(s) = station {
                s.validate(&format!("server.service.{name}"), problems);
            }
        }
    }
}

impl StationSection {
    fn validate(&self, prefix: &str, problems: &mut Problems) {
        let key = |field: &str| format!("{prefix}.{field}");
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            problems.push(key("workers"), format!("must be from 1 to {MAX_WORKERS}"));
        }
        if self.queue > MAX_QUEUE {
            problems.push(key("queue"), format!("must be at most {MAX_QUEUE}"));
        }
        let (fixed, p50, p99) = (
            self.service_time,
            self.service_time_p50,
            self.service_time_p99,
        );
        match (fixed, p50, p99) {
            (Some(t), None, None) if t.0.is_zero() => {
                problems.push(key("service_time"), "must be above 0s")
            }
            (Some(_), None, None) => {}
            (None, Some(p50), Some(p99)) if p50.0.is_zero() || p99 < p50 => problems.push(
                key("service_time_p99"),
                "must be at least service_time_p50, and service_time_p50 above 0s",
            ),
            (None, Some(_), Some(_)) => {}
            (Some(_), _, _) => problems.push(
                key("service_time"),
                "give either service_time or service_time_p50 and service_time_p99, not both",
            ),
            (None, None, None) => problems.push(
                key("service_time"),
                "a station needs a service time: service_time, or service_time_p50 and service_time_p99",
            ),
            (None, _, _) => problems.push(
                key("service_time_p99"),
                "service_time_p50 and service_time_p99 go together",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<String> {
        let section: ServiceSection = toml::from_str(text).unwrap();
        let mut p = Problems::default();
        section.validate(&mut p);
        p.into_vec().into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn a_station_parses_with_its_defaults() {
        let s: ServiceSection =
            toml::from_str("[token]\nworkers = 4\nservice_time = \"10ms\"").unwrap();
        let t = s.token.unwrap();
        assert_eq!(
            (t.workers, t.queue, t.refuse),
            (4, 100, RefuseName::Unavailable)
        );
        assert!(s.contacts.is_none());
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        assert!(keys("[token]\nworkers = 4\nservice_time = \"10ms\"").is_empty());
        assert_eq!(
            keys("[token]\nworkers = 0\nservice_time = \"0s\"\nqueue = 99999999"),
            [
                "server.service.token.workers",
                "server.service.token.queue",
                "server.service.token.service_time"
            ]
        );
        assert_eq!(
            keys("[contacts]\nworkers = 2\nservice_time_p50 = \"5ms\""),
            ["server.service.contacts.service_time_p99"]
        );
        assert_eq!(
            keys("[contacts]\nworkers = 2\nservice_time_p50 = \"5ms\"\nservice_time_p99 = \"1ms\""),
            ["server.service.contacts.service_time_p99"]
        );
        assert_eq!(
            keys("[contacts]\nworkers = 2"),
            ["server.service.contacts.service_time"]
        );
        assert_eq!(
            keys("[contacts]\nworkers = 2\nservice_time = \"1ms\"\nservice_time_p50 = \"1ms\""),
            ["server.service.contacts.service_time"]
        );
    }
}
