//! The `http` target end to end: what goes on the wire (client authentication, scope, RFC 8707
//! resource, templated API calls, OpenID discovery) and `run --dry-run`.

use super::platform_support::Platform;
use super::remote_support::{report_of, run_bin, runtime, serve_plain, text};
use super::simulator_support::config;
use base64::Engine as _;
use std::time::Duration;
use tokenstorm::vocabulary::Outcome;

pub fn platform_profile(base: &str, client_auth: &str, extra: &str) -> String {
    format!(
        r#"
duration = "2s"
[target]
kind = "http"
token_base = "{base}"
api_base = "{base}"
client_auth = "{client_auth}"
scope = "external-contacts"
resource = "https://api.example.test"
{extra}
[target.api]
method = "POST"
path = "/api/orgs/{{org}}/contacts/{{contact_id}}?session={{session}}&trace={{random_id}}"
headers = {{ "x-org" = "{{org}}" }}
body = '{{{{"deployment":"{{deployment_id}}"}}}}'
contact_ids = ["c-1", "c-2"]
[[target.orgs]]
name = "acme"
client_id = "acme-client"
client_secret_env = "ACME_SECRET"
deployment_id = "dep-acme"
[[target.orgs]]
name = "globex"
client_id_env = "GLOBEX_ID"
client_secret_env = "GLOBEX_SECRET"
deployment_id = "dep-globex"
[load]
orgs = 2
sessions = 4
rate = "10/s"
drain = "2s"
[[variant]]
name = "naive"
client = "naive"
"#
    )
}

pub const ENV: [(&str, &str); 3] = [
    ("ACME_SECRET", "acme-secret-1"),
    ("GLOBEX_ID", "globex-client"),
    ("GLOBEX_SECRET", "globex-secret-2"),
];

#[test]
fn token_and_api_requests_carry_what_the_profile_says() {
    let rt = runtime();
    let platform = Platform::new(Duration::from_secs(1), "wire");
    let (addr, _task) = rt.block_on(serve_plain(platform.router()));
    let base = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();

    let out = run_bin(dir.path(), &platform_profile(&base, "body", ""), &ENV, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = report_of(dir.path()).variants.remove(0);
    let seen = platform.seen.lock().unwrap();
    // Client authentication in the form body: both fields there, no Authorization header.
    for (form, auth) in seen.token_forms.iter().zip(&seen.token_auth) {
        assert!(auth.is_none(), "{auth:?}");
        let (id, secret) = (form["client_id"].as_str(), form["client_secret"].as_str());
        assert!(
            [
                ("acme-client", "acme-secret-1"),
                ("globex-client", "globex-secret-2")
            ]
            .contains(&(id, secret)),
            "{id}"
        );
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["scope"], "external-contacts");
        assert_eq!(form["resource"], "https://api.example.test");
        assert_eq!(form["_path"], "/oauth/token");
    }
    // The API call: method, templated path and query, header and body, per org.
    assert!(!seen.api_calls.is_empty());
    for (method, uri, org, body) in &seen.api_calls {
        assert_eq!(method, "POST");
        let org = org.as_deref().unwrap();
        let rest = uri
            .strip_prefix(&format!("/api/orgs/{org}/contacts/"))
            .unwrap_or_else(|| panic!("{uri}"));
        assert!(
            rest.starts_with("c-1?session=") || rest.starts_with("c-2?session="),
            "{uri}"
        );
        let trace = rest.split("trace=").nth(1).unwrap();
        assert_eq!(trace.len(), 36, "{uri}");
        assert_eq!(body, &format!(r#"{{"deployment":"dep-{org}"}}"#));
    }
    // The report's counts are the requests the server saw.
    let e = &v.endpoints;
    assert_eq!(e.contacts.outcomes[Outcome::Ok], seen.api_ok);
    assert_eq!(
        e.contacts.outcomes[Outcome::Unauthorized],
        seen.api_unauthorized
    );
    assert!(
        seen.api_unauthorized > 0,
        "1 s tokens over 2 s: expiry 401s"
    );
    assert_eq!(e.token.requests + e.refresh.requests, seen.tokens_issued);
    assert_eq!(e.contacts.requests, seen.api_calls.len() as u64);
}

#[test]
fn basic_auth_and_openid_discovery() {
    let rt = runtime();
    let platform = Platform::new(Duration::from_secs(30), "disc");
    let (addr, _task) = rt.block_on(serve_plain(platform.router()));
    let base = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(
        dir.path(),
        &platform_profile(&base, "basic", "discovery = true"),
        &ENV,
        &["--dry-run"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains(&format!("token at  {base}/custom/token")));
    let seen = platform.seen.lock().unwrap();
    assert_eq!(seen.tokens_issued, 2, "one token per org");
    assert_eq!(seen.api_calls.len(), 2, "one API call per org");
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let mut auths: Vec<String> = seen.token_auth.iter().flatten().cloned().collect();
    auths.sort();
    assert_eq!(
        auths,
        vec![
            basic("acme-client", "acme-secret-1"),
            basic("globex-client", "globex-secret-2")
        ]
    );
    for form in &seen.token_forms {
        assert_eq!(
            form["_path"], "/custom/token",
            "discovered, not paths.token"
        );
        assert!(!form.contains_key("client_secret"));
    }
}

pub fn embedded_profile(base: &str, dialect: &str, client: &str) -> String {
    format!(
        r#"
duration = "3s"
[target]
kind = "http"
token_base = "{base}"
api_base = "{base}"
dialect = "{dialect}"
auth_code = "sim-{{org}}-{{session}}"
[[target.orgs]]
name = "org0"
client_id = "client0"
client_secret_env = "S0"
deployment_id = "client0"
[[target.orgs]]
name = "org1"
client_id = "client1"
client_secret_env = "S1"
deployment_id = "client1"
[load]
orgs = 2
sessions = 4
rate = "20/s"
drain = "2s"
[[variant]]
name = "v"
client = {client}
"#
    )
}

#[test]
fn dry_run_sends_one_token_request_and_one_call_per_org() {
    let rt = runtime();
    let server = rt
        .block_on(tokenstorm::simulator::Server::start(
            config(2, Duration::from_secs(60)),
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let base = format!("http://{}", server.addr());
    let dir = tempfile::tempdir().unwrap();
    let profile = embedded_profile(&base, "rfc6749", r#""naive""#);
    let out = run_bin(
        dir.path(),
        &profile,
        &[("S0", "secret0"), ("S1", "secret1")],
        &["--dry-run"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("org org0: token ok 200"), "{stdout}");
    assert!(stdout.contains("org org1: token ok 200"), "{stdout}");
    assert!(stdout.contains("secret from $S1"), "{stdout}");
    let truth = server.truth().total;
    assert_eq!(truth.token.ok, 2);
    assert_eq!(truth.contacts.ok, 2);
    assert!(
        !dir.path().join("out").exists(),
        "a dry run writes no report"
    );

    // A wrong secret: the check fails, named per org, exit 1.
    let wrong = run_bin(
        dir.path(),
        &profile,
        &[("S0", "secret0"), ("S1", "nope")],
        &["--dry-run"],
    );
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong.stdout).contains("org org1: token invalid_client 401"));
    // A missing variable: a usage error that names it, before anything is sent.
    let missing = run_bin(dir.path(), &profile, &[("S0", "secret0")], &["--dry-run"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("environment variable S1 is not set"),
        "{}",
        text(&missing.stderr)
    );
    // Every missing variable at once, not one per attempt.
    let none = run_bin(dir.path(), &profile, &[], &["--dry-run"]);
    assert_eq!(none.status.code(), Some(2));
    for var in ["S0", "S1"] {
        assert!(text(&none.stderr).contains(&format!("environment variable {var} is not set")));
    }
    assert_eq!(
        server.truth().total.token.ok,
        3,
        "nothing sent for the missing ones"
    );
}
