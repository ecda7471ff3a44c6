//! Both token dialects of the `http` target against the embedded target (plain HTTP on 127.0.0.1):
//! RFC 6749 with client credentials and with authorization code + refresh tokens, and the
//! web-deployments exchange and refresh; the report's counts must equal the target's truth. Also
//! `http.total_timeout`, which bounds a whole request.

use super::remote_http::embedded_profile;
use super::remote_support::{report_of, run_bin, runtime, text};
use super::simulator_support::config;
use std::time::Duration;
use tokenstorm::vocabulary::Outcome;

#[test]
fn both_dialects_against_the_embedded_target_match_its_truth() {
    let rt = runtime();
    let env = [("S0", "secret0"), ("S1", "secret1")];
    let cases = [
        (
            "rfc6749",
            r#"{ token_scope = "session", trigger = "reactive" }"#,
        ),
        (
            "web-deployments",
            r#"{ token_scope = "session", trigger = "reactive" }"#,
        ),
        ("rfc6749", r#""naive""#),
    ];
    for (dialect, client) in cases {
        let server = rt.block_on(tokenstorm::simulator::Server::start(
            config(2, Duration::from_secs(1)),
            "127.0.0.1:0".parse().unwrap(),
        ));
        let server = server.unwrap();
        let base = format!("http://{}", server.addr());
        let dir = tempfile::tempdir().unwrap();
        let out = run_bin(
            dir.path(),
            &embedded_profile(&base, dialect, client),
            &env,
            &[],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{dialect}: {}",
            text(&out.stderr)
        );
        let v = report_of(dir.path()).variants.remove(0);
        let truth = server.truth().total;
        let e = &v.endpoints;
        let label = format!("{dialect} {client}");
        assert_eq!(
            e.contacts.outcomes[Outcome::Ok],
            truth.contacts.ok,
            "{label}"
        );
        assert_eq!(
            e.contacts.outcomes[Outcome::Unauthorized],
            truth.contacts.unauthorized,
            "{label}"
        );
        assert!(truth.contacts.unauthorized > 0, "{label}: no expiry 401s");
        assert_eq!(
            e.token.outcomes[Outcome::Ok] + e.refresh.outcomes[Outcome::Ok],
            truth.token.ok,
            "{label}"
        );
        let issued = truth.issued;
        match (dialect, client.contains("session")) {
            ("web-deployments", _) => {
                assert_eq!(
                    issued.jwt_exchange,
                    e.token.outcomes[Outcome::Ok],
                    "{label}"
                );
                assert_eq!(
                    issued.jwt_refresh,
                    e.refresh.outcomes[Outcome::Ok],
                    "{label}"
                );
                assert!(issued.jwt_refresh > 0, "{label}");
            }
            (_, true) => {
                assert_eq!(issued.authorization_code, e.token.outcomes[Outcome::Ok]);
                assert_eq!(issued.refresh_token, e.refresh.outcomes[Outcome::Ok]);
                assert!(issued.refresh_token > 0, "{label}");
            }
            _ => assert_eq!(
                issued.client_credentials,
                e.token.outcomes[Outcome::Ok] + e.refresh.outcomes[Outcome::Ok]
            ),
        }
        rt.block_on(server.stop());
    }
}

#[test]
fn total_timeout_bounds_a_whole_request_and_every_call_stays_accounted() {
    let rt = runtime();
    let mut target = config(2, Duration::from_secs(60));
    // Every API call takes 1.5 s; the profile allows a whole request 400 ms.
    target.contacts_faults.latency =
        tokenstorm::simulator::Latency::Fixed(Duration::from_millis(1500));
    let server = rt
        .block_on(tokenstorm::simulator::Server::start(
            target,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let base = format!("http://{}", server.addr());
    let profile = embedded_profile(&base, "rfc6749", r#""naive""#).replacen(
        "[[target.orgs]]",
        "[target.http]\ntotal_timeout = \"400ms\"\n[[target.orgs]]",
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(
        dir.path(),
        &profile,
        &[("S0", "secret0"), ("S1", "secret1")],
        &[],
    );
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        text(&out.stderr)
    );
    let v = report_of(dir.path()).variants.remove(0);
    let r = &v.requests;
    assert!(r.sent > 0);
    assert_eq!(r.outcomes[Outcome::Timeout], r.sent, "{:?}", r.outcomes);
    assert_eq!(r.unfinished, 0);
    // Each request reached the API once and timed out there, so calls still equal requests.
    let c = &v.endpoints.contacts;
    assert_eq!(c.outcomes[Outcome::Timeout], c.requests);
    assert_eq!(c.requests, r.sent - r.no_token + r.retries);
    assert_eq!(
        server.truth().total.contacts.ok,
        0,
        "none was processed in time"
    );
    rt.block_on(server.stop());
}

#[test]
fn a_single_flight_leader_cut_off_by_total_timeout_does_not_strand_its_waiters() {
    let rt = runtime();
    let mut target = config(2, Duration::from_secs(60));
    // Token requests take 1 s; a whole request may take 400 ms: every leader is cut off mid-refresh.
    target.token_faults.latency = tokenstorm::simulator::Latency::Fixed(Duration::from_secs(1));
    let server = rt
        .block_on(tokenstorm::simulator::Server::start(
            target,
            "127.0.0.1:0".parse().unwrap(),
        ))
        .unwrap();
    let base = format!("http://{}", server.addr());
    let client = r#"{ token_scope = "org", trigger = "reactive", coalesce = "single-flight" }"#;
    let profile = embedded_profile(&base, "rfc6749", client).replacen(
        "[[target.orgs]]",
        "[target.http]\ntotal_timeout = \"400ms\"\n[[target.orgs]]",
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run_bin(
        dir.path(),
        &profile,
        &[("S0", "secret0"), ("S1", "secret1")],
        &[],
    );
    // No HTTP call completed, but none failed to connect either: cut-off calls are not counted as
    // calls, so this is not "unreachable" (exit 3); the requests say what happened.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = report_of(dir.path()).variants.remove(0);
    let r = &v.requests;
    // Waiters whose leader vanished lead a new round themselves and time out on their own deadline;
    // none is reported as a connection error.
    assert!(r.sent > 0);
    assert_eq!(r.outcomes[Outcome::Timeout], r.sent, "{:?}", r.outcomes);
    assert_eq!(r.outcomes[Outcome::ConnectError], 0);
    rt.block_on(server.stop());
}
