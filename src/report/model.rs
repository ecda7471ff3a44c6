//! The report document (`report.json`): one per run, one entry per variant. Every field is described
//! in docs/report.md; change both together.

use super::histogram::Percentiles;
use super::outcomes::Outcomes;
pub use super::sessions::SessionsReport;
use super::words::words;
pub use crate::metrics::requests::RequestCounts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when a field changes meaning or goes away; readers refuse versions they do not know.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub profile: ProfileInfo,
    /// UTC, RFC 3339.
    pub started_at: String,
    /// `embedded` or the target's base URL.
    pub target: String,
    /// True when the run was stopped before its schedule ended (Ctrl-C).
    pub interrupted: bool,
    pub variants: Vec<VariantReport>,
    /// Every threshold of every variant, evaluated on the final numbers.
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// Whether every threshold passed; absent when the profile has none.
    #[serde(default)]
    pub passed: Option<bool>,
    /// The threshold (`variant: metric condition`) whose failure stopped the run early, if one did.
    #[serde(default)]
    pub aborted_by: Option<String>,
    /// Which shard of a sharded run this report is (`tokenstorm run --shard i/n`).
    #[serde(default)]
    pub shard: Option<ShardInfo>,
    /// How many shard reports `tokenstorm merge` joined into this one.
    #[serde(default)]
    pub merged_shards: Option<u32>,
    /// What the reader should know about how this report came about (e.g. a check that was skipped).
    #[serde(default)]
    pub notes: Vec<String>,
    /// The embedded target's expiry settings (absent for other targets): the plots mark them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerSettings>,
    /// A capacity search (`tokenstorm search`): its answer and steps; `variants` then holds the run
    /// at the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<super::search::SearchReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardInfo {
    /// 0-based, like Kubernetes' JOB_COMPLETION_INDEX.
    pub index: u32,
    pub count: u32,
    /// Share of the run's arrivals (and so of its rate) this shard sent.
    pub share: f64,
    /// The agreed start (`--start-at`), UTC RFC 3339, if one was given.
    pub start_at: Option<String>,
}

/// What the embedded target was told about expiry, so charts can mark the leeway next to the client's margin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub token_ttl_s: f64,
    /// Tolerance when the server checks `exp`: a token still passes this long after it expired.
    pub leeway_s: f64,
    /// The API's clock minus the token issuer's.
    pub clock_offset_ms: i64,
    /// The web-messaging socket endpoint's settings, when the profile sets them (`[server.messaging]`,
    /// a deployment's own origins) or its widgets met them (`[messaging]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging: Option<MessagingServerSettings>,
}

/// What the embedded target's socket endpoint was told (docs/messaging.md has each setting).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingServerSettings {
    pub session_duration_s: f64,
    /// `Origin`s a socket may come from; empty: any.
    pub allowed_origins: Vec<String>,
    /// The deployments with a list of their own, judged by it instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deployment_origins: Vec<DeploymentOrigins>,
    /// `None`: no limit.
    pub max_sockets_per_deployment: Option<u64>,
    pub messages_per_second: Option<f64>,
    pub retry_after_s: f64,
    pub max_text_bytes: u64,
    pub faults: MessagingFaultSettings,
}

/// One deployment's own allowed origins: client `client` (0-based) of org `org`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentOrigins {
    pub org: String,
    pub client: u32,
    pub allowed_origins: Vec<String>,
}

/// The socket endpoint's faults; times from the server's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagingFaultSettings {
    pub drop_all_at_s: Vec<f64>,
    pub refuse_for_s: f64,
    /// The log-normal reply latency's median and 99th percentile, when there is one.
    pub reply_latency_p50_ms: Option<f64>,
    pub reply_latency_p99_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdResult {
    pub variant: String,
    pub metric: String,
    /// As written, e.g. `< 250`.
    pub condition: String,
    /// `None` when the metric has no value for this run (e.g. `truth.*` against a remote target).
    pub observed: Option<f64>,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInfo {
    pub name: String,
    pub path: String,
    pub hash: String,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantReport {
    pub name: String,
    /// Wall-clock time (UTC, RFC 3339) at which pacing started: time series offsets count from here.
    pub started_at: String,
    pub client: ClientInfo,
    pub planned_duration_s: f64,
    pub elapsed_s: f64,
    pub rate_per_s: f64,
    pub stopped_early: bool,
    pub requests: Requests,
    pub endpoints: Endpoints,
    /// The journey's steps (`[[sessions.step]]`), in the profile's order: the API calls of
    /// `endpoints.contacts` split by step, each an endpoint of its own. Absent for the single-call
    /// journey, whose calls are all `contacts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
    /// Contacts calls by their token's phase when sent (`fresh`, `first_after_refresh`, `expiring`,
    /// `expired`, `expired_by_claim`); phases with no calls are left out.
    #[serde(default)]
    pub phases: BTreeMap<String, EndpointReport>,
    /// The profile's stages, in order, with the calls sent in each; absent without `[[load.stage]]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageReport>,
    /// Per-tenant views: the busiest orgs' contacts calls each, the rest together, and the worst orgs
    /// by 401 rate among all.
    #[serde(default)]
    pub tenants: Tenants,
    pub expiry_lens: ExpiryLens,
    /// The same calls placed by their token's JWT `exp` claim (the issuer's clock); only calls whose
    /// token had one, and no refreshes. Absent when no token was a JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_lens_by_claim: Option<ExpiryLens>,
    pub refresh: Refresh,
    pub timeseries: TimeSeries,
    /// Sessions with a life (`[sessions]`): arrivals, departures, concurrency and Little's law;
    /// absent for the fixed pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionsReport>,
    /// Messaging widgets' sockets (`[messaging]`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging: Option<super::messaging::MessagingReport>,
    pub conservation: Conservation,
    /// The embedded target's own counts, when the target was embedded.
    pub truth: Option<Truth>,
}

/// One step of the journey: its calls, and where they fell against their token's expiry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    pub name: String,
    pub method: String,
    /// The path template as the profile wrote it.
    pub path: String,
    pub calls: EndpointReport,
    pub expiry_lens: ExpiryLens,
}

/// One `[[load.stage]]` of the run and the calls sent during it (by their send time, as phases are).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageReport {
    pub name: String,
    /// `[start_s, end_s)` from the start of the variant's pacing (`started_at`).
    pub start_s: f64,
    pub end_s: f64,
    /// The whole run's arrival rate at the stage's start and end (every shard's report gives the
    /// whole run's, so shards' stages are equal).
    pub from_per_s: f64,
    pub to_per_s: f64,
    pub endpoints: Endpoints,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientInfo {
    pub preset: Option<String>,
    pub description: Option<String>,
    pub token_scope: TokenScope,
    pub trigger: Trigger,
    /// `margin`: the margin; `two-window`: the mandatory window.
    pub margin_s: Option<f64>,
    pub advisory_s: Option<f64>,
    pub fraction: Option<f64>,
    pub jitter_s: f64,
    pub early_expiry_s: f64,
    pub coalesce: Coalesce,
    pub wait_timeout_s: Option<f64>,
    pub lock_ttl_s: Option<f64>,
    pub retries_on_401: u32,
    pub retries_on_429: u32,
    pub honor_retry_after: bool,
    /// A returning visitor's first call checks its restored token's expiry (reports before the
    /// field: true).
    #[serde(default = "checks")]
    pub check_saved_expiry: bool,
    pub refresh_grant: RefreshGrant,
    pub partner_credentials: PartnerCredentials,
    pub clock_skew_ms: i64,
}

fn checks() -> bool {
    true
}

// The report's own words for the client model: report.json is read back by later versions
// (`format_version`), so its words do not follow the profile's TOML by accident.
words! {
    /// Whose token a call uses.
    pub enum TokenScope {
        Org = "org",
        Session = "session",
    }
}

words! {
    /// What starts a refresh.
    pub enum Trigger {
        Reactive = "reactive",
        Margin = "margin",
        Fraction = "fraction",
        TwoWindow = "two-window",
    }
}

words! {
    /// How callers that need the same token at once share its refresh.
    pub enum Coalesce {
        None = "none",
        SingleFlight = "single-flight",
        Lock = "lock",
    }
}

words! {
    /// How a held token is replaced.
    pub enum RefreshGrant {
        RefreshToken = "refresh_token",
        ClientCredentials = "client_credentials",
    }
}

words! {
    /// Which credentials refresh a partner org's token.
    pub enum PartnerCredentials {
        Own = "own",
        Primary = "primary",
    }
}

/// User-level requests: the recorder's counters and, beside them, the latencies the report adds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requests {
    /// report.json keeps the counters at the top level of `requests`, as fields of its own.
    #[serde(flatten)]
    pub counts: RequestCounts,
    /// From intended send time to final answer, token work and retries included.
    pub latency_ms: Percentiles,
    /// `latency_ms` losslessly: HdrHistogram V2, base64, microseconds.
    pub latency_histogram: Option<String>,
    /// How late the pacer released requests after their intended send time (the generator's own lag).
    pub pacer_lateness_ms: Percentiles,
    pub pacer_lateness_histogram: Option<String>,
    /// From the actual send to the final answer: the latency a tool with coordinated omission would
    /// report. Compare with `latency_ms` to see how much waiting the generator's own lag would have hidden.
    #[serde(default)]
    pub service_time_ms: Percentiles,
    #[serde(default)]
    pub service_time_histogram: Option<String>,
    /// Per request, time spent getting tokens (cache hit, own refresh, waiting on another's):
    /// part of `latency_ms`, shown on its own.
    #[serde(default)]
    pub token_time_ms: Percentiles,
    #[serde(default)]
    pub token_time_histogram: Option<String>,
}

/// The counters read as fields of `requests`, as they are in report.json.
impl std::ops::Deref for Requests {
    type Target = RequestCounts;
    fn deref(&self) -> &RequestCounts {
        &self.counts
    }
}

impl std::ops::DerefMut for Requests {
    fn deref_mut(&mut self) -> &mut RequestCounts {
        &mut self.counts
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoints {
    pub token: EndpointReport,
    pub refresh: EndpointReport,
    pub contacts: EndpointReport,
}

/// Every HTTP call to one endpoint.
#[derive(Default, Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointReport {
    pub requests: u64,
    pub outcomes: Outcomes,
    pub latency_ms: Percentiles,
    /// Per outcome that occurred: HdrHistogram V2, base64, microseconds.
    pub histograms: BTreeMap<String, String>,
    /// Calls sent a second time on a new connection because the reused one they were written to
    /// closed before any answer (the server's idle timeout); each is one call in `requests`, its
    /// latency both sends. Counted for the run's endpoints, absent from stage and phase rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_connection_resends: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryLens {
    pub bin_width_s: f64,
    /// Offset = API send time minus the expiry of the token used, as the client knew it.
    pub bins: Vec<LensBin>,
    pub before: Outcomes,
    pub after: Outcomes,
    /// Refresh calls earlier than the first bin, and at or after the last.
    pub refreshes_before: u64,
    pub refreshes_after: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LensBin {
    /// Start of the bin: [offset_s, offset_s + 1).
    pub offset_s: i64,
    pub outcomes: Outcomes,
    /// Refresh calls that started in this bin, relative to the expiry of the token they replaced.
    pub refreshes: u64,
    /// How those refresh calls ended (`invalid_grant` from rotation races shows here).
    #[serde(default)]
    pub refresh_outcomes: Outcomes,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    /// Calls that replaced a held token.
    pub attempts: u64,
    /// Calls for a first token.
    pub first_tokens: u64,
    pub max_in_flight_per_org: u64,
    /// Org index -> most refreshes (and first-token calls) in flight at once, for every org that made any.
    pub max_in_flight_by_org: BTreeMap<String, u64>,
    /// Org index -> most refreshes in flight at once, for the orgs that had more than one.
    pub contended_orgs: BTreeMap<String, u64>,
    /// Org index -> invalid_grant answers, for the orgs that got any.
    pub invalid_grant_by_org: BTreeMap<String, u64>,
    /// Token generations that drew at least one refresh or first-token call.
    pub generations: u64,
    pub per_generation_max: u64,
    pub per_generation_mean: f64,
    /// Refreshes per generation -> how many generations drew that many.
    pub per_generation: BTreeMap<String, u64>,
    /// Refreshes started in the background (two-window advisory refresh).
    pub background: u64,
    /// Most token-endpoint calls (first tokens and refreshes) that ended in any one second.
    pub token_endpoint_peak_per_s: u64,
    /// Callers that gave up waiting for someone else's refresh (`wait_timeout`).
    pub waiter_timeouts: u64,
    /// Callers that waited on a refresh someone else made (single-flight rounds, lock polling).
    pub waits: u64,
    pub wait_ms: Percentiles,
    pub wait_histogram: Option<String>,
    /// Refreshed tokens rejected (401) before the expiry the client believes in: the longest time after
    /// the refresh at which that happened, in ms; null when it never did. A propagation delay, a
    /// wrong-tenant refresh or a clock offset shows here; ordinary expiry 401s do not.
    #[serde(default)]
    pub unauthorized_after_refresh_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSeries {
    pub bucket_s: f64,
    pub buckets: Vec<Bucket>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub t_s: f64,
    pub scheduled: u64,
    pub dropped: u64,
    pub contacts: Outcomes,
    pub token: Outcomes,
    pub refresh: Outcomes,
    pub refreshes_in_flight_max: u64,
    pub requests_in_flight_max: u64,
    /// Sessions with a life: arrivals in this bucket, ends (left, or alive when the run ended), and
    /// sessions alive at its end. Absent (0) for the fixed pool.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub session_arrivals: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub session_ends: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub active_sessions: u64,
    /// Latency of the user-level requests that finished in this bucket: HdrHistogram V2, base64,
    /// microseconds, 2 significant figures (absent when none finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_histogram: Option<String>,
}

/// Contacts calls by org, in memory and report size bounded by `top_orgs`, whatever the org count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenants {
    /// The busiest orgs (most sessions), each with its own calls and latency, busiest first.
    pub top: Vec<TenantView>,
    /// Every other org's calls together (`org` is null).
    pub other: TenantView,
    /// The orgs with the highest 401 rate among all orgs with calls (at most 10), worst first.
    pub worst_unauthorized: Vec<TenantView>,
    /// How many orgs `top` may hold (the profile's `top_orgs`).
    pub top_limit: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantView {
    /// Org index (as in `refresh.invalid_grant_by_org`); null for the "other" aggregate.
    pub org: Option<u32>,
    pub calls: u64,
    pub unauthorized: u64,
    pub unauthorized_rate: f64,
    /// Latency of these calls; only for `top` and `other` (zero in `worst_unauthorized`).
    pub latency_ms: Percentiles,
    /// HdrHistogram V2, base64, microseconds: the same data, so shards merge exactly.
    pub histogram: Option<String>,
}

/// The bookkeeping identities every run must satisfy; `ok` is false when any fails (a measurement bug).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conservation {
    /// scheduled == sent + dropped
    pub scheduled_is_sent_plus_dropped: bool,
    /// sent == sum(requests.outcomes) + unfinished
    pub sent_is_finished_plus_unfinished: bool,
    /// sum(endpoints.contacts.outcomes) == sent - no_token - unfinished_before_api + retries (checked as <= when unfinished > 0)
    pub contacts_calls_match_requests: bool,
    pub ok: bool,
}

/// What the embedded target says it did, and whether the client's counts agree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truth {
    /// The target's counters, by name.
    pub server: BTreeMap<String, u64>,
    pub checks: Vec<TruthCheck>,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthCheck {
    pub what: String,
    pub client: u64,
    pub server: u64,
    pub equal: bool,
}

impl TruthCheck {
    /// What the client counted beside the server's counter that must equal it.
    pub fn new(what: &str, client: u64, server: u64) -> TruthCheck {
        TruthCheck {
            what: what.to_owned(),
            client,
            server,
            equal: client == server,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/report.json");

    /// Every value of `saved` is in `written` at the same place (`written` may add fields that
    /// `saved`, an older report, does not have).
    fn contains(written: &serde_json::Value, saved: &serde_json::Value) -> bool {
        use serde_json::Value::{Array, Object};
        match (written, saved) {
            (Object(w), Object(s)) => s
                .iter()
                .all(|(k, v)| w.get(k).is_some_and(|w| contains(w, v))),
            (Array(w), Array(s)) => {
                w.len() == s.len() && w.iter().zip(s).all(|(w, s)| contains(w, s))
            }
            _ => written == saved,
        }
    }

    #[test]
    fn a_saved_report_reads_and_writes_back_the_same_values() {
        let report: Report = serde_json::from_str(FIXTURE).unwrap();
        let written = serde_json::to_value(&report).unwrap();
        let saved: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        assert!(contains(&written, &saved));
        let requests = &written["variants"][0]["requests"];
        assert_eq!(
            requests["scheduled"], 1600,
            "the counters are fields of `requests`"
        );
        assert_eq!(requests["first_attempt"]["unauthorized"], 13);
    }

    #[test]
    fn client_words_are_written_as_named() {
        fn check<T: serde::Serialize + std::fmt::Display>(all: &[T]) {
            for w in all {
                assert_eq!(serde_json::to_value(w).unwrap(), w.to_string());
            }
        }
        check(TokenScope::ALL);
        check(Trigger::ALL);
        check(Coalesce::ALL);
        check(RefreshGrant::ALL);
        check(PartnerCredentials::ALL);
        let two: Trigger = serde_json::from_str(r#""two-window""#).unwrap();
        assert_eq!(two, Trigger::TwoWindow);
    }

    #[test]
    fn unknown_request_fields_are_refused() {
        let mut saved: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
        saved["variants"][0]["requests"]["schedueld"] = 1.into();
        let err = serde_json::from_value::<Report>(saved).unwrap_err();
        assert!(err.to_string().contains("schedueld"), "{err}");
    }
}
