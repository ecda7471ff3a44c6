//! The serde model of a profile file: it mirrors the TOML one to one, and rejects unknown keys.

use super::server::ServerSection;
use super::thresholds::Thresholds;
use super::units::{Rate, Span};
use serde::Deserialize;

/// A whole profile file. Each `[[variant]]` is one client model run against a fresh target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Name used in report folders and titles; defaults to the file stem.
    pub name: Option<String>,
    /// Seeds every random choice (arrival order, jitter, the target's faults): same seed, same schedule.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long each variant runs.
    pub duration: Span,
    #[serde(default)]
    pub target: TargetSection,
    #[serde(default)]
    pub server: ServerSection,
    pub load: LoadSection,
    /// Conditions every variant's results must meet; a failure gives exit code 1.
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(rename = "variant")]
    pub variants: Vec<VariantSection>,
}

fn default_seed() -> u64 {
    1
}

/// Where the load goes.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "lowercase")]
pub enum TargetSection {
    /// The simulated server built into tokenstorm, started on 127.0.0.1 for each variant.
    #[default]
    Embedded,
}

/// The shape of the load: how many sessions, spread over how many orgs, sending at what rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSection {
    pub orgs: u32,
    pub sessions: u32,
    /// Open model: contacts requests per second over all sessions, whatever the target's response time.
    pub rate: Rate,
    /// The rate climbs linearly from zero over this span.
    #[serde(default)]
    pub ramp_up: Span,
    /// Requests (including their token work) in flight at most; work due beyond it is counted as dropped.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// A request with no response after this long is a timeout.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Span,
    /// After the last request is scheduled, in-flight requests get this long to finish.
    #[serde(default = "default_drain")]
    pub drain: Span,
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

/// A client model: what one SDK version does with its tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSection {
    pub name: String,
    /// Whether sessions of an org share one cached token or each holds its own.
    pub token_scope: TokenScope,
    /// When a refresh starts.
    pub trigger: Trigger,
    /// For `preemptive`: how long before the token's expiry the client refreshes.
    pub margin: Option<Span>,
    /// What concurrent callers that need the same refresh do.
    #[serde(default)]
    pub coalesce: Coalesce,
    /// How often a request that got a 401 refreshes and tries again.
    #[serde(default = "default_retries")]
    pub retries_on_401: u32,
    /// How a token is renewed; by default `client_credentials` for org tokens and `refresh_token` for session tokens.
    pub refresh_grant: Option<RefreshGrant>,
    /// Thresholds for this variant only, on top of (and overriding) the profile's.
    #[serde(default)]
    pub thresholds: Thresholds,
}

fn default_retries() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// One token per org, shared by all its sessions (a server-side integration, a shared cache).
    Org,
    /// Each session holds its own access and refresh token (a widget in a browser tab).
    Session,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Use the token until the API answers 401, then refresh (the platform SDKs).
    Reactive,
    /// Refresh `margin` before the token expires.
    Preemptive,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Coalesce {
    /// Every caller that needs a refresh sends its own.
    #[default]
    None,
    /// One refresh per token; the other callers wait for its result.
    SingleFlight,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefreshGrant {
    RefreshToken,
    ClientCredentials,
}
