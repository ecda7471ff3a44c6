//! The run keeps going through whatever the target does, and accounts for every request: each fault
//! becomes a classified outcome, in the totals and in the time series.

use super::support::{run_profile, variant};
use tokenstorm::report::model::VariantReport;
use tokenstorm::vocabulary::Outcome;

fn faulty(faults: &str, timeout: &str) -> String {
    format!(
        r#"seed = 9
duration = "3s"
[server]
token_ttl = "60s"
per_token_rate = "0/s"
{faults}
[load]
orgs = 2
sessions = 20
rate = "200/s"
request_timeout = "{timeout}"
drain = "5s"
[[variant]]
name = "v"
client = {{ token_scope = "org", trigger = "reactive", coalesce = "single-flight" }}
"#
    )
}

fn conserved(v: &VariantReport) {
    let r = &v.requests;
    assert!(v.conservation.ok, "{:?}", v.conservation);
    assert_eq!(r.scheduled, 600);
    assert_eq!(r.scheduled, r.sent + r.dropped);
    assert_eq!(r.sent, r.outcomes.total() + r.unfinished);
    assert_eq!(r.unfinished, 0);
}

fn in_series(v: &VariantReport, outcome: Outcome) -> u64 {
    v.timeseries
        .buckets
        .iter()
        .map(|b| b.contacts[outcome])
        .sum()
}

#[test]
fn thirty_percent_5xx() {
    let ran = run_profile(&faulty("[server.faults.contacts]\nerror_rate = 0.3", "5s"));
    let v = variant(&ran.report, "v");
    conserved(v);
    let errors = v.endpoints.contacts.outcomes[Outcome::ServerError];
    assert!((120..=240).contains(&errors), "about 30 % of 600: {errors}");
    assert_eq!(
        in_series(v, Outcome::ServerError),
        errors,
        "the time series says when"
    );
    assert!(v.truth.as_ref().is_some_and(|t| t.ok), "{:?}", v.truth);
}

#[test]
fn connection_resets() {
    let ran = run_profile(&faulty("[server.faults.contacts]\nreset_rate = 0.1", "5s"));
    let v = variant(&ran.report, "v");
    conserved(v);
    let contacts = &v.endpoints.contacts;
    let failed = contacts.outcomes[Outcome::ConnectError];
    assert_eq!(in_series(v, Outcome::ConnectError), failed);
    let truth = v.truth.as_ref().expect("embedded target");
    assert!(truth.ok, "{truth:?}");
    // A reset before any answer on a reused connection is sent again, as a browser does (the GET is
    // idempotent); each reset the server injected is either that resend or a connect_error.
    let resent = contacts.stale_connection_resends.unwrap_or(0);
    let injected = truth.server["contacts.reset"];
    assert!(
        injected > 20,
        "about 10 % of 600 and their resends: {injected}"
    );
    assert_eq!(failed + resent, injected);
    assert!(resent > 0 && failed > 0, "resent {resent}, failed {failed}");
}

#[test]
fn stalls_longer_than_the_request_timeout() {
    let ran = run_profile(&faulty(
        "[server.faults.contacts]\nstall_rate = 0.05\nstall = \"3s\"",
        "500ms",
    ));
    let v = variant(&ran.report, "v");
    conserved(v);
    let timeouts = v.endpoints.contacts.outcomes[Outcome::Timeout];
    assert!(timeouts > 5, "about 5 % of 600: {timeouts}");
    assert_eq!(in_series(v, Outcome::Timeout), timeouts);
    // Everything that did not stall went through.
    assert_eq!(v.endpoints.contacts.outcomes[Outcome::Ok] + timeouts, 600);
}

#[test]
fn a_failing_token_endpoint_leaves_requests_without_a_token() {
    // Session tokens: 20 slots ask for tokens, so half of them failing is sure to show.
    let text = faulty("[server.faults.token]\nerror_rate = 0.5", "5s")
        .replace("token_scope = \"org\"", "token_scope = \"session\"");
    let ran = run_profile(&text);
    let v = variant(&ran.report, "v");
    conserved(v);
    assert!(v.endpoints.token.outcomes[Outcome::ServerError] > 0);
    // A request whose token call failed ends with that outcome, without an API call.
    assert_eq!(
        v.requests.no_token,
        v.requests.outcomes[Outcome::ServerError]
    );
    assert_eq!(
        v.endpoints.contacts.outcomes.total(),
        v.requests.sent - v.requests.no_token + v.requests.retries
    );
    assert!(v.truth.as_ref().is_some_and(|t| t.ok), "{:?}", v.truth);
}
