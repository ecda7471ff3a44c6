//! Messaging widgets over `wss://` against the embedded target served over rustls with a test CA:
//! without `[target.tls] ca_file` no socket gets past the handshake (and the target opens none);
//! with it the widgets chat and every count of the report is the target's own, for guest widgets
//! and for authenticated ones that log in and re-authenticate over HTTPS.

use super::remote_support::{pki, report_of, run_bin, runtime, serve_tls, text};
use super::simulator_support::config;
use std::time::Duration;
use tokenstorm::report::messaging::MessagingCounts;
use tokenstorm::report::model::VariantReport;
use tokenstorm::simulator::TruthCounts;

const ORIGIN: &str = "https://shop.example";

/// Widgets of org0 (`client0`, which is also its deployment) at `base`, with the socket at `wss`.
/// Guest widgets make no REST call, but their preset's validation still asks for `auth_code` and
/// the rfc6749 dialect for the org's secret.
fn profile(base: &str, wss: &str, tls: &str, auth: &str) -> String {
    let (dialect, client) = match auth {
        "authenticated" => (
            "web-deployments",
            r#"{ token_scope = "session", trigger = "reactive" }"#,
        ),
        _ => ("rfc6749", r#""genesys-messenger""#),
    };
    format!(
        r#"
seed = 4
duration = "3s"
[target]
kind = "http"
token_base = "{base}"
api_base = "{base}"
dialect = "{dialect}"
auth_code = "sim-{{org}}-{{session}}"
[target.tls]
{tls}
[[target.orgs]]
name = "org0"
client_id = "client0"
client_secret_env = "ORG0_SECRET"
deployment_id = "client0"
[load]
orgs = 1
sessions = 100
drain = "3s"
[sessions]
arrival = "uniform"
arrival_rate = "10/s"
length = {{ dist = "fixed", value = "2500ms" }}
think = {{ dist = "uniform", min = "200ms", max = "400ms" }}
[messaging]
auth = "{auth}"
url = "{wss}/v1?deploymentId={{deployment_id}}"
origin = "{ORIGIN}"
echo_interval = "0s"
[[variant]]
name = "widget"
client = {client}
"#
    )
}

fn counts(v: &VariantReport) -> &MessagingCounts {
    &v.messaging.as_ref().expect("a messaging block").counts
}

/// Each of the widgets' counts that the socket endpoint also keeps, against the endpoint's.
fn assert_counts_are_the_targets(c: &MessagingCounts, server: &TruthCounts, what: &str) {
    let t = &server.messaging;
    let pairs = [
        ("sockets opened", c.connected, t.sockets_opened),
        ("refused origin", c.refused_origin, t.sockets_refused_origin),
        ("configured new", c.configured_new, t.sessions_new),
        (
            "configured resumed",
            c.configured_resumed,
            t.sessions_resumed,
        ),
        (
            "answered",
            c.messages_answered + c.echoes_answered + c.late_answers,
            t.messages_answered + t.echoes_answered,
        ),
        ("socket 401s", c.unauthorized, t.socket_unauthorized),
        ("JWTs", c.jwts_fetched + c.late_jwts, t.jwts_issued),
    ];
    for (name, client, target) in pairs {
        assert_eq!(
            client, target,
            "{what}: {name} (client {c:?}, target {t:?})"
        );
    }
    assert_eq!(t.sockets_open, 0, "{what}: every socket closed by the end");
}

#[test]
fn guest_widgets_over_wss_need_the_ca_and_count_what_the_target_counts() {
    let rt = runtime();
    let pki = pki();
    let (router, truth) = tokenstorm::simulator::router(config(1, Duration::from_secs(60)));
    let server = rt.block_on(serve_tls(router, &pki, false));
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let wss = format!("wss://127.0.0.1:{}", server.addr.port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let env = [("ORG0_SECRET", "secret0")];

    // The system roots do not know the test CA: every attempt fails in the TLS handshake.
    let refused = run_bin(dir.path(), &profile(&base, &wss, "", "guest"), &env, &[]);
    // Not one socket reached the target: the run says so, as a REST run that reaches nothing does.
    assert_eq!(refused.status.code(), Some(3), "{}", text(&refused.stderr));
    let report = report_of(dir.path());
    let c = counts(&report.variants[0]);
    assert!(c.connect_attempts > 0, "{c:?}");
    assert_eq!(c.connect_failed, c.connect_attempts, "{c:?}");
    assert_eq!((c.connected, c.configured_new, c.refused()), (0, 0, 0));
    let t = truth.snapshot().total.messaging;
    assert_eq!((t.sockets_opened, t.sessions_new), (0, 0), "{t:?}");

    let ok = run_bin(
        dir.path(),
        &profile(&base, &wss, r#"ca_file = "ca.pem""#, "guest"),
        &env,
        &[],
    );
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let report = report_of(dir.path());
    let v = &report.variants[0];
    let c = counts(v);
    let arrived = v.sessions.as_ref().unwrap().arrived;
    assert_eq!(c.closed, truth.snapshot().total.messaging.sessions_closed);
    // 10/s uniform for 3 s: 30 widgets, each on one socket configured as a new session.
    assert_eq!(arrived, 30);
    assert_eq!((c.connect_attempts, c.connected), (arrived, arrived));
    assert_eq!(
        (c.configured_new, c.connect_failed, c.lost),
        (arrived, 0, 0)
    );
    assert!(c.messages_answered > 0, "{c:?}");
    assert_eq!(c.messages_sent, c.messages_answered);
    assert_counts_are_the_targets(c, &truth.snapshot().total, "guest");
    // Guest widgets make up their tokens: no REST call at all.
    assert_eq!(v.endpoints.token.requests + v.endpoints.refresh.requests, 0);
    assert!(server
        .versions
        .lock()
        .unwrap()
        .iter()
        .all(|v| *v == axum::http::Version::HTTP_11));
}

#[test]
fn authenticated_widgets_over_wss_log_in_and_reauthenticate_over_https() {
    let rt = runtime();
    let pki = pki();
    // JWTs live 1 s and widgets 2.5 s: each meets the socket's 401 and refreshes over REST.
    let (router, truth) = tokenstorm::simulator::router(config(1, Duration::from_secs(1)));
    let server = rt.block_on(serve_tls(router, &pki, false));
    let base = format!("https://127.0.0.1:{}", server.addr.port());
    let wss = format!("wss://127.0.0.1:{}", server.addr.port());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let tls = r#"ca_file = "ca.pem""#;
    let out = run_bin(
        dir.path(),
        &profile(&base, &wss, tls, "authenticated"),
        &[],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = report_of(dir.path());
    let v = &report.variants[0];
    let c = counts(v);
    let arrived = v.sessions.as_ref().unwrap().arrived;
    assert_eq!(arrived, 30);
    assert_eq!(
        (c.connected, c.configured_new, c.lost),
        (arrived, arrived, 0)
    );
    let server_total = truth.snapshot().total;
    assert_counts_are_the_targets(c, &server_total, "authenticated");
    // One code exchange per widget; one REST refresh per 401 the socket answered.
    assert_eq!(v.endpoints.token.outcomes.total(), arrived);
    assert_eq!(server_total.issued.jwt_exchange, arrived);
    assert_eq!(server_total.issued.jwt_refresh, c.reauthenticated);
    assert!(c.reauthenticated > 0, "{c:?}");
    assert_eq!(v.endpoints.refresh.outcomes.total(), c.reauthenticated);
    assert_eq!(server_total.refreshes, c.reauthenticated);
    assert_every_configure_is_counted(c);
    // A `closeSession` whose JWT has just expired gets a 401 and asks for no new one: the widget
    // left, the target closed nothing. Those are the only 401s not followed by a refresh.
    let closes_refused = c.closed - server_total.messaging.sessions_closed;
    assert!(
        closes_refused <= c.unauthorized - c.reauthenticated,
        "{c:?}"
    );
    // Only a message the run's end cut off (its widget re-authenticating then) stays unanswered.
    let cut = v.sessions.as_ref().unwrap().alive_at_end;
    assert!(c.messages_unanswered <= cut, "{c:?}");
    assert_eq!(c.no_jwt, 0);
}

/// Each socket opened is configured once, and once more after each re-authentication; every one
/// of those configures ends configured (new or resumed) or failed. (Not "each re-authentication
/// resumes": on a starved machine a JWT of a second can expire before its configure reaches the
/// target, and the widget re-authenticates again.)
pub fn assert_every_configure_is_counted(c: &tokenstorm::report::messaging::MessagingCounts) {
    assert_eq!(c.lost + c.lost_configuring, 0, "{c:?}");
    assert_eq!(
        c.connected + c.reauthenticated,
        c.configured_new + c.configured_resumed + c.configure_failed,
        "{c:?}"
    );
    assert!(c.configured_resumed > 0, "{c:?}");
}
