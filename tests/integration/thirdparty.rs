//! tokenstorm against an OAuth2 server it did not write: `oauth2-mock-server` from npm (installed by
//! `.ci/run` with `npm ci` in tests/thirdparty), found by OpenID discovery, plus a resource server that
//! verifies its RS256 JWTs against the provider's JWKS with `jose`. Tokens live 2 s, so both client
//! models meet expiry 401s and refresh; the report's counts must equal what the servers counted.

use super::remote_support::{report_of, run_bin, text};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use tokenstorm::report::model::VariantReport;
use tokenstorm::vocabulary::Outcome;

const DIR: &str = "tests/thirdparty";

/// Stops the node process when the test ends, however it ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `None` (and a message) when the npm install is absent and the environment does not insist on it.
fn start_servers(ttl_secs: u32) -> Option<(Node, String, String)> {
    let installed = Path::new(DIR)
        .join("node_modules/oauth2-mock-server/package.json")
        .exists();
    if !installed {
        assert!(
            std::env::var_os("TOKENSTORM_REQUIRE_THIRDPARTY").is_none(),
            "TOKENSTORM_REQUIRE_THIRDPARTY is set but {DIR}/node_modules is missing: run `npm ci` in {DIR}"
        );
        eprintln!(
            "SKIPPED: the third-party OAuth2 server is not installed (run `npm ci` in {DIR}; .ci/run does)"
        );
        return None;
    }
    let mut child = Command::new("node")
        .arg("servers.mjs")
        .arg(ttl_secs.to_string())
        .current_dir(DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is on PATH");
    let stdout = child.stdout.take().unwrap();
    let node = Node(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let ports: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let issuer = ports["issuer"].as_str().unwrap().to_owned();
    let api = ports["api"].as_str().unwrap().to_owned();
    Some((node, issuer, api))
}

fn stats(api: &str) -> Value {
    let rt = super::remote_support::runtime();
    rt.block_on(async {
        reqwest::get(format!("{api}/stats"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

#[test]
fn a_third_party_oauth_server_sees_what_the_report_says() {
    let Some((_node, issuer, api)) = start_servers(2) else {
        return;
    };
    let profile = format!(
        r#"
duration = "5s"
[target]
kind = "http"
token_base = "{issuer}"
api_base = "{api}"
discovery = true
scope = "external-contacts"
auth_code = "code-{{session}}"
[[target.orgs]]
name = "acme"
client_id = "acme-client"
client_secret_env = "ACME_SECRET"
[[target.orgs]]
name = "globex"
client_id = "globex-client"
client_secret_env = "GLOBEX_SECRET"
[load]
orgs = 2
sessions = 6
rate = "20/s"
drain = "3s"
[[variant]]
name = "org-reactive"
client = "naive"
[[variant]]
name = "session-refresh-token"
client = {{ token_scope = "session", trigger = "reactive", refresh_grant = "refresh_token" }}
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let env = [("ACME_SECRET", "acme-s"), ("GLOBEX_SECRET", "globex-s")];
    let out = run_bin(dir.path(), &profile, &env, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = report_of(dir.path());
    let seen = stats(&api);

    let (org, session) = (&report.variants[0], &report.variants[1]);
    for v in [org, session] {
        both_clients_met_expiry_and_recovered(v);
        whole_second_exp_places_401s_as_the_embedded_target_does(v);
    }
    the_servers_counted_what_the_report_says(&seen, org, session);
}

fn both_clients_met_expiry_and_recovered(v: &VariantReport) {
    let c = &v.endpoints.contacts;
    assert!(
        c.outcomes[Outcome::Unauthorized] > 0,
        "{}: no expiry 401s",
        v.name
    );
    assert!(
        v.endpoints.refresh.outcomes[Outcome::Ok] > 0,
        "{}: no refresh",
        v.name
    );
    assert_eq!(
        c.outcomes[Outcome::Ok] + c.outcomes[Outcome::Unauthorized],
        c.requests
    );
    assert_eq!(
        v.requests.outcomes[Outcome::Ok],
        v.requests.sent,
        "{}",
        v.name
    );
}

/// The API's counts against both variants' calls; the token server's by grant against each variant's.
fn the_servers_counted_what_the_report_says(
    seen: &Value,
    org: &VariantReport,
    session: &VariantReport,
) {
    let sum = |f: &dyn Fn(&VariantReport) -> u64| f(org) + f(session);
    let count = |path: &[&str]| path.iter().fold(seen, |v, k| &v[*k]).as_u64().unwrap_or(0);
    assert_eq!(
        count(&["api", "ok"]),
        sum(&|v| v.endpoints.contacts.outcomes[Outcome::Ok]),
        "{seen}"
    );
    assert_eq!(
        count(&["api", "unauthorized"]),
        sum(&|v| v.endpoints.contacts.outcomes[Outcome::Unauthorized]),
        "{seen}"
    );
    assert_eq!(count(&["api", "missing"]), 0);
    let e = &org.endpoints;
    assert_eq!(
        count(&["token", "client_credentials:200"]),
        e.token.outcomes[Outcome::Ok] + e.refresh.outcomes[Outcome::Ok],
        "{seen}"
    );
    let e = &session.endpoints;
    assert_eq!(
        count(&["token", "authorization_code:200"]),
        e.token.outcomes[Outcome::Ok],
        "{seen}"
    );
    assert_eq!(
        count(&["token", "refresh_token:200"]),
        e.refresh.outcomes[Outcome::Ok],
        "{seen}"
    );
}

/// oauth2-mock-server writes `exp = iat + ttl` in whole seconds and `jose` compares whole seconds, as the
/// embedded target does with `expiry_precision = "second"` (tests/integration/expiry_signatures.rs): the
/// 401s come in the second before the client's own expiry, filed as `expired_by_claim`, never `fresh`.
fn whole_second_exp_places_401s_as_the_embedded_target_does(v: &VariantReport) {
    let unauthorized = |phase: &str| {
        v.phases
            .get(phase)
            .map_or(0, |e| e.outcomes[Outcome::Unauthorized])
    };
    let total = v.endpoints.contacts.outcomes[Outcome::Unauthorized];
    let lens = &v.expiry_lens;
    let in_bins = |bins: std::ops::Range<i64>| -> u64 {
        lens.bins
            .iter()
            .filter(|b| bins.contains(&b.offset_s))
            .map(|b| b.outcomes[Outcome::Unauthorized])
            .sum()
    };
    assert!(
        unauthorized("expired_by_claim") > 0,
        "{}: {:?}",
        v.name,
        v.phases.keys()
    );
    assert!(in_bins(-1..0) > 0, "{}: {lens:?}", v.name);
    assert_eq!(in_bins(-30..-1), 0, "{}: {lens:?}", v.name);
    // Only a call sent in the last moment before `exp` that reaches the server after it can be
    // rejected while its token still looks good.
    let good: u64 = ["fresh", "first_after_refresh", "expiring"]
        .iter()
        .map(|p| unauthorized(p))
        .sum();
    assert!(good * 10 <= total, "{}: {good} of {total}", v.name);
    let claim = v
        .expiry_lens_by_claim
        .as_ref()
        .expect("oauth2-mock-server issues JWTs");
    let claim_in = |bins: std::ops::Range<i64>| -> u64 {
        claim
            .bins
            .iter()
            .filter(|b| bins.contains(&b.offset_s))
            .map(|b| b.outcomes[Outcome::Unauthorized])
            .sum()
    };
    assert_eq!(claim_in(-30..-1), 0, "{}: {claim:?}", v.name);
    assert!(claim_in(0..1) * 2 > total, "{}: {claim:?}", v.name);
}
