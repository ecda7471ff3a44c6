//! The `[server]` section: how the embedded target behaves (used by `run` on an embedded target and by `serve`).

use super::messaging_server::{check_origins, MessagingServerSection};
use super::problems::Problems;
use super::service::ServiceSection;
use super::units::{Rate, SignedSpan, Span};
use serde::Deserialize;
use std::time::Duration;

/// The platform's longest access-token lifetime (48 h).
const MAX_TTL: Duration = Duration::from_secs(172_800);

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Access-token lifetime: the platform's is long; a test uses seconds, so expiry comes within the run.
    pub token_ttl: Span,
    /// Tolerance when the server checks `exp` (0 s, like golang-jwt).
    pub leeway: Span,
    /// `"second"`: `exp` is the whole second (floor(issue) + ttl) and the API compares whole seconds,
    /// as real issuers and validators do, so a token dies up to 1 s before `expires_in` says;
    /// `"exact"`: a token dies exactly `token_ttl` after its issue.
    pub expiry_precision: ExpiryPrecisionName,
    /// How far the API's clock runs ahead of the token issuer's; `"-2s"` for behind.
    pub clock_offset: SignedSpan,
    pub refresh_policy: RefreshPolicyName,
    /// How long a rotated refresh token still works, with `refresh_policy = "rotate-grace"`.
    pub refresh_grace: Span,
    pub refresh_ttl: Span,
    /// Idle timeout of every client's tokens (HIPAA orgs: 900 s); absent means none.
    pub idle_timeout: Option<Span>,
    pub error_style: ErrorStyleName,
    /// Per access token on the contacts API; `"0/s"` turns the limit off.
    pub per_token_rate: Rate,
    /// Token-endpoint capacity in requests per second; `"0/s"` means unlimited.
    pub token_rate: Rate,
    /// Token-endpoint requests in flight at once; 0 means unlimited.
    pub token_concurrency: usize,
    pub clients_per_org: usize,
    pub scopes: Vec<String>,
    pub contacts_per_org: u32,
    pub faults: FaultsSection,
    /// Workers, service time and queue per endpoint family: load-dependent latency and a capacity.
    pub service: ServiceSection,
    /// Per-org (or per-client) overrides.
    pub orgs: Vec<OrgOverride>,
    /// The web-messaging socket endpoint (docs/messaging.md); absent: every setting at its default.
    pub messaging: Option<MessagingServerSection>,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            token_ttl: Span(Duration::from_secs(300)),
            leeway: Span(Duration::ZERO),
            expiry_precision: ExpiryPrecisionName::Second,
            clock_offset: SignedSpan::default(),
            refresh_policy: RefreshPolicyName::None,
            refresh_grace: Span(Duration::from_secs(10)),
            refresh_ttl: Span(Duration::from_secs(86_400)),
            idle_timeout: None,
            error_style: ErrorStyleName::Standards,
            per_token_rate: Rate { per_second: 5.0 },
            token_rate: Rate { per_second: 0.0 },
            token_concurrency: 0,
            clients_per_org: 1,
            scopes: vec!["external-contacts".to_string()],
            contacts_per_org: 100,
            faults: FaultsSection::default(),
            service: ServiceSection::default(),
            orgs: Vec::new(),
            messaging: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshPolicyName {
    None,
    RotateStrict,
    RotateGrace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExpiryPrecisionName {
    Second,
    Exact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorStyleName {
    Standards,
    Platform,
}

/// Injected latency and faults per endpoint family.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FaultsSection {
    pub token: EndpointFaults,
    pub contacts: EndpointFaults,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointFaults {
    /// Fixed added latency.
    pub latency: Option<Span>,
    /// Log-normal latency given by its median and 99th percentile (both or neither).
    pub latency_p50: Option<Span>,
    pub latency_p99: Option<Span>,
    /// Fractions of requests (0..1) answered 5xx, reset, or stalled.
    pub error_rate: f64,
    pub reset_rate: f64,
    pub stall_rate: f64,
    pub stall: Span,
    /// Every `pause_every` (from the server's start) the family freezes for `pause_for`: requests
    /// arriving in a pause wait until it ends. What coordinated omission hides.
    pub pause_every: Option<Span>,
    pub pause_for: Span,
}

impl Default for EndpointFaults {
    fn default() -> Self {
        EndpointFaults {
            latency: None,
            latency_p50: None,
            latency_p99: None,
            error_rate: 0.0,
            reset_rate: 0.0,
            stall_rate: 0.0,
            stall: Span(Duration::from_secs(30)),
            pause_every: None,
            pause_for: Span(Duration::from_secs(1)),
        }
    }
}

/// Settings for one org (0-based index into the profile's orgs), or for one client of it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgOverride {
    pub org: usize,
    /// Only this client of the org (0-based); absent means all of them.
    pub client: Option<usize>,
    pub token_ttl: Option<Span>,
    pub idle_timeout: Option<Span>,
    /// Second of the run at which the client is disabled; its live tokens die then.
    pub disabled_at: Option<Span>,
    pub scopes: Option<Vec<String>>,
    /// `Origin`s a socket of this org's deployments (or the one client's: a client id is its
    /// deployment id) may come from, in place of `server.messaging.allowed_origins`; `[]`: any.
    pub allowed_origins: Option<Vec<String>>,
}

impl ServerSection {
    pub fn validate(&self, problems: &mut Problems) {
        check_ttl("server.token_ttl", self.token_ttl, problems);
        if self.refresh_ttl.0 < Duration::from_secs(1) {
            problems.push("server.refresh_ttl", "must be at least 1s");
        }
        if self.refresh_policy == RefreshPolicyName::RotateGrace && self.refresh_grace.0.is_zero() {
            problems.push(
                "server.refresh_grace",
                "must be above 0s with refresh_policy = \"rotate-grace\"",
            );
        }
        if self.idle_timeout.is_some_and(|s| s.0.is_zero()) {
            problems.push(
                "server.idle_timeout",
                "must be above 0s; leave it out for no idle timeout",
            );
        }
        if !(1..=100).contains(&self.clients_per_org) {
            problems.push("server.clients_per_org", "must be from 1 to 100");
        }
        if self.contacts_per_org > 1_000_000 {
            problems.push("server.contacts_per_org", "must be at most 1000000");
        }
        check_scopes("server.scopes", &self.scopes, problems);
        self.faults.token.validate("server.faults.token", problems);
        self.faults
            .contacts
            .validate("server.faults.contacts", problems);
        self.service.validate(problems);
        if let Some(messaging) = &self.messaging {
            messaging.validate(problems);
        }
        for (i, o) in self.orgs.iter().enumerate() {
            let key = |field: &str| format!("server.orgs[{i}].{field}");
            if let Some(ttl) = o.token_ttl {
                check_ttl(&key("token_ttl"), ttl, problems);
            }
            if o.idle_timeout.is_some_and(|s| s.0.is_zero()) {
                problems.push(key("idle_timeout"), "must be above 0s");
            }
            if let Some(scopes) = &o.scopes {
                check_scopes(&key("scopes"), scopes, problems);
            }
            if let Some(origins) = &o.allowed_origins {
                check_origins(&key("allowed_origins"), origins, problems);
            }
            if o.client.is_some_and(|c| c >= self.clients_per_org) {
                let allowed = self.clients_per_org.saturating_sub(1);
                problems.push(
                    key("client"),
                    format!("must be from 0 to {allowed} (server.clients_per_org - 1)"),
                );
            }
        }
    }

    /// The socket endpoint's `Origin` list of client `client` of org `org`, when a
    /// `[[server.orgs]]` entry gives it one (else `server.messaging.allowed_origins` applies).
    pub fn own_origins_of(&self, org: usize, client: usize) -> Option<&[String]> {
        // Later entries win, as they do for every other override.
        self.orgs
            .iter()
            .rev()
            .filter(|o| o.org == org && o.client.is_none_or(|only| only == client))
            .find_map(|o| o.allowed_origins.as_deref())
    }

    /// The checks that need the number of orgs the profile defines.
    pub fn validate_orgs(&self, org_count: usize, problems: &mut Problems) {
        for (i, o) in self.orgs.iter().enumerate() {
            if o.org >= org_count {
                let msg = format!(
                    "names org {} but the profile has {org_count} orgs (0-based index)",
                    o.org
                );
                problems.push(format!("server.orgs[{i}].org"), msg);
            }
        }
    }
}

fn check_ttl(key: &str, ttl: Span, problems: &mut Problems) {
    if ttl.0 < Duration::from_secs(1) {
        problems.push(key, "must be at least 1s");
    }
    if ttl.0 > MAX_TTL {
        problems.push(
            key,
            "must be at most 172800s (48 h, the platform's maximum)",
        );
    }
}

fn check_scopes(key: &str, scopes: &[String], problems: &mut Problems) {
    if scopes.is_empty() {
        problems.push(key, "must name at least one scope");
    }
    if scopes
        .iter()
        .any(|s| s.is_empty() || s.contains(char::is_whitespace))
    {
        problems.push(key, "scopes are single words such as \"external-contacts\"");
    }
}

impl EndpointFaults {
    fn validate(&self, prefix: &str, problems: &mut Problems) {
        let key = |field: &str| format!("{prefix}.{field}");
        for (field, rate) in [
            ("error_rate", self.error_rate),
            ("reset_rate", self.reset_rate),
            ("stall_rate", self.stall_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                problems.push(key(field), "must be a fraction from 0 to 1");
            }
        }
        if self.error_rate + self.reset_rate + self.stall_rate > 1.0 {
            problems.push(
                key("error_rate"),
                "error_rate + reset_rate + stall_rate must be at most 1",
            );
        }
        match (self.latency, self.latency_p50, self.latency_p99) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => problems.push(
                key("latency"),
                "give either a fixed latency or latency_p50 and latency_p99, not both",
            ),
            (None, Some(_), None) | (None, None, Some(_)) => problems.push(
                key("latency_p99"),
                "latency_p50 and latency_p99 go together",
            ),
            (None, Some(p50), Some(p99)) if p99 < p50 || p50.0.is_zero() => problems.push(
                key("latency_p99"),
                "must be at least latency_p50, and latency_p50 above 0s",
            ),
            _ => {}
        }
        if self.stall_rate > 0.0 && self.stall.0.is_zero() {
            problems.push(key("stall"), "must be above 0s when stall_rate is set");
        }
        if let Some(every) = self.pause_every {
            if every.0.is_zero() {
                problems.push(key("pause_every"), "must be above 0s");
            } else if self.pause_for.0.is_zero() || self.pause_for.0 >= every.0 {
                problems.push(
                    key("pause_for"),
                    "must be above 0s and shorter than pause_every",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ServerSection {
        toml::from_str(text).unwrap()
    }

    fn problems(section: &ServerSection, orgs: usize) -> Vec<String> {
        let mut p = Problems::default();
        section.validate(&mut p);
        section.validate_orgs(orgs, &mut p);
        p.into_vec().into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn every_key_has_a_default_and_parses() {
        let s = parse("");
        assert_eq!(s.per_token_rate.per_second, 5.0);
        assert!(problems(&s, 1).is_empty());
        let s = parse(
            r#"
            token_ttl = "2s"
            clock_offset = "-1.5s"
            refresh_policy = "rotate-grace"
            refresh_grace = "3s"
            error_style = "platform"
            per_token_rate = "300/min"
            token_rate = "50/s"
            token_concurrency = 4
            clients_per_org = 2
            idle_timeout = "15m"
            [faults.contacts]
            latency_p50 = "5ms"
            latency_p99 = "50ms"
            error_rate = 0.01
            [[orgs]]
            org = 1
            client = 1
            disabled_at = "20s"
            "#,
        );
        assert_eq!(
            s.expiry_precision,
            ExpiryPrecisionName::Second,
            "the default"
        );
        assert_eq!(
            parse("expiry_precision = \"exact\"").expiry_precision,
            ExpiryPrecisionName::Exact
        );
        assert!(s.clock_offset.negative);
        assert_eq!(s.clock_offset.magnitude, Duration::from_millis(1500));
        assert_eq!(s.refresh_policy, RefreshPolicyName::RotateGrace);
        assert!(problems(&s, 2).is_empty(), "{:?}", problems(&s, 2));
        assert_eq!(problems(&s, 1), ["server.orgs[0].org"]);
    }

    #[test]
    fn bad_values_are_reported_with_their_key() {
        let s = parse(
            r#"
            token_ttl = "0s"
            clients_per_org = 0
            [faults.token]
            error_rate = 1.5
            latency = "5ms"
            latency_p50 = "1ms"
            [[orgs]]
            org = 0
            client = 3
            token_ttl = "100h"
            "#,
        );
        let keys = problems(&s, 1);
        for expected in [
            "server.token_ttl",
            "server.clients_per_org",
            "server.faults.token.error_rate",
            "server.faults.token.latency",
            "server.orgs[0].token_ttl",
            "server.orgs[0].client",
        ] {
            assert!(
                keys.iter().any(|k| k == expected),
                "{expected} missing from {keys:?}"
            );
        }
        assert!(toml::from_str::<ServerSection>("refresh_policy = \"rotate\"").is_err());
        assert!(toml::from_str::<ServerSection>("clock_offset = \"-soon\"").is_err());
        assert!(toml::from_str::<ServerSection>("unknown = 1").is_err());
    }

    #[test]
    fn a_deployments_own_origins_are_the_last_entry_that_names_it() {
        let s = parse(
            r#"
            clients_per_org = 2
            [messaging]
            allowed_origins = ["https://shop.example"]
            [[orgs]]
            org = 1
            allowed_origins = ["https://a.example"]
            [[orgs]]
            org = 1
            client = 1
            allowed_origins = []
            [[orgs]]
            org = 1
            token_ttl = "10s"
            "#,
        );
        assert!(problems(&s, 2).is_empty(), "{:?}", problems(&s, 2));
        assert_eq!(s.own_origins_of(0, 0), None, "the endpoint's list applies");
        let a = ["https://a.example".to_string()];
        assert_eq!(s.own_origins_of(1, 0), Some(&a[..]));
        // A later entry for one client wins; one that gives no list leaves it be.
        assert_eq!(s.own_origins_of(1, 1), Some(&[][..]));
        let bad =
            parse("[[orgs]]\norg = 0\nallowed_origins = [\"https://ok.example\", \"ok.example\"]");
        assert_eq!(problems(&bad, 1), ["server.orgs[0].allowed_origins[1]"]);
        assert_eq!(problems(&bad, 0).len(), 2, "the org is unknown too");
    }
}
