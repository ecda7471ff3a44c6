//! The serde model of a profile file: it mirrors the TOML one to one, and rejects unknown keys.

use super::client::ClientSettings;
pub use super::client::{
    Coalesce, OnWaitTimeout, PartnerCredentials, RefreshGrant, TokenScope, Trigger,
};
use super::server::ServerSection;
pub use super::sessions::SessionsSection;
pub use super::target::TargetSection;
use super::thresholds::Thresholds;
use super::units::{Rate, Span};
use serde::Deserialize;

/// A whole profile file. Each `[[variant]]` is one client model run against a fresh target.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name used in report folders and titles; defaults to the file stem.
    pub name: Option<String>,
    /// Seeds every random choice (arrival order, jitter, the target's faults): same seed, same schedule.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long each variant runs. With `[[load.stage]]`, the stages' durations add up to it: leave it
    /// out, or give the same sum.
    #[serde(default)]
    pub duration: Option<Span>,
    #[serde(default)]
    pub target: TargetSection,
    #[serde(default)]
    pub server: ServerSection,
    pub load: LoadSection,
    /// Sessions with a life (the open model of sessions): they arrive, call the API with think time
    /// and leave. Without it, the load is the fixed pool of `[load] sessions` sharing `rate`.
    #[serde(default)]
    pub sessions: Option<SessionsSection>,
    /// Each session is a web-messaging widget on a WebSocket (needs `[sessions]`).
    #[serde(default)]
    pub messaging: Option<super::messaging::MessagingSection>,
    /// Conditions every variant's results must meet; a failure gives exit code 1.
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(rename = "variant")]
    pub variants: Vec<VariantSection>,
    /// What `tokenstorm search` grows and over which range.
    #[serde(default)]
    pub search: Option<super::search::SearchSection>,
    /// How many of the busiest orgs (by sessions) keep latency histograms of their own in the report;
    /// every other org's calls are one "other" aggregate. Every org's call and 401 counts are kept.
    #[serde(default = "default_top_orgs")]
    pub top_orgs: u32,
}

fn default_seed() -> u64 {
    1
}

fn default_top_orgs() -> u32 {
    20
}

/// The shape of the load: how many sessions, spread over how many orgs, sending at what rate.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    pub orgs: u32,
    /// The fixed pool: this many sessions, spread evenly over the orgs. With `[sessions]`: the most
    /// sessions alive at once; arrivals beyond it are refused and counted.
    pub sessions: u32,
    /// Contacts requests per second over all sessions. Open model (the default): sent on schedule,
    /// whatever the target's response time. With `connections`: the paced rate of the workers, or
    /// `"0/s"` for as fast as they go.
    /// Leave out with `[[load.stage]]`, whose targets give the rate.
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Closed model, as wrk and oha run: this many workers, each sending its next request when the
    /// previous one has ended (at its scheduled time when `rate` is set, measured from that time, as
    /// wrk2 does). Leave out for the open model.
    #[serde(default)]
    pub connections: Option<u32>,
    /// The rate climbs linearly from zero over this span.
    #[serde(default)]
    pub ramp_up: Span,
    /// Requests (including their token work) in flight at most; work due beyond it is counted as dropped.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// Open model: API calls share at most this many HTTP/1.1 connections per host, as oha's `-c` and
    /// Gatling's `maxConnectionsPerHost` bound theirs; a call that finds them all busy waits for one
    /// (the wait is part of its latency, from its intended send time, and of its `request_timeout`).
    /// Over HTTP/2, where calls share one connection, it bounds the calls in flight on it. Token and
    /// refresh calls are never held back: their concurrency is what a test measures. Leave out (the
    /// default) for a connection per concurrent call, as k6 does; a burst then opens that many at once.
    #[serde(default)]
    pub max_connections: Option<u32>,
    /// A request with no response after this long is a timeout.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Span,
    /// After the last request is scheduled, in-flight requests get this long to finish.
    #[serde(default = "default_drain")]
    pub drain: Span,
    /// The last `partners` orgs are partner orgs of org 0 (a multi-org premium app): their tokens are
    /// theirs, but a buggy client may refresh them with org 0's credentials.
    #[serde(default)]
    pub partners: u32,
    /// Orgs join over this span, each at an offset drawn from the seed, instead of all at the start:
    /// their first tokens, and so every later expiry, spread out. 0 (the default) starts every org at
    /// once, so their tokens expire together (the herd). Open model only.
    #[serde(default)]
    pub org_start_spread: Span,
    /// Open model: stages of the arrival rate, in order, as k6's ramping-arrival-rate stages. Each
    /// ramps linearly from the previous stage's target (the first from 0/s) to its own over its
    /// duration: repeating the previous target holds it, a `0s` stage jumps to its target.
    #[serde(default, rename = "stage")]
    pub stages: Vec<StageSection>,
}

/// One `[[load.stage]]`: a named span of the run and the arrival rate it ends at.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageSection {
    /// The stage's name in the report, on the charts and in thresholds (`contacts.p99_ms[stage=peak]`).
    pub name: String,
    pub duration: Span,
    /// At the end of the stage: API requests per second over all sessions, or with `[sessions]`
    /// session arrivals per second.
    pub target: Rate,
}

impl Profile {
    /// How long each variant runs: the stages' sum, or `duration`.
    pub fn run_length(&self) -> std::time::Duration {
        if self.load.stages.is_empty() {
            self.duration.map_or(std::time::Duration::ZERO, |d| d.0)
        } else {
            self.load.stages.iter().map(|s| s.duration.0).sum()
        }
    }
}

impl LoadSection {
    /// The arrival rate the run reaches: `rate`, or the highest stage target.
    pub fn peak_rate(&self) -> f64 {
        match &self.rate {
            Some(rate) => rate.per_second,
            None => self
                .stages
                .iter()
                .map(|s| s.target.per_second)
                .fold(0.0, f64::max),
        }
    }
}

fn default_max_in_flight() -> u32 {
    2_000
}

fn default_request_timeout() -> Span {
    Span(std::time::Duration::from_secs(10))
}

fn default_drain() -> Span {
    Span(std::time::Duration::from_secs(5))
}

/// One client model to run: a name, its settings, and thresholds of its own.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSection {
    pub name: String,
    /// A preset name (`client = "genesys-messenger"`) or a table of settings, optionally with `preset = ...`.
    /// After loading, this holds the settings with every preset applied.
    #[serde(deserialize_with = "super::client::deserialize_client")]
    #[schemars(with = "super::client::ClientRef")]
    pub client: ClientSettings,
    /// Thresholds for this variant only, on top of (and overriding) the profile's.
    #[serde(default)]
    pub thresholds: Thresholds,
}
